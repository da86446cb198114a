// SPDX-License-Identifier: MIT
/*
 * ethtool ntuple rules, one per VM; see steer.h.
 */
#include <arpa/inet.h>
#include <errno.h>
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

void steer_init(struct steer *s, const char *ifname,
		const struct steer_ops *ops, void *arg)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->ifname, sizeof(s->ifname), "%s", ifname);
	s->ops = ops;
	s->arg = arg;
	for (uint32_t i = 0; i < CFG_MAX_VMS; i++)
		s->loc[i] = STEER_NONE;
}

int steer_vm_add(struct steer *s, int vm, const uint8_t mac[6], uint16_t vlan,
		 uint32_t queue)
{
	struct ethtool_rxnfc nfc = { .cmd = ETHTOOL_SRXCLSRLINS };
	struct ethtool_rx_flow_spec *fs = &nfc.fs;
	int err;

	if (s->loc[vm] != STEER_NONE)
		return -EEXIST;
	/* Masks: a 1 bit is a bit to match (the ethtool tool's own masks,
	 * bits to ignore, are the inverse). */
	fs->flow_type = ETHER_FLOW;
	memcpy(fs->h_u.ether_spec.h_dest, mac, 6);
	memset(fs->m_u.ether_spec.h_dest, 0xff, 6);
	if (vlan) {
		fs->flow_type |= FLOW_EXT;
		fs->h_ext.vlan_tci = htons(vlan);
		fs->m_ext.vlan_tci = htons(0x0fff);
	}
	fs->ring_cookie = queue;
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
	return err;
}

void steer_fini(struct steer *s)
{
	for (int i = 0; i < CFG_MAX_VMS && s->n_rules; i++)
		steer_vm_del(s, i);
}
