// SPDX-License-Identifier: MIT
/*
 * The control commands; see docs/control.md for each one's arguments and
 * reply.
 *
 * This file owns what a request means: ctl_handle_line parses one line
 * (jansson), finds the command in the table, checks its arguments and
 * the peer's privilege, and builds the result. It reads the switch only
 * through sw_snapshot (sw_snapshot.h) and changes it only by asking the
 * worker through the mailbox (switch.h), which also takes the frame audit
 * between batches. The connection a request came on is ctl.c's.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>

#include "fdstore.h"
#include "ctl_priv.h"
#include "sw_snapshot.h"
#include "log.h"
#include "nl.h"

static const char *const verdict_names[FS_XDP_NR_VERDICTS] = {
	[FS_XDP_REDIRECT] = "redirect",
	[FS_XDP_PASS_MCAST] = "pass_mcast",
	[FS_XDP_PASS_OTHER] = "pass_other",
	[FS_XDP_PASS_NOSOCK] = "pass_nosock",
	[FS_XDP_PASS_MALFORMED] = "pass_malformed",
};

static const char *const xsk_names[6] = {
	"rx_dropped", "rx_invalid_descs", "tx_invalid_descs", "rx_ring_full",
	"rx_fill_ring_empty_descs", "tx_ring_empty_descs",
};

/* A handler fills *result, or returns an error code and fills msg. */
struct req {
	struct ctl *c;
	json_t *id;         /* the request's, or NULL */
	json_t *args;
	int client;
	bool privileged;
	char msg[CTL_MSG_MAX];
};

typedef const char *(*handler_fn)(struct req *r, json_t **result);

static const char *err(struct req *r, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static const char *err(struct req *r, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	return code;
}

static void set_u64(json_t *o, const char *k, uint64_t v)
{
	json_object_set_new(o, k, json_integer((json_int_t)v));
}

static void mac_str(char b[18], const uint8_t m[6])
{
	snprintf(b, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
		 m[3], m[4], m[5]);
}

/* A fresh look at the switch (sw_snapshot.h), in the control's buffer:
 * valid until the next call. */
static const struct sw_snap *look(struct req *r)
{
	sw_snapshot(r->c->sw, r->c->snap);
	return r->c->snap;
}

static int find_nic(const struct sw_snap *s, const char *name)
{
	for (int i = 0; i < s->n_nics; i++)
		if (!strcmp(s->nic[i].cfg.name, name))
			return i;
	return -1;
}

static int find_vm(const struct sw_snap *s, const char *name)
{
	for (int i = 0; i < s->n_vms; i++)
		if (s->vm[i].active && !strcmp(s->vm[i].cfg.name, name))
			return i;
	return -1;
}

/* Optional string argument; NULL if absent, "" (with an error) if of the
 * wrong type. */
static const char *arg_str(struct req *r, const char *key, const char **code)
{
	json_t *v = json_object_get(r->args, key);

	if (!v)
		return NULL;
	if (!json_is_string(v)) {
		*code = err(r, FS_CTL_E_INVALID, "%s must be a string", key);
		return NULL;
	}
	return json_string_value(v);
}

static int arg_int(struct req *r, const char *key, long long def, long long lo,
		   long long hi, long long *out, const char **code)
{
	json_t *v = json_object_get(r->args, key);

	*out = def;
	if (!v)
		return 0;
	if (!json_is_integer(v)) {
		*code = err(r, FS_CTL_E_INVALID, "%s must be an integer", key);
		return -1;
	}
	*out = json_integer_value(v);
	if (*out < lo || *out > hi) {
		*code = err(r, FS_CTL_E_INVALID, "%s must be from %lld to %lld",
			    key, lo, hi);
		return -1;
	}
	return 0;
}

static json_t *vm_json(const struct sw_snap *s, int i)
{
	const struct sw_snap_vm *v = &s->vm[i];
	json_t *allowed = json_array();
	char mac[18];

	for (uint32_t k = 0; k < v->cfg.n_allowed_macs; k++) {
		mac_str(mac, v->cfg.allowed_macs[k]);
		json_array_append_new(allowed, json_string(mac));
	}
	mac_str(mac, v->cfg.mac);
	return json_pack("{s:s, s:s, s:i, s:s, s:s, s:b, s:b, s:I, s:I, s:s, s:s?, s:b, s:b, s:I, s:o}",
			 "name", v->cfg.name, "mac", mac, "vlan", v->cfg.vlan,
			 /* A sealed region has no path to show. */
			 "rings", v->cfg.sealed ? "(sealed memfd)" : v->cfg.rings,
			 "pool", s->pools[v->pool].name,
			 "attached", v->attached, "broken", v->broken,
			 "quota", (json_int_t)v->cfg.quota, "held",
			 (json_int_t)v->held, "uplink",
			 v->cfg.uplink < s->n_nics ?
				 s->nic[v->cfg.uplink].cfg.name : "",
			 "doorbell", v->cfg.doorbell[0] ? v->cfg.doorbell : NULL,
			 "doorbell_connected", v->db_live, "guest_rings",
			 v->rings_me, "doorbell_usecs",
			 (json_int_t)v->cfg.doorbell_usecs, "allowed_macs",
			 allowed);
}

static const char *cmd_ping(struct req *r, json_t **res)
{
	*res = json_pack("{s:s}", "version", FS_CTL_VERSION);
	return NULL;
}

/* The switch-wide settings: as in the config file; max_sleep_usecs,
 * idle and poll_usecs as set now. */
static json_t *settings_json(const struct sw_snap *s)
{
	return json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:s, s:I}", "batch",
			 (json_int_t)s->batch, "handoff",
			 s->handoff_copy ? "copy" : "zerocopy", "guest_timeout",
			 (json_int_t)s->guest_timeout, "doorbell_usecs",
			 (json_int_t)s->doorbell_usecs, "doorbell_max_usecs",
			 (json_int_t)s->doorbell_max_usecs, "max_sleep_usecs",
			 (json_int_t)s->max_sleep_usecs, "idle",
			 cfg_idle_name(s->idle), "poll_usecs",
			 (json_int_t)s->poll_usecs);
}

