// SPDX-License-Identifier: MIT
/*
 * The control socket and its clients; see ctl.h and docs/control.md.
 *
 * This file owns the connections: one thread, one poll() loop over the
 * listening socket, the clients, the VMs' doorbell sockets (doorbell.c)
 * and an eventfd that stops it. It accepts (CTL_MAX_CLIENTS slots; when
 * they are all taken an idle or unprivileged client gives way), decides
 * who is privileged, cuts the input into lines, hands each to
 * ctl_handle_line (ctl_cmd.c, the commands) and queues the reply, and
 * streams a capture's frames to its client. A client that sends half a
 * line, stops reading or disconnects holds up only its own connection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_priv.h"
#include "sw_snapshot.h"
#include "log.h"
#include "metrics.h"

#define CTL_OUT_MAX (16u << 20) /* a client that stops reading is dropped */

bool ctl_peer_privileged(const struct ctl *c, uid_t uid, gid_t gid)
{
	return uid == 0 || (c->have_group && gid == c->group);
}

/* --- doorbells ------------------------------------------------------------ */

int ctl_db_open(struct ctl *c, int slot, const char *vm, const char *path,
		const struct doorbell_fds *fds, long long peer_uid)
{
	int err = doorbell_open(&c->db[slot], vm, path, c->have_group,
				c->group, fds);

	c->db[slot].peer_uid = peer_uid;
	return err;
}

int ctl_mail(struct ctl *c, int op, int arg, int arg2, void *ptr,
	     int64_t *result)
{
	return sw_mail_call(c->sw, op, arg, arg2, ptr, result, c->mail_ms);
}

void ctl_db_close(struct ctl *c, int slot)
{
	doorbell_close(&c->db[slot]);
	c->db_told[slot] = false;
	c->db_late[slot] = false;
}

/* Tells the worker of each doorbell whose guest came or went since it
 * was last told (SW_MAIL_DOORBELL: the switch rings a guest only while
 * one is connected, ring.h I). Whether it was told is remembered only
 * once it answered: one it did not is asked again on the next turn of the
 * loop. Returns whether any is still untold. */
static bool db_tell(struct ctl *c)
{
	bool untold = false;

	for (int i = 0; i < CFG_MAX_VMS; i++) {
		bool live = doorbell_connected(&c->db[i]);

		if (live == c->db_told[i])
			continue;
		if (ctl_mail(c, SW_MAIL_DOORBELL, i, live, NULL, NULL)) {
			if (!c->db_late[i])
				log_warn("vm %s: the worker did not answer: it is not told the guest %s the doorbell yet",
					 c->db[i].vm,
					 live ? "connected to" : "left");
			c->db_late[i] = true;
			untold = true;
			continue;
		}
		c->db_told[i] = live;
		c->db_late[i] = false;
	}
	return untold;
}

/* --- replies -------------------------------------------------------------- */

/* An error message as a JSON string. It may quote a request's strings,
 * cut to fit, perhaps inside a UTF-8 character: then JSON has no string
 * for it (the reply went out with no error at all), and bytes that are
 * not ASCII become '?'. */
static json_t *msg_json(const char *msg)
{
	char ascii[CTL_MSG_MAX];
	json_t *j = json_string(msg);
	size_t i;

	if (j)
		return j;
	for (i = 0; msg[i] && i + 1 < sizeof(ascii); i++)
		ascii[i] = (unsigned char)msg[i] < 0x80 ? msg[i] : '?';
	ascii[i] = '\0';
	return json_string(ascii);
}

char *ctl_reply_line(json_t *id, json_t *result, const char *code,
		     const char *msg)
{
	json_t *o = json_object();
	char *s, *line;
	size_t n;

	json_object_set(o, "id", id ? id : json_null());
	if (code)
		json_object_set_new(o, "error",
				    json_pack("{s:s, s:o}", "code", code,
					      "message", msg_json(msg)));
	else
		json_object_set_new(o, "result", result);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		return NULL;
	n = strlen(s);
	line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	return line;
}

/* --- connections ---------------------------------------------------------- */

static void client_close(struct ctl *c, int i)
{
	struct ctl_client *cl = &c->client[i];

	if (cl->capturing) {
		ctl_mail(c, SW_MAIL_CAPTURE, -1, -1, NULL, NULL);
		c->capture_client = -1;
	}
	close(cl->fd);
	free(cl->in);
	free(cl->out);
	memset(cl, 0, sizeof(*cl));
	cl->fd = -1;
}

