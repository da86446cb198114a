// SPDX-License-Identifier: MIT
/* rtnetlink: the interfaces' MTU, kind and bridge, MTU changes as they
 * come, and the VMs' MACs in a bridge's FDB; see nl.h. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <net/if.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "log.h"
#include "nl.h"
#include "switch.h"
#include "trail.h"

/* The FDB entries published, by VM slot (trail.h): CONTROL.fdb. Written
 * by nl_start, then the control thread (vm add, vm del), then nl_stop:
 * never two at once. */
static struct trail fdb_trail = { .fd = -1 };

/* A link message carries its statistics and every attribute: a few KB.
 * Event datagrams hold one message each; a reply larger than this is
 * refused (MSG_TRUNC), not read in part. */
#define NL_BUF 32768

struct nl_req {
	struct nlmsghdr h;
	union {
		struct ifinfomsg ifi;
		struct ndmsg nd;
	};
	char attrs[64];
};

static int nl_socket(unsigned int groups)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = groups };
	int fd, err;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void nl_attr(struct nl_req *r, unsigned short type, const void *data,
		    unsigned short len)
{
	struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->h.nlmsg_len));

	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Sends r on a socket of its own and waits for its answer: 0 and *ans
 * pointing into buf at the reply, or the kernel's -errno (an ack is 0
 * with *ans NULL). */
static int nl_talk(struct nl_req *r, char *buf, struct nlmsghdr **ans)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd = nl_socket(0), err = -EIO;

	*ans = NULL;
	if (fd < 0)
		return fd;
	r->h.nlmsg_seq = 1;
	if (sendto(fd, r, r->h.nlmsg_len, 0, (struct sockaddr *)&sa,
		   sizeof(sa)) < 0) {
		err = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = recv(fd, buf, NL_BUF, MSG_TRUNC);
		struct nlmsghdr *h;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto out;
		}
		if (n > NL_BUF) {
			err = -EMSGSIZE;
			goto out;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != r->h.nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				err = e->error;
				goto out;
			}
			*ans = h;
			err = 0;
			goto out;
		}
	}
out:
	close(fd);
	return err;
}

/* A link message's MTU, master and kind (IFLA_LINKINFO, IFLA_INFO_KIND). */
static void link_parse(const struct nlmsghdr *h, struct nl_link *l)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	int len = (int)IFLA_PAYLOAD(h);
	const struct rtattr *a, *info_data = NULL;

	memset(l, 0, sizeof(*l));
	for (a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFLA_MTU && RTA_PAYLOAD(a) >= 4) {
			memcpy(&l->mtu, RTA_DATA(a), 4);
		} else if (a->rta_type == IFLA_MASTER && RTA_PAYLOAD(a) >= 4) {
			memcpy(&l->master, RTA_DATA(a), 4);
		} else if (a->rta_type == IFLA_LINKINFO) {
			int blen = (int)RTA_PAYLOAD(a);
			const struct rtattr *b;

			for (b = RTA_DATA(a); RTA_OK(b, blen);
			     b = RTA_NEXT(b, blen)) {
				if (b->rta_type == IFLA_INFO_KIND)
					snprintf(l->kind, sizeof(l->kind),
						 "%.*s", (int)RTA_PAYLOAD(b),
						 (const char *)RTA_DATA(b));
				else if (b->rta_type == IFLA_INFO_DATA)
					info_data = b;
			}
		}
	}
	/* A bridge's data: whether it keys its table by VLAN too. */
	if (info_data && !strcmp(l->kind, "bridge")) {
		int dlen = (int)RTA_PAYLOAD(info_data);

		for (a = RTA_DATA(info_data); RTA_OK(a, dlen);
		     a = RTA_NEXT(a, dlen))
			if (a->rta_type == IFLA_BR_VLAN_FILTERING &&
			    RTA_PAYLOAD(a) >= 1)
				l->vlan_filtering = *(const uint8_t *)RTA_DATA(a);
	}
}

