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
 * the guest's Doorbell register with the switch's ID rings it; each VM's
 * socket is a server of its own, so each VM has its own, and the switch
 * knows which guest rang), and its own
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
#include <poll.h>
#include <sys/types.h>

#define DOORBELL_GUEST_ID 1

/* What a guest is sent: the VM's descriptors, not the doorbell's (it
 * neither dups nor closes them; they live as long as the VM, which
 * outlives its doorbell). */
struct doorbell_fds {
	int region;        /* the VM's ring region file */
	int bell;          /* the switch's eventfd for this VM, rung by its
			      guest */
	int irq;           /* the VM's vector 0, rung by the switch */
};

struct doorbell {
	char path[108];
	char vm[32];       /* whose, for the log */
	int listen_fd;     /* -1: none */
	int conn_fd;       /* the guest's connection, -1: none */
	struct doorbell_fds fds;
	uint64_t connects; /* guests served */
	uint64_t refused;  /* connections refused (one was up already, or
			      not the VM's peer) */
	long long peer_uid; /* the only uid that may be the guest's peer
			       (SO_PEERCRED), -1: any that may connect */
	bool kept;         /* the socket is in the fd store (fdstore.h):
			      the next daemon serves it, path and all */
};

/* What doorbell_event saw. */
enum doorbell_ev {
	DOORBELL_EV_NONE,
	DOORBELL_EV_CONNECTED, /* a guest connected and was greeted */
	DOORBELL_EV_LEFT,      /* the guest hung up */
};

/* A listening unix socket at path, mode 0660, group gid if have_group,
 * non-blocking; a stale socket file is replaced, a live one is not
 * (-EADDRINUSE), nor anything else at path (-EEXIST). The fd, or -errno.
 * (The control socket's too.) */
int unix_listen(const char *path, bool have_group, gid_t gid, int backlog);

/* A doorbell with no socket: doorbell_close and doorbell_pollfds on it do
 * nothing. */
void doorbell_init(struct doorbell *d);
/* Serves VM vm's doorbell at path (mode 0660, group gid if have_group),
 * replacing a stale socket file but not a live one (-EADDRINUSE); logs
 * either way. fds are what a guest that connects is sent. The socket and
 * the QEMU connected to it that an earlier daemon left in the fd store
 * are taken back (the guest is connected from the start); a new socket
 * and each guest that connects are stored. */
int doorbell_open(struct doorbell *d, const char *vm, const char *path,
		  bool have_group, gid_t gid, const struct doorbell_fds *fds);
/* The doorbell's descriptors to poll for POLLIN (its socket and the
 * guest's connection, if up) into pfd[]; returns how many (0 to 2). */
int doorbell_pollfds(const struct doorbell *d, struct pollfd *pfd);
/* fd, one of doorbell_pollfds', is readable: accepts a guest and greets
 * it (protocol steps 1-5; a second guest while one is up is refused), or
 * sees whether the guest hung up (anything it sent is discarded). */
enum doorbell_ev doorbell_event(struct doorbell *d, int fd);
/* Whether a guest is connected. */
static inline bool doorbell_connected(const struct doorbell *d)
{
	return d->conn_fd >= 0;
}
/* Closes the connection and the socket, removes the socket file and
 * both from the fd store (the VM is gone). */
void doorbell_close(struct doorbell *d);
/* The daemon stops: as doorbell_close, but a socket in the fd store
 * keeps its file and stays there, with its guest's connection, for the
 * next daemon. */
void doorbell_leave(struct doorbell *d);

#endif /* FS_DOORBELL_H */
