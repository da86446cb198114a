// SPDX-License-Identifier: MIT
/*
 * The control socket; see ctl.h and docs/control.md.
 *
 * One thread, one poll() loop over the listening socket, the clients and an
 * eventfd that stops it. Requests are parsed with jansson; every reply is
 * one line. Reads of the worker's state are relaxed atomic loads of values
 * only the worker writes; anything that changes the switch, and the frame
 * audit (which must be taken between batches), goes through the mailbox.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flipswitch.skel.h"
#include "ctl.h"
#include "log.h"
#include "metrics.h"

#define RD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define CTL_OUT_MAX (16u << 20) /* a client that stops reading is dropped */
#define MAIL_TIMEOUT_MS 2000

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
	char msg[256];
};

typedef const char *(*handler_fn)(struct req *r, json_t **result);

/* Whether a peer may change things: root or the control group. */
static bool peer_privileged(const struct ctl *c, uid_t uid, gid_t gid)
{
	return uid == 0 || (c->have_group && gid == c->group);
}

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

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
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

/* --- doorbells ------------------------------------------------------------ */

static int db_open(struct ctl *c, int i)
{
	struct vmport *v = &c->sw->vms[i];
	int err;

	c->db[i].listen_fd = c->db[i].conn_fd = -1;
	if (!v->cfg.doorbell[0])
		return 0;
	err = doorbell_listen(&c->db[i], v->cfg.doorbell, c->have_group,
			      c->group);
	if (err)
		log_err("vm %s: cannot serve its doorbell %s: %s", v->cfg.name,
			v->cfg.doorbell, strerror(-err));
	else
		log_info("vm %s: doorbell %s", v->cfg.name, v->cfg.doorbell);
	return err;
}

static void db_set_live(struct ctl *c, int i, int live)
{
	struct vmport *v = &c->sw->vms[i];

	__atomic_store_n(&v->db_live, live, __ATOMIC_RELAXED);
	__atomic_store_n(&v->hdr->switch_doorbell, (uint32_t)live,
			 __ATOMIC_RELEASE);
}

static void db_accept(struct ctl *c, int i)
{
	struct vmport *v = &c->sw->vms[i];
	char path[32];
	int shm, ok;

	/* The guest gets the region file open on a description of its own:
	 * v->fd's would carry the switch's flock with it, and a QEMU that
	 * outlives the switch would lock the next one out ("in use by
	 * another flipswitchd"). */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", v->fd);
	shm = open(path, O_RDWR | O_CLOEXEC);
	if (shm < 0)
		log_warn("vm %s: cannot open its region again (%s): the guest shares the switch's lock on it",
			 v->cfg.name, strerror(errno));
	ok = doorbell_accept(&c->db[i], shm >= 0 ? shm : v->fd,
			     c->sw->bell_fd, v->irq_fd);
	if (shm >= 0)
		close(shm);
	if (!ok)
		return;
	db_set_live(c, i, 1);
	log_info("vm %s: a guest connected to the doorbell", v->cfg.name);
}

