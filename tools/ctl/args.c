// SPDX-License-Identifier: MIT
/*
 * flipswitchctl's command line: one parser for every command, driven by
 * the command table (struct cmd, in commands.c), and the usage and help
 * texts made from the same table, so that what a command accepts and what
 * its help says cannot drift apart.
 *
 * Options may stand anywhere, as users type them: `flipswitchctl stats -j`
 * and `flipswitchctl -j stats` alike, `vm add web3 --mac M` and `vm add
 * --mac M web3` alike. The global options (-s, -j, -p, -h/--help) are
 * known everywhere; a command's own options once its words are read, since
 * until then it is not known whether an option takes a value. "--" ends
 * the options. Values come as --name=V, --name V, -cV or -c V; short flags
 * may be bundled (-jp). A value is checked by its kind as it is read, so a
 * handler gets only values it can use.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "client.h"
#include "toolutil.h"

/* The global options, in the order of struct args' fields. */
static const struct opt global_opts[] = {
	{ .short_name = 's', .kind = OPT_STR, .arg = "SOCKET" },
	{ .short_name = 'j', .kind = OPT_FLAG },
	{ .short_name = 'p', .kind = OPT_FLAG },
	{ .name = "help", .short_name = 'h', .kind = OPT_FLAG },
	{ 0 }
};

#define N_GLOBAL	(sizeof(global_opts) / sizeof(global_opts[0]) - 1)

static const struct cmd *cur;	/* for args_usage_error */

/* "vm add", "stats". */
static const char *cmd_words(const struct cmd *c, char buf[40])
{
	snprintf(buf, 40, "%s%s%s", c->name, c->sub ? " " : "",
		 c->sub ? c->sub : "");
	return buf;
}

/* "--quota" or "-w": how messages and usage name an option. */
static const char *opt_label(const struct opt *o, char buf[40])
{
	if (o->short_name)
		snprintf(buf, 40, "-%c", o->short_name);
	else
		snprintf(buf, 40, "--%s", o->name);
	return buf;
}

void args_usage_line(FILE *f, const struct cmd *c)
{
	const struct opt *o;
	char b[40];

	fputs(cmd_words(c, b), f);
	if (c->pos)
		fprintf(f, " %s", c->pos);
	for (o = c->opts; o && (o->name || o->short_name); o++) {
		fprintf(f, " %s%s", o->required ? "" : "[", opt_label(o, b));
		if (o->kind != OPT_FLAG)
			fprintf(f, " %s", o->arg);
		if (!o->required)
			fputc(']', f);
	}
	fputc('\n', f);
}

/* "-w, --write FILE", "--quota N": the left column of the options. */
static int opt_column(const struct opt *o, char *buf, size_t n)
{
	char sh[8] = "";

	if (o->short_name)
		snprintf(sh, sizeof(sh), "-%c%s", o->short_name,
			 o->name ? ", " : "");
	return snprintf(buf, n, "%s%s%s%s%s", sh, o->name ? "--" : "",
			o->name ? o->name : "", o->kind != OPT_FLAG ? " " : "",
			o->kind != OPT_FLAG ? o->arg : "");
}

void args_cmd_help(FILE *f, const struct cmd *c)
{
	const struct opt *o;
	char col[64];
	int w = 0;

	fprintf(f, "usage: " PROG " [-s SOCKET] [-j] [-p] ");
	args_usage_line(f, c);
	fprintf(f, "\n%s\n", c->help);
	for (o = c->opts; o && (o->name || o->short_name); o++) {
		int n = opt_column(o, col, sizeof(col));

		w = n > w ? n : w;
	}
	if (w)
		fputc('\n', f);
	for (o = c->opts; o && (o->name || o->short_name); o++) {
		const char *h = o->help, *nl;

		opt_column(o, col, sizeof(col));
		fprintf(f, "  %-*s  ", w, col);
		while ((nl = strchr(h, '\n'))) {
			fprintf(f, "%.*s\n%*s", (int)(nl - h), h, w + 4, "");
			h = nl + 1;
		}
		fprintf(f, "%s\n", h);
	}
	if (c->notes)
		fprintf(f, "\n%s", c->notes);
}

int args_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vsay(fmt, ap);
	va_end(ap);
	if (cur) {
		fprintf(stderr, "usage: " PROG " ");
		args_usage_line(stderr, cur);
	} else {
		fprintf(stderr, "Try '" PROG " help'.\n");
	}
	return -E_USAGE;
}

