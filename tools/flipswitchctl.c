// SPDX-License-Identifier: MIT
/*
 * flipswitchctl: the command-line client of flipswitchd's control socket
 * (the protocol is docs/control.md).
 *
 * One connection per run: a command sends one request line and reads its
 * reply line (5 s at most); capture reads frame lines until the result or
 * Ctrl-C, and watch asks for stats once per interval.
 *
 * Every command prints through one small printer (out_*), in the spirit of
 * iproute2's print_uint(PRINT_ANY, ...): each call names a JSON key and a
 * text format, and either adds the value to the JSON object being built
 * (-j) or prints it as text. Text and JSON thus come from the same calls
 * and cannot disagree, and the JSON keys are ours, not whatever the daemon
 * happened to send. Only --prometheus has a writer of its own (prom.c,
 * which flipswitchd's metrics endpoint serves too), since its format
 * groups samples by metric rather than by port.
 *
 * Internal functions return 0 or -errno and have said why on stderr; the
 * exit status is 0, 1 (the daemon or the connection failed) or 2 (usage).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "flipswitch/ctl.h"
#include "pcapout.h"
#include "prom.h"

#define PROG		"flipswitchctl"
#define REPLY_TIMEOUT_MS 5000
#define TICK_MS		200
#define MAX_REPLY	(64 << 20)	/* a reply line we refuse to buffer */
#define E_USAGE		EINVAL		/* reserved for usage errors: exit 2 */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void vsay(const char *fmt, va_list ap)
{
	fprintf(stderr, PROG ": ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

/* ---- the printer ------------------------------------------------------ */

#define OUT_DEPTH 16

static struct {
	bool json, pretty;
	json_t *stack[OUT_DEPTH];
	int depth;
} out;

static void out_add(const char *key, json_t *v)
{
	json_t *parent = out.stack[out.depth - 1];

	if (json_is_array(parent))
		json_array_append_new(parent, v);
	else
		json_object_set_new(parent, key, v);
}

/* Text only: headers, separators, newlines. */
static void out_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out_text(const char *fmt, ...)
{
	va_list ap;

	if (out.json)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

/* Each out_<type>(key, textfmt, value): JSON key, or text through textfmt
 * (nothing if textfmt is NULL). */
static void out_u64(const char *key, const char *fmt, uint64_t v)
{
	if (out.json)
		out_add(key, json_integer((json_int_t)v));
	else if (fmt)
		printf(fmt, v);
}

static void out_double(const char *key, const char *fmt, double v)
{
	if (out.json)
		out_add(key, json_real(v));
	else if (fmt)
		printf(fmt, v);
}

static void out_str(const char *key, const char *fmt, const char *v)
{
	if (out.json)
		out_add(key, json_string(v));
	else if (fmt)
		printf(fmt, v);
}

/* Text prints yes or no through fmt. */
static void out_bool(const char *key, const char *fmt, bool v,
		     const char *yes, const char *no)
{
	if (out.json)
		out_add(key, json_boolean(v));
	else if (fmt)
		printf(fmt, v ? yes : no);
}

/* A JSON null; text prints text through fmt. */
static void out_null(const char *key, const char *fmt, const char *text)
{
	if (out.json)
		out_add(key, json_null());
	else if (fmt)
		printf(fmt, text);
}

static void out_push(const char *key, json_t *c)
{
	if (!out.json) {
		json_decref(c);
		return;
	}
	if (out.depth == OUT_DEPTH)
		abort();
	out_add(key, json_incref(c));
	out.stack[out.depth++] = c;
	json_decref(c);
}

static void out_open_object(const char *key)
{
	out_push(key, json_object());
}

static void out_open_array(const char *key)
{
	out_push(key, json_array());
}

static void out_close(void)
{
	if (out.json && out.depth > 1)
		out.depth--;
}

#define out_close_object out_close
#define out_close_array out_close

static void out_begin(void)
{
	if (!out.json)
		return;
	out.stack[0] = json_object();
	out.depth = 1;
}

/* Prints the JSON object built since out_begin (one per line). */
static void out_end(void)
{
	char *s;

	if (!out.json) {
		fflush(stdout);
		return;
	}
	s = json_dumps(out.stack[0], JSON_PRESERVE_ORDER |
		       (out.pretty ? JSON_INDENT(2) : JSON_COMPACT));
	if (s)
		printf("%s\n", s);
	free(s);
	fflush(stdout);
	json_decref(out.stack[0]);
	out.stack[0] = NULL;
	out.depth = 0;
}

/* ---- reading replies -------------------------------------------------- */

static uint64_t j_u64(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		return json_integer_value(v) < 0 ? 0 : (uint64_t)json_integer_value(v);
	if (json_is_real(v))
		return json_real_value(v) < 0 ? 0 : (uint64_t)json_real_value(v);
	return 0;
}

static uint64_t j_val_u64(json_t *v)
{
	if (json_is_integer(v))
		return json_integer_value(v) < 0 ? 0 : (uint64_t)json_integer_value(v);
	if (json_is_real(v))
		return json_real_value(v) < 0 ? 0 : (uint64_t)json_real_value(v);
	return 0;
}

static const char *j_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static bool j_bool(json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

/* The widest string member `key` of the objects in arr, at least min. */
static int j_width(json_t *arr, const char *key, int min)
{
	size_t i;
	json_t *e;
	int w = min;

	json_array_foreach(arr, i, e) {
		int n = (int)strlen(j_str(e, key));

		if (n > w)
			w = n;
	}
	return w;
}

/* ---- the connection --------------------------------------------------- */

struct conn {
	int fd;
	const char *path;
	char *buf;
	size_t len, cap;
	size_t skip;		/* bytes of the line handed out last */
	json_int_t next_id;
};

static int conn_open(struct conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int err;

	memset(c, 0, sizeof(*c));
	c->path = path;
	c->next_id = 1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		say("the socket path %s is too long for a unix socket", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		err = errno;
		say("cannot create a unix socket: %s", strerror(err));
		return -err;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		if (err == EACCES || err == EPERM)
			say("cannot reach flipswitchd at %s: %s (root or the "
			    "control group may connect)", path, strerror(err));
		else
			say("cannot reach flipswitchd at %s: %s (is it running? "
			    "-s SOCKET chooses another socket)", path,
			    strerror(err));
		close(c->fd);
		c->fd = -1;
		return -err;
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
}

static int conn_send(struct conn *c, const char *cmd, json_t *args)
{
	json_t *req;
	char *s;
	size_t n, off = 0;
	int err = 0;

	/* args stays the caller's */
	req = json_pack("{s:I, s:s, s:o}", "id", c->next_id++, "cmd", cmd,
			"args", args ? json_incref(args) : json_object());
	if (!req)
		return -ENOMEM;
	s = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(req);
	if (!s)
		return -ENOMEM;
	n = strlen(s);
	if (n + 1 > FS_CTL_MAX_LINE) {
		say("the request is longer than %d bytes", FS_CTL_MAX_LINE);
		free(s);
		return -EMSGSIZE;
	}
	s[n++] = '\n';
	while (off < n) {
		ssize_t w = send(c->fd, s + off, n - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			err = errno;
			say("cannot send to flipswitchd at %s: %s", c->path,
			    strerror(err));
			break;
		}
		off += (size_t)w;
	}
	free(s);
	return -err;
}

/*
 * The next line, without its newline, into *line (valid until the next
 * call). timeout_ms < 0 waits for ever, in ticks that notice `stop`.
 * -ETIMEDOUT, -EINTR (stop), -ECONNRESET (closed) are not reported here.
 */
static int conn_line(struct conn *c, int timeout_ms, char **line)
{
	double deadline = tool_now() + timeout_ms / 1000.0;
	char *nl;

	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		ssize_t r;
		int n;

		if (c->skip) {	/* drop the line handed out last time */
			memmove(c->buf, c->buf + c->skip, c->len - c->skip);
			c->len -= c->skip;
			c->skip = 0;
		}
		nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		if (nl) {
			*nl = '\0';
			*line = c->buf;
			c->skip = (size_t)(nl - c->buf) + 1;
			return 0;
		}
		if (stop)
			return -EINTR;
		if (timeout_ms >= 0 && tool_now() >= deadline)
			return -ETIMEDOUT;
		n = poll(&p, 1, TICK_MS);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		if (c->cap - c->len < 4096) {
			size_t cap = c->cap ? c->cap * 2 : 65536;
			char *b;

			if (cap > MAX_REPLY) {
				say("flipswitchd sent a line longer than %d bytes",
				    MAX_REPLY);
				return -EMSGSIZE;
			}
			b = realloc(c->buf, cap);
			if (!b)
				return -ENOMEM;
			c->buf = b;
			c->cap = cap;
		}
		r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = errno;

			say("cannot read from flipswitchd at %s: %s", c->path,
			    strerror(err));
			return -err;
		}
		if (r == 0)
			return -ECONNRESET;
		c->len += (size_t)r;
	}
}

/* An error reply: say its message. -EPERM, -ENOENT, -EEXIST or -EPROTO. */
static int reply_error(json_t *e)
{
	const char *code = j_str(e, "code"), *msg = j_str(e, "message");

	say("%s", *msg ? msg : *code ? code : "flipswitchd reported an error");
	if (!strcmp(code, FS_CTL_E_PERMISSION))
		return -EPERM;
	if (!strcmp(code, FS_CTL_E_NOT_FOUND))
		return -ENOENT;
	if (!strcmp(code, FS_CTL_E_EXISTS))
		return -EEXIST;
	return -EPROTO;
}

/* Reads and parses one line; *msg is the reply object (the caller's). */
static int read_msg(struct conn *c, const char *cmd, int timeout_ms,
		    json_t **msg)
{
	json_error_t jerr;
	char *line = NULL;
	int err;

	err = conn_line(c, timeout_ms, &line);
	if (err == -ETIMEDOUT)
		say("flipswitchd at %s did not answer \"%s\" within %d seconds",
		    c->path, cmd, timeout_ms / 1000);
	else if (err == -ECONNRESET)
		say("flipswitchd at %s closed the connection before answering "
		    "\"%s\"", c->path, cmd);
	if (err)
		return err;
	*msg = json_loads(line, 0, &jerr);
	if (!json_is_object(*msg)) {
		say("flipswitchd sent a reply that is not a JSON object (%s)",
		    jerr.text);
		json_decref(*msg);
		return -EPROTO;
	}
	return 0;
}

/* One request, one reply; *res is its result (the caller's). */
static int request(struct conn *c, const char *cmd, json_t *args, json_t **res)
{
	json_t *msg, *r;
	int err;

	err = conn_send(c, cmd, args);
	if (err)
		return err;
	err = read_msg(c, cmd, REPLY_TIMEOUT_MS, &msg);
	if (err)
		return err;
	if ((r = json_object_get(msg, "error"))) {
		err = reply_error(r);
	} else if (!json_is_object(r = json_object_get(msg, "result"))) {
		say("flipswitchd's reply to \"%s\" has no result", cmd);
		err = -EPROTO;
	} else {
		*res = json_incref(r);
	}
	json_decref(msg);
	return err;
}

/* ---- commands --------------------------------------------------------- */

struct ctx {
	const char *sock;
	struct conn conn;
};

struct cmd {
	const char *name, *sub;
	int (*fn)(struct ctx *x, int argc, char **argv);
	const char *usage, *help, *options;
};

static const struct cmd *cur_cmd;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	if (cur_cmd)
		fprintf(stderr, "usage: " PROG " %s\n", cur_cmd->usage);
	else
		fprintf(stderr, "Try '" PROG " help'.\n");
	return -E_USAGE;
}

static void cmd_help(FILE *f, const struct cmd *c)
{
	fprintf(f, "usage: " PROG " [-s SOCKET] [-j] [-p] %s\n\n%s\n",
		c->usage, c->help);
	if (c->options)
		fprintf(f, "\n%s", c->options);
}

static int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *v)
{
	unsigned long long n;
	char *end;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (!*s || *end || errno || *s == '-' || n > max)
		return usage_error("%s wants a whole number up to %" PRIu64
				   ", not \"%s\"", opt, max, s);
	*v = n;
	return 0;
}

/*
 * getopt_long over a command's arguments, argv[0] being the command; the
 * arguments are permuted, so options may follow PORT or NAME. Returns the
 * option, -1 at the end, or '?' having reported a usage error in *err.
 */
static int cmd_getopt(int argc, char **argv, const char *shortopts,
		      const struct option *lo, int *err)
{
	const char *arg;
	int o;

	opterr = 0;
	o = getopt_long(argc, argv, shortopts, lo, NULL);
	if (o != '?' && o != ':')
		return o;
	arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
	if (o == ':')
		*err = usage_error("%s wants a value", arg);
	else if (!strncmp(arg, "--", 2))
		*err = usage_error("%s is not an option of %s (or takes no "
				   "value)", arg, cur_cmd->name);
	else
		*err = usage_error("-%c is not an option of %s", optopt,
				   cur_cmd->name);
	return '?';
}

#define HELP_OPT { "help", no_argument, NULL, 'h' }

/* Handles --help, unknown options and extra arguments for commands
 * without options of their own: returns 1 when help was printed. */
static int no_options(int argc, char **argv, int max_args, int *err)
{
	static const struct option lo[] = { HELP_OPT, { 0 } };
	int o;

	optind = 0;
	*err = 0;
	while ((o = cmd_getopt(argc, argv, ":h", lo, err)) != -1) {
		if (o == 'h') {
			cmd_help(stdout, cur_cmd);
			return 1;
		}
		return 1;
	}
	if (argc - optind > max_args) {
		*err = usage_error("unexpected argument \"%s\"", argv[optind + max_args]);
		return 1;
	}
	return 0;
}

static int connect_ctx(struct ctx *x)
{
	return conn_open(&x->conn, x->sock);
}

/* Connects, asks, and hands the result back. */
static int ask(struct ctx *x, const char *cmd, json_t *args, json_t **res)
{
	int err = connect_ctx(x);

	if (!err)
		err = request(&x->conn, cmd, args, res);
	json_decref(args);
	return err;
}

/* ping */

static int do_ping(struct ctx *x, int argc, char **argv)
{
	json_t *res;
	int err;

	if (no_options(argc, argv, 0, &err))
		return err;
	if ((err = ask(x, "ping", NULL, &res)))
		return err;
	out_begin();
	out_str("version", "flipswitchd is running, protocol %s\n",
		j_str(res, "version"));
	out_end();
	json_decref(res);
	return 0;
}

/* show */

static void print_vm(json_t *v, int nw, int rw)
{
	char f1[16], f2[16];

	snprintf(f1, sizeof(f1), "%%-%ds  ", nw);
	snprintf(f2, sizeof(f2), "%%-%ds  ", rw);
	out_str("name", f1, j_str(v, "name"));
	out_str("mac", "%-17s  ", j_str(v, "mac"));
	out_u64("vlan", "%4" PRIu64 "  ", j_u64(v, "vlan"));
	out_str("rings", f2, j_str(v, "rings"));
	out_bool("attached", "%-8s  ", j_bool(v, "attached"), "attached",
		 "detached");
	out_u64("quota", "%5" PRIu64 "  ", j_u64(v, "quota"));
	out_u64("held", "%5" PRIu64 "  ", j_u64(v, "held"));
	if (*j_str(v, "uplink"))
		out_str("uplink", "%-8s  ", j_str(v, "uplink"));
	else
		out_null("uplink", "%-8s  ", "-");
	/* DOORBELL: off, idle (no guest on it), connected, or rings (the
	 * guest rings the switch too: both sides may sleep). */
	if (json_is_string(json_object_get(v, "doorbell")))
		out_str("doorbell", "", j_str(v, "doorbell"));
	else
		out_null("doorbell", "", "");
	out_bool("doorbell_connected", "", j_bool(v, "doorbell_connected"), "", "");
	out_bool("guest_rings", "", j_bool(v, "guest_rings"), "", "");
	out_u64("doorbell_usecs", NULL, j_u64(v, "doorbell_usecs"));
	out_text("%s\n", !json_is_string(json_object_get(v, "doorbell")) ? "off" :
			 !j_bool(v, "doorbell_connected") ? "idle" :
			 j_bool(v, "guest_rings") ? "rings" : "connected");
}

static void print_vm_header(int nw, int rw)
{
	out_text("%-*s  %-17s  %4s  %-*s  %-8s  %5s  %5s  %-8s  %s\n", nw, "VM",
		 "MAC", "VLAN", rw, "RINGS", "STATE", "QUOTA", "HELD", "UPLINK",
		 "DOORBELL");
}

/* The switch-wide settings (show's "switch", set's answer). */
static void print_settings(json_t *sw)
{
	out_open_object("switch");
	out_u64("batch", "batch            %" PRIu64 "\n", j_u64(sw, "batch"));
	out_str("handoff", "handoff          %s\n", j_str(sw, "handoff"));
	out_u64("guest_timeout", "guest_timeout    %" PRIu64 " ms\n",
		j_u64(sw, "guest_timeout"));
	out_u64("doorbell_usecs", "doorbell_usecs   %" PRIu64 " us\n",
		j_u64(sw, "doorbell_usecs"));
	out_u64("max_sleep_usecs", "max_sleep_usecs  %" PRIu64 " us\n",
		j_u64(sw, "max_sleep_usecs"));
	out_close_object();
}

static int do_show(struct ctx *x, int argc, char **argv)
{
	json_t *res, *ifs, *pool, *vms, *e;
	char f1[16];
	size_t i;
	int err, nw, rw;

	if (no_options(argc, argv, 0, &err))
		return err;
	if ((err = ask(x, "show", NULL, &res)))
		return err;
	ifs = json_object_get(res, "interfaces");
	pool = json_object_get(res, "pool");
	vms = json_object_get(res, "vms");

	out_begin();
	nw = j_width(ifs, "name", 9);
	snprintf(f1, sizeof(f1), "%%-%ds  ", nw);
	out_text("%-*s  %7s  %6s  %-7s  %-9s  %7s  %5s\n", nw, "INTERFACE",
		 "IFINDEX", "QUEUES", "XDP", "MODE", "PROG", "RING");
	out_open_array("interfaces");
	json_array_foreach(ifs, i, e) {
		out_open_object(NULL);
		out_str("name", f1, j_str(e, "name"));
		out_u64("ifindex", "%7" PRIu64 "  ", j_u64(e, "ifindex"));
		out_u64("queues", "%6" PRIu64 "  ", j_u64(e, "queues"));
		out_str("xdp_mode", "%-7s  ", j_str(e, "xdp_mode"));
		out_bool("zerocopy", "%-9s  ", j_bool(e, "zerocopy"),
			 "zero-copy", "copy");
		out_u64("prog_id", "%7" PRIu64 "  ", j_u64(e, "prog_id"));
		out_u64("ring_size", "%5" PRIu64 "\n", j_u64(e, "ring_size"));
		out_close_object();
	}
	out_close_array();

	out_text("\n");
	out_open_object("pool");
	out_str("path", "pool        %s\n", j_str(pool, "path"));
	out_u64("frames", "frames      %" PRIu64, j_u64(pool, "frames"));
	out_u64("frame_size", " of %" PRIu64 " bytes", j_u64(pool, "frame_size"));
	out_u64("free", ", %" PRIu64 " free\n", j_u64(pool, "free"));
	out_str("scrub", "scrub       %s\n", j_str(pool, "scrub"));
	out_bool("hugetlb", "hugetlb     %s\n", j_bool(pool, "hugetlb"), "yes",
		 "no");
	out_close_object();

	out_text("\n");
	print_settings(json_object_get(res, "switch"));

	out_text("\n");
	nw = j_width(vms, "name", 2);
	rw = j_width(vms, "rings", 5);
	if (json_array_size(vms))
		print_vm_header(nw, rw);
	else
		out_text("no VMs\n");
	out_open_array("vms");
	json_array_foreach(vms, i, e) {
		out_open_object(NULL);
		print_vm(e, nw, rw);
		out_close_object();
	}
	out_close_array();
	out_end();
	json_decref(res);
	return 0;
}

/* stats */

/* "name 3, other 1" of the non-zero members (text), every member (JSON). */
static void print_counters(const char *key, const char *label, json_t *o)
{
	const char *k;
	json_t *v;
	bool any = false;

	out_open_object(key);
	json_object_foreach(o, k, v) {
		uint64_t n = j_val_u64(v);

		if (!n && !out.json)
			continue;
		out_text(any ? ", " : "  %-7s", label);
		any = true;
		out_text("%s ", k);
		out_u64(k, "%" PRIu64, n);
	}
	if (!any)
		out_text("  %-7snone", label);
	out_text("\n");
	out_close_object();
}

static void print_port_stats(json_t *p)
{
	json_t *xdp = json_object_get(p, "xdp"), *xsk = json_object_get(p, "xsk");
	const char *k;
	json_t *v;

	out_str("name", "%s", j_str(p, "name"));
	out_str("kind", " (%s)\n", j_str(p, "kind"));
	out_u64("rx_packets", "  rx     %" PRIu64 " packets", j_u64(p, "rx_packets"));
	out_u64("rx_bytes", ", %" PRIu64 " bytes\n", j_u64(p, "rx_bytes"));
	out_u64("tx_packets", "  tx     %" PRIu64 " packets", j_u64(p, "tx_packets"));
	out_u64("tx_bytes", ", %" PRIu64 " bytes\n", j_u64(p, "tx_bytes"));
	if (json_object_get(p, "guest_timeouts")) {
		/* VM ports: frames taken back at detach, reset or timeout. */
		out_u64("reclaimed", "  guest  %" PRIu64 " frames reclaimed",
			j_u64(p, "reclaimed"));
		out_u64("guest_timeouts", ", %" PRIu64 " timeouts",
			j_u64(p, "guest_timeouts"));
		out_u64("doorbells", ", %" PRIu64 " doorbells rung\n",
			j_u64(p, "doorbells"));
	}
	print_counters("drops", "drops", json_object_get(p, "drops"));
	if (json_is_object(xdp)) {
		bool first = true;

		out_open_object("xdp");
		json_object_foreach(xdp, k, v) {
			out_text(first ? "  xdp    " : ", ");
			first = false;
			out_open_object(k);
			out_text("%s ", k);
			out_u64("packets", "%" PRIu64, j_u64(v, "packets"));
			out_u64("bytes", " (%" PRIu64 " B)", j_u64(v, "bytes"));
			out_close_object();
		}
		if (!first)
			out_text("\n");
		out_close_object();
	}
	if (json_is_object(xsk)) {
		bool first = true;

		out_open_object("xsk");
		json_object_foreach(xsk, k, v) {
			out_text(first ? "  xsk    " : ", ");
			first = false;
			out_text("%s ", k);
			out_u64(k, "%" PRIu64, j_val_u64(v));
		}
		if (!first)
			out_text("\n");
		out_close_object();
	}
}

static int prometheus(struct ctx *x, json_t *st);

/* Share of all, in %. */
static double pct(uint64_t part, uint64_t all)
{
	return all ? 100.0 * (double)part / (double)all : 0;
}

/* The worker's time: raw in JSON, shares and costs in text. */
static void print_worker(json_t *sw)
{
	uint64_t busy = j_u64(sw, "busy_ns"), idle = j_u64(sw, "idle_ns");
	uint64_t sleep = j_u64(sw, "sleep_ns"), all = busy + idle + sleep;
	uint64_t in = j_u64(sw, "packets"), passes = j_u64(sw, "busy_passes");

	out_u64("packets", NULL, in);
	out_u64("busy_passes", NULL, passes);
	out_u64("busy_ns", NULL, busy);
	out_u64("idle_ns", NULL, idle);
	out_u64("sleep_ns", NULL, sleep);
	out_text("  worker busy %.1f %% of %.2f s (idle %.1f %%, asleep %.1f %%), "
		 "%.0f ns a packet, %.1f packets a busy pass\n",
		 pct(busy, all), (double)all / 1e9, pct(idle, all),
		 pct(sleep, all), in ? (double)busy / (double)in : 0,
		 passes ? (double)in / (double)passes : 0);
}

static int do_stats(struct ctx *x, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "clear", no_argument, NULL, 'c' },
		{ "prometheus", no_argument, NULL, 'P' },
		HELP_OPT,
		{ 0 }
	};
	bool clear = false, prom = false;
	json_t *args, *res, *e, *sw;
	size_t i;
	int o, err = 0;

	optind = 0;
	while ((o = cmd_getopt(argc, argv, ":h", lo, &err)) != -1) {
		switch (o) {
		case 'c':
			clear = true;
			break;
		case 'P':
			prom = true;
			break;
		case 'h':
			cmd_help(stdout, cur_cmd);
			return 0;
		default:
			return err;
		}
	}
	if (argc - optind > 1)
		return usage_error("unexpected argument \"%s\"", argv[optind + 1]);
	if (prom && out.json)
		return usage_error("--prometheus and -j/-p exclude each other");
	args = json_object();
	if (optind < argc)
		json_object_set_new(args, "port", json_string(argv[optind]));
	if (clear)
		json_object_set_new(args, "clear", json_true());
	if ((err = ask(x, "stats", args, &res)))
		return err;
	if (prom) {
		err = prometheus(x, res);
		json_decref(res);
		return err;
	}

	out_begin();
	out_double("time", NULL, json_number_value(json_object_get(res, "time")));
	out_bool("cleared", NULL, clear, "", "");
	if (clear)
		out_text("counters cleared: they read as zero from now on\n\n");
	out_open_array("ports");
	json_array_foreach(json_object_get(res, "ports"), i, e) {
		out_open_object(NULL);
		print_port_stats(e);
		out_text("\n");
		out_close_object();
	}
	out_close_array();
	sw = json_object_get(res, "switch");
	out_open_object("switch");
	out_text("switch\n");
	out_u64("copies", "  copies %" PRIu64, j_u64(sw, "copies"));
	out_u64("vm_to_vm", ", vm_to_vm %" PRIu64, j_u64(sw, "vm_to_vm"));
	out_u64("sleeps", ", slept %" PRIu64, j_u64(sw, "sleeps"));
	out_u64("doorbell_wakeups", " (%" PRIu64 " woken by a doorbell)",
		j_u64(sw, "doorbell_wakeups"));
	out_u64("naps", ", napped %" PRIu64, j_u64(sw, "naps"));
	out_u64("scrubbed_frames", ", scrubbed %" PRIu64 " frames",
		j_u64(sw, "scrubbed_frames"));
	out_u64("scrubbed_bytes", " (%" PRIu64 " bytes)\n",
		j_u64(sw, "scrubbed_bytes"));
	print_worker(sw);
	print_counters("drops", "drops", json_object_get(sw, "drops"));
	out_close_object();
	out_end();
	json_decref(res);
	return 0;
}

