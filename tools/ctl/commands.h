/* SPDX-License-Identifier: MIT */
/* flipswitchctl's commands: the table (commands.c) and what the handlers
 * in commands.c, watch.c and capture.c share. */
#ifndef FS_CTL_COMMANDS_H
#define FS_CTL_COMMANDS_H

#include <jansson.h>

#include "args.h"
#include "client.h"

struct ctx {
	const char *sock;
	struct conn conn;
};

extern const struct cmd cli_cmds[];
extern const size_t cli_ncmds;

/* Connects to x->sock (once per run). */
int cli_connect(struct ctx *x);
/* Connects, asks, hands the result back (the caller's); takes args. */
int cli_ask(struct ctx *x, const char *cmd, json_t *args, json_t **res);
/* Share of all, in %. */
double cli_pct(uint64_t part, uint64_t all);

/* Every entry called name, "vm" giving both vm commands. */
void cli_help_for(FILE *f, const char *name);
void cli_usage(FILE *f);

int cmd_watch(struct ctx *x, const struct args *a);
int cmd_capture(struct ctx *x, const struct args *a);

#endif
