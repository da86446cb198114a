// SPDX-License-Identifier: MIT
/*
 * flipswitchctl's output: the printer every command prints through, the
 * readers of the daemon's replies, and the Prometheus text exposition.
 *
 * The printer (out_*) is in the spirit of iproute2's print_uint(PRINT_ANY,
 * ...): each call names a JSON key and a text format, and either adds the
 * value to the JSON object being built (-j) or prints it as text. Text and
 * JSON thus come from the same calls and cannot disagree, and the JSON keys
 * are ours, not whatever the daemon happened to send. Only --prometheus
 * has a writer of its own (prom_write), since its format groups samples by
 * metric rather than by port.
 *
 * The readers (j_*) never fail: a member that is missing or of another
 * type reads as 0, "" or false, so an older daemon's reply still prints.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

/* ---- the printer ------------------------------------------------------ */

#define OUT_DEPTH 16

static struct {
	bool json, pretty;
	json_t *stack[OUT_DEPTH];
	int depth;
} out;

void out_set_json(bool json, bool pretty)
{
	out.json = json || pretty;
	out.pretty = pretty;
}

bool out_is_json(void)
{
	return out.json;
}

static void out_add(const char *key, json_t *v)
{
	json_t *parent = out.stack[out.depth - 1];

	if (json_is_array(parent))
		json_array_append_new(parent, v);
	else
		json_object_set_new(parent, key, v);
}

/* Text only: headers, separators, newlines. */
void out_text(const char *fmt, ...)
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
void out_u64(const char *key, const char *fmt, uint64_t v)
{
	if (out.json)
		out_add(key, json_integer((json_int_t)v));
	else if (fmt)
		printf(fmt, v);
}

void out_double(const char *key, const char *fmt, double v)
{
	if (out.json)
		out_add(key, json_real(v));
	else if (fmt)
		printf(fmt, v);
}

void out_str(const char *key, const char *fmt, const char *v)
{
	if (out.json)
		out_add(key, json_string(v));
	else if (fmt)
		printf(fmt, v);
}

/* Text prints yes or no through fmt. */
void out_bool(const char *key, const char *fmt, bool v,
		     const char *yes, const char *no)
{
	if (out.json)
		out_add(key, json_boolean(v));
	else if (fmt)
		printf(fmt, v ? yes : no);
}

/* A JSON null; text prints text through fmt. */
void out_null(const char *key, const char *fmt, const char *text)
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

void out_open_object(const char *key)
{
	out_push(key, json_object());
}

void out_open_array(const char *key)
{
	out_push(key, json_array());
}

void out_close(void)
{
	if (out.json && out.depth > 1)
		out.depth--;
}

void out_begin(void)
{
	if (!out.json)
		return;
	out.stack[0] = json_object();
	out.depth = 1;
}

/* Prints the JSON object built since out_begin (one per line). */
void out_end(void)
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

uint64_t j_val_u64(json_t *v)
{
	if (json_is_integer(v))
		return json_integer_value(v) < 0 ? 0 : (uint64_t)json_integer_value(v);
	if (json_is_real(v))
		return json_real_value(v) < 0 ? 0 : (uint64_t)json_real_value(v);
	return 0;
}

uint64_t j_u64(json_t *o, const char *key)
{
	return j_val_u64(json_object_get(o, key));
}

const char *j_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

bool j_bool(json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

/* The widest string member `key` of the objects in arr, at least min. */
int j_width(json_t *arr, const char *key, int min)
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

void out_ju64(json_t *o, const char *key, const char *fmt)
{
	out_u64(key, fmt, j_u64(o, key));
}

void out_jstr(json_t *o, const char *key, const char *fmt)
{
	out_str(key, fmt, j_str(o, key));
}

/* ---- Prometheus text exposition -------------------------------------- */

/* A label value: backslash, double quote and newline escaped. */
static void prom_label(const char *name, const char *v)
{
	printf("%s=\"", name);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			printf("\\%c", *v);
		else if (*v == '\n')
			printf("\\n");
		else
			putchar(*v);
	}
	putchar('"');
}

static void prom_head(const char *metric, const char *type, const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", metric, help, metric, type);
}

static void prom_sample(const char *metric, const char *l1, const char *v1,
			const char *l2, const char *v2, uint64_t v)
{
	printf("%s", metric);
	if (l1) {
		putchar('{');
		prom_label(l1, v1);
		if (l2) {
			putchar(',');
			prom_label(l2, v2);
		}
		putchar('}');
	}
	printf(" %" PRIu64 "\n", v);
}

struct prom_counter {
	const char *key, *metric, *help;
};

static const struct prom_counter prom_port_counters[] = {
	{ "rx_packets", "flipswitch_rx_packets_total",
	  "Packets the switch received from a port." },
	{ "rx_bytes", "flipswitch_rx_bytes_total",
	  "Bytes the switch received from a port." },
	{ "tx_packets", "flipswitch_tx_packets_total",
	  "Packets the switch sent to a port." },
	{ "tx_bytes", "flipswitch_tx_bytes_total",
	  "Bytes the switch sent to a port." },
};

