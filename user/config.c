// SPDX-License-Identifier: MIT
/*
 * Configuration loading.
 *
 * libconfig parses the file; everything after that is ours. Each group is
 * walked twice: once for keys we do not know, so that a typo ("qouta") is an
 * error instead of a silently applied default, and once for the keys we do
 * know, each checked for type and range with a getter that fills in the
 * default when the key is absent. Checks that span entries (duplicates, an
 * uplink naming an interface) run as each entry is read, against the
 * entries before it, so the message can name both lines.
 *
 * Every failure goes through fail(), which formats "FILE:LINE: message" from
 * the setting at fault. A key that is missing has no line of its own; the
 * message then points at the group that should hold it, and at no line at
 * all for a top-level key. cfg_load() has one exit, so config_destroy()
 * runs whatever failed.
 *
 * libconfig 1.5 wraps a decimal integer that does not fit 32 bits before we
 * see it (frames = 5000000000 reads as 705032704); only the L suffix keeps
 * it 64-bit. The ranges below cannot catch that, and nothing here tries.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <libconfig.h>

#include "config.h"

#define DEFAULT_CONTROL "/run/flipswitch/flipswitch.sock"

struct ctx {
	const char *file;
	char *err;
	size_t errlen;
	const struct cfg *cfg;
	int pool_path_line;
	bool offline;  /* the interfaces may live elsewhere (another netns) */
};

static const char *const top_keys[] = {
	"pool", "interfaces", "vms", "batch", "guest_timeout", "doorbell_usecs",
	"max_sleep_usecs", "handoff", "control", "control_group", NULL };
static const char *const pool_keys[] = {
	"path", "frames", "frame_size", "scrub", NULL };
static const char *const iface_keys[] = {
	"name", "xdp_mode", "zerocopy", "queues", "ring_size", NULL };
static const char *const vm_keys[] = {
	"name", "mac", "vlan", "rings", "quota", "ring_size", "uplink",
	"doorbell", "doorbell_usecs", NULL };

/* Indexed by the enums in config.h. */
static const char *const scrub_names[] = { "off", "used", "full", NULL };
static const char *const xdp_names[] = { "auto", "native", "generic", NULL };
static const char *const zc_names[] = { "auto", "on", "off", NULL };
static const char *const handoff_names[] = { "zerocopy", "copy", NULL };

static __attribute__((format(printf, 3, 4)))
int fail(struct ctx *c, const config_setting_t *s, const char *fmt, ...)
{
	int line = s ? config_setting_source_line(s) : 0;
	const char *file = c->file;
	va_list ap;
	int n;

	if (!c->err || !c->errlen)
		return -EINVAL;
	/* A setting from an @include file carries that file's name. */
	if (s && config_setting_source_file(s))
		file = config_setting_source_file(s);
	if (line)
		n = snprintf(c->err, c->errlen, "%s:%d: ", file, line);
	else
		n = snprintf(c->err, c->errlen, "%s: ", file);
	if (n < 0 || (size_t)n >= c->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Joins a NULL-terminated list into buf, each word wrapped in q. */
static const char *join(char *buf, size_t size, const char *const *words,
			const char *q)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; words[i] && n < size; i++)
		n += snprintf(buf + n, size - n, "%s%s%s%s", i ? ", " : "", q,
			      words[i], q);
	return buf;
}

/* "pool" becomes "pool: ", the top level (what == "") stays bare. */
static const char *sep(const char *what)
{
	return what[0] ? ": " : "";
}

static const char *type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return "a group { ... }";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a floating point number";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array [ ... ]";
	case CONFIG_TYPE_LIST:
		return "a list ( ... )";
	}
	return "nothing";
}

/* what is "" for the top level, else the group ("pool", "vm \"web1\""). */
static int check_keys(struct ctx *c, const config_setting_t *g,
		      const char *what, const char *const *allowed)
{
	char list[128];

	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, i);
		const char *name = config_setting_name(s);
		int k;

		for (k = 0; allowed[k] && strcmp(allowed[k], name); k++)
			;
		if (!allowed[k])
			return fail(c, s, "unknown key \"%s\" %s%s (allowed: %s)",
				    name, what[0] ? "in " : "at the top level",
				    what, join(list, sizeof(list), allowed, ""));
	}
	return 0;
}

