// SPDX-License-Identifier: GPL-2.0
/*
 * flipswitch's XDP program: takes the frames meant for VMs, leaves the rest.
 *
 *   destination is a VM's (MAC, VLAN)  -> the AF_XDP socket of this rx queue
 *   group-addressed (broadcast/mcast)  -> the host stack; the daemon takes
 *                                         its copy through AF_PACKET (XDP
 *                                         cannot clone, and the host needs
 *                                         ARP, ND and DHCP)
 *   anything else                      -> the host stack
 *
 * So attaching never cuts the host off. A VM frame arriving on a queue with
 * no socket also goes to the stack. Every verdict has a per-CPU counter.
 * The daemon fills mac_map and xsks_map before it attaches the program.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "flipswitch/xdp_shared.h"

#define VLAN_VID_MASK 0x0fff

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, FS_XDP_MAX_QUEUES);
	__type(key, __u32);   /* rx queue */
	__type(value, __u32); /* AF_XDP socket fd (from user space) */
} xsks_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FS_XDP_MAX_MACS);
	__type(key, struct fs_mac_key);
	__type(value, struct fs_mac_val);
} mac_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FS_XDP_NR_VERDICTS);
	__type(key, __u32); /* enum fs_xdp_verdict */
	__type(value, struct fs_xdp_counter);
} counters SEC(".maps");

/* Parsing position, moved past each header that fits. */
struct hdr_cursor {
	void *pos;
};

/* 802.1Q tag, after the outer ethertype; both fields network order. */
struct vlan_hdr {
	__be16 h_vlan_TCI;
	__be16 h_vlan_encapsulated_proto;
};

/* The Ethernet header at the cursor, or NULL if the frame is shorter. */
static __always_inline struct ethhdr *parse_ethhdr(struct hdr_cursor *nh,
						   void *data_end)
{
	struct ethhdr *eth = nh->pos;

	if ((void *)(eth + 1) > data_end)
		return NULL;
	nh->pos = eth + 1;
	return eth;
}

/* The VLAN id (host order, 0..4095) of the 802.1Q tag at the cursor, and
 * in *inner the ethertype after it; or -1 if the tag is cut short. */
static __always_inline int parse_vlan_id(struct hdr_cursor *nh, void *data_end,
					 __be16 *inner)
{
	struct vlan_hdr *vh = nh->pos;

	if ((void *)(vh + 1) > data_end)
		return -1;
	nh->pos = vh + 1;
	*inner = vh->h_vlan_encapsulated_proto;
	return bpf_ntohs(vh->h_vlan_TCI) & VLAN_VID_MASK;
}

/* A VLAN tag's ethertype: 802.1Q, 802.1ad (S-tag), or the 0x9100 of
 * pre-standard QinQ. */
static __always_inline int is_vlan_proto(__be16 p)
{
	return p == bpf_htons(ETH_P_8021Q) || p == bpf_htons(ETH_P_8021AD) ||
	       p == bpf_htons(0x9100);
}

static __always_inline int count(__u32 verdict, __u64 len, int action)
{
	struct fs_xdp_counter *c = bpf_map_lookup_elem(&counters, &verdict);

	if (c) {
		/* Per-CPU slot: no other CPU writes it, no atomics needed. */
		c->packets++;
		c->bytes += len;
	}
	return action;
}

/* xdp.frags: the program takes frames in several buffers (a jumbo frame
 * on veth or a NIC with an MTU past a page), which the kernel otherwise
 * refuses to attach it for. It reads only the Ethernet header and tag,
 * in the first buffer; the counters count the frame's bytes in all its
 * buffers, as the port's own counters do. */
SEC("xdp.frags")
int flipswitch_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = bpf_xdp_get_buff_len(ctx);
	struct hdr_cursor nh = { .pos = data };
	struct fs_mac_key key = {}; /* 8 bytes, no padding: all initialised */
	struct ethhdr *eth;
	int vlan, action;

	eth = parse_ethhdr(&nh, data_end);
	if (!eth)
		return count(FS_XDP_PASS_MALFORMED, len, XDP_PASS);
	/* I/G bit, bit 0 of the first destination byte: group address
	 * (broadcast included). */
	if (eth->h_dest[0] & 1)
		return count(FS_XDP_PASS_MCAST, len, XDP_PASS);

	__builtin_memcpy(key.mac, eth->h_dest, ETH_ALEN);
	/* One 802.1Q tag at most: the VLAN of an access port. An S-tag, or
	 * a tag inside the 802.1Q one, is another network's: the host's (a
	 * VM would have got the frame with the tag it does not know of). */
	if (eth->h_proto == bpf_htons(ETH_P_8021Q)) {
		__be16 inner;

		vlan = parse_vlan_id(&nh, data_end, &inner);
		if (vlan < 0)
			return count(FS_XDP_PASS_MALFORMED, len, XDP_PASS);
		if (is_vlan_proto(inner))
			return count(FS_XDP_PASS_OTHER, len, XDP_PASS);
		key.vlan = vlan;
	} else if (is_vlan_proto(eth->h_proto)) {
		return count(FS_XDP_PASS_OTHER, len, XDP_PASS);
	}
	if (!bpf_map_lookup_elem(&mac_map, &key))
		return count(FS_XDP_PASS_OTHER, len, XDP_PASS);

	/* With no socket on this queue the helper returns its flags argument,
	 * XDP_PASS: the frame goes to the stack rather than being lost. */
	action = bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
	if (action != XDP_REDIRECT)
		return count(FS_XDP_PASS_NOSOCK, len, XDP_PASS);
	return count(FS_XDP_REDIRECT, len, XDP_REDIRECT);
}

char _license[] SEC("license") = "GPL";