/* Pool k as show lists it: its file and geometry, its VMs, the queues
 * whose sockets are bound to it. ("queues" after "vms": the bash
 * completion splits show's JSON at these keys, and the next pool's name
 * must not land among VMs.) */
static json_t *pool_json(const struct sw_snap *s, int k)
{
	const struct sw_snap_pool *p = &s->pools[k];
	json_t *qs = json_array(), *vms = json_array();

	for (int i = 0; i < s->n_vms; i++)
		if (s->vm[i].active && s->vm[i].pool == k)
			json_array_append_new(vms, json_string(s->vm[i].cfg.name));
	for (int i = 0; i < s->n_nics; i++)
		for (uint32_t q = 0; q < s->nic[i].n_queues; q++)
			if (s->nic[i].qpool[q] == k)
				json_array_append_new(
					qs, json_pack("{s:s, s:i}", "interface",
						      s->nic[i].cfg.name, "queue",
						      (int)s->nic[i].qid[q]));
	return json_pack("{s:s, s:s, s:I, s:I, s:s, s:b, s:I, s:o, s:o}",
			 "name", p->name, "path", p->path, "frames",
			 (json_int_t)p->frames, "frame_size",
			 (json_int_t)p->frame_size, "scrub",
			 cfg_scrub_name(p->scrub), "hugetlb", p->hugetlb,
			 "free", (json_int_t)p->n_free, "vms", vms, "queues",
			 qs);
}

static const char *cmd_show(struct req *r, json_t **res)
{
	const struct sw_snap *s = look(r);
	json_t *ifs = json_array(), *vms = json_array(), *pools = json_array();

	for (int i = 0; i < s->n_nics; i++) {
		const struct sw_snap_nic *n = &s->nic[i];

		json_array_append_new(
			ifs,
			json_pack("{s:s, s:i, s:i, s:s, s:b, s:i, s:i, s:I, s:s, s:b, s:s?}",
				  "name", n->cfg.name, "ifindex",
				  (int)n->cfg.ifindex, "queues",
				  (int)n->n_queues, "xdp_mode",
				  n->xdp_flags == XDP_FLAGS_SKB_MODE ? "generic" :
								       "native",
				  "zerocopy", n->zerocopy, "prog_id",
				  (int)n->prog_id, "ring_size",
				  (int)n->cfg.ring_size, "mtu",
				  (json_int_t)n->mtu, "kind", n->kind, "tunnel",
				  n->tunnel, "publish_fdb",
				  n->publish_fdb[0] ? n->publish_fdb : NULL));
	}
	for (int i = 0; i < s->n_vms; i++)
		if (s->vm[i].active)
			json_array_append_new(vms, vm_json(s, i));
	for (int k = 0; k < s->n_pools; k++)
		json_array_append_new(pools, pool_json(s, k));
	/* "pool": the first pool, as before there were several. */
	*res = json_pack("{s:o, s:{s:s, s:I, s:I, s:s, s:b, s:I}, s:o, s:o, s:o}",
			 "interfaces", ifs, "pool", "path", s->pool_path,
			 "frames", (json_int_t)s->frames, "frame_size",
			 (json_int_t)s->frame_size, "scrub",
			 cfg_scrub_name(s->scrub), "hugetlb", s->hugetlb, "free",
			 (json_int_t)s->n_free, "pools", pools, "vms", vms,
			 "switch", settings_json(s));
	return NULL;
}

static json_t *drops_json(const char *const *names, const uint64_t *v, int n)
{
	json_t *o = json_object();

	for (int i = 0; i < n; i++)
		set_u64(o, names[i], v[i]);
	return o;
}

/* What every port's stats start with, NIC or VM. */
static json_t *port_head(const char *name, const char *kind,
			 uint64_t rx_packets, uint64_t rx_bytes,
			 uint64_t tx_packets, uint64_t tx_bytes)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "kind", json_string(kind));
	set_u64(o, "rx_packets", rx_packets);
	set_u64(o, "rx_bytes", rx_bytes);
	set_u64(o, "tx_packets", tx_packets);
	set_u64(o, "tx_bytes", tx_bytes);
	return o;
}

