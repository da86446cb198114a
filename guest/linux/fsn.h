/* SPDX-License-Identifier: GPL-2.0 */
/*
 * flipswitch_net: a network interface on a flipswitch VM port.
 *
 * A VM port is two ivshmem PCI devices (1af4:1110): the ring region, whose
 * BAR 2 starts with FS_REGION_MAGIC, and the pool of frames it points into
 * (include/flipswitch/ring.h). fsn_main.c pairs the two devices and owns
 * the netdev, the attach handshake (E..H) and ethtool; fsn_data.c owns the
 * data path: NAPI receive, transmit, XDP and the doorbell (I..L).
 *
 * Contexts and what each may touch (no other lock is needed):
 *   NAPI poll        the rx and free rings, the rx and XDP counters
 *   the tx lock      the tx and alloc rings, the tx counters (ndo_start_xmit
 *                    and XDP_TX from NAPI, which takes the lock)
 *   the watchdog     attach state; it stops NAPI and the queue (napi_disable,
 *                    netif_tx_disable) before it resets any ring
 *
 * Packets longer than a frame (ABI 1.3) are chains of descriptors, all but
 * the last with FS_DESC_MORE. The first frame keeps the headroom and holds
 * the Ethernet header; the driver writes the next ones from offset 0, so
 * a packet of len bytes takes fsn_frames(len) frames.
 */
#ifndef FSN_H
#define FSN_H

#include <linux/bpf.h>
#include <linux/hrtimer.h>
#include <linux/netdevice.h>
#include <linux/pci.h>
#include <linux/workqueue.h>
#include <net/xdp.h>

#include "flipswitch/ring.h"

#define FSN_NAME "flipswitch_net"

/* The longest chain, in descriptors, and the longest packet, in bytes,
 * the driver takes or sends. A received chain is copied past its first
 * frame into order-0 pages, one skb fragment each: FSN_PKT_MAX keeps them
 * within MAX_SKB_FRAGS (checked in fsn_poll). */
#define FSN_CHAIN_MAX 16
#define FSN_PKT_MAX 65535

/* The ivshmem registers in BAR 0 (QEMU docs/specs/ivshmem-spec.rst). */
#define FSN_IVSHMEM_DOORBELL 0x0c

/*
 * Every counter has one writer (the context named in the comment above)
 * and is read whole by ethtool and ndo_get_stats64: u64 stores and loads
 * are single instructions on the 64-bit machines this driver builds for.
 */
struct fsn_stats {
	/* NAPI */
	u64 rx_packets;
	u64 rx_bytes;
	u64 rx_drop_bad_addr;	/* descriptor outside the pool: not ours */
	u64 rx_drop_bad_len;	/* frame given back unread */
	u64 rx_drop_runt;	/* shorter than an Ethernet header */
	u64 rx_drop_nomem;	/* no skb, or no page for a chain */
	u64 rx_chains;		/* packets of several frames received */
	u64 rx_drop_chain_open;	/* a chain that never ends (no last frame) */
	u64 rx_drop_chain_long;	/* over FSN_CHAIN_MAX frames or FSN_PKT_MAX */
	u64 rx_drop_chain_xdp;	/* a chain while an XDP program is attached */
	u64 rx_ring_bad;	/* the switch's producer index is impossible */
	u64 free_ring_full;	/* polls cut short: no room to give frames back */
	u64 xdp_pass;
	u64 xdp_drop;
	u64 xdp_tx;
	u64 xdp_tx_full;	/* XDP_TX with the tx ring full: dropped */
	u64 xdp_redirect;
	u64 xdp_redirect_err;	/* no page, too long, or the target refused */
	u64 xdp_aborted;
	u64 doorbells_free;	/* switch rung after giving frames back */
	/* the tx lock */
	u64 tx_packets;
	u64 tx_bytes;
	u64 tx_drop_bad_len;	/* longer than the switch takes, or no header */
	u64 tx_drop_nomem;	/* checksum not computable (skb_checksum_help) */
	u64 tx_chains;		/* packets sent as several frames */
	u64 tx_bad_alloc;	/* lent frame outside the pool: skipped */
	u64 tx_stop_no_frame;	/* queue stopped: alloc ring empty */
	u64 tx_stop_ring_full;	/* queue stopped: tx ring full */
	u64 tx_ring_bad;	/* an impossible index on the tx or alloc ring */
	u64 doorbells_tx;	/* switch rung after transmitting */
	/* interrupt */
	u64 irqs;		/* doorbells taken (MSI-X vector 0) */
	/* watchdog */
	u64 attaches;
	u64 switch_lost;	/* restarted, gone, or gave up on us */
};

