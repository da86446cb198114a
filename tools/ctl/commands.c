// SPDX-License-Identifier: MIT
/*
 * flipswitchctl's commands: the table that names each command, its
 * arguments and options (args.c parses by it, help prints from it), and
 * the handlers of the one-request commands. watch.c and capture.c hold the
 * two that stream.
 *
 * A handler gets its options already checked by kind and range; it asks
 * the daemon (cli_ask) and prints the result through the out_* printer,
 * so its text and its -j JSON come from the same calls. It returns 0 or
 * -errno having said why; -E_USAGE means a usage error (exit 2).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flipswitch/ctl.h"
#include "commands.h"
#include "output.h"
#include "prom.h"

int cli_connect(struct ctx *x)
{
	return conn_open(&x->conn, x->sock);
}

int cli_ask(struct ctx *x, const char *cmd, json_t *args, json_t **res)
{
	int err = cli_connect(x);

	if (!err)
		err = conn_request(&x->conn, cmd, args, res);
	json_decref(args);
	return err;
}

double cli_pct(uint64_t part, uint64_t all)
{
	return all ? 100.0 * (double)part / (double)all : 0;
}

/*
 * The options a command hands to the daemon as they are: each one given
 * becomes the member named like it with '_' for '-' (--ring-size N is
 * "ring_size": N), a string or a number by its kind, a flag true.
 */
static void opts_to_json(const struct args *a, json_t *args)
{
	const struct opt *o;
	char key[40], *p;

	for (o = a->cmd->opts; o && (o->name || o->short_name); o++) {
		const struct optval *v = &a->val[o - a->cmd->opts];

		if (!v->set)
			continue;
		snprintf(key, sizeof(key), "%s", o->name);
		for (p = key; (p = strchr(p, '-')); )
			*p = '_';
		if (o->kind == OPT_U64)
			json_object_set_new(args, key,
					    json_integer((json_int_t)v->u));
		else if (o->kind == OPT_FLAG)
			json_object_set_new(args, key, json_true());
		else
			json_object_set_new(args, key, json_string(v->str));
	}
}

/* ---- ping, show ------------------------------------------------------- */

static int cmd_ping(struct ctx *x, const struct args *a)
{
	json_t *res;
	int err;

	if ((err = cli_ask(x, "ping", NULL, &res)))
		return err;
	out_begin();
	out_jstr(res, "version", "flipswitchd is running, protocol %s\n");
	out_end();
	json_decref(res);
	return 0;
}

/* A VM's allowed_macs: a JSON array, or in text after two spaces, joined
 * by commas ("-" for none). */
static void print_macs(json_t *macs)
{
	json_t *m;
	size_t i;

	out_open_array("allowed_macs");
	out_text("  ");
	json_array_foreach(macs, i, m)
		out_str(NULL, i ? ",%s" : "%s", json_string_value(m));
	if (!json_array_size(macs))
		out_text("-");
	out_close();
}

static void print_vm(json_t *v, int nw, int rw)
{
	char f1[16], f2[16];

	snprintf(f1, sizeof(f1), "%%-%ds  ", nw);
	snprintf(f2, sizeof(f2), "%%-%ds  ", rw);
	out_str("name", f1, j_str(v, "name"));
	out_jstr(v, "mac", "%-17s  ");
	out_ju64(v, "vlan", "%4" PRIu64 "  ");
	out_jstr(v, "pool", "%-8s  ");
	out_str("rings", f2, j_str(v, "rings"));
	/* STATE: broken (its region was cut short: out of service),
	 * attached or detached. */
	out_bool("attached", "%-8s  ", j_bool(v, "attached"), "attached",
		 j_bool(v, "broken") ? "broken" : "detached");
	out_bool("broken", "", j_bool(v, "broken"), "", "");
	out_ju64(v, "quota", "%5" PRIu64 "  ");
	out_ju64(v, "held", "%5" PRIu64 "  ");
	if (*j_str(v, "uplink"))
		out_jstr(v, "uplink", "%-8s  ");
	else
		out_null("uplink", "%-8s  ", "-");
	/* DOORBELL: off, idle (no guest on it), connected, or rings (the
	 * guest rings the switch too: both sides may sleep). */
	if (json_is_string(json_object_get(v, "doorbell")))
		out_jstr(v, "doorbell", "");
	else
		out_null("doorbell", "", "");
	out_bool("doorbell_connected", "", j_bool(v, "doorbell_connected"), "", "");
	out_bool("guest_rings", "", j_bool(v, "guest_rings"), "", "");
	out_ju64(v, "doorbell_usecs", NULL);
	out_text("%-9s", !json_is_string(json_object_get(v, "doorbell")) ? "off" :
		       !j_bool(v, "doorbell_connected") ? "idle" :
		       j_bool(v, "guest_rings") ? "rings" : "connected");
	/* ALLOWED: the source MACs it may send with besides its own. */
	print_macs(json_object_get(v, "allowed_macs"));
	out_text("\n");
}