/* Checks the type of s; an integer may be stored as int or int64 and a list
 * of groups may be written as an (empty) array. */
static int want(struct ctx *c, const config_setting_t *s, const char *what,
		const char *key, int type)
{
	int t = config_setting_type(s);

	if (t == type || (type == CONFIG_TYPE_INT && t == CONFIG_TYPE_INT64) ||
	    (type == CONFIG_TYPE_LIST && t == CONFIG_TYPE_ARRAY))
		return 0;
	return fail(c, s, "%s%s%s must be %s, not %s", what, sep(what), key,
		    type_name(type), type_name(t));
}

/* Finds key in g and checks its type; *out is NULL if the key is absent. */
static int lookup(struct ctx *c, const config_setting_t *g, const char *what,
		  const char *key, int type, config_setting_t **out)
{
	*out = config_setting_get_member(g, key);
	return *out ? want(c, *out, what, key, type) : 0;
}

/* Reads an integer key, def if absent; *sp is the setting or NULL. */
static int get_int(struct ctx *c, const config_setting_t *g, const char *what,
		   const char *key, long long def, long long *v,
		   config_setting_t **sp)
{
	int ret;

	ret = lookup(c, g, what, key, CONFIG_TYPE_INT, sp);
	*v = ret || !*sp ? def : config_setting_get_int64(*sp);
	return ret;
}

static int get_u32(struct ctx *c, const config_setting_t *g, const char *what,
		   const char *key, long long def, long long min, long long max,
		   uint32_t *out)
{
	config_setting_t *s;
	long long v;
	int ret;

	ret = get_int(c, g, what, key, def, &v, &s);
	if (ret)
		return ret;
	if (v < min || v > max)
		return fail(c, s, "%s%s%s %lld is out of range (%lld .. %lld)",
			    what, sep(what), key, v, min, max);
	*out = (uint32_t)v;
	return 0;
}

/* A power of two in [min, max], for ring sizes; 0 if absent. */
static int get_pow2(struct ctx *c, const config_setting_t *g, const char *what,
		    long long min, long long max, uint32_t *out)
{
	config_setting_t *s;
	long long v;
	int ret;

	ret = get_int(c, g, what, "ring_size", 0, &v, &s);
	if (ret || !s)
		return ret;
	if (v < min || v > max || (v & (v - 1)))
		return fail(c, s, "%s: ring_size %lld is not a power of two from %lld to %lld",
			    what, v, min, max);
	*out = (uint32_t)v;
	return 0;
}

/* def == NULL makes the key required; hint then says what to add. */
static int get_str(struct ctx *c, const config_setting_t *g, const char *what,
		   const char *key, char *buf, size_t size, const char *def,
		   const char *hint)
{
	config_setting_t *s;
	const char *v = def;
	int ret;

	ret = lookup(c, g, what, key, CONFIG_TYPE_STRING, &s);
	if (ret)
		return ret;
	if (s)
		v = config_setting_get_string(s);
	else if (!def)
		return fail(c, g, "%s%s%s is missing (add %s)", what, sep(what),
			    key, hint);
	if (!v[0])
		return fail(c, s, "%s%s%s must not be empty", what, sep(what), key);
	if (strlen(v) >= size)
		return fail(c, s, "%s%s%s is too long (at most %zu characters)",
			    what, sep(what), key, size - 1);
	strcpy(buf, v);
	return 0;
}

static int get_enum(struct ctx *c, const config_setting_t *g, const char *what,
		    const char *key, const char *const *names, int def, int *out)
{
	config_setting_t *s;
	const char *v;
	char list[64];
	int ret;

	ret = lookup(c, g, what, key, CONFIG_TYPE_STRING, &s);
	if (ret)
		return ret;
	*out = def;
	if (!s)
		return 0;
	v = config_setting_get_string(s);
	for (int i = 0; names[i]; i++) {
		if (!strcmp(v, names[i])) {
			*out = i;
			return 0;
		}
	}
	return fail(c, s, "%s%s%s \"%s\" is not one of %s", what, sep(what), key,
		    v, join(list, sizeof(list), names, "\""));
}

static int line_of(const config_setting_t *g, const char *key)
{
	const config_setting_t *s = config_setting_get_member(g, key);

	return s ? config_setting_source_line(s) : config_setting_source_line(g);
}

