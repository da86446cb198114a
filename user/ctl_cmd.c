// SPDX-License-Identifier: MIT
/*
 * The control commands; see docs/control.md for each one's arguments and
 * reply.
 *
 * This file owns what a request means: ctl_handle_line parses one line
 * (jansson), finds the command in the table, checks its arguments and
 * the peer's privilege, and builds the result. Reads of the worker's state
 * are relaxed atomic loads of values only the worker writes; anything
 * that changes the switch, and the frame audit (which must be taken
 * between batches), goes through the mailbox (switch.h). The connection a
 * request came on is ctl.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flipswitch.skel.h"
#include "ctl_priv.h"
#include "log.h"

#define RD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

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

static int find_nic(struct sw *sw, const char *name)
{
	for (int i = 0; i < sw->n_ports; i++)
		if (!strcmp(sw->ports[i].cfg.name, name))
			return i;
	return -1;
}

static int find_vm(struct sw *sw, const char *name)
{
	for (int i = 0; i < sw->n_vms; i++)
		if (sw->vms[i].active && !strcmp(sw->vms[i].cfg.name, name))
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

static json_t *vm_json(struct sw *sw, const struct vmport *v)
{
	char mac[18];

	mac_str(mac, v->cfg.mac);
	return json_pack("{s:s, s:s, s:i, s:s, s:b, s:I, s:I, s:s, s:s?, s:b, s:b, s:I}",
			 "name", v->cfg.name, "mac", mac, "vlan", v->cfg.vlan,
			 "rings", v->cfg.rings, "attached", RD(v->attached),
			 "quota", (json_int_t)v->cfg.quota, "held",
			 (json_int_t)RD(sw->pool.count[v->owner]), "uplink",
			 v->cfg.uplink < sw->n_ports ?
				 sw->ports[v->cfg.uplink].cfg.name : "",
			 "doorbell", v->cfg.doorbell[0] ? v->cfg.doorbell : NULL,
			 "doorbell_connected", RD(v->db_live) != 0,
			 "guest_rings", RD(v->rings_me), "doorbell_usecs",
			 (json_int_t)v->cfg.doorbell_usecs);
}

static const char *cmd_ping(struct req *r, json_t **res)
{
	*res = json_pack("{s:s}", "version", FS_CTL_VERSION);
	return NULL;
}

/* The switch-wide settings: as in the config file, max_sleep_usecs as
 * set now. */
static json_t *settings_json(struct sw *sw)
{
	return json_pack("{s:I, s:s, s:I, s:I, s:I}", "batch",
			 (json_int_t)sw->batch, "handoff",
			 sw->handoff_copy ? "copy" : "zerocopy", "guest_timeout",
			 (json_int_t)sw->cfg->guest_timeout, "doorbell_usecs",
			 (json_int_t)sw->cfg->doorbell_usecs, "max_sleep_usecs",
			 (json_int_t)RD(sw->max_nap_us));
}

static const char *cmd_show(struct req *r, json_t **res)
{
	struct sw *sw = r->c->sw;
	json_t *ifs = json_array(), *vms = json_array();

	for (int i = 0; i < sw->n_ports; i++) {
		struct port *pt = &sw->ports[i];

		json_array_append_new(
			ifs,
			json_pack("{s:s, s:i, s:i, s:s, s:b, s:i, s:i}", "name",
				  pt->cfg.name, "ifindex", (int)pt->cfg.ifindex,
				  "queues", (int)pt->n_queues, "xdp_mode",
				  pt->xdp_flags == XDP_FLAGS_SKB_MODE ? "generic" :
									"native",
				  "zerocopy", pt->zerocopy, "prog_id",
				  (int)pt->prog_id, "ring_size",
				  (int)pt->cfg.ring_size));
	}
	for (int i = 0; i < sw->n_vms; i++)
		if (sw->vms[i].active)
			json_array_append_new(vms, vm_json(sw, &sw->vms[i]));
	*res = json_pack("{s:o, s:{s:s, s:I, s:I, s:s, s:b, s:I}, s:o, s:o}",
			 "interfaces", ifs, "pool", "path", sw->pool.path,
			 "frames", (json_int_t)sw->pool.frames, "frame_size",
			 (json_int_t)sw->pool.frame_size, "scrub",
			 cfg_scrub_name(sw->pool.scrub.mode), "hugetlb",
			 sw->pool.hugetlb, "free",
			 (json_int_t)RD(sw->pool.n_free), "vms", vms,
			 "switch", settings_json(sw));
	return NULL;
}