const struct cmd *args_find(const struct cmd *cmds, size_t ncmds,
			    const char *name, const char *sub, bool *partial)
{
	size_t i;

	*partial = false;
	for (i = 0; i < ncmds; i++) {
		if (strcmp(cmds[i].name, name))
			continue;
		if (!cmds[i].sub)
			return &cmds[i];
		*partial = true;
		if (sub && !strcmp(cmds[i].sub, sub))
			return &cmds[i];
	}
	return NULL;
}

/* The option of table t called by `name` (len bytes) or by `c`. */
static const struct opt *opt_find(const struct opt *t, const char *name,
				  size_t len, char c)
{
	for (; t && (t->name || t->short_name); t++) {
		if (name && t->name && strlen(t->name) == len &&
		    !strncmp(t->name, name, len))
			return t;
		if (!name && c && t->short_name == c)
			return t;
	}
	return NULL;
}

/* Checks value s by o's kind into v. */
static int opt_value(const struct opt *o, const char *s, struct optval *v)
{
	unsigned long long n;
	uint8_t mac[6];
	char b[40], *end;

	v->set = true;
	v->str = s;
	switch (o->kind) {
	case OPT_FLAG:
	case OPT_STR:
		return 0;
	case OPT_U64:
		errno = 0;
		n = strtoull(s, &end, 10);
		if (!*s || *end || errno || *s == '-' || n > o->max)
			return args_usage_error("%s wants a whole number up to %"
						PRIu64 ", not \"%s\"",
						opt_label(o, b), o->max, s);
		v->u = n;
		return 0;
	case OPT_SECONDS:
		v->d = strtod(s, &end);
		if (!*s || *end || !(v->d >= 0.1 && v->d <= 3600))
			return args_usage_error("%s wants seconds from 0.1 to "
						"3600, not \"%s\"",
						opt_label(o, b), s);
		return 0;
	case OPT_MAC:
		if (tool_parse_mac(s, mac))
			return args_usage_error("%s wants a MAC address like "
						"52:54:00:12:34:56, not \"%s\"",
						opt_label(o, b), s);
		return 0;
	}
	return 0;
}

/* Where option o's value goes: a global one's field, or a command's. */
static struct optval *slot(struct args *a, const struct opt *o,
			   struct optval *g)
{
	if (o >= global_opts && o < global_opts + N_GLOBAL)
		return &g[o - global_opts];
	return &a->val[o - a->cmd->opts];
}

static const struct opt *lookup(struct args *a, const char *name, size_t len,
				char c)
{
	const struct opt *o = opt_find(global_opts, name, len, c);

	if (!o && a->cmd)
		o = opt_find(a->cmd->opts, name, len, c);
	return o;
}

static int unknown(struct args *a, const char *what)
{
	char b[40];

	if (a->cmd)
		return args_usage_error("%s is not an option of %s", what,
					cmd_words(a->cmd, b));
	return args_usage_error("%s is not an option of " PROG " itself (a "
				"command's own options follow the command)",
				what);
}

/* argv[*i] is "--name[=value]". */
static int parse_long(struct args *a, int argc, char **argv, int *i,
		      struct optval *g)
{
	const char *name = argv[*i] + 2, *eq = strchr(name, '=');
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	const struct opt *o = lookup(a, name, len, 0);
	char b[40];

	if (!o)
		return unknown(a, argv[*i]);
	if (o->kind == OPT_FLAG) {
		if (eq)
			return args_usage_error("--%s takes no value", o->name);
		return opt_value(o, "", slot(a, o, g));
	}
	if (eq)
		return opt_value(o, eq + 1, slot(a, o, g));
	if (*i + 1 >= argc)
		return args_usage_error("%s wants %s", opt_label(o, b), o->arg);
	return opt_value(o, argv[++*i], slot(a, o, g));
}

/* argv[*i] is "-c", "-jp" or "-wFILE". */
static int parse_short(struct args *a, int argc, char **argv, int *i,
		       struct optval *g)
{
	const char *s;