enum fsn_state {
	FSN_DOWN,	/* interface down, detached */
	FSN_WAIT,	/* waiting for the switch before asking to attach */
	FSN_ASKED,	/* attach asked (E), waiting for the ack (H) */
	FSN_UP,		/* attached, carrier on */
};

struct fsn_dev;

struct fsn_priv {
	struct net_device *ndev;
	struct fsn_dev *rdev, *pdev;	/* the ring region and the pool */
	struct fs_region_hdr *hdr;	/* BAR 2 of rdev */
	u8 *pool;			/* BAR 2 of pdev */
	u64 region_bar, pool_bar;	/* their sizes */
	/* Geometry copied out of the header when it was checked: the switch
	 * may rewrite the header, but what was validated is what is used. */
	u64 pool_size;
	u32 frame_size;
	u32 headroom;
	u32 frame_mtu;		/* the largest MTU one frame holds */
	/* The longest packet sent or taken whole (bytes, Ethernet header
	 * included): one frame's worth with a switch of ABI 1.2 or older,
	 * else what the switch publishes (max_packet, max_frames) within
	 * FSN_CHAIN_MAX and FSN_PKT_MAX. Set at attach, with the queue and
	 * NAPI stopped. */
	u32 pkt_max;
	struct fs_ring rx, free, alloc, tx;
	u32 gen, req, beat;
	u32 tx_pending;		/* tx entries written, not yet published */
	u32 alloc_taken;	/* alloc entries read, not yet released */
	u32 free_pending;	/* free entries written, not yet published */
	/* Lent frames taken off the alloc ring for a chain that could not
	 * be completed (the switch lent a bad entry among them): used first
	 * by the next packet. Under the tx lock. */
	u32 tx_spare_n;
	u64 tx_spare[FSN_CHAIN_MAX];
	enum fsn_state state;
	unsigned long asked_at;	/* jiffies of the last attach request */
	bool running;		/* between ndo_open and ndo_stop */
	bool napi_on;
	void __iomem *regs;	/* BAR 0 of rdev, for the Doorbell register */
	bool doorbell;		/* rdev has an MSI-X vector (ivshmem-doorbell) */
	int irq;
	struct napi_struct napi;
	struct hrtimer poll_timer;	/* polling mode: the next poll */
	struct delayed_work watchdog;
	struct bpf_prog __rcu *xdp_prog;
	struct xdp_rxq_info xdp_rxq;
	u32 xdp_tx_n;			/* XDP_TX frames of this poll */
	struct fs_desc xdp_tx[NAPI_POLL_WEIGHT];
	struct fsn_stats st;
	u16 abi_major, abi_minor;
};

extern unsigned int fsn_poll_usecs;

int fsn_poll(struct napi_struct *napi, int budget);
enum hrtimer_restart fsn_poll_timer(struct hrtimer *t);
irqreturn_t fsn_irq(int irq, void *data);
netdev_tx_t fsn_start_xmit(struct sk_buff *skb, struct net_device *ndev);
int fsn_bpf(struct net_device *ndev, struct netdev_bpf *bpf);
void fsn_kick(struct fsn_priv *p, const struct fs_ring *r, u64 *counter);

/* Frames a packet of len bytes takes: the first holds frame_size -
 * headroom bytes, each next one a whole frame. */
static inline u32 fsn_frames(const struct fsn_priv *p, u32 len)
{
	u32 one = p->frame_size - p->headroom;

	return len <= one ? 1 : 1 + DIV_ROUND_UP(len - one, p->frame_size);
}

#endif /* FSN_H */