static int load_pool(struct ctx *c, const config_setting_t *root,
		     struct cfg_pool *p)
{
	config_setting_t *g, *s;
	long long fsize;
	int ret, scrub;

	ret = lookup(c, root, "", "pool", CONFIG_TYPE_GROUP, &g);
	if (ret)
		return ret;
	if (!g)
		return fail(c, NULL, "pool is missing (add pool = { path = \"/dev/shm/flipswitch-pool\"; };)");
	ret = check_keys(c, g, "pool", pool_keys);
	if (!ret)
		ret = get_str(c, g, "pool", "path", p->path, sizeof(p->path), NULL,
			      "a file on tmpfs or hugetlbfs: path = \"/dev/shm/flipswitch-pool\";");
	if (!ret)
		ret = get_u32(c, g, "pool", "frames", 16384, 64, 1048576, &p->frames);
	if (!ret)
		ret = get_int(c, g, "pool", "frame_size", 2048, &fsize, &s);
	if (!ret)
		ret = get_enum(c, g, "pool", "scrub", scrub_names, CFG_SCRUB_USED,
			       &scrub);
	if (ret)
		return ret;
	/* The kernel takes a power of two from 2048 up to the page size. */
	if (fsize != 2048 && fsize != 4096)
		return fail(c, s, "pool: frame_size %lld is refused by the kernel's AF_XDP (aligned mode needs 2048 or 4096)",
			    fsize);
	p->frame_size = fsize;
	p->scrub = scrub;
	c->pool_path_line = line_of(g, "path");
	return 0;
}

static int load_iface(struct ctx *c, const config_setting_t *g, int idx,
		      struct cfg_iface *ifc)
{
	const struct cfg *cfg = c->cfg;
	char what[32];
	int ret, mode = 0, zc = 0;

	snprintf(what, sizeof(what), "interface %d", idx + 1);
	ret = want(c, g, "interfaces", what, CONFIG_TYPE_GROUP);
	if (!ret)
		ret = get_str(c, g, what, "name", ifc->name, sizeof(ifc->name),
			      NULL, "name = \"eth0\";");
	if (ret)
		return ret;
	snprintf(what, sizeof(what), "interface \"%s\"", ifc->name);
	ifc->line = config_setting_source_line(g);
	for (int j = 0; j < idx; j++)
		if (!strcmp(cfg->ifaces[j].name, ifc->name))
			return fail(c, g, "%s is listed twice (also on line %d; remove one)",
				    what, cfg->ifaces[j].line);
	ifc->ifindex = if_nametoindex(ifc->name);
	if (!ifc->ifindex && !c->offline)
		return fail(c, config_setting_get_member(g, "name"),
			    "%s does not exist (ip link show lists the interfaces)",
			    what);
	ifc->ring_size = 2048;
	ret = check_keys(c, g, what, iface_keys);
	if (!ret)
		ret = get_enum(c, g, what, "xdp_mode", xdp_names, CFG_XDP_AUTO,
			       &mode);
	if (!ret)
		ret = get_enum(c, g, what, "zerocopy", zc_names, CFG_ZC_AUTO, &zc);
	if (!ret)
		ret = get_u32(c, g, what, "queues", 0, 0, 64, &ifc->queues);
	if (!ret)
		ret = get_pow2(c, g, what, 64, 16384, &ifc->ring_size);
	ifc->xdp_mode = mode;
	ifc->zerocopy = zc;
	return ret;
}

static int load_ifaces(struct ctx *c, const config_setting_t *root,
		       struct cfg *cfg)
{
	config_setting_t *l;
	int ret, n;

	ret = lookup(c, root, "", "interfaces", CONFIG_TYPE_LIST, &l);
	if (ret)
		return ret;
	if (!l)
		return fail(c, NULL, "interfaces is missing (add interfaces = ( { name = \"eth0\"; } );)");
	n = config_setting_length(l);
	if (n == 0)
		return fail(c, l, "interfaces is empty (list at least one, like ( { name = \"eth0\"; } ))");
	if (n > CFG_MAX_IFACES)
		return fail(c, l, "interfaces has %d entries, more than %d (run another flipswitchd for the rest)",
			    n, CFG_MAX_IFACES);
	for (int i = 0; i < n; i++) {
		ret = load_iface(c, config_setting_get_elem(l, i), i,
				 &cfg->ifaces[i]);
		if (ret)
			return ret;
		cfg->n_ifaces++;
	}
	return 0;
}

