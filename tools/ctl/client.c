// SPDX-License-Identifier: MIT
/*
 * flipswitchctl's client side: the unix socket to flipswitchd, one request
 * line out and its reply line back (docs/control.md), the signals that end
 * a wait, and the tool's messages on stderr.
 *
 * One connection per run: a command sends one request and reads its reply
 * (REPLY_TIMEOUT_MS at most); capture reads frame lines until its result,
 * watch asks again once per interval over the same connection. Every wait
 * polls in TICK_MS steps so that Ctrl-C (cli_stop) ends it promptly.
 *
 * Functions return 0 or -errno and have said why on stderr, except where
 * their comment says which errors the caller words itself.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "flipswitch/ctl.h"
#include "client.h"
#include "toolutil.h"

#define MAX_REPLY	(64 << 20)	/* a reply line we refuse to buffer */

volatile sig_atomic_t cli_stop;

static void on_signal(int sig)
{
	cli_stop = 1;
}

void cli_catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void cli_vsay(const char *fmt, va_list ap)
{
	fprintf(stderr, PROG ": ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vsay(fmt, ap);
	va_end(ap);
}

/* A string member of an error reply, "" if absent. */
static const char *str_of(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

int conn_open(struct conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int err;

	memset(c, 0, sizeof(*c));
	c->fd = -1;	/* conn_close after a failure closes nothing */
	c->path = path;
	c->next_id = 1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		cli_say("the socket path %s is too long for a unix socket", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		err = errno;
		cli_say("cannot create a unix socket: %s", strerror(err));
		return -err;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		if (err == EACCES || err == EPERM)
			cli_say("cannot reach flipswitchd at %s: %s (root or the "
			    "control group may connect)", path, strerror(err));
		else
			cli_say("cannot reach flipswitchd at %s: %s (is it running? "
			    "-s SOCKET chooses another socket)", path,
			    strerror(err));
		close(c->fd);
		c->fd = -1;
		return -err;
	}
	return 0;
}

void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
}

int conn_send(struct conn *c, const char *cmd, json_t *args)
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
		cli_say("the request is longer than %d bytes", FS_CTL_MAX_LINE);
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
			cli_say("cannot send to flipswitchd at %s: %s", c->path,
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
		if (cli_stop)
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
				cli_say("flipswitchd sent a line longer than %d bytes",
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

			cli_say("cannot read from flipswitchd at %s: %s", c->path,
			    strerror(err));
			return -err;
		}
		if (r == 0)
			return -ECONNRESET;
		c->len += (size_t)r;
	}
}

/* An error reply: say its message. -EPERM, -ENOENT, -EEXIST or -EPROTO. */
int conn_reply_error(json_t *e)
{
	const char *code = str_of(e, "code"), *msg = str_of(e, "message");

	cli_say("%s", *msg ? msg : *code ? code : "flipswitchd reported an error");
	if (!strcmp(code, FS_CTL_E_PERMISSION))
		return -EPERM;
	if (!strcmp(code, FS_CTL_E_NOT_FOUND))
		return -ENOENT;
	if (!strcmp(code, FS_CTL_E_EXISTS))
		return -EEXIST;
	return -EPROTO;
}

/* Reads and parses one line; *msg is the reply object (the caller's). */
int conn_read_msg(struct conn *c, const char *cmd, int timeout_ms,
		  json_t **msg)
{
	json_error_t jerr;
	char *line = NULL;
	int err;

	err = conn_line(c, timeout_ms, &line);
	if (err == -ETIMEDOUT)
		cli_say("flipswitchd at %s did not answer \"%s\" within %d seconds",
		    c->path, cmd, timeout_ms / 1000);
	else if (err == -ECONNRESET)
		cli_say("flipswitchd at %s closed the connection before answering "
		    "\"%s\"", c->path, cmd);
	if (err)
		return err;
	*msg = json_loads(line, 0, &jerr);
	if (!json_is_object(*msg)) {
		cli_say("flipswitchd sent a reply that is not a JSON object (%s)",
		    jerr.text);
		json_decref(*msg);
		return -EPROTO;
	}
	return 0;
}

/* One request, one reply; *res is its result (the caller's). */
int conn_request(struct conn *c, const char *cmd, json_t *args, json_t **res)
{
	json_t *msg, *r;
	int err;

	err = conn_send(c, cmd, args);
	if (err)
		return err;
	err = conn_read_msg(c, cmd, REPLY_TIMEOUT_MS, &msg);
	if (err)
		return err;
	if ((r = json_object_get(msg, "error"))) {
		err = conn_reply_error(r);
	} else if (!json_is_object(r = json_object_get(msg, "result"))) {
		cli_say("flipswitchd's reply to \"%s\" has no result", cmd);
		err = -EPROTO;
	} else {
		*res = json_incref(r);
	}
	json_decref(msg);
	return err;
}
