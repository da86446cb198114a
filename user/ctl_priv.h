/* SPDX-License-Identifier: MIT */
/*
 * Between the two halves of the control module: ctl.c (the socket, its
 * clients and the doorbells it serves) and ctl_cmd.c (the commands).
 * Nothing outside user/ctl*.c includes this.
 */
#ifndef FS_CTL_PRIV_H
#define FS_CTL_PRIV_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "ctl.h"

/* An error message's most bytes, with its NUL. */
#define CTL_MSG_MAX 256

static inline double ctl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Whether a peer may change things: root or the control group. The one
 * rule, at accept (who gives way when every slot is taken) and for each
 * request. */
bool ctl_peer_privileged(const struct ctl *c, uid_t uid, gid_t gid);

/* One reply line, newline-terminated and malloc'd (NULL: out of memory):
 * {"id":id,"result":result} (result's reference is taken), or with code
 * {"id":id,"error":{"code":code,"message":msg}}. */
char *ctl_reply_line(json_t *id, json_t *result, const char *code,
		     const char *msg);

/* Asks the worker (sw_mail_call) and waits up to c->mail_ms: 0, or
 * -ETIMEDOUT with nothing done. */
int ctl_mail(struct ctl *c, int op, int arg, int arg2, void *ptr,
	     int64_t *result);

/* Serves VM slot's doorbell at path (vm add, before the worker links
 * the VM: nothing is accepted on it until the handler returns), to a
 * peer of uid peer_uid only (-1: any that may connect). */
int ctl_db_open(struct ctl *c, int slot, const char *vm, const char *path,
		const struct doorbell_fds *fds, long long peer_uid);
/* Stops serving VM slot's doorbell, once the worker let go of the VM
 * (vm del), or has stopped (ctl_destroy): it is not asked. */
void ctl_db_close(struct ctl *c, int slot);

#endif /* FS_CTL_PRIV_H */
