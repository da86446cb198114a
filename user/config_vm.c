// SPDX-License-Identifier: MIT
/*
 * The VM rule: what a VM may be, for the config file and for `vm add`
 * alike (config.h, struct cfg_vm_spec).
 *
 * Each check reports every mistake it finds, as a sentence that starts
 * with the VM's name and ends with the fix, and names the key at fault so
 * the config loader can point at its line. A value is copied into the
 * struct cfg_vm only once it passed, so cfg_vm_conflict() compares only
 * what is known to be good, even in a VM that has other mistakes.
 */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static void mac_str(char buf[18], const uint8_t m[6])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x",
		 m[0], m[1], m[2], m[3], m[4], m[5]);
}

#define VM_RING_MIN 64
#define VM_RING_MAX 32768
#define VM_QUOTA_DEFAULT 1024
_Static_assert(VM_RING_MAX - 1 <= UINT16_MAX,
	       "a VM ring's mask fits vmport.rx_mask");
#define VM_NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

struct vm_say {
	cfg_vm_report_fn *report;
	void *arg;
	const char *name;
	int n;
};

static __attribute__((format(printf, 3, 4)))
void say(struct vm_say *s, const char *key, const char *fmt, ...)
{
	char msg[CFG_ERR_MAX];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "vm \"%.64s\": ", s->name);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	va_end(ap);
	s->n++;
	s->report(s->arg, key, msg);
}

static void check_vm_name(struct vm_say *s, const char *name, struct cfg_vm *v)
{
	const char *bad = name + strspn(name, VM_NAME_CHARS);

	if (!name[0])
		say(s, "name", "name must not be empty (use 1 to %zu of A-Z a-z 0-9 _ . -)",
		    sizeof(v->name) - 1);
	else if (strlen(name) >= sizeof(v->name))
		say(s, "name", "name is too long (at most %zu characters)",
		    sizeof(v->name) - 1);
	else if (*bad)
		say(s, "name", "name has a '%c' (use only A-Z a-z 0-9 _ . -)",
		    *bad);
	else
		strcpy(v->name, name);
}

static void check_vm_mac(struct vm_say *s, const char *mac, struct cfg_vm *v)
{
	const uint8_t *m = v->mac;

	if (cfg_parse_mac(mac, v->mac))
		say(s, "mac", "mac \"%s\" is not a MAC address (six hex byte pairs separated by ':', like 52:54:00:12:34:56)",
		    mac);
	else if (m[0] & 1)
		say(s, "mac", "mac %s is a multicast address (a VM needs a unicast one: clear bit 0 of the first byte, like 52:54:00:12:34:56)",
		    mac);
	else if (!(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]))
		say(s, "mac", "mac %s is all zeros (pick a unicast address, like 52:54:00:12:34:56)",
		    mac);
	else
		return;
	/* All zeros: no MAC to compare in cfg_vm_conflict(). */
	memset(v->mac, 0, sizeof(v->mac));
}

int cfg_pool_find(const struct cfg *cfg, const char *name)
{
	for (int i = 0; i < cfg_n_pools(cfg); i++)
		if (!strcmp(cfg->pools[i].name, name))
			return i;
	return -1;
}

int cfg_pool_default(const struct cfg *cfg)
{
	return cfg_n_pools(cfg) == 1 ? 0 : cfg_pool_find(cfg, "default");
}

const char *cfg_pool_names(const struct cfg *cfg, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < cfg_n_pools(cfg) && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s\"%s\"",
				      i ? ", " : "", cfg->pools[i].name);
	return buf;
}

static bool rings_is_pool(const struct cfg *cfg, const char *rings)
{
	for (int i = 0; i < cfg_n_pools(cfg); i++)
		if (!strcmp(rings, cfg->pools[i].path))
			return true;
	return false;
}