/* ---- Prometheus text exposition (prom.c, as flipswitchd's /metrics) -- */

static int prometheus(struct ctx *x, json_t *st)
{
	json_t *fr = NULL;
	int err;

	/* The frame audit, over the same connection. */
	err = request(&x->conn, "frames", NULL, &fr);
	if (err)
		return err;
	prom_write(stdout, st, fr);
	fflush(stdout);
	json_decref(fr);
	return 0;
}

/* ---- watch ------------------------------------------------------------ */

static struct termios saved_tio;
static bool tio_saved;

static void term_restore(void)
{
	if (tio_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	tio_saved = false;
}

/* Non-canonical, no echo, so a lone q is read at once. */
static void term_raw(void)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio))
		return;
	t = saved_tio;
	t.c_lflag &= ~(ICANON | ECHO);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t))
		return;
	tio_saved = true;
	atexit(term_restore);
}

/* Sleeps until `until` (tool_now() seconds); true if asked to quit. */
static bool watch_sleep(double until)
{
	for (;;) {
		struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
		double left = until - tool_now();
		int ms;

		if (stop)
			return true;
		if (left <= 0)
			return false;
		ms = left * 1000 > TICK_MS ? TICK_MS : (int)(left * 1000) + 1;
		if (tio_saved && poll(&p, 1, ms) > 0) {
			char ch;

			if (read(STDIN_FILENO, &ch, 1) == 1 &&
			    (ch == 'q' || ch == 'Q'))
				return true;
		} else if (!tio_saved) {
			poll(NULL, 0, ms);
		}
	}
}

