// SPDX-License-Identifier: MIT
/*
 * flipswitchctl capture: the frames crossing a port, streamed by the
 * daemon as base64 lines on the connection, into a pcap file.
 *
 * The capture runs until --count frames, the daemon's result line, or
 * Ctrl-C; the data path never waits for it, so the result counts the
 * frames it could not keep (dropped), and an interrupted capture says its
 * drops are unknown. In text the summary goes to stderr; -j prints it as
 * a JSON object on stdout.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "flipswitch/ctl.h"
#include "commands.h"
#include "output.h"
#include "pcapout.h"

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

int cmd_capture(struct ctx *x, const struct args *a)
{
	const char *file = args_str(a, "write"), *port = a->pos[0];
	uint64_t count = 0, got = 0, dropped = 0;
	bool done = false;
	json_t *args;
	pcap_dumper_t *d;
	pcap_t *pd;
	uint8_t *buf;
	int err;

	args_u64(a, "count", &count);
	if ((err = cli_connect(x)))
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
	cli_catch_signals();
	while (!done) {
		json_t *msg, *fr, *r;
		struct pcap_pkthdr h;
		long n;

		err = conn_read_msg(&x->conn, "capture", -1, &msg);
		if (err == -EINTR) {
			err = 0;
			break;
		}
		if (err)
			break;
		if ((r = json_object_get(msg, "error"))) {
			err = conn_reply_error(r);
			done = true;
		} else if ((fr = json_object_get(msg, "frame"))) {
			n = b64_decode(j_str(fr, "data"), buf, FS_CTL_MAX_LINE);
			if (n < 0) {
				cli_say("flipswitchd sent a frame that is not valid base64");
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
	if (!out_is_json()) {
		if (done)
			fprintf(stderr, "captured %" PRIu64 " frames to %s (%"
				PRIu64 " dropped)\n", got, file, dropped);
		else
			fprintf(stderr, "captured %" PRIu64 " frames to %s "
				"(interrupted; drops unknown)\n", got, file);
	}
	return 0;
}