/* The kernel's AF_XDP counters of a NIC, in the order of xsk_names[]. */
static void xsk_values(const struct sw_snap_nic *n, uint64_t xs[6])
{
	const struct xdp_statistics *k = &n->xsk;

	xs[0] = k->rx_dropped;
	xs[1] = k->rx_invalid_descs;
	xs[2] = k->tx_invalid_descs;
	xs[3] = k->rx_ring_full;
	xs[4] = k->rx_fill_ring_empty_descs;
	xs[5] = k->tx_ring_empty_descs;
}

static json_t *nic_stats(const struct ctl *c, const struct sw_snap *s, int i)
{
	const struct sw_snap_nic *n = &s->nic[i];
	json_t *o, *xdp = json_object(), *xsk = json_object();
	uint64_t xs[6];

	o = port_head(n->cfg.name, "nic", n->st.rx_packets, n->st.rx_bytes,
		      n->st.tx_packets, n->st.tx_bytes);
	json_object_set_new(o, "drops", drops_json(port_drop_names,
						   n->st.drops, PORT_DROP_NR));
	for (int v = 0; v < FS_XDP_NR_VERDICTS; v++)
		json_object_set_new(xdp, verdict_names[v],
				    json_pack("{s:I, s:I}", "packets",
					      (json_int_t)n->xdp[v].packets,
					      "bytes",
					      (json_int_t)n->xdp[v].bytes));
	xsk_values(n, xs);
	for (int k = 0; k < 6; k++)
		set_u64(xsk, xsk_names[k], xs[k] - c->xsk_base[i][k]);
	json_object_set_new(o, "xdp", xdp);
	json_object_set_new(o, "xsk", xsk);
	return o;
}

static json_t *vm_stats(const struct sw_snap *s, int i)
{
	const struct vm_stats *st = &s->vm[i].st;
	json_t *o;

	o = port_head(s->vm[i].cfg.name, "vm", st->rx_packets, st->rx_bytes,
		      st->tx_packets, st->tx_bytes);
	set_u64(o, "reclaimed", st->reclaimed);
	set_u64(o, "guest_timeouts", st->timeouts);
	set_u64(o, "doorbells", st->irqs);
	set_u64(o, "doorbell_gap_us", s->vm[i].doorbell_gap_us);
	set_u64(o, "region_truncated", st->region_truncated);
	set_u64(o, "doorbell_hangups", st->hangups);
	set_u64(o, "header_repaired", st->hdr_repaired);
	set_u64(o, "rings", st->rings);
	set_u64(o, "rings_coalesced", st->rings_coalesced);
	set_u64(o, "bell_storm", st->bell_storm);
	json_object_set_new(o, "drops",
			    drops_json(vm_drop_names, st->drops, VM_DROP_NR));
	return o;
}

/* The worker zeroes its counters and the XDP program's; the kernel's
 * socket counters cannot be zeroed: what they say now is the new base. */
static int clear_counters(struct req *r)
{
	const struct sw_snap *s;

	if (ctl_mail(r->c, SW_MAIL_CLEAR, 0, 0, NULL, NULL))
		return -ETIMEDOUT;
	s = look(r);
	for (int i = 0; i < s->n_nics; i++)
		xsk_values(&s->nic[i], r->c->xsk_base[i]);
	return 0;
}

/* The worker's time since start (or the last clear), in ns, and the
 * frames it took in: OVS's pmd-stats-show, for one worker. */
static void worker_json(json_t *o, const struct sw_snap *s)
{
	set_u64(o, "packets", s->packets_in);
	set_u64(o, "busy_passes", s->busy_passes);
	set_u64(o, "busy_ns", s->busy_ns);
	set_u64(o, "idle_ns", s->idle_ns);
	set_u64(o, "sleep_ns", s->sleep_ns);
	set_u64(o, "naps", s->naps);
	set_u64(o, "poll_window_ns", s->poll_window_ns);
}