static uint64_t drops_sum(json_t *p)
{
	const char *k;
	json_t *v;
	uint64_t n = 0;

	json_object_foreach(json_object_get(p, "drops"), k, v)
		n += j_val_u64(v);
	return n;
}

static json_t *find_port(json_t *ports, const char *name)
{
	json_t *p;
	size_t i;

	json_array_foreach(ports, i, p)
		if (!strcmp(j_str(p, "name"), name))
			return p;
	return NULL;
}

/* (cur - prev) / dt of member key, 0 if the counter went back (clear). */
static double rate(uint64_t cur, uint64_t prev, double dt)
{
	return cur >= prev && dt > 0 ? (double)(cur - prev) / dt : 0;
}

/* 1234567 -> "1.23M" */
static const char *si(char *buf, size_t n, double v)
{
	static const char unit[] = " kMGT";
	int u = 0;

	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	if (u)
		snprintf(buf, n, "%.2f%c", v, unit[u]);
	else
		snprintf(buf, n, "%.0f", v);
	return buf;
}

/* The counter's growth from p to c, 0 if it went back (clear). */
static uint64_t grew(json_t *c, json_t *p, const char *key)
{
	uint64_t a = j_u64(c, key), b = j_u64(p, key);

	return a >= b ? a - b : 0;
}