static json_t *drops_json(const char *const *names, const uint64_t *v, int n)
{
	json_t *o = json_object();

	for (int i = 0; i < n; i++)
		set_u64(o, names[i], RD(v[i]));
	return o;
}

/* What every port's stats start with, NIC or VM. */
static void port_head(json_t *o, const char *name, const char *kind,
		      const uint64_t *rx_packets, const uint64_t *rx_bytes,
		      const uint64_t *tx_packets, const uint64_t *tx_bytes)
{
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "kind", json_string(kind));
	set_u64(o, "rx_packets", RD(*rx_packets));
	set_u64(o, "rx_bytes", RD(*rx_bytes));
	set_u64(o, "tx_packets", RD(*tx_packets));
	set_u64(o, "tx_bytes", RD(*tx_bytes));
}

static json_t *nic_stats(struct ctl *c, int i)
{
	struct port *pt = &c->sw->ports[i];
	struct fs_xdp_counter xc[FS_XDP_NR_VERDICTS] = { 0 };
	struct xdp_statistics s;
	json_t *o = json_object(), *xdp = json_object(), *xsk = json_object();

	port_xsk_stats(pt, &s);
	/* In the order of xsk_names[]. */
	uint64_t xs[6] = { s.rx_dropped, s.rx_invalid_descs, s.tx_invalid_descs,
			   s.rx_ring_full, s.rx_fill_ring_empty_descs,
			   s.tx_ring_empty_descs };

	port_xdp_counters(pt, xc);
	port_head(o, pt->cfg.name, "nic", &pt->st.rx_packets, &pt->st.rx_bytes,
		  &pt->st.tx_packets, &pt->st.tx_bytes);
	json_object_set_new(o, "drops", drops_json(port_drop_names,
						   pt->st.drops, PORT_DROP_NR));
	for (int v = 0; v < FS_XDP_NR_VERDICTS; v++)
		json_object_set_new(xdp, verdict_names[v],
				    json_pack("{s:I, s:I}", "packets",
					      (json_int_t)xc[v].packets, "bytes",
					      (json_int_t)xc[v].bytes));
	for (int k = 0; k < 6; k++)
		set_u64(xsk, xsk_names[k], xs[k] - c->xsk_base[i][k]);
	json_object_set_new(o, "xdp", xdp);
	json_object_set_new(o, "xsk", xsk);
	return o;
}

static json_t *vm_stats(struct sw *sw, int i)
{
	struct vmport *v = &sw->vms[i];
	json_t *o = json_object();

	port_head(o, v->cfg.name, "vm", &v->st.rx_packets, &v->st.rx_bytes,
		  &v->st.tx_packets, &v->st.tx_bytes);
	set_u64(o, "reclaimed", RD(v->st.reclaimed));
	set_u64(o, "guest_timeouts", RD(v->st.timeouts));
	set_u64(o, "doorbells", RD(v->st.irqs));
	json_object_set_new(o, "drops",
			    drops_json(vm_drop_names, v->st.drops, VM_DROP_NR));
	return o;
}

static void clear_counters(struct ctl *c)
{
	struct sw *sw = c->sw;
	int ncpu = libbpf_num_possible_cpus();
	struct fs_xdp_counter *zero = calloc(ncpu > 0 ? ncpu : 1, sizeof(*zero));

	sw_mail_call(sw, SW_MAIL_CLEAR, 0, 0, NULL, NULL, CTL_MAIL_TIMEOUT_MS);
	for (int i = 0; i < sw->n_ports; i++) {
		struct port *pt = &sw->ports[i];
		json_t *cur = nic_stats(c, i), *xsk = json_object_get(cur, "xsk");

		for (int k = 0; k < 6; k++)
			c->xsk_base[i][k] += (uint64_t)json_integer_value(
				json_object_get(xsk, xsk_names[k]));
		json_decref(cur);
		for (uint32_t v = 0; zero && v < FS_XDP_NR_VERDICTS; v++)
			bpf_map_update_elem(bpf_map__fd(pt->skel->maps.counters),
					    &v, zero, BPF_ANY);
	}
	free(zero);
}