static const char *cmd_stats(struct req *r, json_t **res)
{
	const struct sw_snap *s = look(r);
	const char *code = NULL, *port = arg_str(r, "port", &code);
	json_t *clear = json_object_get(r->args, "clear"), *ports, *pools;
	int nic = -1, vm = -1;

	if (code)
		return code;
	if (clear && !json_is_boolean(clear))
		return err(r, FS_CTL_E_INVALID, "clear must be true or false");
	if (port && (nic = find_nic(s, port)) < 0 &&
	    (vm = find_vm(s, port)) < 0)
		return err(r, FS_CTL_E_NOT_FOUND,
			   "no port \"%s\" (flipswitchctl show lists them)", port);
	if (json_is_true(clear)) {
		if (!r->privileged)
			return err(r, FS_CTL_E_PERMISSION,
				   "only root or the control group may clear counters");
		if (clear_counters(r))
			return err(r, FS_CTL_E_INTERNAL,
				   "the worker did not answer: nothing was cleared");
		s = look(r);
	}
	ports = json_array();
	for (int i = 0; i < s->n_nics; i++)
		if (!port || i == nic)
			json_array_append_new(ports, nic_stats(r->c, s, i));
	for (int i = 0; i < s->n_vms; i++)
		if (s->vm[i].active && (!port || i == vm))
			json_array_append_new(ports, vm_stats(s, i));
	/* Per pool: the copies into it from other pools, by reason, and its
	 * scrubbing. */
	pools = json_object();
	for (int k = 0; k < s->n_pools; k++) {
		const struct sw_snap_pool *p = &s->pools[k];
		uint64_t all = 0;

		for (int w = 0; w < SW_COPY_NR; w++)
			all += p->copies[w];
		json_object_set_new(
			pools, p->name,
			json_pack("{s:I, s:o, s:I, s:I}", "copies", (json_int_t)all,
				  "copies_by_reason",
				  drops_json(sw_copy_names, p->copies, SW_COPY_NR),
				  "scrubbed_frames",
				  (json_int_t)p->scrubbed_frames, "scrubbed_bytes",
				  (json_int_t)p->scrubbed_bytes));
	}
	*res = json_pack("{s:f, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}}",
			 "time", ctl_now(), "ports", ports, "pools", pools,
			 "switch", "copies",
			 (json_int_t)s->copies, "handoff_copies",
			 (json_int_t)s->handoff_copies, "vm_to_vm",
			 (json_int_t)s->vm2vm, "sleeps", (json_int_t)s->sleeps,
			 "doorbell_wakeups", (json_int_t)s->bells,
			 "scrubbed_frames", (json_int_t)s->scrubbed_frames,
			 "scrubbed_bytes", (json_int_t)s->scrubbed_bytes,
			 "drops", drops_json(sw_drop_names, s->drops, SW_DROP_NR));
	worker_json(json_object_get(*res, "switch"), s);
	return NULL;
}

/* Where a frame from a VM to a MAC no VM has goes: its VM's uplink. One
 * entry per interface, with the VMs whose uplink it is. */
static json_t *uplinks_json(const struct sw_snap *s)
{
	json_t *a = json_array();

	for (int i = 0; i < s->n_nics; i++) {
		const struct sw_snap_nic *n = &s->nic[i];
		json_t *vms = json_array();

		for (int k = 0; k < s->n_vms; k++)
			if (s->vm[k].active && s->vm[k].cfg.uplink == i)
				json_array_append_new(
					vms, json_string(s->vm[k].cfg.name));
		json_array_append_new(
			a, json_pack("{s:s, s:b, s:I, s:o}", "port",
				     n->cfg.name, "tunnel", n->tunnel, "mtu",
				     (json_int_t)n->mtu, "vms", vms));
	}
	return a;
}

static const char *cmd_fdb(struct req *r, json_t **res)
{
	const struct sw_snap *s = look(r);
	json_t *a = json_array();

	for (uint32_t i = 0; i < s->n_fdb; i++) {
		const struct sw_snap_fdb *e = &s->fdb[i];
		char m[18];

		mac_str(m, e->mac);
		json_array_append_new(
			a, json_pack("{s:s, s:i, s:s, s:s, s:n}", "mac", m,
				     "vlan", (int)e->vlan, "port",
				     s->vm[e->vm].cfg.name, "kind",
				     e->kind == FDB_STATIC ? "static" : "learned",
				     "age"));
	}
	*res = json_pack("{s:o, s:o}", "entries", a, "uplinks",
			 uplinks_json(s));
	return NULL;
}

/* The worker audits at most this often (seconds): a request sooner is
 * answered with the last audit. Anyone may ask, and each audit walks every
 * frame in the worker's loop: asked in a loop, it held up the data path. */
#define CTL_FRAMES_EVERY 0.1