/* The VM's pool: named, or the default one. */
static void check_vm_pool(struct vm_say *s, const struct cfg_vm_spec *sp,
			  const struct cfg *cfg, struct cfg_vm *v)
{
	char list[256];

	v->pool = sp->pool ? cfg_pool_find(cfg, sp->pool) : cfg_pool_default(cfg);
	if (v->pool >= 0)
		return;
	if (sp->pool)
		say(s, "pool", "pool \"%s\" is not defined (the pools: %s)",
		    sp->pool, cfg_pool_names(cfg, list, sizeof(list)));
	else
		say(s, "pool", "pool is missing (there are several pools and none is \"default\": add pool = \"%s\";)",
		    cfg->pools[0].name);
	v->pool = 0; /* for the quota's range */
}

/* allowed_macs: each a unicast MAC, none twice, none the VM's own (it
 * needs no listing), at most CFG_MAX_ALLOWED_MACS. */
static void check_vm_allowed(struct vm_say *s, const struct cfg_vm_spec *sp,
			     struct cfg_vm *v)
{
	uint8_t m[6];

	if (sp->n_allowed_macs > CFG_MAX_ALLOWED_MACS) {
		say(s, "allowed_macs", "allowed_macs has %d MACs, more than %d (list only the source MACs the guest sends with)",
		    sp->n_allowed_macs, CFG_MAX_ALLOWED_MACS);
		return;
	}
	for (int i = 0; i < sp->n_allowed_macs; i++) {
		const char *a = sp->allowed_macs[i];
		bool dup = false;

		if (!a || cfg_parse_mac(a, m)) {
			say(s, "allowed_macs", "allowed_macs entry %d \"%s\" is not a MAC address (six hex byte pairs separated by ':', like 52:54:00:12:34:56)",
			    i + 1, a ? a : "");
			continue;
		}
		if ((m[0] & 1) || !(m[0] | m[1] | m[2] | m[3] | m[4] | m[5])) {
			say(s, "allowed_macs", "allowed_macs entry %d %s is not a unicast address (a frame's source is unicast: clear bit 0 of the first byte, and not all zeros)",
			    i + 1, a);
			continue;
		}
		for (uint32_t k = 0; k < v->n_allowed_macs; k++)
			dup |= !memcmp(v->allowed_macs[k], m, 6);
		if (dup)
			say(s, "allowed_macs", "allowed_macs lists %s twice (list each MAC once)",
			    a);
		else if (!memcmp(m, v->mac, 6))
			say(s, "allowed_macs", "allowed_macs lists %s, the VM's own mac (it may always send with it: leave it out)",
			    a);
		else
			memcpy(v->allowed_macs[v->n_allowed_macs++], m, 6);
	}
}

static void check_vm_files(struct vm_say *s, const struct cfg_vm_spec *sp,
			   const struct cfg *cfg, struct cfg_vm *v)
{
	if (sp->sealed && sp->rings)
		say(s, "rings", "rings \"%s\" is not used by a sealed VM (its region is a sealed memfd, handed to QEMU only on its doorbell): leave rings out, or drop sealed = true",
		    sp->rings);
	else if (!sp->rings && !sp->sealed)
		say(s, NULL, "rings is missing (the VM's ring file: rings = \"/dev/shm/flipswitch-%.32s\";, or sealed = true; for a sealed memfd served on the doorbell)",
		    sp->name ? sp->name : "NAME");
	else if (!sp->rings)
		;
	else if (!sp->rings[0])
		say(s, "rings", "rings must not be empty (a file path, like /dev/shm/flipswitch-%.32s)",
		    sp->name);
	else if (strlen(sp->rings) >= sizeof(v->rings))
		say(s, "rings", "rings is too long (at most %zu characters)",
		    sizeof(v->rings) - 1);
	else if (rings_is_pool(cfg, sp->rings))
		say(s, "rings", "rings \"%s\" is the pool's path (give the VM a file of its own)",
		    sp->rings);
	else
		strcpy(v->rings, sp->rings);
	/* "off" stays "off" until cfg_vm_finish(). */
	if (sp->doorbell && (!sp->doorbell[0] ||
			     strlen(sp->doorbell) >= sizeof(v->doorbell)))
		say(s, "doorbell", "doorbell \"%s\" must be a socket path of 1 to %zu characters, or \"off\"",
		    sp->doorbell, sizeof(v->doorbell) - 1);
	else if (sp->doorbell)
		strcpy(v->doorbell, sp->doorbell);
	/* A sealed region has no path: the doorbell is how QEMU gets it. */
	if (sp->sealed && sp->doorbell && !strcmp(sp->doorbell, "off"))
		say(s, "sealed", "sealed = true needs a doorbell, the only way its region reaches QEMU (leave doorbell out for the default socket, give it a socket path, or drop sealed)");
	v->sealed = sp->sealed;
}