/* The worker's time since start (or the last clear), in ns, and the
 * frames it took in: OVS's pmd-stats-show, for one worker. */
static void worker_json(json_t *o, struct sw *sw)
{
	const struct ticks *k = &sw->ticks;

	set_u64(o, "packets", sw_packets_in(sw));
	set_u64(o, "busy_passes", RD(sw->busy_passes));
	set_u64(o, "busy_ns", ticks_ns(k, RD(sw->busy_ticks)));
	set_u64(o, "idle_ns", ticks_ns(k, RD(sw->idle_ticks)));
	set_u64(o, "sleep_ns", ticks_ns(k, RD(sw->sleep_ticks)));
	set_u64(o, "naps", RD(sw->naps));
}

static const char *cmd_stats(struct req *r, json_t **res)
{
	struct sw *sw = r->c->sw;
	const char *code = NULL, *port = arg_str(r, "port", &code);
	json_t *clear = json_object_get(r->args, "clear"), *ports;
	int nic = -1, vm = -1;

	if (code)
		return code;
	if (clear && !json_is_boolean(clear))
		return err(r, FS_CTL_E_INVALID, "clear must be true or false");
	if (port && (nic = find_nic(sw, port)) < 0 &&
	    (vm = find_vm(sw, port)) < 0)
		return err(r, FS_CTL_E_NOT_FOUND,
			   "no port \"%s\" (flipswitchctl show lists them)", port);
	if (json_is_true(clear)) {
		if (!r->privileged)
			return err(r, FS_CTL_E_PERMISSION,
				   "only root or the control group may clear counters");
		clear_counters(r->c);
	}
	ports = json_array();
	for (int i = 0; i < sw->n_ports; i++)
		if (!port || i == nic)
			json_array_append_new(ports, nic_stats(r->c, i));
	for (int i = 0; i < sw->n_vms; i++)
		if (sw->vms[i].active && (!port || i == vm))
			json_array_append_new(ports, vm_stats(sw, i));
	*res = json_pack("{s:f, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}}",
			 "time", ctl_now(), "ports", ports, "switch", "copies",
			 (json_int_t)RD(sw->copies), "handoff_copies",
			 (json_int_t)RD(sw->handoff_copies), "vm_to_vm",
			 (json_int_t)RD(sw->vm2vm), "sleeps",
			 (json_int_t)RD(sw->sleeps), "doorbell_wakeups",
			 (json_int_t)RD(sw->bells), "scrubbed_frames",
			 (json_int_t)RD(sw->pool.scrub.frames),
			 "scrubbed_bytes", (json_int_t)RD(sw->pool.scrub.bytes),
			 "drops", drops_json(sw_drop_names, sw->drops, SW_DROP_NR));
	worker_json(json_object_get(*res, "switch"), sw);
	return NULL;
}

static const char *cmd_fdb(struct req *r, json_t **res)
{
	struct sw *sw = r->c->sw;
	json_t *a = json_array();

	/* The table changes only inside a mailbox call, which this thread
	 * makes itself: it cannot change under this walk. */
	for (uint32_t i = 0; i <= sw->fdb.mask; i++) {
		const struct fdb_entry *e = &sw->fdb.slot[i];
		uint8_t mac[6];
		char m[18];

		if (!e->key)
			continue;
		for (int b = 0; b < 6; b++)
			mac[b] = (uint8_t)(e->key >> (40 - 8 * b));
		mac_str(m, mac);
		json_array_append_new(
			a, json_pack("{s:s, s:i, s:s, s:s, s:n}", "mac", m,
				     "vlan", (int)((e->key >> 48) & 0xfff), "port",
				     sw->vms[e->port].cfg.name, "kind",
				     e->kind == FDB_STATIC ? "static" : "learned",
				     "age"));
	}
	*res = json_pack("{s:o}", "entries", a);
	return NULL;
}