int nl_link_get(unsigned int ifindex, struct nl_link *out)
{
	struct nl_req r = { 0 };
	char buf[NL_BUF] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *h;
	int err;

	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(r.ifi));
	r.h.nlmsg_type = RTM_GETLINK;
	r.h.nlmsg_flags = NLM_F_REQUEST;
	r.ifi.ifi_family = AF_UNSPEC;
	r.ifi.ifi_index = (int)ifindex;
	err = nl_talk(&r, buf, &h);
	if (err)
		return err;
	if (!h || h->nlmsg_type != RTM_NEWLINK)
		return -EIO;
	link_parse(h, out);
	return 0;
}

bool nl_kind_is_tunnel(const char *kind)
{
	static const char *const tunnels[] = { "vxlan", "geneve", "gretap",
					       "ip6gretap", "bareudp", NULL };

	for (int i = 0; tunnels[i]; i++)
		if (!strcmp(kind, tunnels[i]))
			return true;
	return false;
}

/* A request about the entry for mac (on vlan) in the table of the bridge
 * of port ifindex. NTF_MASTER: the bridge's own table, not the port
 * device's (a vxlan device has one of its own, of remote VTEPs). */
static void fdb_req(struct nl_req *r, int type, unsigned int ifindex,
		    const uint8_t mac[6], uint16_t vlan)
{
	memset(r, 0, sizeof(*r));
	r->h.nlmsg_len = NLMSG_LENGTH(sizeof(r->nd));
	r->h.nlmsg_type = (unsigned short)type;
	r->h.nlmsg_flags = NLM_F_REQUEST;
	r->nd.ndm_family = AF_BRIDGE;
	r->nd.ndm_ifindex = (int)ifindex;
	r->nd.ndm_flags = NTF_MASTER;
	nl_attr(r, NDA_LLADDR, mac, 6);
	if (vlan)
		nl_attr(r, NDA_VLAN, &vlan, sizeof(vlan));
}

int nl_fdb(bool add, unsigned int ifindex, const uint8_t mac[6],
	   uint16_t vlan)
{
	struct nl_req r;
	char buf[NL_BUF] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *h;
	int err;

	fdb_req(&r, add ? RTM_NEWNEIGH : RTM_DELNEIGH, ifindex, mac, vlan);
	r.h.nlmsg_flags |= NLM_F_ACK;
	if (add)
		r.h.nlmsg_flags |= NLM_F_CREATE | NLM_F_REPLACE;
	/* NUD_NOARP: static, never aged out, not the bridge's own address. */
	r.nd.ndm_state = NUD_NOARP;
	err = nl_talk(&r, buf, &h);
	if (!add && err == -ENOENT)
		err = 0;
	return err;
}

/* Whether the bridge of port ifindex has mac (on vlan) as the switch
 * publishes it: static, on that port, not put there by a control plane
 * (extern_learn). */
static bool fdb_is_published(unsigned int ifindex, const uint8_t mac[6],
			     uint16_t vlan)
{
	struct nl_req r;
	char buf[NL_BUF] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *h;
	const struct ndmsg *nd;

	fdb_req(&r, RTM_GETNEIGH, ifindex, mac, vlan);
	if (nl_talk(&r, buf, &h) || !h || h->nlmsg_type != RTM_NEWNEIGH ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof(*nd)))
		return false;
	nd = NLMSG_DATA(h);
	return nd->ndm_ifindex == (int)ifindex &&
	       (nd->ndm_state & NUD_NOARP) &&
	       !(nd->ndm_flags & NTF_EXT_LEARNED);
}

/* One record of a dead daemon's FDB trail, "PORT MAC VLAN": the entry
 * goes if it is still as the switch published it, unless this switch
 * publishes the very same entry (its VMs in sw, port facts read), which
 * then stays, with no gap an EVPN speaker would withdraw a route for. */
