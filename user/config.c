// SPDX-License-Identifier: MIT
/*
 * Configuration loading.
 *
 * libconfig parses the file; everything after that is ours. Each group is
 * walked twice: once for keys we do not know, so that a typo ("qouta") is an
 * error instead of a silently applied default, and once for the keys we do
 * know, each checked for type and range with a getter that fills in the
 * default when the key is absent. A VM's keys are read as written and
 * judged by cfg_vm_check(), the one rule that `vm add` uses too; that no
 * two VMs share a name, a (MAC, vlan), a ring file or a doorbell is
 * checked once every doorbell path is known, and the message names the
 * other VM's line.
 *
 * Every failure goes through cfg_fail(), which formats "FILE:LINE: message" from
 * the setting at fault. A key that is missing has no line of its own; the
 * message then points at the group that should hold it, and at no line at
 * all for a top-level key. cfg_load() has one exit, so config_destroy()
 * runs whatever failed.
 *
 * libconfig 1.5 wraps an integer that does not fit 32 bits before we see
 * it (guest_timeout = 4294967296 reads as 0, batch = 4294967360 as 64);
 * only the L suffix keeps it 64-bit. So every integer is read again as
 * written, from its line in its file, as 64 bits (int_as_written), before
 * its range is checked; one that does not fit 64 bits is refused there.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libconfig.h>

#include "config.h"
#include "config_read.h"

#define DEFAULT_CONTROL "/run/flipswitch/flipswitch.sock"

static const char *const top_keys[] = {
	"pool", "pools", "interfaces", "vms", "batch", "guest_timeout",
	"doorbell_usecs", "doorbell_max_usecs", "max_sleep_usecs", "idle",
	"poll_usecs", "handoff", "control", "control_group", "metrics", NULL };
static const char *const pool_keys[] = {
	"path", "frames", "frame_size", "scrub", NULL };
static const char *const pools_keys[] = {
	"name", "path", "frames", "frame_size", "scrub", NULL };
static const char *const iface_keys[] = {
	"name", "xdp_mode", "zerocopy", "queues", "ring_size", "publish_fdb",
	"busy_poll_usecs", "pools", "steer", NULL };
static const char *const iface_pool_keys[] = { "pool", "queues", NULL };
static const char *const vm_keys[] = {
	"name", "mac", "vlan", "rings", "quota", "ring_size", "uplink",
	"doorbell", "doorbell_usecs", "flood_rate", "flood_burst",
	"doorbell_peer", "pool", "allowed_macs", "sealed", NULL };

/* Indexed by the enums in config.h. */
static const char *const scrub_names[] = { "off", "used", "full", NULL };
static const char *const xdp_names[] = { "auto", "native", "generic", NULL };
static const char *const zc_names[] = { "auto", "on", "off", NULL };
static const char *const steer_names[] = { "off", "ntuple", NULL };
static const char *const handoff_names[] = { "zerocopy", "copy", NULL };
static const char *const idle_names[] = { "adaptive", "poll", NULL };

/* Every getter returns 0 or -EINVAL, so "ret |=" keeps -EINVAL once any
 * failed while the reading goes on to the next mistake. */

#define POOL_NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

/* One pool's group; what names it ("pool", "pool \"red\""). */
static int load_pool_group(struct cfg_ctx *c, const config_setting_t *g,
			   const char *what, const char *const *keys,
			   struct cfg_pool *p)
{
	config_setting_t *s;
	long long fsize;
	int ret, scrub;

	p->line = config_setting_source_line(g);
	ret = cfg_check_keys(c, g, what, keys);
	ret |= cfg_get_str(c, g, what, "path", p->path, sizeof(p->path), NULL,
		       "a file on tmpfs or hugetlbfs: path = \"/dev/shm/flipswitch-pool\";");
	if (cfg_get_u32(c, g, what, "frames", 16384, 64, 1048576, &p->frames)) {
		/* Unknown, frames cannot make a VM's quota out of range. */
		p->frames = 1048576;
		ret = -EINVAL;
	}
	ret |= cfg_get_enum(c, g, what, "scrub", scrub_names, CFG_SCRUB_OFF,
			&scrub);
	p->scrub = scrub;
	if (cfg_get_int(c, g, what, "frame_size", 2048, &fsize, &s))
		return -EINVAL;
	/* The kernel takes a power of two from 2048 up to the page size. */
	if (fsize != 2048 && fsize != 4096)
		return cfg_fail(c, s, "%s: frame_size %lld is refused by the kernel's AF_XDP (aligned mode needs 2048 or 4096)",
			    what, fsize);
	p->frame_size = fsize;
	return ret;
}