/* The worker audits at most this often (seconds): a request sooner is
 * answered with the last audit. Anyone may ask, and each audit walks every
 * frame in the worker's loop: asked in a loop, it held up the data path. */
#define CTL_FRAMES_EVERY 0.1

static const char *cmd_frames(struct req *r, json_t **res)
{
	struct sw *sw = r->c->sw;
	struct sw_frames_snap *s = &sw->snap;
	double now = ctl_now();
	json_t *vms;
	uint64_t sum;

	if (!r->c->frames_at || now - r->c->frames_at >= CTL_FRAMES_EVERY) {
		if (sw_mail_call(sw, SW_MAIL_FRAMES, 0, 0, NULL, NULL,
				 CTL_MAIL_TIMEOUT_MS))
			return err(r, FS_CTL_E_INTERNAL,
				   "the worker did not answer");
		r->c->frames_at = now;
	}
	vms = json_object();
	sum = (uint64_t)s->fill + s->tx + s->sw;
	for (int i = 0; i < sw->n_vms; i++) {
		sum += s->vm[i];
		if (sw->vms[i].active)
			set_u64(vms, sw->vms[i].cfg.name, s->vm[i]);
	}
	*res = json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:b, s:s}",
			 "total", (json_int_t)sw->pool.frames, "fill",
			 (json_int_t)s->fill, "tx", (json_int_t)s->tx, "switch",
			 (json_int_t)s->sw, "free_list",
			 (json_int_t)s->free_list, "vms", vms, "sum",
			 (json_int_t)sum, "ok", s->ok, "message", s->msg);
	return NULL;
}

static int valid_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= sizeof(((struct cfg_vm *)0)->name))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' ||
		      *s == '-'))
			return 0;
	return 1;
}