/* The worker over the interval: its busy share, its time per packet. */
static void watch_worker(json_t *p, json_t *c)
{
	uint64_t busy = grew(c, p, "busy_ns"), in = grew(c, p, "packets");
	uint64_t idle = grew(c, p, "idle_ns");
	uint64_t all = busy + idle + grew(c, p, "sleep_ns");
	uint64_t passes = grew(c, p, "busy_passes");

	out_double("worker_busy_pct", "worker busy %.1f %%", pct(busy, all));
	out_double("worker_awake_pct", " (awake %.1f %%)",
		   pct(busy + idle, all));
	out_double("worker_ns_per_packet", ", %.0f ns a packet",
		   in ? (double)busy / (double)in : 0);
	out_double("worker_packets_per_pass", ", %.1f packets a busy pass\n",
		   passes ? (double)in / (double)passes : 0);
}

static void watch_print(json_t *prev, json_t *cur, double interval, bool tty)
{
	json_t *ports = json_object_get(cur, "ports"), *pp = json_object_get(prev, "ports");
	double dt = json_number_value(json_object_get(cur, "time")) -
		    json_number_value(json_object_get(prev, "time"));
	json_t *p, *q;
	size_t i;
	int nw = j_width(ports, "name", 4);
	char fmt[16], b[5][32];

	snprintf(fmt, sizeof(fmt), "%%-%ds", nw);
	out_begin();
	if (tty) {
		out_text("\033[H\033[2J");
		out_text("flipswitch: every %g s, over the last %.2f s; q quits\n\n",
			 interval, dt);
		out_text("%-*s  %10s  %10s  %10s  %10s  %10s\n", nw, "PORT",
			 "RX pkt/s", "RX bit/s", "TX pkt/s", "TX bit/s", "DROPS/s");
	}
	out_double("time", NULL, json_number_value(json_object_get(cur, "time")));
	out_double("interval", NULL, dt);
	out_open_array("ports");
	json_array_foreach(ports, i, p) {
		double rxp, rxb, txp, txb, dr;

		q = find_port(pp, j_str(p, "name"));
		if (!q)
			continue; /* appeared during the interval */
		rxp = rate(j_u64(p, "rx_packets"), j_u64(q, "rx_packets"), dt);
		rxb = 8 * rate(j_u64(p, "rx_bytes"), j_u64(q, "rx_bytes"), dt);
		txp = rate(j_u64(p, "tx_packets"), j_u64(q, "tx_packets"), dt);
		txb = 8 * rate(j_u64(p, "tx_bytes"), j_u64(q, "tx_bytes"), dt);
		dr = rate(drops_sum(p), drops_sum(q), dt);
		out_open_object(NULL);
		out_str("name", fmt, j_str(p, "name"));
		if (tty) {
			out_text("  %10s  %10s  %10s  %10s  %10s\n",
				 si(b[0], 32, rxp), si(b[1], 32, rxb),
				 si(b[2], 32, txp), si(b[3], 32, txb),
				 si(b[4], 32, dr));
		} else {
			out_text("  rx %s pkt/s %s bit/s  tx %s pkt/s %s bit/s  "
				 "drops %s/s\n", si(b[0], 32, rxp),
				 si(b[1], 32, rxb), si(b[2], 32, txp),
				 si(b[3], 32, txb), si(b[4], 32, dr));
		}
		out_double("rx_pps", NULL, rxp);
		out_double("rx_bps", NULL, rxb);
		out_double("tx_pps", NULL, txp);
		out_double("tx_bps", NULL, txb);
		out_double("drops_ps", NULL, dr);
		out_close_object();
	}
	out_close_array();
	watch_worker(json_object_get(prev, "switch"), json_object_get(cur, "switch"));
	out_end();
}