static void fdb_reclaim(void *arg, const char *tail, const char *rec)
{
	const struct sw *sw = arg;
	char port[IF_NAMESIZE];
	unsigned int ifindex, vlan;
	uint8_t m[6];
	int err;

	(void)tail;
	if (sscanf(rec, "%15s %hhx:%hhx:%hhx:%hhx:%hhx:%hhx %u", port, &m[0],
		   &m[1], &m[2], &m[3], &m[4], &m[5], &vlan) != 8 ||
	    vlan > 4095) {
		log_warn("bridge fdb: a record that is no entry, ignored: %s",
			 rec);
		return;
	}
	ifindex = if_nametoindex(port);
	if (!ifindex || !fdb_is_published(ifindex, m, (uint16_t)vlan)) {
		log_info("bridge fdb: %s on %s is gone or no longer the switch's: left as it is",
			 rec, port);
		return;
	}
	for (int i = 0; i < sw->n_vms; i++) {
		const struct vmport *v = &sw->vms[i];
		const struct port *pt = v->uplink < sw->n_ports ?
					&sw->ports[v->uplink] : NULL;

		if (v->active && pt && pt->fdb_ifindex == ifindex &&
		    !memcmp(v->cfg.mac, m, 6) &&
		    (pt->bridge_vlans ? v->cfg.vlan : 0) == vlan)
			return; /* published again at once */
	}
	err = nl_fdb(false, ifindex, m, (uint16_t)vlan);
	if (err)
		log_warn("bridge fdb: cannot remove %s: %s (bridge fdb del %02x:%02x:%02x:%02x:%02x:%02x dev %s master)",
			 rec, strerror(-err), m[0], m[1], m[2], m[3], m[4],
			 m[5], port);
	else
		log_info("bridge fdb: %s removed", rec);
}

int nl_fdb_publish(unsigned int ifindex, const char *port, bool vlans,
		   const struct cfg_vm *vm, int slot, bool add)
{
	const uint8_t *m = vm->mac;
	/* A bridge without VLAN filtering has one table for every VLAN,
	 * and refuses entries that name one. */
	uint16_t vlan = vlans ? vm->vlan : 0;
	char rec[TRAIL_REC];
	int err;

	err = nl_fdb(add, ifindex, m, vlan);
	if (!err) {
		snprintf(rec, sizeof(rec), "%s %02x:%02x:%02x:%02x:%02x:%02x %u",
			 port, m[0], m[1], m[2], m[3], m[4], m[5], vlan);
		trail_set(&fdb_trail, (uint32_t)slot, add ? rec : NULL);
	}
	if (err)
		log_warn("vm %s: cannot %s %02x:%02x:%02x:%02x:%02x:%02x %s the bridge fdb on %s: %s",
			 vm->name, add ? "add" : "remove", m[0], m[1], m[2],
			 m[3], m[4], m[5], add ? "to" : "from", port,
			 strerror(-err));
	else
		log_info("vm %s: %02x:%02x:%02x:%02x:%02x:%02x %s the bridge fdb on %s (publish_fdb)",
			 vm->name, m[0], m[1], m[2], m[3], m[4], m[5],
			 add ? "in" : "out of", port);
	return err;
}

int nl_fdb_vm(struct sw *sw, int i, bool add)
{
	const struct vmport *v = &sw->vms[i];
	const struct port *pt;

	if (v->uplink >= sw->n_ports)
		return 0;
	pt = &sw->ports[v->uplink];
	if (!pt->fdb_ifindex)
		return 0;
	return nl_fdb_publish(pt->fdb_ifindex, pt->fdb_name, pt->bridge_vlans,
			      &v->cfg, i, add);
}