/* publish_fdb: true or false, or the name of the bridge port to publish
 * on (FRR reads local MACs only from ports that are not the VXLAN device). */
static int get_publish_fdb(struct cfg_ctx *c, const config_setting_t *g,
			   const char *what, struct cfg_iface *ifc)
{
	const config_setting_t *s = config_setting_get_member(g, "publish_fdb");
	const char *v;

	if (!s)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_BOOL) {
		ifc->publish_fdb = config_setting_get_bool(s);
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return cfg_fail(c, s, "%s: publish_fdb must be true, false or the name of another port of its bridge, not %s",
			    what, cfg_type_name(config_setting_type(s)));
	v = config_setting_get_string(s);
	if (!v[0] || strlen(v) >= sizeof(ifc->publish_fdb_on))
		return cfg_fail(c, s, "%s: publish_fdb \"%s\" is not an interface name (1 to %zu characters)",
			    what, v, sizeof(ifc->publish_fdb_on) - 1);
	if (!if_nametoindex(v) && !c->offline)
		return cfg_fail(c, s, "%s: publish_fdb names \"%s\", which does not exist (ip link show lists the interfaces)",
			    what, v);
	ifc->publish_fdb = true;
	strcpy(ifc->publish_fdb_on, v);
	return 0;
}

/* Entry idx of pools = ( ... ), into cfg->pools[cfg->n_pools], counted
 * once it has a name (for the VMs and interfaces that name it). */
static int load_pools_entry(struct cfg_ctx *c, const config_setting_t *g, int idx,
			    struct cfg *cfg)
{
	struct cfg_pool *p = &cfg->pools[cfg->n_pools];
	config_setting_t *ns;
	char what[48];
	const char *bad;
	int ret;

	snprintf(what, sizeof(what), "pool %d", idx + 1);
	ret = cfg_want(c, g, "pools", what, CONFIG_TYPE_GROUP);
	if (!ret)
		ret = cfg_get_str(c, g, what, "name", p->name, sizeof(p->name), NULL,
			      "name = \"red\";");
	if (ret)
		return ret;
	ns = config_setting_get_member(g, "name");
	bad = p->name + strspn(p->name, POOL_NAME_CHARS);
	if (*bad)
		ret = cfg_fail(c, ns, "pools: pool \"%s\": name has a '%c' (use only A-Z a-z 0-9 _ . -)",
			   p->name, *bad);
	snprintf(what, sizeof(what), "pool \"%s\"", p->name);
	for (int j = 0; j < cfg->n_pools; j++)
		if (!strcmp(cfg->pools[j].name, p->name))
			ret = cfg_fail(c, ns, "%s is defined twice (also on line %d; give each pool its own name)",
				   what, cfg->pools[j].line);
	ret |= load_pool_group(c, g, what, pools_keys, p);
	for (int j = 0; j < cfg->n_pools; j++)
		if (p->path[0] && !strcmp(cfg->pools[j].path, p->path))
			ret = cfg_fail(c, config_setting_get_member(g, "path"),
				   "%s: path \"%s\" is already pool \"%s\"'s (line %d; give each pool its own file)",
				   what, p->path, cfg->pools[j].name,
				   cfg->pools[j].line);
	cfg->n_pools++;
	return ret;
}

/* pool = { ... } (the pool "default", first) and pools = ( ... ). */
static int load_pools(struct cfg_ctx *c, const config_setting_t *root,
		      struct cfg *cfg)
{
	config_setting_t *g, *l;
	int ret, n;