	for (s = argv[*i] + 1; *s; s++) {
		const struct opt *o = lookup(a, NULL, 0, *s);
		char b[40];
		int err;

		if (!o) {
			snprintf(b, sizeof(b), "-%c", *s);
			return unknown(a, b);
		}
		if (o->kind == OPT_FLAG) {
			if ((err = opt_value(o, "", slot(a, o, g))))
				return err;
			continue;
		}
		if (s[1])
			return opt_value(o, s + 1, slot(a, o, g));
		if (*i + 1 >= argc)
			return args_usage_error("-%c wants %s", *s, o->arg);
		return opt_value(o, argv[++*i], slot(a, o, g));
	}
	return 0;
}

int args_no_sub(const struct cmd *cmds, size_t ncmds, const char *name,
		const char *sub)
{
	cli_say("%s wants a subcommand%s%s%s", name, sub ? ", not \"" : "",
		sub ? sub : "", sub ? "\"" : "");
	for (size_t i = 0; i < ncmds; i++) {
		if (strcmp(cmds[i].name, name))
			continue;
		fprintf(stderr, "usage: " PROG " ");
		args_usage_line(stderr, &cmds[i]);
	}
	return -E_USAGE;
}

/* A word that is not an option: a command word, or the command's. */
static int positional(struct args *a, const struct cmd *cmds, size_t ncmds,
		      const char *s)
{
	bool partial;

	if (a->cmd) {
		if (a->npos >= a->cmd->max_pos || a->npos == ARGS_MAX_POS)
			return args_usage_error("unexpected argument \"%s\"", s);
		a->pos[a->npos++] = s;
		return 0;
	}
	a->words[a->nwords++] = s;
	a->cmd = args_find(cmds, ncmds, a->words[0],
			   a->nwords > 1 ? a->words[1] : NULL, &partial);
	cur = a->cmd;
	if (a->cmd || (partial && a->nwords == 1))
		return 0;
	if (!partial)
		return args_usage_error("there is no command \"%s\"", s);
	return args_no_sub(cmds, ncmds, a->words[0], s);
}

int args_parse(const struct cmd *cmds, size_t ncmds, int argc, char **argv,
	       struct args *a)
{
	struct optval g[N_GLOBAL] = { 0 };
	bool dashdash = false;
	const struct opt *o;
	char b[40], w[40];
	int i, err = 0;

	memset(a, 0, sizeof(*a));
	cur = NULL;
	for (i = 1; i < argc && !err; i++) {
		const char *s = argv[i];

		if (dashdash || s[0] != '-' || !s[1])
			err = positional(a, cmds, ncmds, s);
		else if (!strcmp(s, "--"))
			dashdash = true;
		else if (s[1] == '-')
			err = parse_long(a, argc, argv, &i, g);
		else
			err = parse_short(a, argc, argv, &i, g);
	}
	a->sock = g[0].set ? g[0].str : NULL;
	a->json = g[1].set || g[2].set;
	a->pretty = g[2].set;
	a->help = g[3].set;
	if (err || a->help || !a->cmd)
		return err;
	/* What the command cannot do without. */
	if (a->cmd->pos_want && !a->npos)
		return args_usage_error("%s wants %s", cmd_words(a->cmd, w),
					a->cmd->pos_want);
	bool any = false;

	for (o = a->cmd->opts; o && (o->name || o->short_name); o++) {
		if (o->required && !a->val[o - a->cmd->opts].set)
			return args_usage_error("%s wants %s %s",
						cmd_words(a->cmd, w),
						opt_label(o, b), o->arg);
		any |= a->val[o - a->cmd->opts].set;
	}
	if (a->cmd->want_opt && !any)
		return args_usage_error("%s wants at least one option",
					cmd_words(a->cmd, w));
	return 0;
}

static const struct optval *val_of(const struct args *a, const char *name)
{
	const struct opt *o = opt_find(a->cmd->opts, name, strlen(name), 0);

	if (!o)
		abort();	/* a handler asked for an option not in its table */
	return &a->val[o - a->cmd->opts];
}

bool args_flag(const struct args *a, const char *name)
{
	return val_of(a, name)->set;
}

const char *args_str(const struct args *a, const char *name)
{
	const struct optval *v = val_of(a, name);

	return v->set ? v->str : NULL;
}

bool args_u64(const struct args *a, const char *name, uint64_t *u)
{
	const struct optval *v = val_of(a, name);

	if (v->set)
		*u = v->u;
	return v->set;
}

double args_double(const struct args *a, const char *name, double dflt)
{
	const struct optval *v = val_of(a, name);

	return v->set ? v->d : dflt;
}