static const char *cmd_frames(struct req *r, json_t **res)
{
	const struct sw_frames_snap *a;
	const struct sw_snap *s;
	double now = ctl_now();
	json_t *vms, *pools;
	uint64_t sum = 0, total = 0, fill = 0, tx = 0, swn = 0, fl = 0;

	if (!r->c->frames_at || now - r->c->frames_at >= CTL_FRAMES_EVERY) {
		if (ctl_mail(r->c, SW_MAIL_FRAMES, 0, 0, NULL, NULL))
			return err(r, FS_CTL_E_INTERNAL,
				   "the worker did not answer");
		r->c->frames_at = now;
	}
	s = look(r);
	a = &s->audit;
	/* Each pool's audit, and at the top their sums (one pool: its own). */
	pools = json_object();
	vms = json_object();
	for (int k = 0; k < s->n_pools; k++) {
		json_t *pv = json_object();
		uint64_t psum = (uint64_t)a->pool[k].fill + a->pool[k].tx +
				a->pool[k].sw;

		for (int i = 0; i < s->n_vms; i++) {
			if (!s->vm[i].active || s->vm[i].pool != k)
				continue;
			psum += a->vm[i];
			set_u64(pv, s->vm[i].cfg.name, a->vm[i]);
			set_u64(vms, s->vm[i].cfg.name, a->vm[i]);
		}
		json_object_set_new(
			pools, s->pools[k].name,
			json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:b, s:s}",
				  "total", (json_int_t)s->pools[k].frames,
				  "fill", (json_int_t)a->pool[k].fill, "tx",
				  (json_int_t)a->pool[k].tx, "switch",
				  (json_int_t)a->pool[k].sw, "free_list",
				  (json_int_t)a->pool[k].free_list, "vms", pv,
				  "sum", (json_int_t)psum, "ok", a->pool[k].ok,
				  "message", a->pool[k].msg));
		total += s->pools[k].frames;
		fill += a->pool[k].fill;
		tx += a->pool[k].tx;
		swn += a->pool[k].sw;
		fl += a->pool[k].free_list;
		sum += psum;
	}
	*res = json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:b, s:s, s:o}",
			 "total", (json_int_t)total, "fill", (json_int_t)fill,
			 "tx", (json_int_t)tx, "switch", (json_int_t)swn,
			 "free_list", (json_int_t)fl, "vms", vms, "sum",
			 (json_int_t)sum, "ok", a->ok,
			 "message", a->ok ? a->pool[0].msg : a->msg,
			 "pools", pools);
	return NULL;
}

/* cfg_vm_check()'s report: the first mistake is the reply. */
static void vm_report(void *arg, const char *key, const char *msg)
{
	struct req *r = arg;

	if (!r->msg[0])
		snprintf(r->msg, sizeof(r->msg), "%s", msg);
}

/* An optional integer of any value: cfg_vm_check() says which it takes. */
static int arg_num(struct req *r, const char *key, long long *out, bool *has,
		   const char **code)
{
	*has = json_object_get(r->args, key) != NULL;
	return arg_int(r, key, 0, LLONG_MIN, LLONG_MAX, out, code);
}

/* publish_fdb: VM vm's (in slot slot) MAC into (add) or out of the
 * bridge fdb its uplink names, if it names one. */
static void publish(struct req *r, const struct cfg_vm *vm, int slot,
		    bool add)
{
	const struct sw_snap_nic *n = &look(r)->nic[vm->uplink];

	if (n->fdb_ifindex)
		nl_fdb_publish(n->fdb_ifindex, n->publish_fdb, n->fdb_vlans, vm,
			       slot, add);
}

/* allowed_macs: a JSON array of strings, or one string of MACs separated
 * by commas (flipswitchctl's --allowed-macs as typed), into buf and
 * out[] (at most max + 1, so that one too many is seen; *n counts them
 * all); cfg_vm_check() judges them. */
static const char *arg_macs(struct req *r, char *buf, size_t size,
			    const char *out[], int max, int *n)
{
	json_t *a = json_object_get(r->args, "allowed_macs"), *e;
	size_t i;
	char *save = NULL, *tok;

	*n = 0;
	if (!a)
		return NULL;
	if (json_is_array(a)) {
		json_array_foreach(a, i, e) {
			if (!json_is_string(e))
				return err(r, FS_CTL_E_INVALID,
					   "allowed_macs must hold strings, like \"52:54:00:12:34:56\"");
			if (*n <= max)
				out[*n] = json_string_value(e);
			++*n;
		}
		return NULL;
	}
	if (!json_is_string(a) ||
	    snprintf(buf, size, "%s", json_string_value(a)) >= (int)size)
		return err(r, FS_CTL_E_INVALID,
			   "allowed_macs must be a list of MACs, like 52:54:00:12:34:56,52:54:00:12:34:57");
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (*n <= max)
			out[*n] = tok;
		++*n;
	}
	return NULL;
}

/* VM slot's flow steering rule on its uplink, if that steers. 0 or
 * -errno (the reason logged). */
static int steer_add(struct req *r, int slot, const struct cfg_vm *cv)
{
	struct sw *sw = r->c->sw;

	if (sw->cfg->ifaces[cv->uplink].steer != CFG_STEER_NTUPLE)
		return 0;
	return steer_vm_add(&sw->steer[cv->uplink], slot, cv->mac, cv->vlan,
			    port_steer_queue(&sw->ports[cv->uplink],
					     (uint32_t)slot));
}