	ret = cfg_lookup(c, root, "", "pool", CONFIG_TYPE_GROUP, &g);
	ret |= cfg_lookup(c, root, "", "pools", CONFIG_TYPE_LIST, &l);
	if (ret)
		return ret;
	if (!g && (!l || !config_setting_length(l)))
		return cfg_fail(c, l, "pool is missing (add pool = { path = \"/dev/shm/flipswitch-pool\"; }; or pools = ( { name = \"red\"; path = \"/dev/shm/flipswitch-red\"; } );)");
	if (g) {
		strcpy(cfg->pools[0].name, "default");
		ret |= load_pool_group(c, g, "pool", pool_keys, &cfg->pools[0]);
		cfg->n_pools = 1;
	}
	n = l ? config_setting_length(l) : 0;
	if (cfg->n_pools + n > CFG_MAX_POOLS)
		return cfg_fail(c, l, "pools has %d entries, more than %d",
			    n, CFG_MAX_POOLS - cfg->n_pools);
	for (int i = 0; i < n; i++)
		ret |= load_pools_entry(c, config_setting_get_elem(l, i), i, cfg);
	return ret;
}

/* The interface's rx queues as the kernel has them (sysfs), 0 if unknown. */
static uint32_t iface_queue_count(const char *name)
{
	char path[64];
	uint32_t n = 0;

	for (;;) {
		snprintf(path, sizeof(path), "/sys/class/net/%s/queues/rx-%u",
			 name, n);
		if (access(path, F_OK))
			return n;
		n++;
	}
}

/* One entry of an interface's pools = ( { pool = "red"; queues = [0, 1]; } ).
 * line_of[q]: the line that gave queue q its pool. */
static int load_iface_pool(struct cfg_ctx *c, const config_setting_t *g,
			   const char *what, uint32_t nq, int *line_of,
			   struct cfg_iface *ifc)
{
	config_setting_t *qs;
	const char *name;
	char list[256];
	int ret, pi;

	ret = cfg_want(c, g, what, "pools entry", CONFIG_TYPE_GROUP);
	if (ret)
		return ret;
	ret = cfg_check_keys(c, g, what, iface_pool_keys);
	ret |= cfg_get_cstr(c, g, what, "pool", "the pool's name: pool = \"red\";",
			&name);
	ret |= cfg_lookup(c, g, what, "queues", CONFIG_TYPE_ARRAY, &qs);
	if (!name)
		return -EINVAL;
	pi = cfg_pool_find(c->cfg, name);
	if (pi < 0)
		return cfg_fail(c, config_setting_get_member(g, "pool"),
			    "%s: pool \"%s\" is not defined (the pools: %s)",
			    what, name, cfg_pool_names(c->cfg, list, sizeof(list)));
	if (!qs || !config_setting_length(qs))
		return cfg_fail(c, qs ? qs : g, "%s: pool \"%s\" has no queues (add queues = [0];)",
			    what, name);
	for (int i = 0; i < config_setting_length(qs); i++) {
		config_setting_t *e = config_setting_get_elem(qs, i);
		long long q;

		if (config_setting_type(e) != CONFIG_TYPE_INT &&
		    config_setting_type(e) != CONFIG_TYPE_INT64) {
			ret = cfg_fail(c, e, "%s: pool \"%s\": queues must hold queue numbers, like [0, 1]",
				   what, name);
			continue;
		}
		q = config_setting_get_int64(e);
		if (q < 0 || q >= CFG_MAX_QUEUES)
			ret = cfg_fail(c, e, "%s: pool \"%s\": queue %lld is out of range (0 .. %d)",
				   what, name, q, CFG_MAX_QUEUES - 1);
		else if (nq && q >= nq)
			ret = cfg_fail(c, e, "%s: pool \"%s\": queue %lld is past the interface's %u queue%s (0 .. %u; ethtool -l %s shows them)",
				   what, name, q, nq, nq == 1 ? "" : "s", nq - 1,
				   ifc->name);
		else if (ifc->queue_pool[q] != CFG_QUEUE_HOST)
			ret = cfg_fail(c, e, "%s: queue %lld is in two pools, \"%s\" (line %d) and \"%s\" (a queue belongs to one pool: AF_XDP binds one UMEM per queue)",
				   what, q, c->cfg->pools[ifc->queue_pool[q]].name,
				   line_of[q], name);
		else {
			ifc->queue_pool[q] = (int8_t)pi;
			line_of[q] = config_setting_source_line(e);
		}
	}
	return ret;
}