/* Port i's MTU is mtu: handed on if it changed. */
static void mtu_follow(struct nl *n, int i, uint32_t mtu)
{
	struct port *pt = &n->sw->ports[i];
	uint32_t old = __atomic_load_n(&pt->mtu, __ATOMIC_RELAXED);

	if (!mtu || mtu == old)
		return;
	log_info("port %s: mtu %u -> %u: frames from VMs longer than %u bytes are dropped (too_big)",
		 pt->cfg.name, old, mtu, mtu + FS_ETH_HLEN);
	sw_mtu_set(n->sw, i, mtu);
	n->changes++;
}

/* Every port's MTU read again: events were lost (ENOBUFS). */
static void resync(struct nl *n)
{
	struct nl_link l;

	for (int i = 0; i < n->sw->n_ports; i++)
		if (!nl_link_get(n->sw->ports[i].cfg.ifindex, &l))
			mtu_follow(n, i, l.mtu);
}

static void link_event(struct nl *n, const struct nlmsghdr *h)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	struct nl_link l;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return;
	for (int i = 0; i < n->sw->n_ports; i++) {
		if (n->sw->ports[i].cfg.ifindex != (unsigned int)ifi->ifi_index)
			continue;
		link_parse(h, &l);
		mtu_follow(n, i, l.mtu);
	}
}

static void *nl_thread(void *arg)
{
	struct nl *n = arg;
	char buf[NL_BUF] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct pollfd p[2] = { { .fd = n->fd, .events = POLLIN },
			       { .fd = n->stop_fd, .events = POLLIN } };

	for (;;) {
		struct nlmsghdr *h;
		ssize_t len;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("netlink: poll: %s; MTU changes are no longer followed",
				strerror(errno));
			break;
		}
		if (p[1].revents)
			break;
		len = recv(n->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (len < 0) {
			if (errno == ENOBUFS) {
				log_warn("netlink: link events were lost; reading the MTUs again");
				resync(n);
				continue;
			}
			if (errno == EAGAIN || errno == EINTR)
				continue;
			log_err("netlink: %s; MTU changes are no longer followed",
				strerror(errno));
			break;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len);
		     h = NLMSG_NEXT(h, len))
			if (h->nlmsg_type == RTM_NEWLINK)
				link_event(n, h);
	}
	return NULL;
}

/* Port i's facts at start; publish_fdb checked against them. */
static int port_facts(struct nl *n, int i)
{
	struct sw *sw = n->sw;
	struct port *pt = &sw->ports[i];
	struct nl_link l, m, o;
	unsigned int other;
	int err = nl_link_get(pt->cfg.ifindex, &l);

	if (err) {
		log_err("port %s: cannot read its link: %s", pt->cfg.name,
			strerror(-err));
		return err;
	}
	snprintf(pt->kind, sizeof(pt->kind), "%s", l.kind);
	pt->tunnel = nl_kind_is_tunnel(l.kind);
	pt->master = l.master;
	sw_mtu_set(sw, i, l.mtu);
	log_info("port %s: mtu %u%s%s%s", pt->cfg.name, l.mtu,
		 l.kind[0] ? ", kind " : "", l.kind,
		 pt->tunnel ? " (a tunnel: frames longer than its mtu + 14 from VMs are dropped, never fragmented on the underlay)" : "");
	if (!pt->cfg.publish_fdb)
		return 0;
	if (!l.master || nl_link_get(l.master, &m) || strcmp(m.kind, "bridge")) {
		log_err("%s:%d: interface \"%s\": publish_fdb needs it to be a port of a Linux bridge (ip link set %s master BRIDGE), or publish_fdb = false",
			sw->cfg->file, pt->cfg.line, pt->cfg.name, pt->cfg.name);
		return -EINVAL;
	}
	pt->bridge_vlans = m.vlan_filtering;
	pt->fdb_ifindex = pt->cfg.ifindex;
	_Static_assert(sizeof(pt->fdb_name) == sizeof(pt->cfg.name) &&
		       sizeof(pt->fdb_name) == sizeof(pt->cfg.publish_fdb_on),
		       "fdb_name holds either name");
	memcpy(pt->fdb_name, pt->cfg.name, sizeof(pt->fdb_name));
	if (!pt->cfg.publish_fdb_on[0])
		return 0;
	/* Another port of the same bridge: an EVPN speaker (FRR's zebra)
	 * takes local MACs only from ports that are not the VXLAN device. */
	other = if_nametoindex(pt->cfg.publish_fdb_on);
	if (!other || nl_link_get(other, &o) || o.master != l.master) {
		log_err("%s:%d: interface \"%s\": publish_fdb = \"%s\" needs %s to be a port of %s's bridge too (ip link set %s master BRIDGE)",
			sw->cfg->file, pt->cfg.line, pt->cfg.name,
			pt->cfg.publish_fdb_on, pt->cfg.publish_fdb_on,
			pt->cfg.name, pt->cfg.publish_fdb_on);
		return -EINVAL;
	}
	pt->fdb_ifindex = other;
	memcpy(pt->fdb_name, pt->cfg.publish_fdb_on, sizeof(pt->fdb_name));
	return 0;
}