static int do_watch(struct ctx *x, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },
		HELP_OPT,
		{ 0 }
	};
	double interval = 1, next;
	uint64_t count = 0, n = 0;
	json_t *prev = NULL, *cur = NULL;
	bool tty;
	char *end;
	int o, err = 0;

	optind = 0;
	while ((o = cmd_getopt(argc, argv, ":h", lo, &err)) != -1) {
		switch (o) {
		case 'i':
			interval = strtod(optarg, &end);
			if (!*optarg || *end || !(interval >= 0.1 && interval <= 3600))
				return usage_error("--interval wants seconds from "
						   "0.1 to 3600, not \"%s\"",
						   optarg);
			break;
		case 'n':
			if ((err = parse_u64("--count", optarg, UINT32_MAX, &count)))
				return err;
			break;
		case 'h':
			cmd_help(stdout, cur_cmd);
			return 0;
		default:
			return err;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument \"%s\"", argv[optind]);
	if ((err = connect_ctx(x)))
		return err;
	catch_signals();
	tty = !out.json && isatty(STDOUT_FILENO);
	if (tty)
		term_raw();
	if ((err = request(&x->conn, "stats", NULL, &prev)))
		goto out;
	next = tool_now();
	while (!count || n < count) {
		next += interval;
		if (watch_sleep(next))
			break;
		if ((err = request(&x->conn, "stats", NULL, &cur)))
			break;
		watch_print(prev, cur, interval, tty);
		json_decref(prev);
		prev = cur;
		cur = NULL;
		n++;
	}
out:
	term_restore();
	json_decref(prev);
	return err == -EINTR ? 0 : err;
}

/* ---- fdb, frames ------------------------------------------------------ */