static void mac_str(char buf[18], const uint8_t m[6])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x",
		 m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* Checks that vm idx differs from every VM before it in name, (mac, vlan)
 * and rings, and that its rings file is not the pool's. */
static int check_vm_unique(struct ctx *c, const config_setting_t *l, int idx)
{
	const struct cfg *cfg = c->cfg;
	const struct cfg_vm *v = &cfg->vms[idx];
	const config_setting_t *g = config_setting_get_elem(l, idx);
	char mac[18];

	for (int j = 0; j < idx; j++) {
		const struct cfg_vm *o = &cfg->vms[j];
		const config_setting_t *og = config_setting_get_elem(l, j);

		if (!strcmp(o->name, v->name))
			return fail(c, config_setting_get_member(g, "name"),
				    "vm \"%s\" is defined twice (also on line %d; rename one)",
				    v->name, line_of(og, "name"));
		if (!memcmp(o->mac, v->mac, 6) && o->vlan == v->vlan) {
			mac_str(mac, v->mac);
			return fail(c, config_setting_get_member(g, "mac"),
				    "vm \"%s\": mac %s is already used by vm \"%s\" (line %d; give each VM on a vlan its own MAC)",
				    v->name, mac, o->name, line_of(og, "mac"));
		}
		if (!strcmp(o->rings, v->rings))
			return fail(c, config_setting_get_member(g, "rings"),
				    "vm \"%s\": rings \"%s\" is already used by vm \"%s\" (line %d; give each VM its own file)",
				    v->name, v->rings, o->name, line_of(og, "rings"));
	}
	if (!strcmp(v->rings, cfg->pool.path))
		return fail(c, config_setting_get_member(g, "rings"),
			    "vm \"%s\": rings \"%s\" is the pool's path (line %d; give the VM a file of its own)",
			    v->name, v->rings, c->pool_path_line);
	return 0;
}

static int load_vm(struct ctx *c, const config_setting_t *g, int idx,
		   struct cfg_vm *v)
{
	const struct cfg *cfg = c->cfg;
	config_setting_t *s;
	char what[48], buf[PATH_MAX];
	const char *bad;
	long long quota, usecs = CFG_USECS_INHERIT;
	uint32_t u;
	int ret;