static const char *cmd_vm_add(struct req *r, json_t **res)
{
	struct sw *sw = r->c->sw;
	const char *code = NULL, *name, *mac, *rings, *uplink, *doorbell;
	long long quota, vlan, ring_size, usecs;
	struct cfg_vm cv = { 0 };
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
	if (code)
		return code;
	if (!name || !mac || !rings)
		return err(r, FS_CTL_E_INVALID, "vm_add needs name, mac and rings");
	if (arg_int(r, "quota", 1024, 1, sw->pool.frames, &quota, &code) ||
	    arg_int(r, "vlan", 0, 0, 4094, &vlan, &code) ||
	    arg_int(r, "ring_size", 0, 0, 32768, &ring_size, &code) ||
	    arg_int(r, "doorbell_usecs", sw->cfg->doorbell_usecs, 0,
		    CFG_USECS_MAX, &usecs, &code))
		return code;
	if (!valid_name(name))
		return err(r, FS_CTL_E_INVALID,
			   "name \"%s\" must be 1 to 31 of A-Z a-z 0-9 _ . -", name);
	if (cfg_parse_mac(mac, cv.mac) || (cv.mac[0] & 1) ||
	    !(cv.mac[0] | cv.mac[1] | cv.mac[2] | cv.mac[3] | cv.mac[4] | cv.mac[5]))
		return err(r, FS_CTL_E_INVALID,
			   "mac \"%s\" is not a unicast MAC address (like 52:54:00:12:34:56)",
			   mac);
	if (strlen(rings) >= sizeof(cv.rings) || !rings[0])
		return err(r, FS_CTL_E_INVALID, "rings must be a file path");
	if (!ring_size) {
		ring_size = 256;
		while (ring_size < quota)
			ring_size <<= 1;
	}
	if (!fs_is_pow2((uint32_t)ring_size) || ring_size < 64 || ring_size < quota)
		return err(r, FS_CTL_E_INVALID,
			   "ring_size must be a power of two from 64 to 32768, at least the quota");
	cv.uplink = 0;
	if (uplink && (cv.uplink = find_nic(sw, uplink)) < 0)
		return err(r, FS_CTL_E_NOT_FOUND, "uplink \"%s\" is not an interface of this switch",
			   uplink);
	snprintf(cv.name, sizeof(cv.name), "%s", name);
	snprintf(cv.rings, sizeof(cv.rings), "%s", rings);
	if (doorbell && (!doorbell[0] || strlen(doorbell) >= sizeof(cv.doorbell)))
		return err(r, FS_CTL_E_INVALID,
			   "doorbell must be a socket path of at most %zu bytes, or \"off\"",
			   sizeof(cv.doorbell) - 1);
	if (!doorbell && cfg_doorbell_default(sw->cfg->control, name,
					      cv.doorbell, sizeof(cv.doorbell)))
		return err(r, FS_CTL_E_INVALID,
			   "the default doorbell socket would be too long: give a doorbell path, or \"off\"");
	if (doorbell && strcmp(doorbell, "off"))
		snprintf(cv.doorbell, sizeof(cv.doorbell), "%s", doorbell);
	cv.quota = (uint32_t)quota;
	cv.vlan = (uint16_t)vlan;
	cv.ring_size = (uint32_t)ring_size;
	cv.doorbell_usecs = (uint32_t)usecs;
	for (int i = 0; i < sw->n_vms; i++) {
		struct vmport *o = &sw->vms[i];

		if (!o->active) {
			if (slot < 0)
				slot = i;
			continue;
		}
		if (!strcmp(o->cfg.name, name))
			return err(r, FS_CTL_E_EXISTS, "vm \"%s\" exists already", name);
		if (!memcmp(o->cfg.mac, cv.mac, 6) && o->cfg.vlan == cv.vlan)
			return err(r, FS_CTL_E_EXISTS, "mac %s on vlan %u is vm \"%s\"'s",
				   mac, cv.vlan, o->cfg.name);
		if (!strcmp(o->cfg.rings, rings))
			return err(r, FS_CTL_E_EXISTS, "rings %s are vm \"%s\"'s",
				   rings, o->cfg.name);
		if (cv.doorbell[0] && !strcmp(o->cfg.doorbell, cv.doorbell))
			return err(r, FS_CTL_E_EXISTS, "doorbell %s is vm \"%s\"'s",
				   cv.doorbell, o->cfg.name);
	}
	if (!strcmp(rings, sw->pool.path))
		return err(r, FS_CTL_E_INVALID, "rings must not be the pool file");
	if (slot < 0)
		slot = sw->n_vms;
	if (slot >= CFG_MAX_VMS)
		return err(r, FS_CTL_E_INVALID, "the switch has %d VMs, its most",
			   CFG_MAX_VMS);
	v = vmport_alloc(1);
	if (!v)
		return err(r, FS_CTL_E_INTERNAL, "out of memory");
	err2 = vmport_create(v, &cv, slot, &sw->pool);
	if (err2) {
		free(v);
		return err(r, FS_CTL_E_INTERNAL, "cannot create %s: %s", rings,
			   strerror(-err2));
	}
	/* The doorbell is served before the VM is linked, so that the VM
	 * the worker gets says whether it has one; no guest is accepted on
	 * it before this handler returns (one thread). */
	if (v->cfg.doorbell[0] &&
	    ctl_db_open(r->c, slot, name, v->cfg.doorbell,
			&(struct doorbell_fds){ v->fd, sw->bell_fd, v->irq_fd })) {
		log_warn("vm %s: runs without a doorbell", name);
		v->cfg.doorbell[0] = '\0'; /* show says so */
	}
	if (sw_mail_call(sw, SW_MAIL_VM_ADD, slot, 0, v, &rc, CTL_MAIL_TIMEOUT_MS) ||
	    rc) {
		ctl_db_close(r->c, slot);
		vmport_unmap(v);
		free(v);
		return err(r, FS_CTL_E_INTERNAL, "the worker could not add the VM");
	}
	free(v); /* the worker copied it into its slot */
	r->c->frames_at = 0; /* the next audit has it */
	err2 = cv.uplink < sw->n_ports ?
		       port_mac_add(&sw->ports[cv.uplink], cv.mac, cv.vlan,
				    (uint32_t)slot) : 0;
	if (err2)
		log_warn("vm %s: cannot add to the XDP MAC map: %s", name,
			 strerror(-err2));
	log_info("vm %s: added at run time", name);
	*res = json_pack("{s:o}", "vm", vm_json(sw, &sw->vms[slot]));
	return NULL;
}

