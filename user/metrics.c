// SPDX-License-Identifier: MIT
/*
 * The metrics endpoint; see metrics.h.
 *
 * libmicrohttpd runs without a thread of its own (MHD_USE_EPOLL, external
 * polling): its epoll fd is one more entry of the control thread's poll(),
 * and metrics_run() serves what is ready. The handler answers GET and
 * HEAD of /metrics only; anything else is 404 or 405. A scrape asks the
 * control protocol for `stats` and `frames` as a peer that is neither root
 * nor in the control group, and prom_write() turns the two replies into
 * the text that `flipswitchctl stats --prometheus` prints.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <jansson.h>
#include <microhttpd.h>

#include "config.h"
#include "ctl.h"
#include "log.h"
#include "metrics.h"
#include "prom.h"

/* Scrapers are few; a connection that stalls is dropped after this. */
#define METRICS_MAX_CONNS 16
#define METRICS_TIMEOUT_S 10

#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* One command's result, asked with no rights; NULL if it failed. */
static json_t *ask(struct ctl *c, const char *req)
{
	char *line = ctl_handle_line(c, req, strlen(req), (uid_t)-1,
				     (gid_t)-1, -1);
	json_t *r = line ? json_loads(line, 0, NULL) : NULL, *res;

	free(line);
	res = json_incref(json_object_get(r, "result"));
	json_decref(r);
	return res;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int code,
			     const char *type, char *body, size_t len)
{
	struct MHD_Response *rsp;
	enum MHD_Result ret;

	rsp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!rsp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(rsp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(rsp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, code, rsp);
	MHD_destroy_response(rsp);
	return ret;
}

static enum MHD_Result text(struct MHD_Connection *conn, unsigned int code,
			    const char *msg)
{
	char *body = strdup(msg);

	return body ? reply(conn, code, "text/plain; charset=utf-8", body,
			    strlen(body)) : MHD_NO;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn,
			      const char *url, const char *method,
			      const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	struct metrics *m = cls;
	json_t *st, *fr;
	char *body = NULL;
	size_t len = 0;
	FILE *f;

	if (strcmp(url, "/metrics"))
		return text(conn, MHD_HTTP_NOT_FOUND,
			    "flipswitchd serves GET /metrics only\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD))
		return text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
			    "read-only: GET or HEAD\n");
	st = ask(m->ctl, "{\"cmd\":\"stats\"}");
	fr = ask(m->ctl, "{\"cmd\":\"frames\"}");
	f = st && fr ? open_memstream(&body, &len) : NULL;
	if (f) {
		prom_write(f, st, fr);
		if (fclose(f)) {
			free(body);
			body = NULL;
		}
	}
	json_decref(st);
	json_decref(fr);
	if (!body)
		return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "the switch did not answer\n");
	return reply(conn, MHD_HTTP_OK, PROM_TYPE, body, len);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_warn("metrics: %s", msg);
}

int metrics_create(struct metrics *m, const char *addr, struct ctl *ctl)
{
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, err;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	m->ctl = ctl;
	snprintf(m->addr, sizeof(m->addr), "%s", addr);
	if (cfg_parse_listen(addr, &ss, &len))
		return -EINVAL;
	/* Our own socket, for a clear error when the port is taken. */
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		err = -errno;
		log_err("metrics: socket: %s", strerror(errno));
		return err;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 16)) {
		err = -errno;
		log_err("metrics: cannot listen on %s: %s", addr, strerror(errno));
		goto out_socket;
	}
	/* MHD closes the listening socket when it stops. */
	m->mhd = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
			(ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
		0, NULL, NULL, answer, m,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)METRICS_MAX_CONNS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)METRICS_TIMEOUT_S,
		MHD_OPTION_END);
	if (!m->mhd) {
		err = -EIO;
		log_err("metrics: libmicrohttpd would not start on %s", addr);
		goto out_socket;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		err = -EIO;
		log_err("metrics: libmicrohttpd has no epoll fd");
		MHD_stop_daemon(m->mhd);
		m->mhd = NULL;
		return err;
	}
	m->fd = info->epoll_fd;
	log_info("metrics: http://%s/metrics", addr);
	return 0;

out_socket:
	close(fd);
	return err;
}

void metrics_destroy(struct metrics *m)
{
	if (m->mhd)
		MHD_stop_daemon(m->mhd);
	m->mhd = NULL;
	m->fd = -1;
}

int metrics_fd(const struct metrics *m)
{
	return m->fd;
}

int metrics_timeout(struct metrics *m, int timeout)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (!m->mhd || MHD_get_timeout(m->mhd, &ms) != MHD_YES)
		return timeout;
	if (ms > 1000)
		ms = 1000;
	return timeout < 0 || (int)ms < timeout ? (int)ms : timeout;
}

void metrics_run(struct metrics *m)
{
	if (m->mhd)
		MHD_run(m->mhd);
}