/* A ring must be able to hold every frame the VM may hold, or a full ring
 * would strand frames the VM is still owed. */
static void check_vm_ring(struct vm_say *s, const struct cfg_vm_spec *sp,
			  const struct cfg *cfg, struct cfg_vm *v)
{
	long long quota = sp->has_quota ? sp->quota : VM_QUOTA_DEFAULT;
	long long rs = sp->ring_size;
	uint32_t frames = cfg->pools[v->pool].frames;
	bool quota_ok = quota >= 1 && quota <= frames;

	if (!quota_ok)
		say(s, "quota", "quota %lld is out of range (1 .. %u, the pool's frames)",
		    quota, frames);
	else
		v->quota = (uint32_t)quota;
	if (sp->has_ring_size) {
		if (rs < VM_RING_MIN || rs > VM_RING_MAX || (rs & (rs - 1)))
			say(s, "ring_size", "ring_size %lld is not a power of two from %d to %d",
			    rs, VM_RING_MIN, VM_RING_MAX);
		else if (quota_ok && rs < quota)
			say(s, "ring_size", "ring_size %lld is smaller than quota %lld (a ring must be able to hold every frame the VM may hold: raise ring_size or lower quota)",
			    rs, quota);
		else
			v->ring_size = (uint32_t)rs;
		return;
	}
	if (!quota_ok)
		return;
	for (rs = 256; rs < quota;)
		rs <<= 1;
	if (rs > VM_RING_MAX)
		say(s, "quota", "quota %lld needs a ring larger than %d entries, the most a VM ring may have (lower the quota to %d or less)",
		    quota, VM_RING_MAX, VM_RING_MAX);
	else
		v->ring_size = (uint32_t)rs;
}

int cfg_vm_check(const struct cfg_vm_spec *sp, const struct cfg *cfg,
		 struct cfg_vm *v, cfg_vm_report_fn *report, void *arg)
{
	struct vm_say s = { .report = report, .arg = arg,
			    .name = sp->name ? sp->name : "" };

	memset(v, 0, sizeof(*v));
	if (sp->name)
		check_vm_name(&s, sp->name, v);
	if (sp->mac)
		check_vm_mac(&s, sp->mac, v);
	if (sp->has_vlan && (sp->vlan < 0 || sp->vlan > 4094))
		say(&s, "vlan", "vlan %lld is out of range (0 .. 4094)", sp->vlan);
	else if (sp->has_vlan)
		v->vlan = (uint16_t)sp->vlan;
	check_vm_allowed(&s, sp, v);
	check_vm_files(&s, sp, cfg, v);
	check_vm_pool(&s, sp, cfg, v);
	if (sp->has_doorbell_usecs &&
	    (sp->doorbell_usecs < 0 || sp->doorbell_usecs > CFG_USECS_MAX))
		say(&s, "doorbell_usecs", "doorbell_usecs %lld is out of range (0 .. %d)",
		    sp->doorbell_usecs, CFG_USECS_MAX);
	v->doorbell_usecs = sp->has_doorbell_usecs ?
				    (uint32_t)sp->doorbell_usecs : CFG_USECS_INHERIT;
	v->doorbell_peer = -1;
	if (sp->doorbell_peer) {
		const char *u = sp->doorbell_peer;
		struct passwd *pw = getpwnam(u);
		char *end;
		long long uid = strtoll(u, &end, 10);

		if (pw)
			v->doorbell_peer = pw->pw_uid;
		else if (*u && !*end && uid >= 0 && uid <= UINT32_MAX - 1)
			v->doorbell_peer = uid;
		else
			say(&s, "doorbell_peer", "doorbell_peer \"%s\" is not a user of this machine (give a user name or a uid: the one QEMU runs as)",
			    u);
	}
	v->flood_rate = CFG_FLOOD_RATE;
	v->flood_burst = CFG_FLOOD_BURST;
	if (sp->has_flood_rate &&
	    (sp->flood_rate < 0 || sp->flood_rate > CFG_FLOOD_RATE_MAX))
		say(&s, "flood_rate", "flood_rate %lld is out of range (0 .. %d frames a second, 0: no limit)",
		    sp->flood_rate, CFG_FLOOD_RATE_MAX);
	else if (sp->has_flood_rate)
		v->flood_rate = (uint32_t)sp->flood_rate;
	if (sp->has_flood_burst &&
	    (sp->flood_burst < 1 || sp->flood_burst > CFG_FLOOD_BURST_MAX))
		say(&s, "flood_burst", "flood_burst %lld is out of range (1 .. %d frames)",
		    sp->flood_burst, CFG_FLOOD_BURST_MAX);
	else if (sp->has_flood_burst)
		v->flood_burst = (uint32_t)sp->flood_burst;
	check_vm_ring(&s, sp, cfg, v);
	return s.n ? -EINVAL : 0;
}

