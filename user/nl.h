/* SPDX-License-Identifier: MIT */
/*
 * The switch's interfaces as rtnetlink sees them.
 *
 * At start: each interface's MTU, its kind (IFLA_INFO_KIND: "vxlan",
 * "veth"; none for a plain NIC) and its bridge (IFLA_MASTER). At run time
 * the MTU is followed by a thread of its own, asleep in poll() on a
 * socket subscribed to link events (RTNLGRP_LINK) until the kernel has
 * news: no polling. It hands each change to the switch (sw_mtu_set).
 *
 * And the VMs' MACs in a bridge's forwarding database: on an interface
 * with publish_fdb, enslaved to a Linux bridge, each VM whose uplink it
 * is gets a static entry (NTF_MASTER, NUD_NOARP: `bridge fdb show` says
 * "master BRIDGE static") on it, or on the other port of that bridge
 * publish_fdb names: FRR's zebra, the EVPN speaker, reads local MACs only
 * from ports that are not the VXLAN device. Entries are added at start and
 * on vm add, removed on vm del and at exit; requests go on a socket of
 * their own, so the event thread's is never read by two threads.
 *
 * Each entry published is written down in a trail (trail.h),
 * CONTROL.fdb next to the control socket: port, MAC, VLAN. A daemon
 * killed before it could take its entries out leaves the trail, and the
 * next nl_start removes each entry it names that is still as the switch
 * made it: static, on that port, not extern_learn. Entries are keyed by
 * (MAC, VLAN) in a bridge: while the switch's entry was there, an
 * admin's for the same MAC could not be; one learned or put on another
 * port since is not static on the recorded port, and stays. (An admin's
 * static entry put exactly there since would forward exactly as the
 * switch's did.)
 */
#ifndef FS_NL_H
#define FS_NL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct sw;
struct cfg_vm;

struct nl_link {
	uint32_t mtu;
	unsigned int master;  /* ifindex of its bridge (or bond), 0: none */
	char kind[16];        /* "" when the device has none */
	bool vlan_filtering;  /* a bridge's IFLA_BR_VLAN_FILTERING */
};

/* One link's MTU, kind and master. 0 or -errno (-ENODEV: no such link). */
int nl_link_get(unsigned int ifindex, struct nl_link *out);

/* Whether a link kind is an Ethernet overlay: its frames go out inside
 * UDP or GRE on an underlay, which fragments what is too long. */
bool nl_kind_is_tunnel(const char *kind);

struct nl {
	int fd;          /* link events */
	int stop_fd;     /* eventfd: nl_stop asks the thread to end */
	pthread_t thread;
	bool running;
	struct sw *sw;
	uint64_t changes; /* MTU changes followed */
};

/* Reads every port's MTU, kind and bridge into sw's ports (logging each),
 * removes what a killed switch of the same control socket published,
 * publishes the VMs' MACs where publish_fdb asks (an interface with it
 * that is not a bridge port is an error), and starts the thread that
 * follows MTU changes. Call before the worker runs. 0 or -errno. */
int nl_start(struct nl *n, struct sw *sw);
/* Stops the thread and removes the FDB entries it published for VMs
 * still there, and the trail. Safe on an nl never started (fd -1). */
void nl_stop(struct nl *n);

/* Adds (add) or removes VM i's static FDB entry, if its uplink has
 * publish_fdb; 0 or -errno (logged). Before and after the worker runs. */
int nl_fdb_vm(struct sw *sw, int i, bool add);
/* The same from what the control thread knows (sw_snapshot.h): VM vm's
 * (in slot slot) entry on bridge port ifindex (named port, for the log and
 * the trail), with its VLAN if vlans (the bridge filters by VLAN). vm add
 * and vm del. */
int nl_fdb_publish(unsigned int ifindex, const char *port, bool vlans,
		   const struct cfg_vm *vm, int slot, bool add);

/* The entry itself: MAC mac (on VLAN vlan, 0: none) reached through
 * bridge port ifindex. 0 or -errno. Removing one that is not there is
 * not an error. */
int nl_fdb(bool add, unsigned int ifindex, const uint8_t mac[6],
	   uint16_t vlan);

#endif /* FS_NL_H */