static void print_vm_header(int nw, int rw)
{
	out_text("%-*s  %-17s  %4s  %-8s  %-*s  %-8s  %5s  %5s  %-8s  %-9s  %s\n",
		 nw, "VM", "MAC", "VLAN", "POOL", rw, "RINGS", "STATE", "QUOTA",
		 "HELD", "UPLINK", "DOORBELL", "ALLOWED");
}

/* The switch-wide settings (show's "switch", set's answer). */
static void print_settings(json_t *sw)
{
	out_open_object("switch");
	out_ju64(sw, "batch", "batch               %" PRIu64 "\n");
	out_jstr(sw, "handoff", "handoff             %s\n");
	out_ju64(sw, "guest_timeout", "guest_timeout       %" PRIu64 " ms\n");
	out_ju64(sw, "doorbell_usecs", "doorbell_usecs      %" PRIu64 " us\n");
	out_ju64(sw, "doorbell_max_usecs", "doorbell_max_usecs  %" PRIu64 " us\n");
	out_ju64(sw, "max_sleep_usecs", "max_sleep_usecs     %" PRIu64 " us\n");
	out_jstr(sw, "idle", "idle                %s\n");
	out_ju64(sw, "poll_usecs", "poll_usecs          %" PRIu64 " us\n");
	out_close_object();
}

/* A pool of show: its file and geometry, the queues bound to it, its
 * VMs. Pools and their queues are fixed at start. */
static void print_pool(json_t *p)
{
	json_t *e;
	size_t i;

	out_open_object(NULL);
	out_text("\n");
	out_jstr(p, "name", "pool %s\n");
	out_jstr(p, "path", "  path        %s\n");
	out_ju64(p, "frames", "  frames      %" PRIu64);
	out_ju64(p, "frame_size", " of %" PRIu64 " bytes");
	out_ju64(p, "free", ", %" PRIu64 " free\n");
	out_jstr(p, "scrub", "  scrub       %s\n");
	out_bool("hugetlb", "  hugetlb     %s\n", j_bool(p, "hugetlb"), "yes",
		 "no");
	out_text("  queues     ");
	out_open_array("queues");
	json_array_foreach(json_object_get(p, "queues"), i, e) {
		out_open_object(NULL);
		out_jstr(e, "interface", " %s");
		out_ju64(e, "queue", ":%" PRIu64);
		out_close_object();
	}
	out_close_array();
	out_text("%s\n", json_array_size(json_object_get(p, "queues")) ? "" :
									" none");
	out_text("  vms        ");
	out_open_array("vms");
	json_array_foreach(json_object_get(p, "vms"), i, e)
		out_str(NULL, " %s", json_string_value(e));
	out_close_array();
	out_text("%s\n", json_array_size(json_object_get(p, "vms")) ? "" : " none");
	out_close_object();
}

