/* SPDX-License-Identifier: MIT */
/* flipswitchctl's connection to flipswitchd: see client.c. */
#ifndef FS_CTL_CLIENT_H
#define FS_CTL_CLIENT_H

#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>

#define PROG		"flipswitchctl"
#define REPLY_TIMEOUT_MS 5000
#define TICK_MS		200

/* Set by SIGINT/SIGTERM once cli_catch_signals() ran; every wait of the
 * tool notices it within TICK_MS. */
extern volatile sig_atomic_t cli_stop;

void cli_catch_signals(void);
void cli_vsay(const char *fmt, va_list ap);
void cli_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct conn {
	int fd;
	const char *path;
	char *buf;
	size_t len, cap;
	size_t skip;		/* bytes of the line handed out last */
	json_int_t next_id;
};

int conn_open(struct conn *c, const char *path);
void conn_close(struct conn *c);
int conn_send(struct conn *c, const char *cmd, json_t *args);
int conn_read_msg(struct conn *c, const char *cmd, int timeout_ms,
		  json_t **msg);
int conn_reply_error(json_t *e);
int conn_request(struct conn *c, const char *cmd, json_t *args,
		 json_t **res);

#endif