static int do_fdb(struct ctx *x, int argc, char **argv)
{
	json_t *res, *ents, *e, *age;
	char f1[16];
	size_t i;
	int err, pw;

	if (no_options(argc, argv, 0, &err))
		return err;
	if ((err = ask(x, "fdb", NULL, &res)))
		return err;
	ents = json_object_get(res, "entries");
	pw = j_width(ents, "port", 4);
	snprintf(f1, sizeof(f1), "%%-%ds  ", pw);
	out_begin();
	out_text("%-17s  %4s  %-*s  %-7s  %s\n", "MAC", "VLAN", pw, "PORT",
		 "KIND", "AGE");
	out_open_array("entries");
	json_array_foreach(ents, i, e) {
		out_open_object(NULL);
		out_str("mac", "%-17s  ", j_str(e, "mac"));
		out_u64("vlan", "%4" PRIu64 "  ", j_u64(e, "vlan"));
		out_str("port", f1, j_str(e, "port"));
		out_str("kind", "%-7s  ", j_str(e, "kind"));
		age = json_object_get(e, "age");
		if (json_is_number(age))
			out_double("age", "%.1fs\n", json_number_value(age));
		else
			out_null("age", "%s\n", "-");
		out_close_object();
	}
	out_close_array();
	out_end();
	json_decref(res);
	return 0;
}

static int do_frames(struct ctx *x, int argc, char **argv)
{
	json_t *res, *v;
	const char *k;
	bool ok;
	int err;

	if (no_options(argc, argv, 0, &err))
		return err;
	if ((err = ask(x, "frames", NULL, &res)))
		return err;
	ok = j_bool(res, "ok");
	out_begin();
	out_u64("fill", "fill        %8" PRIu64 "\n", j_u64(res, "fill"));
	out_u64("tx", "tx          %8" PRIu64 "\n", j_u64(res, "tx"));
	out_u64("switch", "switch      %8" PRIu64, j_u64(res, "switch"));
	out_u64("free_list", "  (free list %" PRIu64 ")\n",
		j_u64(res, "free_list"));
	out_open_object("vms");
	json_object_foreach(json_object_get(res, "vms"), k, v) {
		out_text("vm %-8s %8" PRIu64 "\n", k, j_val_u64(v));
		out_u64(k, NULL, j_val_u64(v));
	}
	out_close_object();
	out_u64("sum", "sum         %8" PRIu64, j_u64(res, "sum"));
	out_u64("total", " of %" PRIu64 "\n", j_u64(res, "total"));
	out_bool("ok", NULL, ok, "", "");
	out_str("message", "%s\n", j_str(res, "message"));
	out_end();
	json_decref(res);
	return ok ? 0 : -EPROTO;
}

/* ---- vm add, vm del --------------------------------------------------- */

static int do_vm_add(struct ctx *x, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "mac", required_argument, NULL, 'm' },
		{ "rings", required_argument, NULL, 'r' },
		{ "quota", required_argument, NULL, 'q' },
		{ "vlan", required_argument, NULL, 'v' },
		{ "ring-size", required_argument, NULL, 'z' },
		{ "uplink", required_argument, NULL, 'u' },
		{ "doorbell", required_argument, NULL, 'd' },
		{ "doorbell-usecs", required_argument, NULL, 'b' },
		HELP_OPT,
		{ 0 }
	};
	const char *mac = NULL, *rings = NULL, *uplink = NULL, *doorbell = NULL;
	uint64_t quota = 0, vlan = 0, ring_size = 0, usecs = 0;
	bool have_quota = false, have_vlan = false, have_rs = false;
	bool have_usecs = false;
	json_t *args, *res, *vm, *one;
	uint8_t m[6];
	int o, nw, rw, err = 0;

	/* argv[0] is "vm", argv[1] "add". */
	argc--;
	argv++;
	optind = 0;
	while ((o = cmd_getopt(argc, argv, ":h", lo, &err)) != -1) {
		switch (o) {
		case 'm':
			if (tool_parse_mac(optarg, m))
				return usage_error("--mac wants a MAC address like "
						   "52:54:00:12:34:56, not \"%s\"",
						   optarg);
			mac = optarg;
			break;
		case 'r':
			rings = optarg;
			break;
		case 'q':
			have_quota = true;
			err = parse_u64("--quota", optarg, INT64_MAX, &quota);
			break;
		case 'v':
			have_vlan = true;
			err = parse_u64("--vlan", optarg, 4094, &vlan);
			break;
		case 'z':
			have_rs = true;
			err = parse_u64("--ring-size", optarg, 32768, &ring_size);
			break;
		case 'u':
			uplink = optarg;
			break;
		case 'd':
			doorbell = optarg;
			break;
		case 'b':
			have_usecs = true;
			err = parse_u64("--doorbell-usecs", optarg, 100000, &usecs);
			break;
		case 'h':
			cmd_help(stdout, cur_cmd);
			return 0;
		default:
			return err;
		}
		if (err)
			return err;
	}
	if (optind >= argc)
		return usage_error("vm add wants the VM's name");
	if (argc - optind > 1)
		return usage_error("unexpected argument \"%s\"", argv[optind + 1]);
	if (!mac)
		return usage_error("vm add wants --mac MAC");
	if (!rings)
		return usage_error("vm add wants --rings PATH");

	args = json_pack("{s:s, s:s, s:s}", "name", argv[optind], "mac", mac,
			 "rings", rings);
	if (have_quota)
		json_object_set_new(args, "quota", json_integer((json_int_t)quota));
	if (have_vlan)
		json_object_set_new(args, "vlan", json_integer((json_int_t)vlan));
	if (have_rs)
		json_object_set_new(args, "ring_size",
				    json_integer((json_int_t)ring_size));
	if (uplink)
		json_object_set_new(args, "uplink", json_string(uplink));
	if (doorbell)
		json_object_set_new(args, "doorbell", json_string(doorbell));
	if (have_usecs)
		json_object_set_new(args, "doorbell_usecs",
				    json_integer((json_int_t)usecs));
	if ((err = ask(x, "vm_add", args, &res)))
		return err;
	vm = json_object_get(res, "vm");
	one = json_pack("[O]", vm);
	nw = j_width(one, "name", 2);
	rw = j_width(one, "rings", 5);
	json_decref(one);
	out_begin();
	print_vm_header(nw, rw);
	out_open_object("vm");
	print_vm(vm, nw, rw);
	out_close_object();
	out_end();
	json_decref(res);
	return 0;
}

static int do_vm_del(struct ctx *x, int argc, char **argv)
{
	json_t *res;
	const char *name;
	int err;

	argc--;
	argv++;
	if (no_options(argc, argv, 1, &err))
		return err;
	if (optind >= argc)
		return usage_error("vm del wants the VM's name");
	name = argv[optind];
	if ((err = ask(x, "vm_del", json_pack("{s:s}", "name", name), &res)))
		return err;
	out_begin();
	out_str("name", "removed VM %s", name);
	out_u64("reclaimed", ": %" PRIu64 " frames reclaimed\n",
		j_u64(res, "reclaimed"));
	out_end();
	json_decref(res);
	return 0;
}

/* ---- set -------------------------------------------------------------- */