int nl_start(struct nl *n, struct sw *sw)
{
	char trail[PATH_MAX];
	int err;

	n->sw = sw;
	n->running = false;
	n->changes = 0;
	n->stop_fd = -1;
	n->fd = nl_socket(RTMGRP_LINK);
	if (n->fd < 0) {
		err = n->fd;
		log_err("netlink: cannot listen to link events: %s",
			strerror(-err));
		return err;
	}
	n->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (n->stop_fd < 0) {
		err = -errno;
		goto out_fd;
	}
	/* Subscribed before the first read: a change in between is seen
	 * twice (the second time as no change), never missed. */
	for (int i = 0; i < sw->n_ports; i++) {
		err = port_facts(n, i);
		if (err)
			goto out_stop;
	}
	/* What a killed switch published goes first (what this one
	 * publishes again stays), then the trail starts anew. */
	if (snprintf(trail, sizeof(trail), "%s%s", sw->cfg->control,
		     sw->cfg->control[0] ? ".fdb" : "") >= (int)sizeof(trail)) {
		err = -ENAMETOOLONG;
		goto out_stop;
	}
	trail_reclaim(trail, fdb_reclaim, sw);
	err = trail_open(&fdb_trail, trail);
	if (err)
		goto out_stop;
	for (int i = 0; i < sw->n_vms; i++)
		if (sw->vms[i].active && nl_fdb_vm(sw, i, true))
			log_warn("vm %s: an EVPN speaker will not learn its MAC from the bridge",
				 sw->vms[i].cfg.name);
	err = -pthread_create(&n->thread, NULL, nl_thread, n);
	if (err) {
		log_err("netlink: cannot start its thread: %s", strerror(-err));
		goto out_trail;
	}
	n->running = true;
	return 0;

out_trail:
	for (int i = 0; i < sw->n_vms; i++)
		if (sw->vms[i].active)
			nl_fdb_vm(sw, i, false);
	trail_close(&fdb_trail);
out_stop:
	close(n->stop_fd);
	n->stop_fd = -1;
out_fd:
	close(n->fd);
	n->fd = -1;
	return err;
}

void nl_stop(struct nl *n)
{
	uint64_t one = 1;

	if (n->running) {
		if (write(n->stop_fd, &one, sizeof(one)) != sizeof(one))
			log_warn("netlink: cannot stop its thread: %s",
				 strerror(errno));
		else
			pthread_join(n->thread, NULL);
		n->running = false;
	}
	if (n->fd >= 0)
		close(n->fd);
	if (n->stop_fd >= 0)
		close(n->stop_fd);
	n->fd = n->stop_fd = -1;
	if (!n->sw)
		return;
	for (int i = 0; i < n->sw->n_vms; i++)
		if (n->sw->vms[i].active)
			nl_fdb_vm(n->sw, i, false);
	trail_close(&fdb_trail);
	n->sw = NULL;
}