/* The interface's queue to pool map: its pools = ( ... ), or every queue
 * the default pool's. */
static int load_iface_pools(struct cfg_ctx *c, const config_setting_t *g,
			    const char *what, struct cfg_iface *ifc)
{
	config_setting_t *l;
	int line_of[CFG_MAX_QUEUES];
	uint32_t nq;
	int ret, def;

	ret = cfg_lookup(c, g, what, "pools", CONFIG_TYPE_LIST, &l);
	if (ret)
		return ret;
	if (!l) {
		def = cfg_pool_default(c->cfg);
		memset(ifc->queue_pool, def < 0 ? 0 : def,
		       sizeof(ifc->queue_pool));
		if (def < 0)
			return cfg_fail(c, g, "%s: whose are its queues? With several pools and none named \"default\", say which queues each pool has: pools = ( { pool = \"%s\"; queues = [0]; } );",
				    what, c->cfg->pools[0].name);
		return 0;
	}
	if (config_setting_get_member(g, "queues"))
		ret = cfg_fail(c, config_setting_get_member(g, "queues"),
			   "%s: queues and pools both say which queues to serve (keep pools; remove queues)",
			   what);
	ifc->pools_given = true;
	memset(ifc->queue_pool, CFG_QUEUE_HOST, sizeof(ifc->queue_pool));
	nq = c->offline ? 0 : iface_queue_count(ifc->name);
	for (int i = 0; i < config_setting_length(l); i++)
		ret |= load_iface_pool(c, config_setting_get_elem(l, i), what, nq,
				       line_of, ifc);
	return ret;
}

/* Reads interface idx into cfg->ifaces[cfg->n_ifaces], counted once it has
 * a name (for the VMs' uplinks), whatever else is wrong with it. */
static int load_iface(struct cfg_ctx *c, const config_setting_t *g, int idx)
{
	struct cfg *cfg = (struct cfg *)c->cfg;
	struct cfg_iface *ifc = &cfg->ifaces[cfg->n_ifaces];
	char what[32];
	int ret, mode = 0, zc = 0, steer = 0;

	snprintf(what, sizeof(what), "interface %d", idx + 1);
	ret = cfg_want(c, g, "interfaces", what, CONFIG_TYPE_GROUP);
	if (!ret)
		ret = cfg_get_str(c, g, what, "name", ifc->name, sizeof(ifc->name),
			      NULL, "name = \"eth0\";");
	if (ret) {
		memset(ifc, 0, sizeof(*ifc));
		return ret;
	}
	snprintf(what, sizeof(what), "interface \"%s\"", ifc->name);
	ifc->line = config_setting_source_line(g);
	for (int j = 0; j < cfg->n_ifaces; j++)
		if (!strcmp(cfg->ifaces[j].name, ifc->name))
			ret = cfg_fail(c, g, "%s is listed twice (also on line %d; remove one)",
				   what, cfg->ifaces[j].line);
	cfg->n_ifaces++;
	ifc->ifindex = if_nametoindex(ifc->name);
	if (!ifc->ifindex && !c->offline)
		ret = cfg_fail(c, config_setting_get_member(g, "name"),
			   "%s does not exist (ip link show lists the interfaces)",
			   what);
	ifc->ring_size = 2048;
	ret |= cfg_check_keys(c, g, what, iface_keys);
	ret |= cfg_get_enum(c, g, what, "xdp_mode", xdp_names, CFG_XDP_AUTO, &mode);
	ret |= cfg_get_enum(c, g, what, "zerocopy", zc_names, CFG_ZC_AUTO, &zc);
	ret |= cfg_get_u32(c, g, what, "queues", 0, 0, 64, &ifc->queues);
	ret |= cfg_get_pow2(c, g, what, 64, 16384, &ifc->ring_size);
	ret |= get_publish_fdb(c, g, what, ifc);
	ret |= load_iface_pools(c, g, what, ifc);
	ret |= cfg_get_u32(c, g, what, "busy_poll_usecs", 0, 0, 10000,
		       &ifc->busy_poll_usecs);
	ret |= cfg_get_enum(c, g, what, "steer", steer_names, CFG_STEER_OFF, &steer);
	ifc->xdp_mode = mode;
	ifc->zerocopy = zc;
	ifc->steer = steer;
	return ret;
}

