// SPDX-License-Identifier: MIT
/*
 * The Prometheus text exposition (format 0.0.4) of the switch's counters:
 * what `flipswitchctl stats --prometheus` prints and what flipswitchd's
 * metrics endpoint serves, from the same two replies of the control
 * protocol (docs/control.md), `stats` and `frames`, so the two cannot
 * disagree. Every counter is a _total; the frame audit gives gauges.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "prom.h"

/* A counter as the daemon sends it: a non-negative integer (else 0). */
static uint64_t num(json_t *v)
{
	json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;

	return n < 0 ? 0 : (uint64_t)n;
}

static uint64_t u64(json_t *o, const char *key)
{
	return num(json_object_get(o, key));
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static bool flag(json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

/* A label value: backslash, double quote and newline escaped. */
static void prom_label(FILE *f, const char *name, const char *v)
{
	fprintf(f, "%s=\"", name);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			putc(*v, f);
	}
	putc('"', f);
}

static void prom_head(FILE *f, const char *metric, const char *type,
		      const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", metric, help, metric, type);
}

/* A sample's name and labels (up to two), its value to follow. */
static void prom_name(FILE *f, const char *metric, const char *l1,
		      const char *v1, const char *l2, const char *v2)
{
	fputs(metric, f);
	if (l1) {
		putc('{', f);
		prom_label(f, l1, v1);
		if (l2) {
			putc(',', f);
			prom_label(f, l2, v2);
		}
		putc('}', f);
	}
}

static void prom_sample(FILE *f, const char *metric, const char *l1,
			const char *v1, const char *l2, const char *v2,
			uint64_t v)
{
	prom_name(f, metric, l1, v1, l2, v2);
	fprintf(f, " %" PRIu64 "\n", v);
}

static const struct {
	const char *key, *metric, *help;
} prom_port_counters[] = {
	{ "rx_packets", "flipswitch_rx_packets_total",
	  "Packets the switch received from a port." },
	{ "rx_bytes", "flipswitch_rx_bytes_total",
	  "Bytes the switch received from a port." },
	{ "tx_packets", "flipswitch_tx_packets_total",
	  "Packets the switch sent to a port." },
	{ "tx_bytes", "flipswitch_tx_bytes_total",
	  "Bytes the switch sent to a port." },
};

static const struct {
	const char *key, *metric, *help;
} prom_switch_counters[] = {
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
static void prom_port_map(FILE *f, json_t *ports, const char *obj,
			  const char *sub, const char *label, const char *metric)
{
	const char *k;
	json_t *p, *v;
	size_t i;

	json_array_foreach(ports, i, p) {
		json_object_foreach(json_object_get(p, obj), k, v)
			prom_sample(f, metric, "port", str(p, "name"), label, k,
				    sub ? u64(v, sub) : num(v));
	}
}

void prom_write(FILE *f, json_t *st, json_t *fr)
{
	json_t *ports = json_object_get(st, "ports"), *sw, *p, *v;
	const char *k, *k2;
	size_t i, j;

	for (j = 0; j < sizeof(prom_port_counters) / sizeof(prom_port_counters[0]); j++) {
		prom_head(f, prom_port_counters[j].metric, "counter",
			  prom_port_counters[j].help);
		json_array_foreach(ports, i, p)
			prom_sample(f, prom_port_counters[j].metric, "port",
				    str(p, "name"), "kind", str(p, "kind"),
				    u64(p, prom_port_counters[j].key));
	}
	/* A VM's doorbells: those without one have the keys too (0). */
	prom_head(f, "flipswitch_doorbells_total", "counter",
		  "Doorbells the switch rang a VM's sleeping guest.");
	json_array_foreach(ports, i, p)
		if (json_object_get(p, "doorbell_gap_us"))
			prom_sample(f, "flipswitch_doorbells_total", "port",
				    str(p, "name"), NULL, NULL, u64(p, "doorbells"));
	prom_head(f, "flipswitch_doorbell_interval_seconds", "gauge",
		  "Least time between two doorbells to a VM's guest now: doorbell_usecs, lengthened under a heavy stream up to doorbell_max_usecs.");
	json_array_foreach(ports, i, p)
		if (json_object_get(p, "doorbell_gap_us")) {
			prom_name(f, "flipswitch_doorbell_interval_seconds",
				  "port", str(p, "name"), NULL, NULL);
			fprintf(f, " %.6f\n",
				(double)u64(p, "doorbell_gap_us") / 1e6);
		}
	prom_head(f, "flipswitch_drops_total", "counter",
		  "Frames a port dropped, by reason.");
	prom_port_map(f, ports, "drops", NULL, "reason", "flipswitch_drops_total");
	prom_head(f, "flipswitch_xdp_verdict_packets_total", "counter",
		  "Packets the XDP program gave each verdict, by interface.");
	prom_port_map(f, ports, "xdp", "packets", "verdict",
		      "flipswitch_xdp_verdict_packets_total");
	prom_head(f, "flipswitch_xdp_verdict_bytes_total", "counter",
		  "Bytes the XDP program gave each verdict, by interface.");
	prom_port_map(f, ports, "xdp", "bytes", "verdict",
		      "flipswitch_xdp_verdict_bytes_total");
	prom_head(f, "flipswitch_xsk_total", "counter",
		  "AF_XDP socket statistics (XDP_STATISTICS), by interface.");
	prom_port_map(f, ports, "xsk", NULL, "stat", "flipswitch_xsk_total");

	sw = json_object_get(st, "switch");
	for (j = 0; j < sizeof(prom_switch_counters) / sizeof(prom_switch_counters[0]); j++) {
		prom_head(f, prom_switch_counters[j].metric, "counter",
			  prom_switch_counters[j].help);
		prom_sample(f, prom_switch_counters[j].metric, NULL, NULL, NULL,
			    NULL, u64(sw, prom_switch_counters[j].key));
	}
	prom_head(f, "flipswitch_worker_seconds_total", "counter",
		  "Worker time: passes that moved frames (busy), passes that did not (idle), sleeping (sleep).");
	for (j = 0; j < 3; j++)
		fprintf(f, "flipswitch_worker_seconds_total{state=\"%s\"} %.9f\n",
		       worker_states[j],
		       (double)u64(sw, worker_state_keys[j]) / 1e9);
	prom_head(f, "flipswitch_switch_drops_total", "counter",
		  "Frames the switch dropped before choosing a port, by reason.");
	json_object_foreach(json_object_get(sw, "drops"), k, v)
		prom_sample(f, "flipswitch_switch_drops_total", "reason", k, NULL,
			    NULL, num(v));

	prom_head(f, "flipswitch_pool_copies_total", "counter",
		  "Frames copied into a pool from another pool, by pool and reason (nic, vm, wire, flood).");
	json_object_foreach(json_object_get(st, "pools"), k, p)
		json_object_foreach(json_object_get(p, "copies_by_reason"), k2, v)
			prom_sample(f, "flipswitch_pool_copies_total", "pool", k,
				    "reason", k2, num(v));

	prom_head(f, "flipswitch_frames", "gauge",
		  "Pool frames by owner: fill ring, tx ring, switch, or a VM.");
	prom_sample(f, "flipswitch_frames", "owner", "fill", NULL, NULL,
		    u64(fr, "fill"));
	prom_sample(f, "flipswitch_frames", "owner", "tx", NULL, NULL,
		    u64(fr, "tx"));
	prom_sample(f, "flipswitch_frames", "owner", "switch", NULL, NULL,
		    u64(fr, "switch"));
	json_object_foreach(json_object_get(fr, "vms"), k, v)
		prom_sample(f, "flipswitch_frames", "owner", "vm", "vm", k,
			    num(v));
	prom_head(f, "flipswitch_free_frames", "gauge",
		  "Pool frames on the switch's free list.");
	prom_sample(f, "flipswitch_free_frames", NULL, NULL, NULL, NULL,
		    u64(fr, "free_list"));
	prom_head(f, "flipswitch_pool_frames", "gauge", "Frames in the pool.");
	prom_sample(f, "flipswitch_pool_frames", NULL, NULL, NULL, NULL,
		    u64(fr, "total"));
	prom_head(f, "flipswitch_frames_ok", "gauge",
		  "1 if every pool frame has exactly one owner, else 0.");
	prom_sample(f, "flipswitch_frames_ok", NULL, NULL, NULL, NULL,
		    flag(fr, "ok"));
}
