/* SPDX-License-Identifier: MIT */
/*
 * systemd's file-descriptor store: what must outlive the daemon so that
 * QEMU guests on doorbells stay paired across a restart (an upgrade, a
 * crash). QEMU never reconnects to an ivshmem server and keeps the
 * eventfds it was given, so the next daemon must serve the very same
 * ones: each VM's bell ("bell@VM", the eventfd its guest's Doorbell
 * register writes), each VM's vector 0 ("irq@VM"), each VM's listening
 * doorbell socket ("doorbell@VM", so QEMUs started meanwhile queue on it)
 * and each VM's connected QEMU ("peer@VM", whose hang-up still says the
 * guest is gone), and a sealed VM's ring region ("region@VM", the memfd
 * its QEMU maps: it has no path to be found again by). The pool and the
 * other ring regions are files on paths, taken again in place.
 *
 * Each fd is pushed (sd_notify FDSTORE=1, FDNAME=ROLE@VM) as it is made,
 * so that a SIGKILL loses nothing, and removed (FDSTOREREMOVE=1) when its
 * VM is deleted or its QEMU hangs up. On start fdstore_take reads what
 * systemd passes back (LISTEN_FDS from fd 3, LISTEN_PID, LISTEN_FDNAMES),
 * the switch and each VM claim theirs by name and kind, and fdstore_release
 * closes (and removes from the store) what nobody claimed: a VM no longer
 * in the config, a name seen twice, an fd of the wrong kind. Without
 * NOTIFY_SOCKET (no systemd) nothing is pushed and nothing passed: the
 * daemon behaves as it always did.
 *
 * The table is process-wide, as LISTEN_FDS is; it is filled once at start
 * (main thread) and claimed from by sw_init and ctl_create before the
 * control thread runs. Pushing and removing are stateless messages, safe
 * from any thread.
 */
#ifndef FS_FDSTORE_H
#define FS_FDSTORE_H

#include <fcntl.h>
#include <stdbool.h>

/* The most fds the store is meant to hold: five a VM (a sealed one's
 * region too) for CFG_MAX_VMS VMs (FileDescriptorStoreMax= in the unit
 * is at least this). */
#define FDSTORE_MAX 1280
/* ROLE@VM: the longest role, '@', a VM name (31). */
#define FDSTORE_NAME_MAX 48

#define FDSTORE_BELL "bell"
#define FDSTORE_IRQ "irq"
#define FDSTORE_DOORBELL "doorbell"
#define FDSTORE_PEER "peer"
#define FDSTORE_REGION "region"

/* What a stored fd must be to be claimed. */
enum fdstore_kind {
	FDSTORE_EVENTFD, /* an eventfd */
	FDSTORE_LISTEN,  /* a listening unix stream socket bound to path */
	FDSTORE_CONN,    /* a unix stream socket accepted on path */
	FDSTORE_MEMFD,   /* a memfd sealed against shrinking, growing and
			    further seals (FDSTORE_SEALS) */
};

/* The seals a sealed region carries: nobody can cut it short (a SIGBUS
 * in every process that maps it) or grow it, nor seal it further (a write
 * seal would make it read-only under the guest). */
#define FDSTORE_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* The fd's name: ROLE@VM, or ROLE for vm NULL. */
void fdstore_name(char *buf, const char *role, const char *vm);

/* Takes what systemd passed (sd_listen_fds_with_names, which unsets
 * LISTEN_* and marks the fds close-on-exec); logs how many. Returns how
 * many fds were kept (a name seen again is closed and not kept). */
int fdstore_take(void);
/* The same from n fds numbered first.. with names[] (NULL: none); what
 * fdstore_take calls; the unit tests call it directly. */
int fdstore_take_fds(int n, int first, char **names);
/* The fd stored as name if it is of kind (path, if not NULL: the
 * socket's address, the listener's for a connection), now the caller's; -1 if none was passed. One of the
 * wrong kind is left to fdstore_release (logged). */
int fdstore_claim(const char *name, enum fdstore_kind kind, const char *path);
/* Closes every fd passed and not claimed, and removes it from the store,
 * as a name seen twice (the claimed one is stored again). Logs each;
 * returns how many were closed. The table is empty after. */
int fdstore_release(void);

/* Whether fds are being stored (NOTIFY_SOCKET is set). */
bool fdstore_on(void);
/* Pushes fd into the store under name. 1 if stored, 0 if there is no
 * store (no NOTIFY_SOCKET), -errno (logged). */
int fdstore_push(const char *name, int fd);
/* Removes whatever the store holds under name. */
void fdstore_forget(const char *name);
/* Removes VM vm's fds: irq, bell, doorbell, peer and region (vm del). */
void fdstore_forget_vm(const char *vm);

#endif /* FS_FDSTORE_H */
