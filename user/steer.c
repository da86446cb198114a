// SPDX-License-Identifier: MIT
/*
 * ethtool ntuple rules, one per VM; see steer.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "log.h"
#include "steer.h"

static int sys_ethtool(void *arg, const char *ifname, void *cmd)
{
	struct ifreq ifr = { 0 };
	int fd, r;

	(void)arg;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = cmd;
	r = ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
	close(fd);
	return r;
}

const struct steer_ops steer_sys_ops = { .ethtool = sys_ethtool };
const struct steer_ops *steer_default_ops = &steer_sys_ops;

#define STEER_TRAIL ".steer-"

int steer_init(struct steer *s, const char *ifname,
	       const struct steer_ops *ops, void *arg, const char *control)
{
	char path[PATH_MAX] = "";

	memset(s, 0, sizeof(*s));
	snprintf(s->ifname, sizeof(s->ifname), "%s", ifname);
	s->ops = ops;
	s->arg = arg;
	s->trail.fd = -1;
	for (uint32_t i = 0; i < CFG_MAX_VMS; i++)
		s->loc[i] = STEER_NONE;
	if (control[0] &&
	    snprintf(path, sizeof(path), "%s" STEER_TRAIL "%s", control,
		     ifname) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	return trail_open(&s->trail, path);
}

/* The rule that steers (mac, vlan) to queue. Masks: a 1 bit is a bit to
 * match (the ethtool tool's own masks, bits to ignore, are the inverse). */
static void rule_spec(struct ethtool_rx_flow_spec *fs, const uint8_t mac[6],
		      uint16_t vlan, uint32_t queue)
{
	memset(fs, 0, sizeof(*fs));
	fs->flow_type = ETHER_FLOW;
	memcpy(fs->h_u.ether_spec.h_dest, mac, 6);
	memset(fs->m_u.ether_spec.h_dest, 0xff, 6);
	if (vlan) {
		fs->flow_type |= FLOW_EXT;
		fs->h_ext.vlan_tci = htons(vlan);
		fs->m_ext.vlan_tci = htons(0x0fff);
	}
	fs->ring_cookie = queue;
}

int steer_vm_add(struct steer *s, int vm, const uint8_t mac[6], uint16_t vlan,
		 uint32_t queue)
{
	struct ethtool_rxnfc nfc = { .cmd = ETHTOOL_SRXCLSRLINS };
	struct ethtool_rx_flow_spec *fs = &nfc.fs;
	char rec[TRAIL_REC];
	int err;

	if (s->loc[vm] != STEER_NONE)
		return -EEXIST;
	rule_spec(fs, mac, vlan, queue);
	fs->location = RX_CLS_LOC_ANY;
	err = s->ops->ethtool(s->arg, s->ifname, &nfc);
	if (err) {
		log_err("%s: the NIC refuses a flow steering rule for %02x:%02x:%02x:%02x:%02x:%02x vlan %u to queue %u: %s (steer = \"ntuple\" needs a NIC with ntuple filters, on: ethtool -K %s ntuple on; veth has none: leave steer out there)",
			s->ifname, mac[0], mac[1], mac[2], mac[3], mac[4],
			mac[5], vlan, queue, strerror(-err), s->ifname);
		return err;
	}
	s->loc[vm] = fs->location;
	s->n_rules++;
	snprintf(rec, sizeof(rec), "%u %02x:%02x:%02x:%02x:%02x:%02x %u %u",
		 fs->location, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
		 vlan, queue);
	trail_set(&s->trail, (uint32_t)vm, rec);
	log_info("%s: frames for %02x:%02x:%02x:%02x:%02x:%02x vlan %u steered to queue %u (rule %u)",
		 s->ifname, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
		 vlan, queue, fs->location);
	return 0;
}