static const char *cmd_vm_add(struct req *r, json_t **res)
{
	const struct sw_snap *s = look(r);
	/* The config the switch started with: read-only from then on. */
	const struct cfg *cfg = r->c->sw->cfg;
	const char *code = NULL, *name, *mac, *rings, *uplink, *doorbell, *pool;
	struct cfg_vm_spec sp = { 0 };
	json_t *sealed;
	const char *macs[CFG_MAX_ALLOWED_MACS + 1];
	char macbuf[(CFG_MAX_ALLOWED_MACS + 1) * 18 + 1];
	struct cfg_vm cv;
	struct vmport *v;
	int slot = -1, err2;
	int64_t rc;

	if (!r->privileged)
		return err(r, FS_CTL_E_PERMISSION,
			   "only root or the control group may add VMs");
	name = arg_str(r, "name", &code);
	mac = arg_str(r, "mac", &code);
	rings = arg_str(r, "rings", &code);
	uplink = arg_str(r, "uplink", &code);
	doorbell = arg_str(r, "doorbell", &code);
	sp.doorbell_peer = arg_str(r, "doorbell_peer", &code);
	pool = arg_str(r, "pool", &code);
	if (code)
		return code;
	if (!name || !mac)
		return err(r, FS_CTL_E_INVALID, "vm_add needs name and mac");
	sealed = json_object_get(r->args, "sealed");
	if (sealed && !json_is_boolean(sealed))
		return err(r, FS_CTL_E_INVALID, "sealed must be true or false");
	sp.sealed = json_is_true(sealed);
	if (arg_num(r, "quota", &sp.quota, &sp.has_quota, &code) ||
	    arg_num(r, "vlan", &sp.vlan, &sp.has_vlan, &code) ||
	    arg_num(r, "ring_size", &sp.ring_size, &sp.has_ring_size, &code) ||
	    arg_num(r, "doorbell_usecs", &sp.doorbell_usecs,
		    &sp.has_doorbell_usecs, &code) ||
	    arg_num(r, "flood_rate", &sp.flood_rate, &sp.has_flood_rate,
		    &code) ||
	    arg_num(r, "flood_burst", &sp.flood_burst, &sp.has_flood_burst,
		    &code))
		return code;
	if ((code = arg_macs(r, macbuf, sizeof(macbuf), macs,
			     CFG_MAX_ALLOWED_MACS, &sp.n_allowed_macs)))
		return code;
	sp.allowed_macs = macs;
	sp.name = name;
	sp.mac = mac;
	sp.rings = rings;
	sp.doorbell = doorbell;
	sp.pool = pool; /* one of those made at start: they are fixed */
	/* The same rule as the config file's. */
	if (cfg_vm_check(&sp, cfg, &cv, vm_report, r) ||
	    cfg_vm_finish(&cv, cfg, vm_report, r))
		return FS_CTL_E_INVALID;
	if (uplink && (cv.uplink = find_nic(s, uplink)) < 0)
		return err(r, FS_CTL_E_NOT_FOUND, "uplink \"%s\" is not an interface of this switch",
			   uplink);
	for (int i = 0; i < s->n_vms; i++) {
		const struct sw_snap_vm *o = &s->vm[i];

		if (!o->active) {
			if (slot < 0)
				slot = i;
			continue;
		}
		if (cfg_vm_conflict(&cv, &o->cfg, 0, vm_report, r))
			return FS_CTL_E_EXISTS;
	}
	if (slot < 0)
		slot = s->n_vms;
	if (slot >= CFG_MAX_VMS)
		return err(r, FS_CTL_E_INVALID, "the switch has %d VMs, its most",
			   CFG_MAX_VMS);
	/* Its flow steering rule first: a NIC that refuses it refuses the
	 * VM. The steering rules are this thread's (switch.h); the queue a
	 * port picks is fixed since start. */
	if (steer_add(r, slot, &cv))
		return err(r, FS_CTL_E_INTERNAL, "the NIC %s refuses a flow steering rule for the VM (the daemon's log says why)",
			   s->nic[cv.uplink].cfg.name);
	v = vmport_alloc(1);
	if (!v) {
		steer_vm_del(&r->c->sw->steer[cv.uplink], slot);
		return err(r, FS_CTL_E_INTERNAL, "out of memory");
	}
	/* The pool's geometry, fixed at start, is all it reads of it; the
	 * worker links the VM to the pool. */
	err2 = vmport_create(v, &cv, slot, &r->c->sw->pools[cv.pool]);
	if (err2) {
		free(v);
		steer_vm_del(&r->c->sw->steer[cv.uplink], slot);
		return err(r, FS_CTL_E_INTERNAL, "cannot create %s: %s", rings,
			   strerror(-err2));
	}
	/* The doorbell is served before the VM is linked, so that the VM
	 * the worker gets says whether it has one; no guest is accepted on
	 * it before this handler returns (one thread). */
	if (v->cfg.doorbell[0] &&
	    ctl_db_open(r->c, slot, name, v->cfg.doorbell,
			&(struct doorbell_fds){ v->fd, v->bell_fd, v->irq_fd },
			v->cfg.doorbell_peer)) {
		log_warn("vm %s: runs without a doorbell", name);
		v->cfg.doorbell[0] = '\0'; /* show says so */
	}
	/* The worker links it and enters it in the MAC tables, the XDP
	 * program's last; rc < 0: it could not, and nothing changed. */
	if (ctl_mail(r->c, SW_MAIL_VM_ADD, slot, 0, v, &rc) || rc) {
		ctl_db_close(r->c, slot);
		vmport_unmap(v);
		fdstore_forget_vm(name);
		free(v);
		steer_vm_del(&r->c->sw->steer[cv.uplink], slot);
		return err(r, FS_CTL_E_INTERNAL, "the worker could not add the VM");
	}
	free(v); /* the worker copied it into its slot */
	r->c->frames_at = 0; /* the next audit has it */
	publish(r, &cv, slot, true);
	log_info("vm %s: added at run time", name);
	*res = json_pack("{s:o}", "vm", vm_json(look(r), slot));
	return NULL;
}