static int do_set(struct ctx *x, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "max-sleep-usecs", required_argument, NULL, 's' },
		HELP_OPT,
		{ 0 }
	};
	uint64_t usecs = 0;
	bool have_usecs = false;
	json_t *res;
	int o, err = 0;

	optind = 0;
	while ((o = cmd_getopt(argc, argv, ":h", lo, &err)) != -1) {
		switch (o) {
		case 's':
			have_usecs = true;
			err = parse_u64("--max-sleep-usecs", optarg, 10000, &usecs);
			break;
		case 'h':
			cmd_help(stdout, cur_cmd);
			return 0;
		default:
			return err;
		}
		if (err)
			return err;
	}
	if (optind < argc)
		return usage_error("unexpected argument \"%s\"", argv[optind]);
	if (!have_usecs)
		return usage_error("set wants a setting: --max-sleep-usecs US");
	if ((err = ask(x, "set",
		       json_pack("{s:I}", "max_sleep_usecs", (json_int_t)usecs),
		       &res)))
		return err;
	out_begin();
	print_settings(json_object_get(res, "switch"));
	out_end();
	json_decref(res);
	return 0;
}

/* ---- capture ---------------------------------------------------------- */

/* Decodes standard base64 (padding optional) into out; length or -1. */
static long b64_decode(const char *s, uint8_t *o, size_t max)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;

	for (; *s && *s != '='; s++) {
		int v;

		if (*s >= 'A' && *s <= 'Z')
			v = *s - 'A';
		else if (*s >= 'a' && *s <= 'z')
			v = *s - 'a' + 26;
		else if (*s >= '0' && *s <= '9')
			v = *s - '0' + 52;
		else if (*s == '+')
			v = 62;
		else if (*s == '/')
			v = 63;
		else
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == max)
				return -1;
			o[n++] = (uint8_t)(acc >> bits);
		}
	}
	while (*s == '=')
		s++;
	return *s ? -1 : (long)n;
}

/*
 * A frame's ts as wall-clock time. The daemon's clock is CLOCK_MONOTONIC
 * (as for stats' time); anything that cannot be a Unix time after 2001 is
 * taken as monotonic and moved by the offset between the two clocks.
 */
static struct timeval frame_time(double ts)
{
	struct timeval tv;
	struct timespec rt;
	double t = ts;

	if (ts < 1e9) {
		clock_gettime(CLOCK_REALTIME, &rt);
		t += (double)rt.tv_sec + rt.tv_nsec / 1e9 - tool_now();
	}
	if (t < 0)
		t = 0;
	tv.tv_sec = (time_t)t;
	tv.tv_usec = (suseconds_t)((t - (double)tv.tv_sec) * 1e6);
	if (tv.tv_usec >= 1000000)
		tv.tv_usec = 999999;
	return tv;
}

static int do_capture(struct ctx *x, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "write", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'n' },
		HELP_OPT,
		{ 0 }
	};
	const char *file = NULL, *port;
	uint64_t count = 0, got = 0, dropped = 0;
	bool done = false;
	json_t *args;
	pcap_dumper_t *d;
	pcap_t *pd;
	uint8_t *buf;
	int o, err = 0;

	optind = 0;
	while ((o = cmd_getopt(argc, argv, ":hw:", lo, &err)) != -1) {
		switch (o) {
		case 'w':
			file = optarg;
			break;
		case 'n':
			if ((err = parse_u64("--count", optarg, INT64_MAX, &count)))
				return err;
			break;
		case 'h':
			cmd_help(stdout, cur_cmd);
			return 0;
		default:
			return err;
		}
	}
	if (optind >= argc)
		return usage_error("capture wants a port");
	if (argc - optind > 1)
		return usage_error("unexpected argument \"%s\"", argv[optind + 1]);
	if (!file)
		return usage_error("capture wants -w FILE");
	port = argv[optind];

	if ((err = connect_ctx(x)))
		return err;
	args = json_pack("{s:s, s:I}", "port", port, "count",
			 (json_int_t)count);
	err = conn_send(&x->conn, "capture", args);
	json_decref(args);
	if (err)
		return err;
	d = pcapout_open(PROG, file, &pd);
	if (!d)
		return -EIO;
	buf = malloc(FS_CTL_MAX_LINE);
	if (!buf) {
		pcapout_close(d, pd);
		return -ENOMEM;
	}
	catch_signals();
	while (!done) {
		json_t *msg, *fr, *r;
		struct pcap_pkthdr h;
		long n;

		err = read_msg(&x->conn, "capture", -1, &msg);
		if (err == -EINTR) {
			err = 0;
			break;
		}
		if (err)
			break;
		if ((r = json_object_get(msg, "error"))) {
			err = reply_error(r);
			done = true;
		} else if ((fr = json_object_get(msg, "frame"))) {
			n = b64_decode(j_str(fr, "data"), buf, FS_CTL_MAX_LINE);
			if (n < 0) {
				say("flipswitchd sent a frame that is not valid base64");
				err = -EPROTO;
				done = true;
			} else {
				h.ts = frame_time(json_number_value(
					json_object_get(fr, "ts")));
				h.caplen = (bpf_u_int32)n;
				h.len = j_u64(fr, "len") > (uint64_t)n ?
					(bpf_u_int32)j_u64(fr, "len") : h.caplen;
				pcap_dump((u_char *)d, &h, buf);
				got++;
			}
		} else if ((r = json_object_get(msg, "result"))) {
			got = j_u64(r, "captured") > got ? j_u64(r, "captured") : got;
			dropped = j_u64(r, "dropped");
			done = true;
		}
		json_decref(msg);
	}
	free(buf);
	conn_close(&x->conn);
	pcapout_close(d, pd);
	if (err)
		return err;
	out_begin();
	out_str("file", NULL, file);
	out_u64("captured", NULL, got);
	out_bool("interrupted", NULL, !done, "", "");
	if (done)
		out_u64("dropped", NULL, dropped);
	else
		out_null("dropped", NULL, NULL);
	out_end();
	if (!out.json) {
		if (done)
			fprintf(stderr, "captured %" PRIu64 " frames to %s (%"
				PRIu64 " dropped)\n", got, file, dropped);
		else
			fprintf(stderr, "captured %" PRIu64 " frames to %s "
				"(interrupted; drops unknown)\n", got, file);
	}
	return 0;
}

/* ---- the command table, main ------------------------------------------ */

static int do_help(struct ctx *x, int argc, char **argv);