static int load_ifaces(struct cfg_ctx *c, const config_setting_t *root,
		       struct cfg *cfg)
{
	config_setting_t *l;
	int ret, n;

	ret = cfg_lookup(c, root, "", "interfaces", CONFIG_TYPE_LIST, &l);
	if (ret)
		return ret;
	if (!l)
		return cfg_fail(c, NULL, "interfaces is missing (add interfaces = ( { name = \"eth0\"; } );)");
	n = config_setting_length(l);
	if (n == 0)
		return cfg_fail(c, l, "interfaces is empty (list at least one, like ( { name = \"eth0\"; } ))");
	if (n > CFG_MAX_IFACES)
		return cfg_fail(c, l, "interfaces has %d entries, more than %d (run another flipswitchd for the rest)",
			    n, CFG_MAX_IFACES);
	for (int i = 0; i < n; i++)
		ret |= load_iface(c, config_setting_get_elem(l, i), i);
	return ret;
}

/* --- VMs in the file ------------------------------------------------------ */

/* A VM's mistakes, each at the line of the key at fault, else of its
 * group. */
struct vm_where {
	struct cfg_ctx *c;
	const config_setting_t *g;
};

static void vm_report(void *arg, const char *key, const char *msg)
{
	struct vm_where *w = arg;
	const config_setting_t *s = key ? config_setting_get_member(w->g, key) : NULL;

	cfg_fail(w->c, s ? s : w->g, "%s", msg);
}

/* sealed: true or false (default). */
static int get_sealed(struct cfg_ctx *c, const config_setting_t *g,
		      const char *what, bool *sealed)
{
	const config_setting_t *s = config_setting_get_member(g, "sealed");

	*sealed = false;
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return cfg_fail(c, s, "%s: sealed must be true or false, not %s",
				what, cfg_type_name(config_setting_type(s)));
	*sealed = config_setting_get_bool(s);
	return 0;
}

/* An optional integer key as written. */
static int get_opt_int(struct cfg_ctx *c, const config_setting_t *g,
		       const char *what, const char *key, long long *v,
		       bool *has)
{
	config_setting_t *s;
	int ret = cfg_get_int(c, g, what, key, 0, v, &s);

	*has = !ret && s;
	return ret;
}

/* allowed_macs = [ "52:54:00:..", ... ]: the strings into out[] (at most
 * max + 1 of them, so that one too many is seen), *n how many there are
 * in all; each checked by cfg_vm_check(). */
static int get_macs(struct cfg_ctx *c, const config_setting_t *g, const char *what,
		    const char *out[], int max, int *n)
{
	config_setting_t *l;
	int ret = cfg_lookup(c, g, what, "allowed_macs", CONFIG_TYPE_LIST, &l);

	*n = 0;
	if (ret || !l)
		return ret;
	*n = config_setting_length(l);
	for (int i = 0; i < *n; i++) {
		const config_setting_t *e = config_setting_get_elem(l, i);
		const char *str = config_setting_get_string(e);

		if (!str) {
			*n = i; /* those before are checked */
			return cfg_fail(c, e, "%s: allowed_macs entry %d must be a string, like \"52:54:00:12:34:56\"",
				    what, i + 1);
		}
		if (i <= max)
			out[i] = str;
	}
	return 0;
}

/* Reads VM idx into cfg->vms[cfg->n_vms], counted once it has a name:
 * what passed its checks then takes part in the search for VMs that share
 * something, whatever else is wrong with it. */
