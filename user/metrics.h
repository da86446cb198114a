/* SPDX-License-Identifier: MIT */
/*
 * The metrics endpoint: `metrics = "ADDRESS:PORT"` serves GET /metrics,
 * the Prometheus text of prom.c, over HTTP with libmicrohttpd.
 *
 * It runs in the control thread, polled with the control socket
 * (ctl.c): it has no thread of its own and reads the switch only through
 * the control protocol, as a peer with no rights, so it can change nothing
 * and sees exactly what `flipswitchctl stats --prometheus` sees.
 */
#ifndef FS_METRICS_H
#define FS_METRICS_H

struct ctl;
struct MHD_Daemon;

struct metrics {
	struct MHD_Daemon *mhd;
	struct ctl *ctl;
	int fd;             /* to poll: readable when there is work */
	char addr[64];
};

/* Listens on addr (cfg_parse_listen()'s form) for the switch behind ctl.
 * 0 or -errno, said in the log. */
int metrics_create(struct metrics *m, const char *addr, struct ctl *ctl);
void metrics_destroy(struct metrics *m);

/* For the control thread's poll(): the fd, and the timeout it may wait
 * at most (ms), given the one it would wait otherwise (-1: forever). */
int metrics_fd(const struct metrics *m);
int metrics_timeout(struct metrics *m, int timeout);
/* Serves whatever is ready; never blocks. */
void metrics_run(struct metrics *m);

#endif /* FS_METRICS_H */