static int queue_out(struct ctl_client *cl, const char *s, size_t n)
{
	if (cl->out_len + n > CTL_OUT_MAX)
		return -1;
	if (cl->out_len + n > cl->out_cap) {
		size_t cap = cl->out_cap ? cl->out_cap : 4096;
		char *p;

		while (cap < cl->out_len + n)
			cap *= 2;
		p = realloc(cl->out, cap);
		if (!p)
			return -1;
		cl->out = p;
		cl->out_cap = cap;
	}
	memcpy(cl->out + cl->out_len, s, n);
	cl->out_len += n;
	return 0;
}

/* With every slot taken, the one a newcomer may have: an unprivileged
 * client's that has done nothing for CTL_EVICT_IDLE seconds, the least
 * recently active; for a privileged newcomer, any unprivileged client's,
 * else a privileged one's idle that long. -1: none. (Else any peer could
 * hold every slot by connecting and never reading, and lock root out.) */
#define CTL_EVICT_IDLE 1.0
static int client_evict(struct ctl *c, bool privileged, double now)
{
	int best = -1;

	for (int pass = 0; pass < 2 && best < 0; pass++) {
		for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
			const struct ctl_client *cl = &c->client[i];

			if (cl->privileged != (pass == 1) ||
			    (!(privileged && pass == 0) &&
			     now - cl->active < CTL_EVICT_IDLE))
				continue;
			if (best < 0 || cl->active < c->client[best].active)
				best = i;
		}
		if (!privileged)
			break; /* only unprivileged clients give way to it */
	}
	if (best >= 0)
		log_warn("control: all %d connections in use: closing the least active (uid %u) for a new one",
			 CTL_MAX_CLIENTS, (unsigned)c->client[best].uid);
	return best;
}

static void client_accept(struct ctl *c)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	double now = ctl_now();
	bool privileged;
	int fd, i;

	fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		close(fd);
		return;
	}
	privileged = ctl_peer_privileged(c, cred.uid, cred.gid);
	for (i = 0; i < CTL_MAX_CLIENTS && c->client[i].fd >= 0; i++)
		;
	if (i == CTL_MAX_CLIENTS) {
		i = client_evict(c, privileged, now);
		if (i < 0) {
			close(fd);
			return;
		}
		client_close(c, i);
	}
	c->client[i] = (struct ctl_client){ .fd = fd, .uid = cred.uid,
					    .gid = cred.gid,
					    .privileged = privileged,
					    .active = now };
	c->client[i].in = malloc(FS_CTL_MAX_LINE);
	if (!c->client[i].in)
		client_close(c, i);
}

static void client_read(struct ctl *c, int i)
{
	struct ctl_client *cl = &c->client[i];
	ssize_t n;
	char *nl;

	n = read(cl->fd, cl->in + cl->in_len, FS_CTL_MAX_LINE - cl->in_len);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		client_close(c, i); /* a half line from a client gone: dropped */
		return;
	}
	if (n < 0)
		return;
	cl->active = ctl_now();
	cl->in_len += (size_t)n;
	while (!cl->closing && (nl = memchr(cl->in, '\n', cl->in_len))) {
		size_t len = (size_t)(nl - cl->in);
		char *reply = ctl_handle_line(c, cl->in, len, cl->uid, cl->gid, i);

		if (reply) {
			if (queue_out(cl, reply, strlen(reply)))
				cl->closing = true;
			free(reply);
		}
		memmove(cl->in, nl + 1, cl->in_len - len - 1);
		cl->in_len -= len + 1;
	}
	if (cl->in_len == FS_CTL_MAX_LINE) {
		/* No newline in a full buffer: the line is too long, and where
		 * the next one starts cannot be known. Answer and hang up. */
		char *reply = ctl_reply_line(NULL, NULL, FS_CTL_E_TOO_LARGE,
					 "a request line may be at most 65536 bytes");

		if (reply)
			queue_out(cl, reply, strlen(reply));
		free(reply);
		cl->in_len = 0;
		cl->closing = true;
	}
}