int cfg_vm_finish(struct cfg_vm *v, const struct cfg *cfg,
		  cfg_vm_report_fn *report, void *arg)
{
	struct vm_say s = { .report = report, .arg = arg, .name = v->name };

	if (v->doorbell_usecs == CFG_USECS_INHERIT)
		v->doorbell_usecs = cfg->doorbell_usecs;
	if (!v->name[0])
		return -EINVAL; /* its default socket is named after it */
	if (!strcmp(v->doorbell, "off")) {
		v->doorbell[0] = '\0';
		return 0;
	}
	if (!v->doorbell[0] &&
	    cfg_doorbell_default(cfg->control, v->name, v->doorbell,
				 sizeof(v->doorbell))) {
		v->doorbell[0] = '\0';
		say(&s, "doorbell", "its doorbell socket next to %s would be longer than 107 bytes (give it a doorbell path of its own, like /run/flipswitch/%s.doorbell, or \"off\")",
		    cfg->control, v->name);
		return -EINVAL;
	}
	return 0;
}

int cfg_vm_conflict(const struct cfg_vm *v, const struct cfg_vm *o, int oline,
		    cfg_vm_report_fn *report, void *arg)
{
	struct vm_say s = { .report = report, .arg = arg, .name = v->name };
	char where[32] = "", mac[18];

	static const uint8_t none[6];

	if (oline)
		snprintf(where, sizeof(where), "line %d; ", oline);
	/* What is empty failed its own check, already reported. */
	bool same_name = v->name[0] && !strcmp(o->name, v->name);

	if (same_name)
		say(&s, "name", "the name is taken already (%sgive each VM its own name)",
		    where);
	if (memcmp(v->mac, none, 6) && !memcmp(o->mac, v->mac, 6) &&
	    o->vlan == v->vlan) {
		mac_str(mac, v->mac);
		say(&s, "mac", "mac %s on vlan %u is already vm \"%s\"'s (%sgive each VM on a vlan its own MAC)",
		    mac, v->vlan, o->name, where);
	}
	if (v->rings[0] && !strcmp(o->rings, v->rings))
		say(&s, "rings", "rings \"%s\" are already vm \"%s\"'s (%sgive each VM its own file)",
		    v->rings, o->name, where);
	/* The default sockets of two VMs of one name are one: said above. */
	if (v->doorbell[0] && !same_name && !strcmp(o->doorbell, v->doorbell))
		say(&s, "doorbell", "doorbell \"%s\" is already vm \"%s\"'s (%sgive each VM its own socket)",
		    v->doorbell, o->name, where);
	return s.n ? -EEXIST : 0;
}