	snprintf(what, sizeof(what), "vm %d", idx + 1);
	ret = want(c, g, "vms", what, CONFIG_TYPE_GROUP);
	if (!ret)
		ret = get_str(c, g, what, "name", v->name, sizeof(v->name), NULL,
			      "name = \"web1\";");
	if (ret)
		return ret;
	bad = v->name + strspn(v->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");
	if (*bad)
		return fail(c, config_setting_get_member(g, "name"),
			    "%s: name \"%s\" has a '%c' (use only A-Z a-z 0-9 _ . -)",
			    what, v->name, *bad);
	snprintf(what, sizeof(what), "vm \"%s\"", v->name);
	v->line = config_setting_source_line(g);
	ret = check_keys(c, g, what, vm_keys);
	if (!ret)
		ret = get_str(c, g, what, "mac", buf, sizeof(buf), NULL,
			      "the guest's MAC: mac = \"52:54:00:12:34:56\";");
	if (ret)
		return ret;
	s = config_setting_get_member(g, "mac");
	if (cfg_parse_mac(buf, v->mac))
		return fail(c, s, "%s: mac \"%s\" is not a MAC address (six hex byte pairs separated by ':', like 52:54:00:12:34:56)",
			    what, buf);
	if (v->mac[0] & 1)
		return fail(c, s, "%s: mac %s is a multicast address (a VM needs a unicast one: clear bit 0 of the first byte, like 52:54:00:12:34:56)",
			    what, buf);
	if (!(v->mac[0] | v->mac[1] | v->mac[2] | v->mac[3] | v->mac[4] | v->mac[5]))
		return fail(c, s, "%s: mac %s is all zeros (pick a unicast address, like 52:54:00:12:34:56)",
			    what, buf);
	ret = get_u32(c, g, what, "vlan", 0, 0, 4094, &u);
	if (!ret)
		ret = get_str(c, g, what, "rings", v->rings, sizeof(v->rings), NULL,
			      "the VM's ring file: rings = \"/dev/shm/flipswitch-NAME\";");
	if (!ret)
		ret = lookup(c, g, what, "doorbell", CONFIG_TYPE_STRING, &s);
	if (!ret && s) {
		const char *d = config_setting_get_string(s);

		if (!d[0] || strlen(d) >= sizeof(v->doorbell))
			return fail(c, s, "%s: doorbell \"%s\" must be a socket path of 1 to %zu characters, or \"off\"",
				    what, d, sizeof(v->doorbell) - 1);
		/* "off" stays "off" until the defaults are filled in. */
		strcpy(v->doorbell, d);
	}
	/* Absent: the top-level setting, filled in by finish_doorbells. */
	if (!ret)
		ret = get_int(c, g, what, "doorbell_usecs", CFG_USECS_INHERIT,
			      &usecs, &s);
	if (!ret && s && (usecs < 0 || usecs > CFG_USECS_MAX))
		return fail(c, s, "%s: doorbell_usecs %lld is out of range (0 .. %d)",
			    what, usecs, CFG_USECS_MAX);
	v->doorbell_usecs = (uint32_t)usecs;
	if (!ret)
		ret = get_int(c, g, what, "quota", 1024, &quota, &s);
	if (ret)
		return ret;
	if (quota < 1 || quota > cfg->pool.frames)
		return fail(c, s, "%s: quota %lld is out of range (1 .. %u, the pool's frames)",
			    what, quota, cfg->pool.frames);
	v->quota = quota;
	v->vlan = u;

	/* A ring must be able to hold every frame the VM may hold, or a full
	 * ring would strand frames the VM is still owed. */
	ret = get_pow2(c, g, what, 64, 32768, &v->ring_size);
	if (ret)
		return ret;
	s = config_setting_get_member(g, "ring_size");
	if (!s) {
		for (v->ring_size = 256; v->ring_size < v->quota;)
			v->ring_size <<= 1;
		if (v->ring_size > 32768)
			return fail(c, config_setting_get_member(g, "quota"),
				    "%s: quota %u needs a ring larger than 32768 entries, the most a VM ring may have (lower the quota to 32768 or less)",
				    what, v->quota);
	} else if (v->ring_size < v->quota) {
		return fail(c, s, "%s: ring_size %u is smaller than quota %u (a ring must be able to hold every frame the VM may hold: raise ring_size or lower quota)",
			    what, v->ring_size, v->quota);
	}

	ret = lookup(c, g, what, "uplink", CONFIG_TYPE_STRING, &s);
	if (ret || !s)
		return ret;
	for (v->uplink = 0; v->uplink < cfg->n_ifaces; v->uplink++)
		if (!strcmp(cfg->ifaces[v->uplink].name, config_setting_get_string(s)))
			return 0;
	buf[0] = '\0';
	for (int i = 0, n = 0; i < cfg->n_ifaces; i++)
		n += snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? ", " : "",
			      cfg->ifaces[i].name);
	return fail(c, s, "%s: uplink \"%s\" is not one of the configured interfaces (%s)",
		    what, config_setting_get_string(s), buf);
}

static int load_vms(struct ctx *c, const config_setting_t *root,
		    struct cfg *cfg)
{
	config_setting_t *l;
	int ret, n;