static void client_write(struct ctl *c, int i)
{
	struct ctl_client *cl = &c->client[i];
	ssize_t n = write(cl->fd, cl->out, cl->out_len);

	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		client_close(c, i);
		return;
	}
	if (n > 0) {
		memmove(cl->out, cl->out + n, cl->out_len - (size_t)n);
		cl->out_len -= (size_t)n;
		cl->active = ctl_now();
	}
	if (!cl->out_len && cl->closing)
		client_close(c, i);
}

static size_t b64(char *dst, const unsigned char *src, size_t n)
{
	static const char t[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0, i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = src[i] << 16 | src[i + 1] << 8 | src[i + 2];

		dst[o++] = t[v >> 18];
		dst[o++] = t[(v >> 12) & 63];
		dst[o++] = t[(v >> 6) & 63];
		dst[o++] = t[v & 63];
	}
	if (i < n) {
		uint32_t v = src[i] << 16 | (i + 1 < n ? src[i + 1] << 8 : 0);

		dst[o++] = t[v >> 18];
		dst[o++] = t[(v >> 12) & 63];
		dst[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
		dst[o++] = '=';
	}
	dst[o] = '\0';
	return o;
}

/* Moves captured frames to the capturing client; ends the capture at its
 * count. */
static void capture_drain(struct ctl *c)
{
	struct ctl_client *cl = &c->client[c->capture_client];
	static char line[SW_CAP_SNAP * 2 + 256];
	char *data = line + 192;
	const struct sw_cap_rec *rec;

	/* At most a ring's worth a turn: the other clients wait meanwhile. */
	for (int k = 0; k < SW_CAP_SLOTS &&
			(!cl->cap_want || cl->cap_got < cl->cap_want) &&
			(rec = sw_cap_cons_peek(c->sw)); k++) {
		size_t caplen = rec->len < SW_CAP_SNAP ? rec->len : SW_CAP_SNAP;
		int n;

		b64(data, rec->data, caplen);
		n = snprintf(line, 192, "{\"id\":%s,\"frame\":{\"ts\":%.6f,\"dir\":\"%s\",\"len\":%u,\"data\":\"",
			     cl->cap_id, rec->ts, rec->dir == SW_CAP_RX ? "rx" : "tx",
			     rec->len);
		sw_cap_cons_release(c->sw);
		if (queue_out(cl, line, (size_t)n) || queue_out(cl, data, strlen(data)) ||
		    queue_out(cl, "\"}}\n", 4)) {
			cl->closing = true;
			break;
		}
		cl->cap_got++;
	}
	if (cl->cap_want && cl->cap_got >= cl->cap_want) {
		char end[256];

		ctl_mail(c, SW_MAIL_CAPTURE, -1, -1, NULL, NULL);
		snprintf(end, sizeof(end),
			 "{\"id\":%s,\"result\":{\"captured\":%llu,\"dropped\":%llu}}\n",
			 cl->cap_id, (unsigned long long)cl->cap_got,
			 (unsigned long long)(sw_cap_dropped(c->sw) -
					       cl->cap_dropped0));
		queue_out(cl, end, strlen(end));
		cl->capturing = false;
		c->capture_client = -1;
	}
}

static void *ctl_thread(void *arg)
{
	struct ctl *c = arg;
	static struct pollfd pfd[CTL_MAX_CLIENTS + 3 + 2 * CFG_MAX_VMS];
	static int map[CTL_MAX_CLIENTS + 2 + 2 * CFG_MAX_VMS];
	bool untold = false;

	for (;;) {
		int n = 0, first_db, timeout;

		pfd[n++] = (struct pollfd){ .fd = c->stop_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = c->listen_fd, .events = POLLIN };
		for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
			struct ctl_client *cl = &c->client[i];

			if (cl->fd < 0)
				continue;
			map[n] = i;
			pfd[n++] = (struct pollfd){
				.fd = cl->fd,
				.events = (cl->closing ? 0 : POLLIN) |
					  (cl->out_len ? POLLOUT : 0),
			};
		}
		first_db = n;
		for (int i = 0; i < CFG_MAX_VMS; i++) {
			int k = doorbell_pollfds(&c->db[i], &pfd[n]);

			while (k--)
				map[n++] = i;
		}
		/* While a capture runs, look at its ring every 10 ms; while
		 * the worker is yet to be told of a doorbell, ask it again
		 * every 100 ms. The metrics endpoint's fd comes last, out of
		 * the loops below. */
		timeout = c->capture_client >= 0 ? 10 : untold ? 100 : -1;
		if (c->metrics) {
			pfd[n] = (struct pollfd){ .fd = metrics_fd(c->metrics),
						  .events = POLLIN };
			timeout = metrics_timeout(c->metrics, timeout);
		}
		poll(pfd, (nfds_t)n + !!c->metrics, timeout);
		if (c->metrics)
			metrics_run(c->metrics);
		if (pfd[0].revents)
			break;
		if (pfd[1].revents & POLLIN)
			client_accept(c);
		for (int k = first_db; k < n; k++)
			if (pfd[k].revents)
				doorbell_event(&c->db[map[k]], pfd[k].fd);
		untold = db_tell(c);
		for (int k = 2; k < first_db; k++) {
			int i = map[k];

			if (c->client[i].fd < 0)
				continue;
			if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
				client_read(c, i);
			if (c->client[i].fd >= 0 && (pfd[k].revents & POLLOUT))
				client_write(c, i);
		}
		if (c->capture_client >= 0)
			capture_drain(c);
	}
	return NULL;
}