static int load_vm(struct cfg_ctx *c, const config_setting_t *g, int idx)
{
	struct cfg *cfg = (struct cfg *)c->cfg;
	struct cfg_vm *v = &cfg->vms[cfg->n_vms];
	struct vm_where w = { .c = c, .g = g };
	struct cfg_vm_spec sp = { 0 };
	const char *macs[CFG_MAX_ALLOWED_MACS + 1];
	config_setting_t *s;
	char what[48], list[256];
	const char *uplink;
	int ret;

	snprintf(what, sizeof(what), "vm %d", idx + 1);
	ret = cfg_want(c, g, "vms", what, CONFIG_TYPE_GROUP);
	if (!ret)
		ret = cfg_get_cstr(c, g, what, "name", "name = \"web1\";", &sp.name);
	if (ret)
		return ret;
	snprintf(what, sizeof(what), "vm \"%.32s\"", sp.name);
	ret = cfg_check_keys(c, g, what, vm_keys);
	ret |= cfg_get_cstr(c, g, what, "mac",
			"the guest's MAC: mac = \"52:54:00:12:34:56\";", &sp.mac);
	/* Required unless sealed: cfg_vm_check says which. */
	ret |= cfg_get_cstr(c, g, what, "rings", NULL, &sp.rings);
	ret |= get_sealed(c, g, what, &sp.sealed);
	ret |= cfg_get_cstr(c, g, what, "doorbell", NULL, &sp.doorbell);
	ret |= cfg_get_cstr(c, g, what, "doorbell_peer", NULL, &sp.doorbell_peer);
	ret |= get_opt_int(c, g, what, "vlan", &sp.vlan, &sp.has_vlan);
	ret |= get_opt_int(c, g, what, "doorbell_usecs", &sp.doorbell_usecs,
			   &sp.has_doorbell_usecs);
	ret |= get_opt_int(c, g, what, "flood_rate", &sp.flood_rate,
			   &sp.has_flood_rate);
	ret |= get_opt_int(c, g, what, "flood_burst", &sp.flood_burst,
			   &sp.has_flood_burst);
	ret |= get_opt_int(c, g, what, "quota", &sp.quota, &sp.has_quota);
	ret |= get_opt_int(c, g, what, "ring_size", &sp.ring_size,
			   &sp.has_ring_size);
	ret |= cfg_get_cstr(c, g, what, "uplink", NULL, &uplink);
	ret |= cfg_get_cstr(c, g, what, "pool", NULL, &sp.pool);
	ret |= get_macs(c, g, what, macs, CFG_MAX_ALLOWED_MACS,
			&sp.n_allowed_macs);
	sp.allowed_macs = macs;
	/* A value of the wrong type reads as absent: not judged twice. */
	ret |= cfg_vm_check(&sp, cfg, v, vm_report, &w);
	v->line = config_setting_source_line(g);
	c->vm_g[cfg->n_vms++] = g;
	if (!uplink)
		return ret;
	for (v->uplink = 0; v->uplink < cfg->n_ifaces; v->uplink++)
		if (!strcmp(cfg->ifaces[v->uplink].name, uplink))
			return ret;
	list[0] = '\0';
	for (int i = 0, n = 0; i < cfg->n_ifaces; i++)
		n += snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "",
			      cfg->ifaces[i].name);
	s = config_setting_get_member(g, "uplink");
	return cfg_fail(c, s, "%s: uplink \"%s\" is not one of the configured interfaces (%s)",
		    what, uplink, list);
}

static int load_vms(struct cfg_ctx *c, const config_setting_t *root)
{
	config_setting_t *l;
	int ret, n;

	ret = cfg_lookup(c, root, "", "vms", CONFIG_TYPE_LIST, &l);
	if (ret || !l)
		return ret;
	n = config_setting_length(l);
	if (n > CFG_MAX_VMS)
		return cfg_fail(c, l, "vms has %d entries, more than %d (run another flipswitchd for the rest)",
			    n, CFG_MAX_VMS);
	for (int i = 0; i < n; i++)
		ret |= load_vm(c, config_setting_get_elem(l, i), i);
	return ret;
}

int cfg_doorbell_default(const char *control, const char *name, char *out,
			 size_t size)
{
	const char *slash = strrchr(control, '/');
	int dir = slash ? (int)(slash - control) : 1;
	int n;

	n = snprintf(out, size, "%.*s/%s.doorbell", dir, slash ? control : ".",
		     name);
	if (n < 0 || (size_t)n >= size || n > 107)
		return -ENAMETOOLONG;
	return 0;
}

