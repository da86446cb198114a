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

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, FS_XDP_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
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
	__type(key, __u32);
	__type(value, struct fs_xdp_counter);
} counters SEC(".maps");

struct vlan_tag {
	__be16 tci;
	__be16 proto;
};

static __always_inline int verdict(struct xdp_md *ctx, __u32 v, int action)
{
	struct fs_xdp_counter *c = bpf_map_lookup_elem(&counters, &v);

	if (c) {
		/* Per-CPU: no other CPU writes this slot. */
		c->packets++;
		c->bytes += ctx->data_end - ctx->data;
	}
	return action;
}

SEC("xdp")
int flipswitch_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct fs_mac_key key = {};
	int action;

	if ((void *)(eth + 1) > data_end)
		return verdict(ctx, FS_XDP_PASS_MALFORMED, XDP_PASS);
	/* Bit 0 of the first destination byte: group address. */
	if (eth->h_dest[0] & 1)
		return verdict(ctx, FS_XDP_PASS_MCAST, XDP_PASS);

	__builtin_memcpy(key.mac, eth->h_dest, ETH_ALEN);
	/* One 802.1Q tag at most: the VLAN of an access port. */
	if (eth->h_proto == bpf_htons(ETH_P_8021Q)) {
		struct vlan_tag *tag = (void *)(eth + 1);

		if ((void *)(tag + 1) > data_end)
			return verdict(ctx, FS_XDP_PASS_MALFORMED, XDP_PASS);
		key.vlan = bpf_ntohs(tag->tci) & 0x0fff;
	}
	if (!bpf_map_lookup_elem(&mac_map, &key))
		return verdict(ctx, FS_XDP_PASS_OTHER, XDP_PASS);

	/* With no socket on this queue the helper returns the flags value,
	 * XDP_PASS: the frame goes to the stack rather than being lost. */
	action = bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
	return verdict(ctx, action == XDP_REDIRECT ? FS_XDP_REDIRECT :
						     FS_XDP_PASS_NOSOCK,
		       action);
}

char _license[] SEC("license") = "GPL";
