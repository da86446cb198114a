/* SPDX-License-Identifier: MIT */
/* flipswitchctl's command line: the command table's types and its one
 * parser (args.c). */
#ifndef FS_CTL_ARGS_H
#define FS_CTL_ARGS_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define E_USAGE		EINVAL	/* reserved for usage errors: exit 2 */
#define ARGS_MAX_OPTS	12	/* options of one command */
#define ARGS_MAX_POS	4	/* arguments of one command */

enum opt_kind {
	OPT_FLAG,		/* no value */
	OPT_STR,		/* any string */
	OPT_U64,		/* a whole number from 0 to .max */
	OPT_SECONDS,		/* seconds from 0.1 to 3600, fractions allowed */
	OPT_MAC,		/* 52:54:00:12:34:56 */
};

struct opt {
	const char *name;	/* --name; NULL if only short */
	char short_name;	/* -c; 0 if only long */
	enum opt_kind kind;
	const char *arg;	/* the value's name in usage: "N", "PATH" */
	uint64_t max;		/* OPT_U64 */
	bool required;
	const char *help;	/* lines separated by \n */
};

struct ctx;
struct args;

struct cmd {
	const char *name, *sub;	/* "vm" "add"; sub NULL for one word */
	int (*fn)(struct ctx *x, const struct args *a);
	const char *pos;	/* its arguments in usage: "[PORT]", "NAME" */
	const char *pos_want;	/* "the VM's name" if one is required */
	int max_pos;
	const struct opt *opts;	/* ends with { 0 } */
	const char *help;	/* one line */
	const char *notes;	/* after the options, or NULL */
	bool want_opt;		/* at least one of its options */
};

struct optval {
	bool set;
	const char *str;
	uint64_t u;
	double d;
};

/* One command line, parsed: options may stand anywhere, before or after
 * the command and its arguments, until a "--". */
struct args {
	const struct cmd *cmd;		/* NULL: none, or words[] incomplete */
	const char *words[2];		/* the command words seen */
	int nwords;
	const char *pos[ARGS_MAX_POS];	/* the command's own arguments */
	int npos;
	struct optval val[ARGS_MAX_OPTS]; /* by index in cmd->opts */
	/* The global options. */
	const char *sock;
	bool json, pretty, help;
};

int args_parse(const struct cmd *cmds, size_t ncmds, int argc, char **argv,
	       struct args *a);
const struct cmd *args_find(const struct cmd *cmds, size_t ncmds,
			    const char *name, const char *sub, bool *partial);

/* A command's options by name (a name not in its table aborts). */
bool args_flag(const struct args *a, const char *name);
const char *args_str(const struct args *a, const char *name);
bool args_u64(const struct args *a, const char *name, uint64_t *v);
double args_double(const struct args *a, const char *name, double dflt);

void args_usage_line(FILE *f, const struct cmd *c);
void args_cmd_help(FILE *f, const struct cmd *c);
/* "vm" without add or del (sub NULL), or with another word: says so and
 * prints the usage of each; -E_USAGE. */
int args_no_sub(const struct cmd *cmds, size_t ncmds, const char *name,
		const char *sub);
/* Says why, then the usage of the command being parsed; -E_USAGE. */
int args_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