int ctl_create(struct ctl *c, struct sw *sw, const char *path,
	       const char *group, unsigned int gid)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char dir[sizeof(sun.sun_path)], *slash;
	int fd, err;

	memset(c, 0, sizeof(*c));
	c->sw = sw;
	c->listen_fd = c->stop_fd = -1;
	c->capture_client = -1;
	c->mail_ms = CTL_MAIL_TIMEOUT_MS;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		c->client[i].fd = -1;
	for (int i = 0; i < CFG_MAX_VMS; i++)
		doorbell_init(&c->db[i]);
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_err("control: socket path %s is too long (at most %zu bytes)",
			path, sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	strcpy(c->path, path);
	c->have_group = group && group[0];
	c->group = gid;

	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755);
	}
	fd = unix_listen(path, c->have_group, gid, 16);
	if (fd == -EADDRINUSE) {
		log_err("control: another flipswitchd serves %s", path);
		return fd;
	}
	if (fd < 0) {
		log_err("control: cannot serve %s: %s", c->path, strerror(-fd));
		return fd;
	}
	c->listen_fd = fd;
	c->stop_fd = eventfd(0, EFD_CLOEXEC);
	c->snap = malloc(sizeof(*c->snap));
	if (c->stop_fd < 0 || !c->snap) {
		err = c->snap ? -errno : -ENOMEM;
		ctl_destroy(c);
		return err;
	}
	sw_snapshot(sw, c->snap);
	for (int i = 0; i < c->snap->n_vms; i++) {
		const struct sw_snap_vm *v = &c->snap->vm[i];

		if (!v->active || !v->cfg.doorbell[0])
			continue;
		err = ctl_db_open(c, i, v->cfg.name, v->cfg.doorbell,
				  &(struct doorbell_fds){ v->region_fd,
							  v->bell_fd,
							  v->irq_fd },
				  v->cfg.doorbell_peer);
		if (err) {
			ctl_destroy(c);
			return err;
		}
	}
	if (c->have_group)
		log_info("control: %s, group %s may change the switch", path,
			 group);
	else
		log_info("control: %s", path);
	return 0;
}

int ctl_start(struct ctl *c)
{
	int err = pthread_create(&c->thread, NULL, ctl_thread, c);

	if (err)
		return -err;
	c->running = true;
	return 0;
}

void ctl_destroy(struct ctl *c)
{
	uint64_t one = 1;

	/* Never created (the switch's set-up failed first): its fds are not
	 * ours to close. */
	if (!c->sw)
		return;
	if (c->running) {
		if (write(c->stop_fd, &one, sizeof(one)) < 0)
			log_warn("control: cannot stop the thread: %s",
				 strerror(errno));
		pthread_join(c->thread, NULL);
		c->running = false;
	}
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (c->client[i].fd >= 0) {
			c->client[i].capturing = false;
			client_close(c, i);
		}
	/* The worker has stopped, or is about to: it is not told of the
	 * guests' going (vmport_destroy tells each guest the switch went).
	 * Doorbells in the fd store stay there, for the next daemon. */
	for (int i = 0; i < CFG_MAX_VMS; i++)
		doorbell_leave(&c->db[i]);
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		unlink(c->path);
	}
	if (c->stop_fd >= 0)
		close(c->stop_fd);
	c->listen_fd = c->stop_fd = -1;
	free(c->snap);
	c->snap = NULL;
}
