/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a thread of its own serving newline-delimited JSON
 * (docs/control.md) to flipswitchctl and friends.
 *
 * It reads the switch through sw_snapshot (sw_snapshot.h), without
 * stopping the worker, and hands every change to the worker through the
 * switch's mailbox (switch.h), waiting for the answer itself: a guest
 * coming to or leaving a doorbell too. Clients are
 * non-blocking: a client that sends half a line, stops reading, or
 * disconnects holds up only its own connection.
 *
 * ctl.c has the socket, the clients and the VMs' doorbell sockets (served
 * by doorbell.c); ctl_cmd.c the commands.
 */
#ifndef FS_CTL_H
#define FS_CTL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "flipswitch/ctl.h"
#include "doorbell.h"
#include "switch.h"

struct sw_snap;

#define CTL_MAX_CLIENTS 32
/* How long the control thread waits for the worker to take a request
 * (ctl.mail_ms, which tests shorten). */
#define CTL_MAIL_TIMEOUT_MS 2000

struct ctl_client {
	int fd;
	uid_t uid;
	gid_t gid;
	char *in;          /* FS_CTL_MAX_LINE bytes */
	size_t in_len;
	char *out;
	size_t out_len, out_cap;
	bool closing;      /* close once out is flushed */
	bool privileged;   /* root or the control group (may change things) */
	double active;     /* when it was accepted, or last read or wrote
			      (monotonic seconds) */
	/* An active capture streams to this client. */
	bool capturing;
	char cap_id[64];   /* the request's id, as JSON text */
	uint64_t cap_want, cap_got, cap_dropped0;
};

struct ctl {
	struct sw *sw;
	char path[108];
	int listen_fd;
	int stop_fd;
	bool have_group;
	gid_t group;
	pthread_t thread;
	bool running;
	struct ctl_client client[CTL_MAX_CLIENTS];
	int capture_client;   /* index, or -1 */
	/* AF_XDP socket statistics cannot be cleared: stats --clear records
	 * them here and later readings subtract it. */
	uint64_t xsk_base[CFG_MAX_IFACES][6];
	/* When the worker last audited the frames for `frames` (monotonic
	 * seconds; 0: a VM came or went since). */
	double frames_at;
	/* Each VM's doorbell socket (doorbell.h), served by this thread,
	 * and whether the worker was told a guest is connected to it: the
	 * two differ while a request to tell it is yet to succeed. */
	struct doorbell db[CFG_MAX_VMS];
	bool db_told[CFG_MAX_VMS];
	bool db_late[CFG_MAX_VMS]; /* a request to tell it failed */
	/* How long to wait for the worker to take a request (ms). */
	int mail_ms;
	/* The last sw_snapshot (ctl_cmd.c), one buffer for every request. */
	struct sw_snap *snap;
	/* The metrics endpoint (metrics.h), served by this thread too, or
	 * NULL. Set before ctl_start(). */
	struct metrics *metrics;
};

/* Creates the socket (and its directory), mode 0660, owned by the group
 * if one is configured, and the doorbell sockets of the switch's VMs. */
int ctl_create(struct ctl *c, struct sw *sw, const char *path,
	       const char *group, unsigned int gid);
int ctl_start(struct ctl *c);
/* Stops the thread, closes the clients, removes the socket. */
void ctl_destroy(struct ctl *c);

/* Handles one request line as from a peer with uid/gid; returns the reply
 * line (malloc'd, newline-terminated). client is the index of the
 * connection (for capture), or -1. Exposed for the unit tests. */
char *ctl_handle_line(struct ctl *c, const char *line, size_t len, uid_t uid,
		      gid_t gid, int client);

#endif /* FS_CTL_H */