static const struct prom_counter prom_switch_counters[] = {
	{ "copies", "flipswitch_copies_total",
	  "Frames copied (broadcast and multicast to several ports)." },
	{ "vm_to_vm", "flipswitch_vm_to_vm_total",
	  "Frames switched from one VM to another." },
	{ "sleeps", "flipswitch_worker_sleeps_total",
	  "Times the worker slept, idle." },
	{ "doorbell_wakeups", "flipswitch_doorbell_wakeups_total",
	  "Times a guest's doorbell woke the worker." },
	{ "naps", "flipswitch_worker_naps_total",
	  "Naps of the worker under light load (max_sleep_usecs)." },
	{ "scrubbed_frames", "flipswitch_scrubbed_frames_total",
	  "Frames scrubbed before reuse." },
	{ "scrubbed_bytes", "flipswitch_scrubbed_bytes_total",
	  "Bytes scrubbed before reuse." },
	{ "packets", "flipswitch_worker_packets_total",
	  "Frames the worker took in, from NICs and VMs." },
	{ "busy_passes", "flipswitch_worker_busy_passes_total",
	  "Worker passes that moved frames." },
};

static const char *const worker_states[] = { "busy", "idle", "sleep" };
static const char *const worker_state_keys[] = { "busy_ns", "idle_ns",
						 "sleep_ns" };

/* Every member of member `obj` of each port, under label `label`. */
static void prom_port_map(json_t *ports, const char *obj, const char *sub,
			  const char *label, const char *metric)
{
	const char *k;
	json_t *p, *v;
	size_t i;

	json_array_foreach(ports, i, p) {
		json_object_foreach(json_object_get(p, obj), k, v)
			prom_sample(metric, "port", j_str(p, "name"), label, k,
				    sub ? j_u64(v, sub) : j_val_u64(v));
	}
}

void prom_write(json_t *st, json_t *fr)
{
	json_t *ports = json_object_get(st, "ports"), *sw, *p, *v;
	const char *k;
	size_t i, j;

	for (j = 0; j < sizeof(prom_port_counters) / sizeof(prom_port_counters[0]); j++) {
		prom_head(prom_port_counters[j].metric, "counter",
			  prom_port_counters[j].help);
		json_array_foreach(ports, i, p)
			prom_sample(prom_port_counters[j].metric, "port",
				    j_str(p, "name"), "kind", j_str(p, "kind"),
				    j_u64(p, prom_port_counters[j].key));
	}
	prom_head("flipswitch_drops_total", "counter",
		  "Frames a port dropped, by reason.");
	prom_port_map(ports, "drops", NULL, "reason", "flipswitch_drops_total");
	prom_head("flipswitch_xdp_verdict_packets_total", "counter",
		  "Packets the XDP program gave each verdict, by interface.");
	prom_port_map(ports, "xdp", "packets", "verdict",
		      "flipswitch_xdp_verdict_packets_total");
	prom_head("flipswitch_xdp_verdict_bytes_total", "counter",
		  "Bytes the XDP program gave each verdict, by interface.");
	prom_port_map(ports, "xdp", "bytes", "verdict",
		      "flipswitch_xdp_verdict_bytes_total");
	prom_head("flipswitch_xsk_total", "counter",
		  "AF_XDP socket statistics (XDP_STATISTICS), by interface.");
	prom_port_map(ports, "xsk", NULL, "stat", "flipswitch_xsk_total");

	sw = json_object_get(st, "switch");
	for (j = 0; j < sizeof(prom_switch_counters) / sizeof(prom_switch_counters[0]); j++) {
		prom_head(prom_switch_counters[j].metric, "counter",
			  prom_switch_counters[j].help);
		prom_sample(prom_switch_counters[j].metric, NULL, NULL, NULL,
			    NULL, j_u64(sw, prom_switch_counters[j].key));
	}
	prom_head("flipswitch_worker_seconds_total", "counter",
		  "Worker time: passes that moved frames (busy), passes that did not (idle), sleeping (sleep).");
	for (j = 0; j < 3; j++)
		printf("flipswitch_worker_seconds_total{state=\"%s\"} %.9f\n",
		       worker_states[j],
		       (double)j_u64(sw, worker_state_keys[j]) / 1e9);
	prom_head("flipswitch_switch_drops_total", "counter",
		  "Frames the switch dropped before choosing a port, by reason.");
	json_object_foreach(json_object_get(sw, "drops"), k, v)
		prom_sample("flipswitch_switch_drops_total", "reason", k, NULL,
			    NULL, j_val_u64(v));

	prom_head("flipswitch_frames", "gauge",
		  "Pool frames by owner: fill ring, tx ring, switch, or a VM.");
	prom_sample("flipswitch_frames", "owner", "fill", NULL, NULL,
		    j_u64(fr, "fill"));
	prom_sample("flipswitch_frames", "owner", "tx", NULL, NULL,
		    j_u64(fr, "tx"));
	prom_sample("flipswitch_frames", "owner", "switch", NULL, NULL,
		    j_u64(fr, "switch"));
	json_object_foreach(json_object_get(fr, "vms"), k, v)
		prom_sample("flipswitch_frames", "owner", "vm", "vm", k,
			    j_val_u64(v));
	prom_head("flipswitch_free_frames", "gauge",
		  "Pool frames on the switch's free list.");
	prom_sample("flipswitch_free_frames", NULL, NULL, NULL, NULL,
		    j_u64(fr, "free_list"));
	prom_head("flipswitch_pool_frames", "gauge", "Frames in the pool.");
	prom_sample("flipswitch_pool_frames", NULL, NULL, NULL, NULL,
		    j_u64(fr, "total"));
	prom_head("flipswitch_frames_ok", "gauge",
		  "1 if every pool frame has exactly one owner, else 0.");
	prom_sample("flipswitch_frames_ok", NULL, NULL, NULL, NULL,
		    j_bool(fr, "ok"));
	fflush(stdout);
}
