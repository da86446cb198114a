// SPDX-License-Identifier: MIT
/*
 * flipswitchctl watch: per-port rates and the worker's busy share, from
 * successive stats replies over one connection, every --interval seconds.
 *
 * On a terminal the view is redrawn in place and a lone q quits, so stdin
 * is put in non-canonical mode for the run and restored on every exit
 * (atexit too). Elsewhere one line a port is printed each interval, for
 * logs and scripts. Rates come from the daemon's own clock (stats' time),
 * not ours, so a late reply does not inflate them; a counter that went
 * back (stats --clear) reads as a rate of 0 for that interval.
 */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "commands.h"
#include "output.h"
#include "toolutil.h"

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

		if (cli_stop)
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

	out_double("worker_busy_pct", "worker busy %.1f %%", cli_pct(busy, all));
	out_double("worker_awake_pct", " (awake %.1f %%)",
		   cli_pct(busy + idle, all));
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

int cmd_watch(struct ctx *x, const struct args *a)
{
	double interval = args_double(a, "interval", 1), next;
	uint64_t count = 0, n = 0;
	json_t *prev = NULL, *cur = NULL;
	bool tty;
	int err;

	args_u64(a, "count", &count);
	if ((err = cli_connect(x)))
		return err;
	cli_catch_signals();
	tty = !out_is_json() && isatty(STDOUT_FILENO);
	if (tty)
		term_raw();
	if ((err = conn_request(&x->conn, "stats", NULL, &prev)))
		goto out;
	next = tool_now();
	while (!count || n < count) {
		next += interval;
		if (watch_sleep(next))
			break;
		if ((err = conn_request(&x->conn, "stats", NULL, &cur)))
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