/* Once the control socket's path and doorbell_usecs are known: each VM's
 * doorbell, then that no two VMs share anything of their own. */
static int finish_vms(struct cfg_ctx *c)
{
	struct cfg *cfg = (struct cfg *)c->cfg;
	int ret = 0;

	for (int i = 0; i < cfg->n_vms; i++) {
		struct vm_where w = { .c = c, .g = c->vm_g[i] };
		struct cfg_vm *v = &cfg->vms[i];

		if (cfg_vm_finish(v, cfg, vm_report, &w))
			ret = -EINVAL;
		for (int j = 0; j < i; j++)
			if (cfg_vm_conflict(v, &cfg->vms[j], cfg->vms[j].line,
					    vm_report, &w))
				ret = -EINVAL;
	}
	return ret;
}

static int load_group(struct cfg_ctx *c, const config_setting_t *root,
		      struct cfg *cfg)
{
	config_setting_t *g = config_setting_get_member(root, "control_group");
	struct group *gr;
	int ret;

	if (!g)
		return 0;
	ret = cfg_get_str(c, root, "", "control_group", cfg->control_group,
		      sizeof(cfg->control_group), NULL, NULL);
	if (ret)
		return ret;
	gr = getgrnam(cfg->control_group);
	if (!gr)
		return cfg_fail(c, g, "control_group \"%s\" is not a group on this system (getent group lists them)",
			    cfg->control_group);
	cfg->control_gid = gr->gr_gid;
	return 0;
}

static int load_metrics(struct cfg_ctx *c, const config_setting_t *root,
			struct cfg *cfg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int ret;

	/* Absent: off. */
	if (!config_setting_get_member(root, "metrics"))
		return 0;
	ret = cfg_get_str(c, root, "", "metrics", cfg->metrics, sizeof(cfg->metrics),
		      NULL, NULL);
	if (ret)
		return ret;
	if (cfg_parse_listen(cfg->metrics, &ss, &len))
		return cfg_fail(c, config_setting_get_member(root, "metrics"),
			    "metrics \"%s\" is not an address and port to listen on (like \"127.0.0.1:9477\" or \"[::1]:9477\")",
			    cfg->metrics);
	return 0;
}

/* libconfig stops at the first syntax error and says only that; the
 * explanation (what was expected where) is cfg_syntax_explain()'s. */
