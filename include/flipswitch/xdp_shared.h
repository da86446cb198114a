/* SPDX-License-Identifier: MIT */
/*
 * Structures shared by the XDP program (bpf/flipswitch.bpf.c) and the daemon.
 */
#ifndef FLIPSWITCH_XDP_SHARED_H
#define FLIPSWITCH_XDP_SHARED_H

#include <linux/types.h>

/* Most rx queues one interface may have sockets on (XSKMAP size). */
#define FS_XDP_MAX_QUEUES 64
/* Most VM MAC addresses per interface (MAC map size). */
#define FS_XDP_MAX_MACS 4096

/* Key of the MAC map: a VM's MAC and VLAN (0: untagged). */
struct fs_mac_key {
	__u8 mac[6];
	__u16 vlan; /* host byte order, 0..4095 */
};

/* Value of the MAC map. */
struct fs_mac_val {
	__u32 vm; /* index of the VM in the daemon's table, for tracing */
};

/* One per-CPU counter per verdict, indexed by enum fs_xdp_verdict. */
enum fs_xdp_verdict {
	FS_XDP_REDIRECT = 0,   /* to a VM: redirected into the queue's socket */
	FS_XDP_PASS_MCAST,     /* broadcast/multicast: to the host stack, the
				  daemon takes its copy through AF_PACKET */
	FS_XDP_PASS_OTHER,     /* not for a VM: host stack */
	FS_XDP_PASS_NOSOCK,    /* for a VM, but no socket on this rx queue */
	FS_XDP_PASS_MALFORMED, /* shorter than an Ethernet header (or a
				  truncated VLAN tag): left to the stack */
	FS_XDP_NR_VERDICTS,
};

struct fs_xdp_counter {
	__u64 packets;
	__u64 bytes;
};

#endif /* FLIPSWITCH_XDP_SHARED_H */
