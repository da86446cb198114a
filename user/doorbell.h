/* SPDX-License-Identifier: MIT */
/*
 * Doorbells: the ivshmem-server protocol (QEMU docs/specs/ivshmem-spec.rst),
 * spoken by flipswitchd itself on one unix socket per VM, since Debian
 * ships no ivshmem-server.
 *
 * Each socket is its own ivshmem "server" with two peers: the switch
 * (FS_DOORBELL_SWITCH_ID, never connected: the daemon holds its eventfd)
 * and the one guest, DOORBELL_GUEST_ID. A QEMU with
 *   -chardev socket,path=SOCKET,id=X -device ivshmem-doorbell,chardev=X,vectors=1
 * connects and gets, in order: the protocol version (0), its ID, the VM's
 * ring region file (as the shared memory), the switch's eventfd (writing
 * the guest's Doorbell register with the switch's ID rings it), and its own
 * vector 0 eventfd (the switch writes it; QEMU turns it into MSI-X vector
 * 0). flipswitch-guest --doorbell speaks the same on the host.
 *
 * One guest per VM at a time: a second connection is refused while the
 * first is up. Messages are 8-byte little-endian signed numbers, each with
 * at most one file descriptor (SCM_RIGHTS): include/flipswitch/doorbell.h.
 */
#ifndef FS_DOORBELL_H
#define FS_DOORBELL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define DOORBELL_GUEST_ID 1

struct doorbell {
	char path[108];
	int listen_fd;     /* -1: none */
	int conn_fd;       /* the guest's connection, -1: none */
	uint64_t connects; /* guests served */
	uint64_t refused;  /* connections refused (one was up already) */
};

/* A listening unix socket at path, mode 0660, group gid if have_group,
 * non-blocking; a stale socket file is replaced, a live one is not
 * (-EADDRINUSE), nor anything else at path (-EEXIST). The fd, or -errno.
 * (The control socket's too.) */
int unix_listen(const char *path, bool have_group, gid_t gid, int backlog);

/* Creates the listening socket at path (mode 0660, group gid if
 * have_group), replacing a stale socket file but not a live one
 * (-EADDRINUSE). */
int doorbell_listen(struct doorbell *d, const char *path, bool have_group,
		    gid_t gid);
/* Accepts a pending connection and sends it the greeting. Returns 1 if a
 * guest is now connected, 0 if there was none to accept or it was refused
 * or failed (counted). */
int doorbell_accept(struct doorbell *d, int shm_fd, int switch_fd,
		    int guest_fd);
/* The guest's connection is readable: 1 if it hung up (closed here), 0 if
 * it is still up (anything it sent is discarded). */
int doorbell_check(struct doorbell *d);
/* Closes the connection and the socket, and removes the socket file. */
void doorbell_close(struct doorbell *d);

#endif /* FS_DOORBELL_H */