static int read_file(config_t *lc, const char *path, char *err, size_t errlen)
{
	char why[CFG_ERR_MAX];
	int ret, line;

	errno = 0;
	if (config_read_file(lc, path))
		return 0;
	if (config_error_type(lc) == CONFIG_ERR_FILE_IO) {
		/* libconfig keeps fopen()'s errno but not its text. */
		ret = errno ? -errno : -EIO;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	line = config_error_line(lc);
	if (!strcmp(config_error_text(lc), "syntax error") &&
	    !cfg_syntax_explain(config_error_file(lc) ?: path, &line, why,
				sizeof(why)))
		snprintf(err, errlen, "%s:%d: syntax error: %s",
			 config_error_file(lc) ?: path, line, why);
	else
		snprintf(err, errlen, "%s:%d: %s%s", config_error_file(lc) ?: path,
			 line, config_error_text(lc),
			 strcmp(config_error_text(lc), "duplicate setting name") ? "" :
			 " (a key may be set once in a group: remove one)");
	return -EINVAL;
}

static int load(struct cfg *cfg, const char *path, char *err, size_t errlen,
		bool offline)
{
	struct cfg_ctx c = { .file = path, .cfg = cfg, .offline = offline };
	char dummy[1];
	config_setting_t *root;
	config_t lc;
	int ret, idle;

	memset(cfg, 0, sizeof(*cfg));
	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	if (strlen(path) >= sizeof(cfg->file)) {
		snprintf(err, errlen, "%s: the path is too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(cfg->file, path);

	config_init(&lc);
	ret = read_file(&lc, path, err, errlen);
	if (ret)
		goto out;
	root = config_root_setting(&lc);
	ret = cfg_check_keys(&c, root, "", top_keys);
	ret |= load_pools(&c, root, cfg);
	ret |= load_ifaces(&c, root, cfg);
	ret |= load_vms(&c, root);
	ret |= cfg_get_u32(&c, root, "", "batch", 64, 1, 256, &cfg->batch);
	ret |= cfg_get_u32(&c, root, "", "guest_timeout", 5000, 0, 600000,
		       &cfg->guest_timeout);
	ret |= cfg_get_u32(&c, root, "", "doorbell_usecs", 20, 0, CFG_USECS_MAX,
		       &cfg->doorbell_usecs);
	ret |= cfg_get_u32(&c, root, "", "doorbell_max_usecs",
		       CFG_DOORBELL_MAX_DEF, 0, CFG_USECS_MAX,
		       &cfg->doorbell_max_usecs);
	ret |= cfg_get_u32(&c, root, "", "max_sleep_usecs", 0, 0,
		       CFG_MAX_SLEEP_USECS, &cfg->max_sleep_usecs);
	ret |= cfg_get_enum(&c, root, "", "idle", idle_names, CFG_IDLE_ADAPTIVE,
			&idle);
	cfg->idle = idle;
	ret |= cfg_get_u32(&c, root, "", "poll_usecs", CFG_POLL_USECS_DEF, 0,
		       CFG_POLL_USECS_MAX, &cfg->poll_usecs);
	if (cfg_get_str(&c, root, "", "control", cfg->control,
		    sizeof(cfg->control), DEFAULT_CONTROL, NULL)) {
		strcpy(cfg->control, DEFAULT_CONTROL);
		ret = -EINVAL;
	}
	ret |= cfg_get_enum(&c, root, "", "handoff", handoff_names, 0,
			&cfg->handoff_copy);
	ret |= finish_vms(&c);
	ret |= load_group(&c, root, cfg);
	ret |= load_metrics(&c, root, cfg);
	if (c.n || c.oom)
		ret = -EINVAL;
	cfg_report_mistakes(&c, err, errlen);
out:
	for (int i = 0; i < c.n; i++)
		free(c.m[i].text);
	free(c.m);
	config_destroy(&lc);
	return ret;
}

int cfg_load(struct cfg *cfg, const char *path, char *err, size_t errlen)
{
	return load(cfg, path, err, errlen, false);
}
int cfg_load_offline(struct cfg *cfg, const char *path, char *err,
		     size_t errlen)
{
	return load(cfg, path, err, errlen, true);
}

int cfg_parse_listen(const char *s, struct sockaddr_storage *ss,
		     socklen_t *len)
{
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	const char *colon = strrchr(s, ':');
	char host[INET6_ADDRSTRLEN + 2], *end;
	size_t n = colon ? (size_t)(colon - s) : 0;
	long port;

	if (!colon || !n || n >= sizeof(host) || !colon[1])
		return -EINVAL;
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535)
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && host[n - 1] == ']') {
		host[n - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
			return -EINVAL;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		return 0;
	}
	if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
		return -EINVAL;
	a4->sin_family = AF_INET;
	a4->sin_port = htons((uint16_t)port);
	*len = sizeof(*a4);
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower((unsigned char)ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

int cfg_parse_mac(const char *s, uint8_t mac[6])
{
	uint8_t m[6];

	for (int i = 0; i < 6; i++, s += 3) {
		int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);

		if (lo < 0 || s[2] != (i < 5 ? ':' : '\0'))
			return -EINVAL;
		m[i] = hi << 4 | lo;
	}
	memcpy(mac, m, 6);
	return 0;
}

const char *cfg_scrub_name(enum cfg_scrub s)
{
	return (unsigned int)s < 3 ? scrub_names[s] : "unknown";
}

const char *cfg_idle_name(enum cfg_idle m)
{
	return (unsigned int)m < 2 ? idle_names[m] : "unknown";
}

int cfg_idle_parse(const char *name)
{
	for (int i = 0; idle_names[i]; i++)
		if (!strcmp(name, idle_names[i]))
			return i;
	return -EINVAL;
}