int steer_vm_del(struct steer *s, int vm)
{
	struct ethtool_rxnfc nfc = { .cmd = ETHTOOL_SRXCLSRLDEL };
	int err;

	if (!s->ops || s->loc[vm] == STEER_NONE)
		return 0; /* a port that does not steer, or no rule */
	nfc.fs.location = s->loc[vm];
	err = s->ops->ethtool(s->arg, s->ifname, &nfc);
	if (err)
		log_warn("%s: cannot remove flow steering rule %u: %s (ethtool -N %s delete %u)",
			 s->ifname, s->loc[vm], strerror(-err), s->ifname,
			 s->loc[vm]);
	/* Forgotten either way: a rule that cannot be removed now will not
	 * be later. */
	s->loc[vm] = STEER_NONE;
	s->n_rules--;
	trail_set(&s->trail, (uint32_t)vm, NULL);
	return err;
}

void steer_fini(struct steer *s)
{
	if (!s->ops)
		return; /* a port that does not steer */
	for (int i = 0; i < CFG_MAX_VMS && s->n_rules; i++)
		steer_vm_del(s, i);
	trail_close(&s->trail);
}

struct reclaim {
	const struct steer_ops *ops;
	void *arg;
	int removed;
};

/* Whether the NIC's rule got says what want says: the flow type (less
 * FLOW_RSS, which a driver may add), the destination MAC, the VLAN and the
 * queue. */
static bool rule_same(const struct ethtool_rx_flow_spec *got,
		      const struct ethtool_rx_flow_spec *want)
{
	if ((got->flow_type & ~(uint32_t)FLOW_RSS) != want->flow_type ||
	    memcmp(got->h_u.ether_spec.h_dest, want->h_u.ether_spec.h_dest, 6) ||
	    got->ring_cookie != want->ring_cookie)
		return false;
	return !(want->flow_type & FLOW_EXT) ||
	       (ntohs(got->h_ext.vlan_tci) & 0x0fff) ==
	       ntohs(want->h_ext.vlan_tci);
}

/* One record of a dead daemon's trail on ifname: "LOC MAC VLAN QUEUE". */
static void reclaim_rule(void *arg, const char *ifname, const char *rec)
{
	struct reclaim *rc = arg;
	struct ethtool_rxnfc get = { .cmd = ETHTOOL_GRXCLSRULE };
	struct ethtool_rxnfc del = { .cmd = ETHTOOL_SRXCLSRLDEL };
	struct ethtool_rx_flow_spec want;
	uint8_t m[6];
	unsigned int loc, vlan, queue;
	int err;

	if (sscanf(rec, "%u %hhx:%hhx:%hhx:%hhx:%hhx:%hhx %u %u", &loc, &m[0],
		   &m[1], &m[2], &m[3], &m[4], &m[5], &vlan, &queue) != 9 ||
	    vlan > 4095) {
		log_warn("%s: a record that is no rule, ignored: %s", ifname,
			 rec);
		return;
	}
	rule_spec(&want, m, (uint16_t)vlan, queue);
	get.fs.location = loc;
	err = rc->ops->ethtool(rc->arg, ifname, &get);
	if (err) {
		log_info("%s: flow steering rule %u is gone already (%s)",
			 ifname, loc, strerror(-err));
		return;
	}
	if (!rule_same(&get.fs, &want)) {
		log_info("%s: flow steering rule %u is no longer the switch's (it says something else now): left as it is",
			 ifname, loc);
		return;
	}
	del.fs.location = loc;
	err = rc->ops->ethtool(rc->arg, ifname, &del);
	if (err) {
		log_warn("%s: cannot remove flow steering rule %u: %s (ethtool -N %s delete %u)",
			 ifname, loc, strerror(-err), ifname, loc);
		return;
	}
	log_info("%s: flow steering rule %u removed", ifname, loc);
	rc->removed++;
}

int steer_reclaim(const char *control, const struct steer_ops *ops,
		  void *arg)
{
	struct reclaim rc = { .ops = ops, .arg = arg };
	char prefix[PATH_MAX];

	if (!control[0] ||
	    snprintf(prefix, sizeof(prefix), "%s" STEER_TRAIL, control) >=
	    (int)sizeof(prefix))
		return 0;
	trail_reclaim(prefix, reclaim_rule, &rc);
	return rc.removed;
}