static void db_close(struct ctl *c, int i)
{
	if (c->db[i].conn_fd >= 0)
		db_set_live(c, i, 0);
	doorbell_close(&c->db[i]);
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
			 cfg_scrub_name(sw->pool.scrub), "hugetlb",
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
	json_object_set_new(o, "name", json_string(pt->cfg.name));
	json_object_set_new(o, "kind", json_string("nic"));
	set_u64(o, "rx_packets", RD(pt->st.rx_packets));
	set_u64(o, "rx_bytes", RD(pt->st.rx_bytes));
	set_u64(o, "tx_packets", RD(pt->st.tx_packets));
	set_u64(o, "tx_bytes", RD(pt->st.tx_bytes));
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

	json_object_set_new(o, "name", json_string(v->cfg.name));
	json_object_set_new(o, "kind", json_string("vm"));
	set_u64(o, "rx_packets", RD(v->st.rx_packets));
	set_u64(o, "rx_bytes", RD(v->st.rx_bytes));
	set_u64(o, "tx_packets", RD(v->st.tx_packets));
	set_u64(o, "tx_bytes", RD(v->st.tx_bytes));
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

	sw_mail_call(sw, SW_MAIL_CLEAR, 0, 0, NULL, NULL, MAIL_TIMEOUT_MS);
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
			 "time", mono_now(), "ports", ports, "switch", "copies",
			 (json_int_t)RD(sw->copies), "handoff_copies",
			 (json_int_t)RD(sw->handoff_copies), "vm_to_vm",
			 (json_int_t)RD(sw->vm2vm), "sleeps",
			 (json_int_t)RD(sw->sleeps), "doorbell_wakeups",
			 (json_int_t)RD(sw->bells), "scrubbed_frames",
			 (json_int_t)RD(sw->pool.scrubbed_frames),
			 "scrubbed_bytes", (json_int_t)RD(sw->pool.scrubbed_bytes),
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
		fdb_key_mac(e->key, mac);
		mac_str(m, mac);
		json_array_append_new(
			a, json_pack("{s:s, s:i, s:s, s:s, s:n}", "mac", m,
				     "vlan", (int)fdb_key_vlan(e->key), "port",
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
	double now = mono_now();
	json_t *vms;
	uint64_t sum;

	if (!r->c->frames_at || now - r->c->frames_at >= CTL_FRAMES_EVERY) {
		if (sw_mail_call(sw, SW_MAIL_FRAMES, 0, 0, NULL, NULL,
				 MAIL_TIMEOUT_MS))
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

static const char *cmd_vm_add(struct req *r, json_t **res)
{
	struct sw *sw = r->c->sw;
	const char *code = NULL, *name, *mac, *rings, *uplink, *doorbell;
	struct cfg_vm_spec sp = { 0 };
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
	if (code)
		return code;
	if (!name || !mac || !rings)
		return err(r, FS_CTL_E_INVALID, "vm_add needs name, mac and rings");
	if (arg_num(r, "quota", &sp.quota, &sp.has_quota, &code) ||
	    arg_num(r, "vlan", &sp.vlan, &sp.has_vlan, &code) ||
	    arg_num(r, "ring_size", &sp.ring_size, &sp.has_ring_size, &code) ||
	    arg_num(r, "doorbell_usecs", &sp.doorbell_usecs,
		    &sp.has_doorbell_usecs, &code))
		return code;
	sp.name = name;
	sp.mac = mac;
	sp.rings = rings;
	sp.doorbell = doorbell;
	/* The same rule as the config file's. */
	if (cfg_vm_check(&sp, sw->cfg, &cv, vm_report, r) ||
	    cfg_vm_finish(&cv, sw->cfg, vm_report, r))
		return FS_CTL_E_INVALID;
	if (uplink && (cv.uplink = find_nic(sw, uplink)) < 0)
		return err(r, FS_CTL_E_NOT_FOUND, "uplink \"%s\" is not an interface of this switch",
			   uplink);
	for (int i = 0; i < sw->n_vms; i++) {
		struct vmport *o = &sw->vms[i];

		if (!o->active) {
			if (slot < 0)
				slot = i;
			continue;
		}
		if (cfg_vm_conflict(&cv, &o->cfg, 0, vm_report, r))
			return FS_CTL_E_EXISTS;
	}
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
	if (sw_mail_call(sw, SW_MAIL_VM_ADD, slot, 0, v, &rc, MAIL_TIMEOUT_MS) ||
	    rc) {
		vmport_unmap(v);
		free(v);
		return err(r, FS_CTL_E_INTERNAL, "the worker could not add the VM");
	}
	free(v); /* the worker copied it into its slot */
	r->c->frames_at = 0; /* the next audit has it */
	if (db_open(r->c, slot)) {
		log_warn("vm %s: runs without a doorbell", name);
		sw->vms[slot].cfg.doorbell[0] = '\0'; /* show says so */
	}
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
	db_close(r->c, i);
	if (sw_mail_call(sw, SW_MAIL_VM_DEL, i, 0, NULL, &n, MAIL_TIMEOUT_MS))
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
	int nic, vm = -1;
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
	free(ids);
	if (!ids_len || ids_len >= sizeof(c->client[0].cap_id))
		return err(r, FS_CTL_E_INVALID,
			   "a capture's id may be at most %zu characters of JSON",
			   sizeof(c->client[0].cap_id) - 1);
	if (code || arg_int(r, "count", 0, 0, LLONG_MAX, &count, &code))
		return code;
	if (!port)
		return err(r, FS_CTL_E_INVALID, "capture needs a port");
	if ((nic = find_nic(sw, port)) < 0 && (vm = find_vm(sw, port)) < 0)
		return err(r, FS_CTL_E_NOT_FOUND,
			   "no port \"%s\" (flipswitchctl show lists them)", port);
	if (r->client < 0)
		return err(r, FS_CTL_E_INVALID, "capture needs a connection");
	if (c->capture_client >= 0)
		return err(r, FS_CTL_E_EXISTS, "another capture is running");
	cl = &c->client[r->client];
	/* The ring is quiet (no port is tapped): start it empty. */
	sw->cap.cons = __atomic_load_n(&sw->cap.prod, __ATOMIC_ACQUIRE);
	cl->cap_dropped0 = RD(sw->cap.dropped);
	cl->cap_want = (uint64_t)count;
	cl->cap_got = 0;
	cl->capturing = true;
	c->capture_client = r->client;
	if (sw_mail_call(sw, SW_MAIL_CAPTURE, nic, vm, NULL, NULL,
			 MAIL_TIMEOUT_MS)) {
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

/* An error message as a JSON string. It may quote a request's strings,
 * cut to fit, perhaps inside a UTF-8 character: then JSON has no string
 * for it (the reply went out with no error at all), and bytes that are
 * not ASCII become '?'. */
static json_t *msg_json(const char *msg)
{
	char ascii[sizeof(((struct req *)0)->msg)];
	json_t *j = json_string(msg);
	size_t i;

	if (j)
		return j;
	for (i = 0; msg[i] && i + 1 < sizeof(ascii); i++)
		ascii[i] = (unsigned char)msg[i] < 0x80 ? msg[i] : '?';
	ascii[i] = '\0';
	return json_string(ascii);
}

static char *reply_line(json_t *id, json_t *result, const char *code,
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

char *ctl_handle_line(struct ctl *c, const char *line, size_t len, uid_t uid,
		      gid_t gid, int client)
{
	struct req r = { .c = c, .client = client };
	json_t *req, *id, *cmd, *result = NULL;
	const char *code = NULL, *name;
	json_error_t jerr;
	char *out;
	size_t i;

	r.privileged = peer_privileged(c, uid, gid);
	req = json_loadb(line, len, 0, &jerr);
	if (!req)
		return reply_line(NULL, NULL, FS_CTL_E_PARSE, jerr.text);
	id = r.id = json_object_get(req, "id");
	cmd = json_object_get(req, "cmd");
	r.args = json_object_get(req, "args");
	if (!json_is_object(req) || !json_is_string(cmd)) {
		out = reply_line(id, NULL, FS_CTL_E_INVALID,
				 "a request is an object with a string \"cmd\"");
		goto out;
	}
	if (r.args && !json_is_object(r.args)) {
		out = reply_line(id, NULL, FS_CTL_E_INVALID,
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
		out = reply_line(id, NULL, FS_CTL_E_UNKNOWN, r.msg);
		goto out;
	}
	code = commands[i].fn(&r, &result);
	if (!code && !result) {
		/* A capture: remember the id for the frame lines. */
		char *ids = json_dumps(id ? id : json_null(),
				       JSON_COMPACT | JSON_ENCODE_ANY);

		snprintf(c->client[client].cap_id,
			 sizeof(c->client[client].cap_id), "%s",
			 ids ? ids : "null");
		free(ids);
		out = NULL;
	} else {
		out = reply_line(id, result, code, r.msg);
	}
out:
	json_decref(req);
	return out;
}

/* --- connections ---------------------------------------------------------- */

static void client_close(struct ctl *c, int i)
{
	struct ctl_client *cl = &c->client[i];

	if (cl->capturing) {
		sw_mail_call(c->sw, SW_MAIL_CAPTURE, -1, -1, NULL, NULL,
			     MAIL_TIMEOUT_MS);
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
	double now = mono_now();
	bool privileged;
	int fd, i;

	fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		close(fd);
		return;
	}
	privileged = peer_privileged(c, cred.uid, cred.gid);
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
	cl->active = mono_now();
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
		char *reply = reply_line(NULL, NULL, FS_CTL_E_TOO_LARGE,
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
		cl->active = mono_now();
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
	struct sw_capture *cap = &c->sw->cap;
	struct ctl_client *cl = &c->client[c->capture_client];
	uint32_t prod = __atomic_load_n(&cap->prod, __ATOMIC_ACQUIRE);
	static char line[SW_CAP_SNAP * 2 + 256];
	char *data = line + 192;

	while (cap->cons != prod && (!cl->cap_want || cl->cap_got < cl->cap_want)) {
		const struct sw_cap_rec *rec = &cap->ring[cap->cons & (SW_CAP_SLOTS - 1)];
		size_t caplen = rec->len < SW_CAP_SNAP ? rec->len : SW_CAP_SNAP;
		int n;

		b64(data, rec->data, caplen);
		n = snprintf(line, 192, "{\"id\":%s,\"frame\":{\"ts\":%.6f,\"dir\":\"%s\",\"len\":%u,\"data\":\"",
			     cl->cap_id, rec->ts, rec->dir == SW_CAP_RX ? "rx" : "tx",
			     rec->len);
		__atomic_store_n(&cap->cons, cap->cons + 1, __ATOMIC_RELEASE);
		if (queue_out(cl, line, (size_t)n) || queue_out(cl, data, strlen(data)) ||
		    queue_out(cl, "\"}}\n", 4)) {
			cl->closing = true;
			break;
		}
		cl->cap_got++;
	}
	if (cl->cap_want && cl->cap_got >= cl->cap_want) {
		char end[256];

		sw_mail_call(c->sw, SW_MAIL_CAPTURE, -1, -1, NULL, NULL,
			     MAIL_TIMEOUT_MS);
		snprintf(end, sizeof(end),
			 "{\"id\":%s,\"result\":{\"captured\":%llu,\"dropped\":%llu}}\n",
			 cl->cap_id, (unsigned long long)cl->cap_got,
			 (unsigned long long)(RD(cap->dropped) - cl->cap_dropped0));
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
		for (int i = 0; i < c->sw->n_vms; i++) {
			if (c->db[i].listen_fd < 0)
				continue;
			map[n] = i;
			pfd[n++] = (struct pollfd){ .fd = c->db[i].listen_fd,
						    .events = POLLIN };
			if (c->db[i].conn_fd < 0)
				continue;
			map[n] = i;
			pfd[n++] = (struct pollfd){ .fd = c->db[i].conn_fd,
						    .events = POLLIN };
		}
		/* While a capture runs, look at its ring every 10 ms. The
		 * metrics endpoint's fd comes last, out of the loops below. */
		timeout = c->capture_client >= 0 ? 10 : -1;
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
		for (int k = first_db; k < n; k++) {
			int i = map[k];

			if (!pfd[k].revents)
				continue;
			if (pfd[k].fd == c->db[i].listen_fd) {
				db_accept(c, i);
			} else if (pfd[k].fd == c->db[i].conn_fd &&
				   doorbell_check(&c->db[i])) {
				db_set_live(c, i, 0);
				log_info("vm %s: the guest left the doorbell",
					 c->sw->vms[i].cfg.name);
			}
		}
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
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		c->client[i].fd = -1;
	for (int i = 0; i < CFG_MAX_VMS; i++)
		c->db[i].listen_fd = c->db[i].conn_fd = -1;
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
	if (c->stop_fd < 0) {
		err = -errno;
		ctl_destroy(c);
		return err;
	}
	for (int i = 0; i < sw->n_vms; i++) {
		if (!sw->vms[i].active)
			continue;
		err = db_open(c, i);
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
	for (int i = 0; i < CFG_MAX_VMS; i++)
		if (c->db[i].listen_fd >= 0)
			db_close(c, i);
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		unlink(c->path);
	}
	if (c->stop_fd >= 0)
		close(c->stop_fd);
	c->listen_fd = c->stop_fd = -1;
}