static const char *cmd_vm_del(struct req *r, json_t **res)
{
	struct sw *sw = r->c->sw;
	const char *code = NULL, *name = arg_str(r, "name", &code);
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
	i = find_vm(sw, name);
	if (i < 0)
		return err(r, FS_CTL_E_NOT_FOUND,
			   "no vm \"%s\" (flipswitchctl show lists them)", name);
	v = &sw->vms[i];
	/* The NIC stops sending its frames first, then the worker lets go. */
	if (v->cfg.uplink < sw->n_ports)
		port_mac_del(&sw->ports[v->cfg.uplink], v->cfg.mac, v->cfg.vlan);
	ctl_db_close(r->c, i);
	if (sw_mail_call(sw, SW_MAIL_VM_DEL, i, 0, NULL, &n, CTL_MAIL_TIMEOUT_MS))
		return err(r, FS_CTL_E_INTERNAL, "the worker did not answer");
	vmport_unmap(v);
	r->c->frames_at = 0;
	log_info("vm %s: deleted at run time, %lld frames taken back", name,
		 (long long)n);
	*res = json_pack("{s:I}", "reclaimed", (json_int_t)n);
	return NULL;
}

static const char *cmd_capture(struct req *r, json_t **res)
{
	struct ctl *c = r->c;
	struct sw *sw = c->sw;
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
	else if ((nic = find_nic(sw, port)) < 0 && (vm = find_vm(sw, port)) < 0)
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
	sw->cap.cons = __atomic_load_n(&sw->cap.prod, __ATOMIC_ACQUIRE);
	cl->cap_dropped0 = RD(sw->cap.dropped);
	cl->cap_want = (uint64_t)count;
	cl->cap_got = 0;
	cl->capturing = true;
	c->capture_client = r->client;
	if (sw_mail_call(sw, SW_MAIL_CAPTURE, nic, vm, NULL, NULL,
			 CTL_MAIL_TIMEOUT_MS)) {
		cl->capturing = false;
		c->capture_client = -1;
		return err(r, FS_CTL_E_INTERNAL, "the worker did not answer");
	}
	*res = NULL; /* frames, then the result, come from the capture loop */
	return NULL;
}

/* Changes switch-wide settings at run time: max_sleep_usecs (OVS's
 * ovs-vsctl set ... other_config:pmd-sleep-max). The worker loads it once
 * a pass. */
static const char *cmd_set(struct req *r, json_t **res)
{
	struct sw *sw = r->c->sw;
	const char *code = NULL, *key;
	long long usecs;
	json_t *v;

	if (!r->privileged)
		return err(r, FS_CTL_E_PERMISSION,
			   "only root or the control group may change settings");
	json_object_foreach(r->args, key, v)
		if (strcmp(key, "max_sleep_usecs"))
			return err(r, FS_CTL_E_INVALID,
				   "set: unknown setting \"%s\" (allowed: max_sleep_usecs)",
				   key);
	if (!json_object_get(r->args, "max_sleep_usecs"))
		return err(r, FS_CTL_E_INVALID, "set needs max_sleep_usecs");
	if (arg_int(r, "max_sleep_usecs", 0, 0, CFG_MAX_SLEEP_USECS, &usecs,
		    &code))
		return code;
	__atomic_store_n(&sw->max_nap_us, (uint32_t)usecs, __ATOMIC_RELAXED);
	log_info("max_sleep_usecs set to %lld", usecs);
	*res = json_pack("{s:o}", "switch", settings_json(sw));
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