static const char *cmd_vm_del(struct req *r, json_t **res)
{
	const char *code = NULL, *name = arg_str(r, "name", &code);
	struct cfg_vm vc;
	struct vmport *v;
	int64_t n = 0;
	int i;

	if (!r->privileged)
		return err(r, FS_CTL_E_PERMISSION,
			   "only root or the control group may delete VMs");
	if (code)
		return code;
	if (!name)
		return err(r, FS_CTL_E_INVALID, "vm_del needs a name");
	i = find_vm(look(r), name);
	if (i < 0)
		return err(r, FS_CTL_E_NOT_FOUND,
			   "no vm \"%s\" (flipswitchctl show lists them)", name);
	vc = look(r)->vm[i].cfg; /* publish() takes the snapshot again */
	publish(r, &vc, i, false);
	v = vmport_alloc(1);
	if (!v)
		return err(r, FS_CTL_E_INTERNAL, "out of memory");
	/* The worker takes it out of the MAC tables (the XDP program's
	 * first), unlinks it, takes its frames back, stops ringing its
	 * guest, and hands the VM port over in *v: from then on it is this
	 * thread's to unmap. */
	if (ctl_mail(r->c, SW_MAIL_VM_DEL, i, 0, v, &n)) {
		free(v);
		return err(r, FS_CTL_E_INTERNAL, "the worker did not answer");
	}
	ctl_db_close(r->c, i);
	vmport_unmap(v);
	/* Its fds leave the store with it (fdstore.h). */
	fdstore_forget_vm(name);
	free(v);
	/* Its steering rule, on whichever port has one for its slot. */
	for (int p = 0; p < look(r)->n_nics; p++)
		steer_vm_del(&r->c->sw->steer[p], i);
	r->c->frames_at = 0;
	log_info("vm %s: deleted at run time, %lld frames taken back", name,
		 (long long)n);
	*res = json_pack("{s:I}", "reclaimed", (json_int_t)n);
	return NULL;
}

static const char *cmd_capture(struct req *r, json_t **res)
{
	struct ctl *c = r->c;
	const struct sw_snap *s = look(r);
	const char *code = NULL, *port = arg_str(r, "port", &code);
	long long count;
	int nic = -1, vm = -1;
	struct ctl_client *cl;
	size_t ids_len;
	char *ids;

	if (!r->privileged)
		return err(r, FS_CTL_E_PERMISSION,
			   "only root or the control group may capture traffic");
	/* Every frame line carries the id (ctl_client.cap_id): a longer one
	 * was cut there, and the lines were not JSON. */
	ids = json_dumps(r->id ? r->id : json_null(),
			 JSON_COMPACT | JSON_ENCODE_ANY);
	ids_len = ids ? strlen(ids) : 0;
	if (!ids_len || ids_len >= sizeof(c->client[0].cap_id)) {
		free(ids);
		return err(r, FS_CTL_E_INVALID,
			   "a capture's id may be at most %zu characters of JSON",
			   sizeof(c->client[0].cap_id) - 1);
	}
	if (code || arg_int(r, "count", 0, 0, LLONG_MAX, &count, &code)) {
		free(ids);
		return code;
	}
	if (!port)
		code = err(r, FS_CTL_E_INVALID, "capture needs a port");
	else if ((nic = find_nic(s, port)) < 0 && (vm = find_vm(s, port)) < 0)
		code = err(r, FS_CTL_E_NOT_FOUND,
			   "no port \"%s\" (flipswitchctl show lists them)", port);
	else if (r->client < 0)
		code = err(r, FS_CTL_E_INVALID, "capture needs a connection");
	else if (c->capture_client >= 0)
		code = err(r, FS_CTL_E_EXISTS, "another capture is running");
	if (code) {
		free(ids);
		return code;
	}
	cl = &c->client[r->client];
	/* Every frame line and the result carry it. */
	memcpy(cl->cap_id, ids, ids_len + 1);
	free(ids);
	/* The ring is quiet (no port is tapped): start it empty. */
	sw_cap_cons_reset(c->sw);
	cl->cap_dropped0 = sw_cap_dropped(c->sw);
	cl->cap_want = (uint64_t)count;
	cl->cap_got = 0;
	cl->capturing = true;
	c->capture_client = r->client;
	if (ctl_mail(c, SW_MAIL_CAPTURE, nic, vm, NULL, NULL)) {
		cl->capturing = false;
		c->capture_client = -1;
		return err(r, FS_CTL_E_INTERNAL, "the worker did not answer");
	}
	*res = NULL; /* frames, then the result, come from the capture loop */
	return NULL;
}