static const struct cmd cmds[] = {
	{ "show", NULL, do_show, "show",
	  "Show the interfaces, the frame pool and the VMs.", NULL },
	{ "stats", NULL, do_stats, "stats [PORT] [--clear] [--prometheus]",
	  "Show the counters of every port, or of PORT, and of the switch.",
	  "  --clear        read the counters, then make them read as zero from\n"
	  "                 now on, for every client (root or control group)\n"
	  "  --prometheus   print the counters and the frame audit in the\n"
	  "                 Prometheus text format, for node-exporter's textfile\n"
	  "                 collector\n"
	  "\n"
	  "Text lists only the drop reasons that are not zero; -j lists all.\n" },
	{ "watch", NULL, do_watch, "watch [--interval S] [--count N]",
	  "Show packets/s, bits/s and drops/s of every port, live.",
	  "  --interval S   seconds between samples (default 1)\n"
	  "  --count N      stop after N intervals (default: until q or Ctrl-C)\n"
	  "\n"
	  "On a terminal the view is redrawn in place and q quits; otherwise\n"
	  "one line per port is printed every interval.\n" },
	{ "fdb", NULL, do_fdb, "fdb",
	  "Show the MAC table: MAC, VLAN, port, static or learned, age.", NULL },
	{ "frames", NULL, do_frames, "frames",
	  "Audit the pool: frames held by each owner and their sum.",
	  "Exits 1 if the frames do not add up.\n" },
	{ "vm", "add", do_vm_add,
	  "vm add NAME --mac MAC --rings PATH [--quota N] [--vlan N] "
	  "[--ring-size N] [--uplink IFACE] [--doorbell PATH|off] "
	  "[--doorbell-usecs US]",
	  "Add a VM port without a restart (root or control group).",
	  "  --mac MAC        the VM's MAC address\n"
	  "  --rings PATH     the VM's ring region file\n"
	  "  --quota N        frames the VM may hold (default 1024)\n"
	  "  --vlan N         VLAN of the port, 0 for none (default 0)\n"
	  "  --ring-size N    ring entries (default: the daemon's)\n"
	  "  --uplink IFACE   interface for the VM's outgoing traffic\n"
	  "  --doorbell PATH  the VM's doorbell (ivshmem-server) socket, or off\n"
	  "                   (default: NAME.doorbell next to the control socket)\n"
	  "  --doorbell-usecs US  least time between two doorbells to the\n"
	  "                   sleeping guest, 0 to 100000 (default: the daemon's)\n" },
	{ "vm", "del", do_vm_del, "vm del NAME",
	  "Remove a VM port and take back the frames it held.", NULL },
	{ "set", NULL, do_set, "set --max-sleep-usecs US",
	  "Change a switch-wide setting at run time (root or control group).",
	  "  --max-sleep-usecs US  the worker's longest nap under light load,\n"
	  "                   0 to 10000 (0: it polls while traffic flows);\n"
	  "                   see max_sleep_usecs in flipswitch.conf(5)\n"
	  "\n"
	  "The change lasts until the daemon stops; the config file sets the\n"
	  "value it starts with.\n" },
	{ "capture", NULL, do_capture, "capture PORT -w FILE [--count N]",
	  "Capture the frames crossing PORT into a pcap file.",
	  "  -w, --write FILE   the pcap file to write\n"
	  "  --count N          stop after N frames (default: until Ctrl-C)\n"
	  "\n"
	  "Needs root or the control group. Frames the capture could not keep\n"
	  "up with are counted as dropped; the data path never waits.\n" },
	{ "ping", NULL, do_ping, "ping",
	  "Check that flipswitchd answers, and print its protocol version.",
	  NULL },
	{ "help", NULL, do_help, "help [COMMAND]",
	  "Show this help, or the help of COMMAND.", NULL },
};

#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static void usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"usage: " PROG " [-s SOCKET] [-j] [-p] COMMAND [ARGS]\n"
		"\n"
		"Query and control a running flipswitchd over its control socket.\n"
		"\n"
		"Options:\n"
		"  -s SOCKET   the control socket (default " FS_CTL_DEFAULT_SOCKET ")\n"
		"  -j          print JSON, one object per command, for scripts\n"
		"  -p          print JSON indented over several lines (implies -j)\n"
		"  -h          print this help\n"
		"\n"
		"Commands:\n");
	for (i = 0; i < N_CMDS; i++) {
		char name[32];

		snprintf(name, sizeof(name), "%s%s%s", cmds[i].name,
			 cmds[i].sub ? " " : "", cmds[i].sub ? cmds[i].sub : "");
		fprintf(f, "  %-10s  %s\n", name, cmds[i].help);
	}
	fprintf(f,
		"\n"
		"'" PROG " COMMAND --help' describes a command and its options.\n"
		"Exit status: 0 on success, 1 if flipswitchd or the connection\n"
		"failed (or frames found a leak), 2 for a usage error.\n");
}

/* The entry for argv (argv[1] picks a subcommand); NULL if none. */
static const struct cmd *find_cmd(int argc, char **argv, bool *partial)
{
	size_t i;

	*partial = false;
	for (i = 0; i < N_CMDS; i++) {
		if (strcmp(cmds[i].name, argv[0]))
			continue;
		if (!cmds[i].sub)
			return &cmds[i];
		*partial = true;
		if (argc > 1 && !strcmp(cmds[i].sub, argv[1]))
			return &cmds[i];
	}
	return NULL;
}

/* Every entry named name (both vm entries for "vm"). */
static void help_for(FILE *f, const char *name)
{
	bool first = true;
	size_t i;

	for (i = 0; i < N_CMDS; i++) {
		if (strcmp(cmds[i].name, name))
			continue;
		if (!first)
			fputc('\n', f);
		first = false;
		cmd_help(f, &cmds[i]);
	}
}

static int do_help(struct ctx *x, int argc, char **argv)
{
	const struct cmd *c;
	bool partial;

	cur_cmd = NULL;
	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	c = find_cmd(argc - 1, argv + 1, &partial);
	if (!c && !partial)
		return usage_error("there is no command \"%s\"", argv[1]);
	if (argc > (c && c->sub ? 3 : 2))
		return usage_error("help takes one command");
	if (c && c->sub)
		cmd_help(stdout, c);
	else
		help_for(stdout, argv[1]);
	return 0;
}

int main(int argc, char **argv)
{
	struct ctx x = { .sock = FS_CTL_DEFAULT_SOCKET, .conn = { .fd = -1 } };
	const struct cmd *c;
	bool partial;
	int o, err;

	signal(SIGPIPE, SIG_IGN);
	opterr = 0;
	while ((o = getopt(argc, argv, "+s:jph")) != -1) {
		switch (o) {
		case 's':
			x.sock = optarg;
			break;
		case 'j':
			out.json = true;
			break;
		case 'p':
			out.json = out.pretty = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			if (optopt == 's')
				usage_error("-s wants a socket path");
			else
				usage_error("-%c is not an option", optopt);
			return 2;
		}
	}
	if (optind < argc && !strcmp(argv[optind], "--help")) {
		usage(stdout);
		return 0;
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	argc -= optind;
	argv += optind;
	c = find_cmd(argc, argv, &partial);
	if (!c) {
		if (partial && argc > 1 && (!strcmp(argv[1], "--help") ||
					    !strcmp(argv[1], "-h"))) {
			help_for(stdout, argv[0]);
			return 0;
		}
		if (partial) {
			size_t i;

			fprintf(stderr, PROG ": %s wants a subcommand%s%s%s\n",
				argv[0], argc > 1 ? ", not \"" : "",
				argc > 1 ? argv[1] : "", argc > 1 ? "\"" : "");
			for (i = 0; i < N_CMDS; i++)
				if (!strcmp(cmds[i].name, argv[0]))
					fprintf(stderr, "usage: " PROG " %s\n",
						cmds[i].usage);
		} else {
			usage_error("there is no command \"%s\"", argv[0]);
		}
		return 2;
	}
	cur_cmd = c;
	err = c->fn(&x, argc, argv);
	conn_close(&x.conn);
	if (err == -E_USAGE)
		return 2;
	return err ? 1 : 0;
}