static int cmd_show(struct ctx *x, const struct args *a)
{
	json_t *res, *ifs, *pool, *vms, *e;
	char f1[16];
	size_t i;
	int err, nw, rw;

	if ((err = cli_ask(x, "show", NULL, &res)))
		return err;
	ifs = json_object_get(res, "interfaces");
	pool = json_object_get(res, "pool");
	vms = json_object_get(res, "vms");

	out_begin();
	nw = j_width(ifs, "name", 9);
	snprintf(f1, sizeof(f1), "%%-%ds  ", nw);
	out_text("%-*s  %7s  %6s  %-7s  %-9s  %7s  %5s  %5s  %s\n", nw,
		 "INTERFACE", "IFINDEX", "QUEUES", "XDP", "MODE", "PROG", "RING",
		 "MTU", "KIND");
	out_open_array("interfaces");
	json_array_foreach(ifs, i, e) {
		out_open_object(NULL);
		out_str("name", f1, j_str(e, "name"));
		out_ju64(e, "ifindex", "%7" PRIu64 "  ");
		out_ju64(e, "queues", "%6" PRIu64 "  ");
		out_jstr(e, "xdp_mode", "%-7s  ");
		out_bool("zerocopy", "%-9s  ", j_bool(e, "zerocopy"),
			 "zero-copy", "copy");
		out_ju64(e, "prog_id", "%7" PRIu64 "  ");
		out_ju64(e, "ring_size", "%5" PRIu64 "  ");
		out_ju64(e, "mtu", "%5" PRIu64 "  ");
		/* KIND: the link's kind, "nic" for a device with none; a
		 * tunnel says so (its XDP and MODE columns say what it
		 * costs: docs/datapath.md). */
		out_str("kind", "%s", *j_str(e, "kind") ? j_str(e, "kind") : "nic");
		out_bool("tunnel", "%s", j_bool(e, "tunnel"), " tunnel", "");
		if (json_is_string(json_object_get(e, "publish_fdb")))
			out_jstr(e, "publish_fdb", ", fdb on %s\n");
		else
			out_null("publish_fdb", "\n", "");
		out_close_object();
	}
	out_close_array();

	/* "pool" (the first) in JSON only: the text lists every pool. */
	if (out_is_json()) {
		out_open_object("pool");
		out_jstr(pool, "path", NULL);
		out_ju64(pool, "frames", NULL);
		out_ju64(pool, "frame_size", NULL);
		out_ju64(pool, "free", NULL);
		out_jstr(pool, "scrub", NULL);
		out_bool("hugetlb", NULL, j_bool(pool, "hugetlb"), "", "");
		out_close_object();
	}
	out_open_array("pools");
	json_array_foreach(json_object_get(res, "pools"), i, e)
		print_pool(e);
	out_close_array();

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

/* ---- stats ---------------------------------------------------------- */

/* "name 3, other 1" of the non-zero members (text), every member (JSON). */
static void print_counters(const char *key, const char *label, json_t *o)
{
	const char *k;
	json_t *v;
	bool any = false;

	out_open_object(key);
	json_object_foreach(o, k, v) {
		uint64_t n = j_val_u64(v);

		if (!n && !out_is_json())
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

/* "  xdp    redirect 5 (500 B), pass_mcast 1 (60 B)": each member of obj,
 * an object of packets and bytes (xdp) or a number (xsk). */
static void print_map(const char *key, json_t *obj)
{
	const char *k;
	json_t *v;
	bool first = true;

	if (!json_is_object(obj))
		return;
	out_open_object(key);
	json_object_foreach(obj, k, v) {
		out_text(first ? "  %-7s" : ", ", key);
		first = false;
		out_text("%s ", k);
		if (json_is_object(v)) {
			out_open_object(k);
			out_ju64(v, "packets", "%" PRIu64);
			out_ju64(v, "bytes", " (%" PRIu64 " B)");
			out_close_object();
		} else {
			out_u64(k, "%" PRIu64, j_val_u64(v));
		}
	}
	if (!first)
		out_text("\n");
	out_close_object();
}

static void print_port_stats(json_t *p)
{
	out_jstr(p, "name", "%s");
	out_jstr(p, "kind", " (%s)\n");
	out_ju64(p, "rx_packets", "  rx     %" PRIu64 " packets");
	out_ju64(p, "rx_bytes", ", %" PRIu64 " bytes\n");
	out_ju64(p, "tx_packets", "  tx     %" PRIu64 " packets");
	out_ju64(p, "tx_bytes", ", %" PRIu64 " bytes\n");
	if (json_object_get(p, "guest_timeouts")) {
		/* VM ports: frames taken back at detach, reset or timeout. */
		out_ju64(p, "reclaimed", "  guest  %" PRIu64 " frames reclaimed");
		out_ju64(p, "guest_timeouts", ", %" PRIu64 " timeouts");
		out_ju64(p, "doorbells", ", %" PRIu64 " doorbells rung");
		out_ju64(p, "doorbell_gap_us", " (%" PRIu64 " us apart now)");
		out_ju64(p, "doorbell_hangups", ", %" PRIu64 " doorbell hang-ups");
		out_ju64(p, "header_repaired", ", header repaired %" PRIu64);
		/* Its guest's rings, those that woke the worker no more,
		 * and the times they came too fast (sw_idle.c). */
		out_ju64(p, "rings", ", rang %" PRIu64);
		out_ju64(p, "rings_coalesced", " (%" PRIu64 " coalesced");
		out_ju64(p, "bell_storm", ", bell storm %" PRIu64 ")");
		/* Times its region was found cut short (taken out). */
		out_ju64(p, "region_truncated", ", region truncated %" PRIu64 "\n");
	}
	print_counters("drops", "drops", json_object_get(p, "drops"));
	print_map("xdp", json_object_get(p, "xdp"));
	print_map("xsk", json_object_get(p, "xsk"));
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
		 cli_pct(busy, all), (double)all / 1e9, cli_pct(idle, all),
		 cli_pct(sleep, all), in ? (double)busy / (double)in : 0,
		 passes ? (double)in / (double)passes : 0);
}

static int cmd_stats(struct ctx *x, const struct args *a)
{
	bool clear = args_flag(a, "clear"), prom = args_flag(a, "prometheus");
	json_t *args, *res, *fr, *e, *sw;
	const char *k;
	size_t i;
	int err;

	if (prom && out_is_json())
		return args_usage_error("--prometheus and -j/-p exclude each other");
	args = json_object();
	if (a->npos)
		json_object_set_new(args, "port", json_string(a->pos[0]));
	if (clear)
		json_object_set_new(args, "clear", json_true());
	if ((err = cli_ask(x, "stats", args, &res)))
		return err;
	if (prom) {
		/* The frame audit too, over the same connection. */
		if (!(err = conn_request(&x->conn, "frames", NULL, &fr))) {
			prom_write(stdout, res, fr);
			fflush(stdout);
			json_decref(fr);
		}
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
	out_ju64(sw, "copies", "  copies %" PRIu64);
	/* In the JSON alone: it moves only under the copy baseline
	 * (handoff = "copy"), a benchmark's setting. */
	out_ju64(sw, "handoff_copies", NULL);
	out_ju64(sw, "vm_to_vm", ", vm_to_vm %" PRIu64);
	out_ju64(sw, "sleeps", ", slept %" PRIu64);
	out_ju64(sw, "doorbell_wakeups", " (%" PRIu64 " woken by a doorbell)");
	out_ju64(sw, "naps", ", napped %" PRIu64);
	out_ju64(sw, "poll_window_ns", ", polling window %" PRIu64 " ns");
	out_ju64(sw, "scrubbed_frames", ", scrubbed %" PRIu64 " frames");
	out_ju64(sw, "scrubbed_bytes", " (%" PRIu64 " bytes)\n");
	print_worker(sw);
	print_counters("drops", "drops", json_object_get(sw, "drops"));
	out_close_object();
	/* Copies into each pool from another, by reason. */
	out_open_object("pools");
	json_object_foreach(json_object_get(res, "pools"), k, e) {
		out_open_object(k);
		out_text("pool %s\n", k);
		out_ju64(e, "copies", "  copies %" PRIu64 " from other pools\n");
		print_counters("copies_by_reason", "by",
			       json_object_get(e, "copies_by_reason"));
		out_ju64(e, "scrubbed_frames", NULL);
		out_ju64(e, "scrubbed_bytes", NULL);
		out_close_object();
	}
	out_close_object();
	out_end();
	json_decref(res);
	return 0;
}

/* ---- fdb, frames ------------------------------------------------------ */

static int cmd_fdb(struct ctx *x, const struct args *a)
{
	json_t *res, *ents, *e, *age;
	char f1[16];
	size_t i;
	int err, pw;

	if ((err = cli_ask(x, "fdb", NULL, &res)))
		return err;
	ents = json_object_get(res, "entries");
	pw = j_width(ents, "port", 4);
	if (j_width(json_object_get(res, "uplinks"), "port", 4) > pw)
		pw = j_width(json_object_get(res, "uplinks"), "port", 4);
	snprintf(f1, sizeof(f1), "%%-%ds  ", pw);
	out_begin();
	out_text("%-17s  %4s  %-*s  %-7s  %s\n", "MAC", "VLAN", pw, "PORT",
		 "KIND", "AGE");
	out_open_array("entries");
	json_array_foreach(ents, i, e) {
		out_open_object(NULL);
		out_jstr(e, "mac", "%-17s  ");
		out_ju64(e, "vlan", "%4" PRIu64 "  ");
		out_str("port", f1, j_str(e, "port"));
		out_jstr(e, "kind", "%-7s  ");
		age = json_object_get(e, "age");
		if (json_is_number(age))
			out_double("age", "%.1fs\n", json_number_value(age));
		else
			out_null("age", "%s\n", "-");
		out_close_object();
	}
	out_close_array();
	/* Any other MAC: a VM's frame for it leaves by the VM's uplink. */
	out_open_array("uplinks");
	json_array_foreach(json_object_get(res, "uplinks"), i, e) {
		json_t *vms = json_object_get(e, "vms"), *n;
		size_t k;

		out_open_object(NULL);
		out_text("%-17s  %4s  ", "any other", "-");
		out_str("port", f1, j_str(e, "port"));
		out_bool("tunnel", "%-7s  ", j_bool(e, "tunnel"), "tunnel",
			 "uplink");
		out_ju64(e, "mtu", "mtu %" PRIu64);
		out_open_array("vms");
		json_array_foreach(vms, k, n)
			out_str(NULL, k ? ",%s" : ", from %s",
				json_string_value(n) ? json_string_value(n) : "");
		out_close_array();
		out_text("\n");
		out_close_object();
	}
	out_close_array();
	out_end();
	json_decref(res);
	return 0;
}

/* One pool's audit (frames' "pools"), in the same lines as the sums. */
static void print_audit(json_t *res)
{
	json_t *v;
	const char *k;

	out_ju64(res, "fill", "fill        %8" PRIu64 "\n");
	out_ju64(res, "tx", "tx          %8" PRIu64 "\n");
	out_ju64(res, "switch", "switch      %8" PRIu64);
	out_ju64(res, "free_list", "  (free list %" PRIu64 ")\n");
	out_open_object("vms");
	json_object_foreach(json_object_get(res, "vms"), k, v) {
		out_text("vm %-8s %8" PRIu64 "\n", k, j_val_u64(v));
		out_u64(k, NULL, j_val_u64(v));
	}
	out_close_object();
	out_ju64(res, "sum", "sum         %8" PRIu64);
	out_ju64(res, "total", " of %" PRIu64 "\n");
	out_bool("ok", NULL, j_bool(res, "ok"), "", "");
	out_jstr(res, "message", "%s\n");
}

static int cmd_frames(struct ctx *x, const struct args *a)
{
	json_t *res, *pools, *v;
	const char *k;
	bool ok;
	int err;

	if ((err = cli_ask(x, "frames", NULL, &res)))
		return err;
	ok = j_bool(res, "ok");
	pools = json_object_get(res, "pools");
	out_begin();
	/* Several pools: each one's audit, then the sums. */
	out_open_object("pools");
	json_object_foreach(pools, k, v) {
		if (json_object_size(pools) < 2 && !out_is_json())
			break;
		out_open_object(k);
		out_text("pool %s\n", k);
		print_audit(v);
		out_text("\n");
		out_close_object();
	}
	out_close_object();
	if (json_object_size(pools) > 1)
		out_text("all pools\n");
	print_audit(res);
	out_end();
	json_decref(res);
	return ok ? 0 : -EPROTO;
}

/* ---- vm add, vm del, set ---------------------------------------------- */

static int cmd_vm_add(struct ctx *x, const struct args *a)
{
	json_t *args = json_pack("{s:s}", "name", a->pos[0]), *res, *vm, *one;
	int nw, rw, err;

	opts_to_json(a, args);
	if ((err = cli_ask(x, "vm_add", args, &res)))
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

static int cmd_vm_del(struct ctx *x, const struct args *a)
{
	const char *name = a->pos[0];
	json_t *res;
	int err;

	if ((err = cli_ask(x, "vm_del", json_pack("{s:s}", "name", name), &res)))
		return err;
	out_begin();
	out_str("name", "removed VM %s", name);
	out_ju64(res, "reclaimed", ": %" PRIu64 " frames reclaimed\n");
	out_end();
	json_decref(res);
	return 0;
}

static int cmd_set(struct ctx *x, const struct args *a)
{
	json_t *args = json_object(), *res;
	int err;

	opts_to_json(a, args);
	if ((err = cli_ask(x, "set", args, &res)))
		return err;
	out_begin();
	print_settings(json_object_get(res, "switch"));
	out_end();
	json_decref(res);
	return 0;
}

/* ---- help, the table -------------------------------------------------- */

static int cmd_help(struct ctx *x, const struct args *a);

static const struct opt stats_opts[] = {
	{ "clear", 0, OPT_FLAG, .help =
	  "read the counters, then make them read as zero from\n"
	  "now on, for every client (root or control group)" },
	{ "prometheus", 0, OPT_FLAG, .help =
	  "print the counters and the frame audit in the\n"
	  "Prometheus text format, for node-exporter's textfile\n"
	  "collector" },
	{ 0 }
};

static const struct opt watch_opts[] = {
	{ "interval", 0, OPT_SECONDS, "S", .help =
	  "seconds between samples, 0.1 to 3600 (default 1)" },
	{ "count", 0, OPT_U64, "N", UINT32_MAX, .help =
	  "stop after N intervals (default: until q or Ctrl-C)" },
	{ 0 }
};

static const struct opt vm_add_opts[] = {
	{ "mac", 0, OPT_MAC, "MAC", .required = true,
	  .help = "the VM's MAC address" },
	{ "rings", 0, OPT_STR, "PATH",
	  .help = "the VM's ring region file (required unless --sealed)" },
	{ "sealed", 0, OPT_FLAG, .help =
	  "the region is a sealed memfd (it cannot be cut short\n"
	  "or grown), handed to QEMU only on the VM's doorbell;\n"
	  "no --rings, no --doorbell off" },
	{ "quota", 0, OPT_U64, "N", INT64_MAX,
	  .help = "frames the VM may hold (default 1024)" },
	{ "vlan", 0, OPT_U64, "N", 4094,
	  .help = "VLAN of the port, 0 for none (default 0)" },
	{ "ring-size", 0, OPT_U64, "N", 32768,
	  .help = "ring entries (default: the daemon's)" },
	{ "uplink", 0, OPT_STR, "IFACE",
	  .help = "interface for the VM's outgoing traffic" },
	{ "pool", 0, OPT_STR, "NAME", .help =
	  "the VM's pool, one of those the daemon started with\n"
	  "(pools are fixed at start; default: the only pool,\n"
	  "or the one named default)" },
	{ "doorbell", 0, OPT_STR, "PATH|off", .help =
	  "the VM's doorbell (ivshmem-server) socket, or off\n"
	  "(default: NAME.doorbell next to the control socket)" },
	{ "doorbell-usecs", 0, OPT_U64, "US", 100000, .help =
	  "least time between two doorbells to the sleeping\n"
	  "guest, 0 to 100000 (default: the daemon's)" },
	{ "allowed-macs", 0, OPT_STR, "MAC,...", .help =
	  "source MACs the guest may send with besides its\n"
	  "own, at most 8 (default none: frames from any\n"
	  "other source are dropped as spoofed)" },
	{ 0 }
};

static const struct opt set_opts[] = {
	{ "max-sleep-usecs", 0, OPT_U64, "US", 10000,
	  .help = "the worker's longest nap under light load,\n"
		  "0 to 10000 (0: it polls while traffic flows);\n"
		  "see max_sleep_usecs in flipswitch.conf(5)" },
	{ "idle", 0, OPT_STR, "adaptive|poll",
	  .help = "what the worker does when a pass finds nothing:\n"
		  "adaptive: polls while frames come closer than\n"
		  "poll_usecs, else blocks; poll: polls 256 passes;\n"
		  "see idle in flipswitch.conf(5)" },
	{ "poll-usecs", 0, OPT_U64, "US", 1000,
	  .help = "adaptive's longest polling after a frame,\n"
		  "0 to 1000 (0: block at once)" },
	{ 0 }
};

static const struct opt capture_opts[] = {
	{ "write", 'w', OPT_STR, "FILE", .required = true,
	  .help = "the pcap file to write" },
	{ "count", 0, OPT_U64, "N", INT64_MAX,
	  .help = "stop after N frames (default: until Ctrl-C)" },
	{ 0 }
};

const struct cmd cli_cmds[] = {
	{ "show", NULL, cmd_show,
	  .help = "Show the interfaces, the frame pool and the VMs." },
	{ "stats", NULL, cmd_stats, "[PORT]", NULL, 1, stats_opts,
	  "Show the counters of every port, or of PORT, and of the switch.",
	  "Text lists only the drop reasons that are not zero; -j lists all.\n", false },
	{ "watch", NULL, cmd_watch, NULL, NULL, 0, watch_opts,
	  "Show packets/s, bits/s and drops/s of every port, live.",
	  "On a terminal the view is redrawn in place and q quits; otherwise\n"
	  "one line per port is printed every interval.\n", false },
	{ "fdb", NULL, cmd_fdb,
	  .help = "Show the MAC table: MAC, VLAN, port, static or learned, age." },
	{ "frames", NULL, cmd_frames,
	  .help = "Audit the pool: frames held by each owner and their sum.",
	  .notes = "Exits 1 if the frames do not add up.\n" },
	{ "vm", "add", cmd_vm_add, "NAME", "the VM's name", 1, vm_add_opts,
	  "Add a VM port without a restart (root or control group).", NULL, false },
	{ "vm", "del", cmd_vm_del, "NAME", "the VM's name", 1, NULL,
	  "Remove a VM port and take back the frames it held.", NULL, false },
	{ "set", NULL, cmd_set, NULL, NULL, 0, set_opts,
	  "Change a switch-wide setting at run time (root or control group).",
	  "The change lasts until the daemon stops; the config file sets the\n"
	  "value it starts with.\n", .want_opt = true },
	{ "capture", NULL, cmd_capture, "PORT", "a port", 1, capture_opts,
	  "Capture the frames crossing PORT into a pcap file.",
	  "Needs root or the control group. Frames the capture could not keep\n"
	  "up with are counted as dropped; the data path never waits.\n", false },
	{ "ping", NULL, cmd_ping,
	  .help = "Check that flipswitchd answers, and print its protocol version." },
	{ "help", NULL, cmd_help, "[COMMAND]", NULL, 2,
	  .help = "Show this help, or the help of COMMAND." },
};

const size_t cli_ncmds = sizeof(cli_cmds) / sizeof(cli_cmds[0]);

void cli_usage(FILE *f)
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
		"  -h, --help  print this help, or the command's\n"
		"\n"
		"Options may stand anywhere, before or after the command and its\n"
		"arguments (\"stats -j\" and \"-j stats\" alike); \"--\" ends them.\n"
		"\n"
		"Commands:\n");
	for (i = 0; i < cli_ncmds; i++) {
		char name[32];

		snprintf(name, sizeof(name), "%s%s%s", cli_cmds[i].name,
			 cli_cmds[i].sub ? " " : "",
			 cli_cmds[i].sub ? cli_cmds[i].sub : "");
		fprintf(f, "  %-10s  %s\n", name, cli_cmds[i].help);
	}
	fprintf(f,
		"\n"
		"'" PROG " COMMAND --help' describes a command and its options.\n"
		"Exit status: 0 on success, 1 if flipswitchd or the connection\n"
		"failed (or frames found a leak), 2 for a usage error.\n");
}

void cli_help_for(FILE *f, const char *name)
{
	bool first = true;
	size_t i;

	for (i = 0; i < cli_ncmds; i++) {
		if (strcmp(cli_cmds[i].name, name))
			continue;
		if (!first)
			fputc('\n', f);
		first = false;
		args_cmd_help(f, &cli_cmds[i]);
	}
}

static int cmd_help(struct ctx *x, const struct args *a)
{
	const struct cmd *c;
	bool partial;

	if (!a->npos) {
		cli_usage(stdout);
		return 0;
	}
	c = args_find(cli_cmds, cli_ncmds, a->pos[0],
		      a->npos > 1 ? a->pos[1] : NULL, &partial);
	if (!c && !partial)
		return args_usage_error("there is no command \"%s\"", a->pos[0]);
	if (a->npos > (c && c->sub ? 2 : 1))
		return args_usage_error("help takes one command");
	if (c && c->sub)
		args_cmd_help(stdout, c);
	else
		cli_help_for(stdout, a->pos[0]);
	return 0;
}