/* Changes switch-wide settings at run time: max_sleep_usecs (OVS's
 * ovs-vsctl set ... other_config:pmd-sleep-max), idle and poll_usecs. All
 * are checked before any is changed; the worker takes each request
 * between passes. */
static const char *cmd_set(struct req *r, json_t **res)
{
	const char *code = NULL, *key, *idle;
	long long usecs = 0, poll;
	int mode;
	json_t *v;

	if (!r->privileged)
		return err(r, FS_CTL_E_PERMISSION,
			   "only root or the control group may change settings");
	json_object_foreach(r->args, key, v)
		if (strcmp(key, "max_sleep_usecs") && strcmp(key, "idle") &&
		    strcmp(key, "poll_usecs"))
			return err(r, FS_CTL_E_INVALID,
				   "set: unknown setting \"%s\" (allowed: max_sleep_usecs, idle, poll_usecs)",
				   key);
	if (!json_object_size(r->args))
		return err(r, FS_CTL_E_INVALID,
			   "set needs max_sleep_usecs, idle or poll_usecs");
	if (json_object_get(r->args, "max_sleep_usecs") &&
	    arg_int(r, "max_sleep_usecs", 0, 0, CFG_MAX_SLEEP_USECS, &usecs,
		    &code))
		return code;
	idle = arg_str(r, "idle", &code);
	if (code)
		return code;
	mode = idle ? cfg_idle_parse(idle) : (int)look(r)->idle;
	if (mode < 0)
		return err(r, FS_CTL_E_INVALID,
			   "idle \"%s\" is not one of \"adaptive\", \"poll\"", idle);
	if (arg_int(r, "poll_usecs", look(r)->poll_usecs, 0,
		    CFG_POLL_USECS_MAX, &poll, &code))
		return code;
	if (json_object_get(r->args, "max_sleep_usecs")) {
		if (ctl_mail(r->c, SW_MAIL_SET_SLEEP, (int)usecs, 0, NULL, NULL))
			return err(r, FS_CTL_E_INTERNAL,
				   "the worker did not answer: max_sleep_usecs is as it was");
		log_info("max_sleep_usecs set to %lld", usecs);
	}
	if (idle || json_object_get(r->args, "poll_usecs")) {
		if (ctl_mail(r->c, SW_MAIL_SET_IDLE, mode, (int)poll, NULL,
			     NULL))
			return err(r, FS_CTL_E_INTERNAL,
				   "the worker did not answer: idle and poll_usecs are as they were");
		log_info("idle set to %s, poll_usecs to %lld",
			 cfg_idle_name((enum cfg_idle)mode), poll);
	}
	*res = json_pack("{s:o}", "switch", settings_json(look(r)));
	return NULL;
}

static const struct {
	const char *name;
	handler_fn fn;
} commands[] = {
	{ "ping", cmd_ping },	  { "show", cmd_show },
	{ "stats", cmd_stats },	  { "fdb", cmd_fdb },
	{ "frames", cmd_frames }, { "vm_add", cmd_vm_add },
	{ "vm_del", cmd_vm_del }, { "capture", cmd_capture },
	{ "set", cmd_set },
};

char *ctl_handle_line(struct ctl *c, const char *line, size_t len, uid_t uid,
		      gid_t gid, int client)
{
	struct req r = { .c = c, .client = client };
	json_t *req, *id, *cmd, *result = NULL;
	const char *code = NULL, *name;
	json_error_t jerr;
	char *out;
	size_t i;

	r.privileged = ctl_peer_privileged(c, uid, gid);
	req = json_loadb(line, len, 0, &jerr);
	if (!req)
		return ctl_reply_line(NULL, NULL, FS_CTL_E_PARSE, jerr.text);
	id = r.id = json_object_get(req, "id");
	cmd = json_object_get(req, "cmd");
	r.args = json_object_get(req, "args");
	if (!json_is_object(req) || !json_is_string(cmd)) {
		out = ctl_reply_line(id, NULL, FS_CTL_E_INVALID,
				 "a request is an object with a string \"cmd\"");
		goto out;
	}
	if (r.args && !json_is_object(r.args)) {
		out = ctl_reply_line(id, NULL, FS_CTL_E_INVALID,
				 "\"args\" must be an object");
		goto out;
	}
	if (!r.args)
		r.args = json_object(), json_object_set_new(req, "args", r.args);
	name = json_string_value(cmd);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			break;
	if (i == sizeof(commands) / sizeof(commands[0])) {
		snprintf(r.msg, sizeof(r.msg),
			 "unknown command \"%.64s\" (ping, show, stats, fdb, frames, vm_add, vm_del, set, capture)",
			 name);
		out = ctl_reply_line(id, NULL, FS_CTL_E_UNKNOWN, r.msg);
		goto out;
	}
	code = commands[i].fn(&r, &result);
	/* No result and no error: a capture, whose frames and result
	 * follow from ctl.c's capture loop. */
	out = code || result ? ctl_reply_line(id, result, code, r.msg) : NULL;
out:
	json_decref(req);
	return out;
}