	ret = lookup(c, root, "", "vms", CONFIG_TYPE_LIST, &l);
	if (ret || !l)
		return ret;
	n = config_setting_length(l);
	if (n > CFG_MAX_VMS)
		return fail(c, l, "vms has %d entries, more than %d (run another flipswitchd for the rest)",
			    n, CFG_MAX_VMS);
	for (int i = 0; i < n; i++) {
		ret = load_vm(c, config_setting_get_elem(l, i), i, &cfg->vms[i]);
		if (!ret)
			ret = check_vm_unique(c, l, i);
		if (ret)
			return ret;
		cfg->n_vms++;
	}
	return 0;
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

/* Once the control socket's path is known: default doorbell paths, "off",
 * and no two VMs on one socket. */
static int finish_doorbells(struct ctx *c, const config_setting_t *root)
{
	struct cfg *cfg = (struct cfg *)c->cfg;
	const config_setting_t *l = config_setting_get_member(root, "vms");

	for (int i = 0; i < cfg->n_vms; i++) {
		struct cfg_vm *v = &cfg->vms[i];
		const config_setting_t *g = config_setting_get_elem(l, i);

		if (v->doorbell_usecs == CFG_USECS_INHERIT)
			v->doorbell_usecs = cfg->doorbell_usecs;
		if (!strcmp(v->doorbell, "off")) {
			v->doorbell[0] = '\0';
			continue;
		}
		if (!v->doorbell[0] &&
		    cfg_doorbell_default(cfg->control, v->name, v->doorbell,
					 sizeof(v->doorbell)))
			return fail(c, g, "vm \"%s\": its doorbell socket next to %s would be longer than 107 bytes (set doorbell = \"/run/flipswitch/%s.doorbell\"; or \"off\")",
				    v->name, cfg->control, v->name);
		for (int j = 0; j < i; j++)
			if (!strcmp(cfg->vms[j].doorbell, v->doorbell))
				return fail(c, config_setting_get_member(g, "doorbell"),
					    "vm \"%s\": doorbell \"%s\" is already vm \"%s\"'s (give each VM its own socket)",
					    v->name, v->doorbell, cfg->vms[j].name);
	}
	return 0;
}

static int load(struct cfg *cfg, const char *path, char *err, size_t errlen,
		bool offline)
{
	struct ctx c = { .file = path, .err = err, .errlen = errlen, .cfg = cfg,
			 .offline = offline };
	config_setting_t *root;
	config_t lc;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	if (err && errlen)
		err[0] = '\0';
	if (strlen(path) >= sizeof(cfg->file)) {
		fail(&c, NULL, "the path is too long");
		return -ENAMETOOLONG;
	}
	strcpy(cfg->file, path);

	config_init(&lc);
	errno = 0;
	if (!config_read_file(&lc, path)) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO) {
			/* libconfig keeps fopen()'s errno but not its text. */
			ret = errno ? -errno : -EIO;
			if (err && errlen)
				snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		} else {
			ret = -EINVAL;
			if (err && errlen)
				snprintf(err, errlen, "%s:%d: %s",
					 config_error_file(&lc) ?: path,
					 config_error_line(&lc),
					 config_error_text(&lc));
		}
		goto out;
	}
	root = config_root_setting(&lc);
	ret = check_keys(&c, root, "", top_keys);
	if (!ret)
		ret = load_pool(&c, root, &cfg->pool);
	if (!ret)
		ret = load_ifaces(&c, root, cfg);
	if (!ret)
		ret = load_vms(&c, root, cfg);
	if (!ret)
		ret = get_u32(&c, root, "", "batch", 64, 1, 256, &cfg->batch);
	if (!ret)
		ret = get_u32(&c, root, "", "guest_timeout", 5000, 0, 600000,
			      &cfg->guest_timeout);
	if (!ret)
		ret = get_u32(&c, root, "", "doorbell_usecs", 20, 0,
			      CFG_USECS_MAX, &cfg->doorbell_usecs);
	if (!ret)
		ret = get_u32(&c, root, "", "max_sleep_usecs", 0, 0,
			      CFG_MAX_SLEEP_USECS, &cfg->max_sleep_usecs);
	if (!ret)
		ret = get_str(&c, root, "", "control", cfg->control,
			      sizeof(cfg->control), DEFAULT_CONTROL, NULL);
	if (!ret)
		ret = get_enum(&c, root, "", "handoff", handoff_names, 0,
			       &cfg->handoff_copy);
	if (!ret)
		ret = finish_doorbells(&c, root);
	if (!ret && config_setting_get_member(root, "control_group")) {
		config_setting_t *g = config_setting_get_member(root,
								"control_group");
		struct group *gr;

		ret = get_str(&c, root, "", "control_group", cfg->control_group,
			      sizeof(cfg->control_group), NULL, NULL);
		if (!ret && !(gr = getgrnam(cfg->control_group)))
			ret = fail(&c, g, "control_group \"%s\" is not a group on this system (getent group lists them)",
				   cfg->control_group);
		else if (!ret)
			cfg->control_gid = gr->gr_gid;
	}
out:
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
