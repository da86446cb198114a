// SPDX-License-Identifier: GPL-2.0
/*
 * flipswitch_net: PCI pairing, the netdev, attach and detach, ethtool.
 *
 * The module declares no device table for autoloading: 1af4:1110 is every
 * ivshmem device, and other drivers use it. It probes only the devices
 * named in its "devices" parameter or whose driver_override names it
 * (sysfs bind). A device whose BAR 2 starts with FS_REGION_MAGIC is a ring
 * region; any other is a pool. A ring region pairs with a pool at least as
 * large as its header's pool_size, in the same PCI slot if there is one
 * (flipswitch-qemu-args --slot places them so), else with the only such
 * pool; each pair becomes one netdev.
 *
 * Attach (ring.h labels E..H) is driven by a delayed work, the watchdog,
 * which never sleeps waiting: it asks, then looks again 10 ms later. Once
 * attached it keeps the heartbeat (guest_beat) and watches switch_gen,
 * switch_state and guest_ack; a switch that restarted, stopped or gave up
 * on us means carrier off, the rings reset (the frames we held are the
 * switch's again) and a new attach. It also follows the uplink's MTU the
 * switch publishes (ABI 1.2) into the netdev's max_mtu, and the longest
 * packet it takes (ABI 1.3, read at each attach).
 */
#include <linux/etherdevice.h>
#include <linux/ethtool.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/rtnetlink.h>

#include "fsn.h"

#if BITS_PER_LONG != 64
#error "flipswitch_net reads its u64 counters and ring offsets whole: 64-bit only"
#endif

static char *devices;
module_param(devices, charp, 0444);
MODULE_PARM_DESC(devices,
		 "PCI addresses of the ivshmem devices to drive (ring regions and pools), comma-separated, e.g. 0000:00:03.0,0000:00:04.0");

unsigned int fsn_poll_usecs = 500;
module_param_named(poll_usecs, fsn_poll_usecs, uint, 0644);
MODULE_PARM_DESC(poll_usecs,
		 "without a doorbell (ivshmem-plain): microseconds between polls of an idle interface (default 500)");

/* Ask again if the switch has not answered an attach within this. */
#define FSN_ASK_TIMEOUT (2 * HZ)
/* Watchdog period while attached; the heartbeat needs a few per
 * guest_timeout (1 s at the least). */
#define FSN_WATCH_UP msecs_to_jiffies(100)
#define FSN_WATCH_ASK msecs_to_jiffies(10)
/* How long ndo_stop waits for the switch to take what is on the rings,
 * then for its ack of the detach. */
#define FSN_DETACH_MS 1000

/* One ivshmem device. */
struct fsn_dev {
	struct pci_dev *pci;
	void *mem;		/* BAR 2, mapped cacheable */
	u64 size;
	bool ring;		/* BAR 2 holds a ring region */
	struct fsn_priv *priv;	/* the netdev it is part of, if paired */
	struct list_head node;	/* on fsn_devs */
};

/* Every probed device; paired or not. Probe and remove are serialized by
 * the driver core per device only, hence the mutex. */
static LIST_HEAD(fsn_devs);
static DEFINE_MUTEX(fsn_lock);

/* ---- ring region header ----------------------------------------------- */

static bool fsn_ring_ok(const struct fs_ring_info *r, u32 desc_size,
			u64 bar)
{
	u64 end = r->off + sizeof(struct fs_ring_shared) +
		  (u64)r->size * desc_size;

	return fs_is_pow2(r->size) && r->desc_size == desc_size &&
	       r->off % FS_CACHELINE == 0 &&
	       r->off >= sizeof(struct fs_region_hdr) && end <= bar &&
	       end > r->off;
}

/* Checks a private copy of the header against the BAR sizes, as
 * fsg_check_header does in the guest library. 0 or -EINVAL, with the
 * reason in *why. */
static int fsn_check_header(const struct fs_region_hdr *h, u64 bar,
			    u64 pool_bar, const char **why)
{
	if (h->magic != FS_REGION_MAGIC) {
		*why = "not a flipswitch ring region (bad magic)";
		return -EINVAL;
	}
	if (h->abi_major != FS_ABI_MAJOR) {
		*why = "ring ABI major version differs from the driver's";
		return -EINVAL;
	}
	if (h->region_size > bar || !fs_is_pow2(h->frame_size) ||
	    h->headroom >= h->frame_size ||
	    h->frame_size - h->headroom <= ETH_HLEN ||
	    h->pool_size != (u64)h->pool_frames * h->frame_size ||
	    (pool_bar && h->pool_size > pool_bar) ||
	    !fsn_ring_ok(&h->rx, sizeof(struct fs_desc), bar) ||
	    !fsn_ring_ok(&h->tx, sizeof(struct fs_desc), bar) ||
	    !fsn_ring_ok(&h->free, sizeof(u64), bar) ||
	    !fsn_ring_ok(&h->alloc, sizeof(u64), bar)) {
		*why = "ring region header is inconsistent";
		return -EINVAL;
	}
	return 0;
}

/*
 * The longest packet, Ethernet header included: what one frame holds,
 * or with a switch of ABI 1.3 that takes chains what it publishes
 * (max_packet bytes in max_frames frames), within what the driver
 * handles (FSN_CHAIN_MAX frames, FSN_PKT_MAX bytes). A switch older than
 * 1.3 never wrote those fields: one frame.
 */
static u32 fsn_pkt_max(const struct fs_region_hdr *h)
{
	u32 one = h->frame_size - h->headroom, frames;
	u64 len;

	if (h->abi_minor < 3 || h->max_frames < 2 || h->max_packet <= one)
		return one;
	frames = min_t(u32, h->max_frames, FSN_CHAIN_MAX);
	len = one + (u64)(frames - 1) * h->frame_size;
	return min_t(u64, min_t(u64, len, h->max_packet), FSN_PKT_MAX);
}

/* Copies the header out of shared memory once, checks the copy and takes
 * the geometry and ring layout from it. */
static int fsn_load_header(struct fsn_priv *p)
{
	struct fs_region_hdr h;
	const char *why;

	memcpy(&h, p->hdr, sizeof(h));
	if (fsn_check_header(&h, p->region_bar, p->pool_bar, &why)) {
		netdev_err(p->ndev, "%s: %s\n", pci_name(p->rdev->pci), why);
		return -EINVAL;
	}
	if (h.frame_size != p->frame_size || h.headroom != p->headroom) {
		/* The MTU was sized for the first geometry. */
		netdev_err(p->ndev,
			   "the switch changed frame_size or headroom (%u/%u, was %u/%u): reload the driver\n",
			   h.frame_size, h.headroom, p->frame_size,
			   p->headroom);
		return -EINVAL;
	}
	p->pool_size = h.pool_size;
	p->abi_major = h.abi_major;
	p->abi_minor = h.abi_minor;
	p->pkt_max = fsn_pkt_max(&h);
	fs_ring_init(&p->rx, p->hdr, &h.rx);
	fs_ring_init(&p->free, p->hdr, &h.free);
	fs_ring_init(&p->alloc, p->hdr, &h.alloc);
	fs_ring_init(&p->tx, p->hdr, &h.tx);
	return 0;
}

/* ---- MTU -------------------------------------------------------------- */

/*
 * The largest MTU: what a packet holds (fsn_pkt_max: one frame, or a
 * chain with a switch of ABI 1.3), and with a switch of ABI 1.2 or
 * later no more than its uplink_mtu, since the switch drops a frame for
 * the wire longer than that (too_big). 0 there means the switch does not
 * know it yet. The value is the switch's to write, so it is clamped to
 * what the netdev can take (min_mtu..pkt_max - ETH_HLEN) whatever it
 * says.
 */
static u32 fsn_uplink_mtu(struct fsn_priv *p)
{
	/* Read on its own: no ordering with anything else in the header. */
	return p->abi_minor < 2 ? 0 :
	       __atomic_load_n(&p->hdr->uplink_mtu, __ATOMIC_RELAXED);
}

static u32 fsn_max_mtu(struct fsn_priv *p, u32 uplink)
{
	u32 max = p->pkt_max - ETH_HLEN;

	if (!uplink)
		return max;
	return clamp_t(u32, uplink, ETH_MIN_MTU, max);
}

/*
 * Follows a change of the uplink's MTU: max_mtu becomes the new limit and
 * an MTU above it is lowered to it (frames longer would be dropped by the
 * switch); a raised limit leaves the MTU for the admin to raise. max_mtu
 * and the MTU are changed under the RTNL, which the watchdog only tries:
 * ndo_stop holds it while it waits for the watchdog to finish, and the
 * next period tries again.
 */
static void fsn_follow_mtu(struct fsn_priv *p)
{
	struct net_device *ndev = p->ndev;
	u32 uplink = fsn_uplink_mtu(p), max = fsn_max_mtu(p, uplink);
	int rc;

	if (max == READ_ONCE(ndev->max_mtu) || !rtnl_trylock())
		return;
	if (uplink)
		netdev_info(ndev,
			    "the switch's uplink MTU is %u: MTU up to %u\n",
			    uplink, max);
	else
		netdev_info(ndev,
			    "the switch publishes no uplink MTU: MTU up to %u\n",
			    max);
	ndev->max_mtu = max;
	if (ndev->mtu > max) {
		rc = dev_set_mtu(ndev, max);
		if (rc)
			netdev_warn(ndev, "cannot lower the MTU to %u (%d)\n",
				    max, rc);
	}
	rtnl_unlock();
}

/* ---- attach and detach ------------------------------------------------ */

static void fsn_ring_switch(struct fsn_priv *p)
{
	if (p->doorbell)
		writel(FS_DOORBELL_SWITCH_ID << 16 | 0,
		       p->regs + FSN_IVSHMEM_DOORBELL);
}

static bool fsn_switch_up(struct fsn_priv *p)
{
	return __atomic_load_n(&p->hdr->switch_state, __ATOMIC_ACQUIRE) ==
	       FS_SW_UP;
}

/* Asks the switch to attach (E) if it is up. */
static void fsn_ask(struct fsn_priv *p)
{
	u32 req;

	if (!fsn_switch_up(p))
		return;
	p->gen = __atomic_load_n(&p->hdr->switch_gen, __ATOMIC_ACQUIRE);
	req = __atomic_load_n(&p->hdr->guest_req, __ATOMIC_RELAXED);
	p->req = ((req >> 1) + 1) << 1 | FS_REQ_ATTACH;
	/* Every guest of this driver takes chains (fsn_rx_chain). */
	__atomic_store_n(&p->hdr->guest_flags,
			 FS_GUEST_CHAINS | (p->doorbell ? FS_GUEST_RINGS : 0),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&p->hdr->guest_req, p->req, __ATOMIC_RELEASE); /* E */
	fsn_ring_switch(p); /* it may be asleep */
	p->asked_at = jiffies;
	p->state = FSN_ASKED;
}

/* Schedules NAPI from process context: the softirq runs at
 * local_bh_enable, not at some later interrupt. */
static void fsn_napi_kick(struct fsn_priv *p)
{
	local_bh_disable();
	napi_schedule(&p->napi);
	local_bh_enable();
}

/* The switch's ack (G) arrived: the rings start from index 0. */
static void fsn_attached(struct fsn_priv *p)
{
	if (fsn_load_header(p)) {
		p->state = FSN_WAIT;
		return;
	}
	p->tx_pending = p->alloc_taken = p->free_pending = 0;
	p->tx_spare_n = 0; /* the switch took those back */
	p->xdp_tx_n = 0;
	p->state = FSN_UP;
	p->st.attaches++;
	napi_enable(&p->napi);
	p->napi_on = true;
	netif_carrier_on(p->ndev);
	netif_wake_queue(p->ndev);
	fsn_napi_kick(p);
	netdev_info(p->ndev, "attached to the switch (ABI %u.%u, %s)\n",
		    p->abi_major, p->abi_minor,
		    p->doorbell ? "doorbell" : "polling");
}

/* Stops everything that touches the rings. */
static void fsn_quiesce(struct fsn_priv *p)
{
	netif_carrier_off(p->ndev);
	netif_tx_disable(p->ndev);
	if (p->napi_on) {
		napi_disable(&p->napi);
		p->napi_on = false;
	}
	hrtimer_cancel(&p->poll_timer);
}

static bool fsn_switch_changed(struct fsn_priv *p)
{
	u32 ack = __atomic_load_n(&p->hdr->guest_ack, __ATOMIC_ACQUIRE);

	return !fsn_switch_up(p) ||
	       __atomic_load_n(&p->hdr->switch_gen, __ATOMIC_ACQUIRE) !=
		       p->gen ||
	       ack != p->req;
}

static void fsn_watchdog(struct work_struct *w)
{
	struct fsn_priv *p = container_of(to_delayed_work(w), struct fsn_priv,
					  watchdog);
	unsigned long next = FSN_WATCH_ASK;
	u32 ack;

	/* The heartbeat, also while NAPI is idle. */
	WRITE_ONCE(p->hdr->guest_beat, ++p->beat);
	switch (p->state) {
	case FSN_WAIT:
		fsn_ask(p);
		break;
	case FSN_ASKED:
		ack = __atomic_load_n(&p->hdr->guest_ack,
				      __ATOMIC_ACQUIRE); /* H, matches G */
		if (ack == p->req && fsn_switch_up(p) &&
		    __atomic_load_n(&p->hdr->switch_gen, __ATOMIC_ACQUIRE) ==
			    p->gen)
			fsn_attached(p);
		else if (time_after(jiffies, p->asked_at + FSN_ASK_TIMEOUT) ||
			 !fsn_switch_up(p))
			p->state = FSN_WAIT;
		break;
	case FSN_UP:
		next = FSN_WATCH_UP;
		fsn_follow_mtu(p);
		if (fsn_switch_changed(p)) {
			p->st.switch_lost++;
			netdev_warn(p->ndev,
				    "the switch restarted, stopped or let us go: carrier off, attaching again\n");
			fsn_quiesce(p);
			p->state = FSN_WAIT;
			next = FSN_WATCH_ASK;
		} else if (netif_queue_stopped(p->ndev) ||
			   READ_ONCE(*p->rx.producer) !=
				   READ_ONCE(p->rx.cached_cons)) {
			/* A doorbell lost or never asked for: look now (a
			 * racy hint; NAPI itself reads the rings). */
			fsn_napi_kick(p);
		}
		break;
	case FSN_DOWN:
		return;
	}
	if (READ_ONCE(p->running))
		schedule_delayed_work(&p->watchdog, next);
}

/* Waits for the switch to take what is on the tx and free rings, then
 * asks to detach: the switch takes back every frame this VM holds. */
static void fsn_detach(struct fsn_priv *p)
{
	bool attached = p->state == FSN_UP;
	int ms;

	for (ms = 0; attached && ms < FSN_DETACH_MS; ms++) {
		if (__atomic_load_n(p->tx.consumer, __ATOMIC_ACQUIRE) ==
			    p->tx.cached_prod &&
		    __atomic_load_n(p->free.consumer, __ATOMIC_ACQUIRE) ==
			    p->free.cached_prod)
			break;
		if (fsn_switch_changed(p))
			goto out;
		usleep_range(1000, 2000);
	}
	p->req = ((p->req >> 1) + 1) << 1;
	__atomic_store_n(&p->hdr->guest_req, p->req, __ATOMIC_RELEASE); /* E */
	fsn_ring_switch(p);
	for (ms = 0; ms < FSN_DETACH_MS; ms++) {
		if (__atomic_load_n(&p->hdr->guest_ack, __ATOMIC_ACQUIRE) ==
		    p->req) /* H */
			goto out;
		if (!fsn_switch_up(p))
			goto out;
		usleep_range(1000, 2000);
	}
	netdev_warn(p->ndev,
		    "the switch did not answer the detach: it takes the frames back after its guest_timeout\n");
out:
	p->state = FSN_DOWN;
}

static int fsn_open(struct net_device *ndev)
{
	struct fsn_priv *p = netdev_priv(ndev);

	netif_carrier_off(ndev);
	p->state = FSN_WAIT;
	WRITE_ONCE(p->running, true);
	if (!fsn_switch_up(p))
		netdev_info(ndev, "waiting for the switch\n");
	schedule_delayed_work(&p->watchdog, 0);
	return 0;
}

static int fsn_stop(struct net_device *ndev)
{
	struct fsn_priv *p = netdev_priv(ndev);

	WRITE_ONCE(p->running, false);
	cancel_delayed_work_sync(&p->watchdog);
	fsn_quiesce(p);
	if (p->state == FSN_UP || p->state == FSN_ASKED)
		fsn_detach(p);
	p->state = FSN_DOWN;
	return 0;
}

static void fsn_get_stats64(struct net_device *ndev,
			    struct rtnl_link_stats64 *s)
{
	struct fsn_priv *p = netdev_priv(ndev);
	const struct fsn_stats *st = &p->st;

	s->rx_packets = READ_ONCE(st->rx_packets);
	s->rx_bytes = READ_ONCE(st->rx_bytes);
	s->tx_packets = READ_ONCE(st->tx_packets);
	s->tx_bytes = READ_ONCE(st->tx_bytes);
	s->rx_dropped = READ_ONCE(st->rx_drop_nomem) +
			READ_ONCE(st->xdp_drop) + READ_ONCE(st->xdp_aborted);
	s->rx_errors = READ_ONCE(st->rx_drop_bad_addr) +
		       READ_ONCE(st->rx_drop_bad_len) +
		       READ_ONCE(st->rx_drop_runt);
	s->rx_errors += READ_ONCE(st->rx_drop_chain_open) +
			READ_ONCE(st->rx_drop_chain_long);
	s->rx_dropped += READ_ONCE(st->rx_drop_chain_xdp);
	s->tx_dropped = READ_ONCE(st->tx_drop_bad_len) +
			READ_ONCE(st->tx_drop_nomem);
}

/* See fsn_bpf: while an XDP program is attached, the MTU stays within
 * one frame. */
static int fsn_change_mtu(struct net_device *ndev, int mtu)
{
	struct fsn_priv *p = netdev_priv(ndev);

	if (rtnl_dereference(p->xdp_prog) && mtu > p->frame_mtu) {
		netdev_warn(ndev,
			    "an XDP program is attached: MTU up to %u (one frame)\n",
			    p->frame_mtu);
		return -EINVAL;
	}
	WRITE_ONCE(ndev->mtu, mtu);
	return 0;
}

static const struct net_device_ops fsn_netdev_ops = {
	.ndo_open = fsn_open,
	.ndo_stop = fsn_stop,
	.ndo_start_xmit = fsn_start_xmit,
	.ndo_change_mtu = fsn_change_mtu,
	.ndo_get_stats64 = fsn_get_stats64,
	.ndo_set_mac_address = eth_mac_addr,
	.ndo_validate_addr = eth_validate_addr,
	.ndo_bpf = fsn_bpf,
};

/* ---- ethtool ---------------------------------------------------------- */

struct fsn_stat_desc {
	char name[ETH_GSTRING_LEN];
	size_t off;
};

#define FSN_STAT(f) { #f, offsetof(struct fsn_stats, f) }

static const struct fsn_stat_desc fsn_stats_desc[] = {
	FSN_STAT(rx_packets), FSN_STAT(rx_bytes),
	FSN_STAT(rx_drop_bad_addr), FSN_STAT(rx_drop_bad_len),
	FSN_STAT(rx_drop_runt), FSN_STAT(rx_drop_nomem),
	FSN_STAT(rx_ring_bad), FSN_STAT(free_ring_full),
	FSN_STAT(rx_chains), FSN_STAT(rx_drop_chain_open),
	FSN_STAT(rx_drop_chain_long), FSN_STAT(rx_drop_chain_xdp),
	FSN_STAT(tx_packets), FSN_STAT(tx_bytes),
	FSN_STAT(tx_drop_bad_len), FSN_STAT(tx_drop_nomem),
	FSN_STAT(tx_chains), FSN_STAT(tx_bad_alloc),
	FSN_STAT(tx_stop_no_frame), FSN_STAT(tx_stop_ring_full),
	FSN_STAT(tx_ring_bad),
	FSN_STAT(xdp_pass), FSN_STAT(xdp_drop), FSN_STAT(xdp_tx),
	FSN_STAT(xdp_tx_full), FSN_STAT(xdp_redirect),
	FSN_STAT(xdp_redirect_err), FSN_STAT(xdp_aborted),
	FSN_STAT(doorbells_tx), FSN_STAT(doorbells_free), FSN_STAT(irqs),
	FSN_STAT(attaches), FSN_STAT(switch_lost),
};

static void fsn_get_drvinfo(struct net_device *ndev,
			    struct ethtool_drvinfo *info)
{
	struct fsn_priv *p = netdev_priv(ndev);

	strscpy(info->driver, FSN_NAME, sizeof(info->driver));
	snprintf(info->fw_version, sizeof(info->fw_version),
		 "ABI %u.%u (driver %u.%u)", p->abi_major, p->abi_minor,
		 FS_ABI_MAJOR, FS_ABI_MINOR);
	strscpy(info->bus_info, pci_name(p->rdev->pci),
		sizeof(info->bus_info));
}

static int fsn_get_sset_count(struct net_device *ndev, int sset)
{
	return sset == ETH_SS_STATS ? ARRAY_SIZE(fsn_stats_desc) : -EOPNOTSUPP;
}

static void fsn_get_strings(struct net_device *ndev, u32 sset, u8 *data)
{
	size_t i;

	if (sset != ETH_SS_STATS)
		return;
	for (i = 0; i < ARRAY_SIZE(fsn_stats_desc); i++)
		memcpy(data + i * ETH_GSTRING_LEN, fsn_stats_desc[i].name,
		       ETH_GSTRING_LEN);
}

static void fsn_get_ethtool_stats(struct net_device *ndev,
				  struct ethtool_stats *stats, u64 *data)
{
	struct fsn_priv *p = netdev_priv(ndev);
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fsn_stats_desc); i++)
		data[i] = READ_ONCE(*(u64 *)((u8 *)&p->st +
					     fsn_stats_desc[i].off));
}

static const struct ethtool_ops fsn_ethtool_ops = {
	.get_drvinfo = fsn_get_drvinfo,
	.get_link = ethtool_op_get_link,
	.get_sset_count = fsn_get_sset_count,
	.get_strings = fsn_get_strings,
	.get_ethtool_stats = fsn_get_ethtool_stats,
};

/* ---- the netdev of a pair --------------------------------------------- */

static int fsn_irq_setup(struct fsn_priv *p)
{
	struct pci_dev *pci = p->rdev->pci;
	int rc;

	if (pci_msix_vec_count(pci) <= 0)
		return 0; /* ivshmem-plain: polling */
	p->regs = pcim_iomap(pci, 0, 0);
	if (!p->regs)
		return -ENOMEM;
	/* MSI-X messages are memory writes the device makes. */
	pci_set_master(pci);
	rc = pci_alloc_irq_vectors(pci, 1, 1, PCI_IRQ_MSIX);
	if (rc < 0)
		return rc;
	p->irq = pci_irq_vector(pci, 0);
	rc = request_irq(p->irq, fsn_irq, 0, FSN_NAME, p);
	if (rc) {
		pci_free_irq_vectors(pci);
		return rc;
	}
	p->doorbell = true;
	return 0;
}

static void fsn_irq_teardown(struct fsn_priv *p)
{
	if (!p->doorbell)
		return;
	free_irq(p->irq, p);
	pci_free_irq_vectors(p->rdev->pci);
	p->doorbell = false;
}

static int fsn_netdev_create(struct fsn_dev *rdev, struct fsn_dev *pdev)
{
	struct fs_region_hdr h;
	struct net_device *ndev;
	struct fsn_priv *p;
	const char *why;
	int rc;

	memcpy(&h, rdev->mem, sizeof(h));
	if (fsn_check_header(&h, rdev->size, pdev->size, &why)) {
		dev_err(&rdev->pci->dev, "%s\n", why);
		return -EINVAL;
	}
	ndev = alloc_etherdev(sizeof(*p));
	if (!ndev)
		return -ENOMEM;
	SET_NETDEV_DEV(ndev, &rdev->pci->dev);
	p = netdev_priv(ndev);
	p->ndev = ndev;
	p->rdev = rdev;
	p->pdev = pdev;
	p->hdr = rdev->mem;
	p->pool = pdev->mem;
	p->region_bar = rdev->size;
	p->pool_bar = pdev->size;
	p->frame_size = h.frame_size;
	p->headroom = h.headroom;
	p->pool_size = h.pool_size;
	p->abi_major = h.abi_major;
	p->abi_minor = h.abi_minor;
	p->frame_mtu = h.frame_size - h.headroom - ETH_HLEN;
	p->pkt_max = fsn_pkt_max(&h);
	p->state = FSN_DOWN;
	INIT_DELAYED_WORK(&p->watchdog, fsn_watchdog);
	hrtimer_init(&p->poll_timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
	p->poll_timer.function = fsn_poll_timer;
	netif_napi_add(ndev, &p->napi, fsn_poll);

	ndev->netdev_ops = &fsn_netdev_ops;
	ndev->ethtool_ops = &fsn_ethtool_ops;
	ndev->hw_features = NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_RXCSUM;
	ndev->features = ndev->hw_features | NETIF_F_VLAN_CHALLENGED;
	ndev->min_mtu = ETH_MIN_MTU;
	ndev->max_mtu = fsn_max_mtu(p, fsn_uplink_mtu(p));
	ndev->mtu = min_t(u32, ETH_DATA_LEN, ndev->max_mtu);
	if (is_valid_ether_addr(h.mac)) {
		eth_hw_addr_set(ndev, h.mac);
	} else {
		dev_warn(&rdev->pci->dev,
			 "the ring header's MAC %pM is not a unicast address: using a random one\n",
			 h.mac);
		eth_hw_addr_random(ndev);
	}

	rc = fsn_irq_setup(p);
	if (rc) {
		dev_warn(&rdev->pci->dev,
			 "no doorbell interrupt (%d): polling instead\n", rc);
		p->doorbell = false;
	}
	rc = xdp_rxq_info_reg(&p->xdp_rxq, ndev, 0, p->napi.napi_id);
	if (rc)
		goto out_irq;
	rc = xdp_rxq_info_reg_mem_model(&p->xdp_rxq, MEM_TYPE_PAGE_SHARED,
					NULL);
	if (rc)
		goto out_rxq;
	rc = register_netdev(ndev);
	if (rc)
		goto out_rxq;
	rdev->priv = pdev->priv = p;
	netdev_info(ndev,
		    "flipswitch VM \"%.*s\" on %s (rings) and %s (pool), MAC %pM, MTU up to %u, %s\n",
		    FS_NAME_MAX, h.name, pci_name(rdev->pci),
		    pci_name(pdev->pci), ndev->dev_addr, ndev->max_mtu,
		    p->doorbell ? "doorbell interrupts" : "polling");
	return 0;

out_rxq:
	xdp_rxq_info_unreg(&p->xdp_rxq);
out_irq:
	fsn_irq_teardown(p);
	netif_napi_del(&p->napi);
	free_netdev(ndev);
	return rc;
}

static void fsn_netdev_destroy(struct fsn_priv *p)
{
	struct net_device *ndev = p->ndev;
	struct bpf_prog *prog;

	unregister_netdev(ndev); /* ndo_stop detaches */
	fsn_irq_teardown(p);
	xdp_rxq_info_unreg(&p->xdp_rxq);
	netif_napi_del(&p->napi);
	prog = rcu_dereference_protected(p->xdp_prog, true);
	if (prog)
		bpf_prog_put(prog);
	p->rdev->priv = p->pdev->priv = NULL;
	free_netdev(ndev);
}

/* ---- pairing ---------------------------------------------------------- */

static bool fsn_same_slot(struct pci_dev *a, struct pci_dev *b)
{
	return a->bus == b->bus && PCI_SLOT(a->devfn) == PCI_SLOT(b->devfn);
}

/* Pairs every unpaired ring region it can. Under fsn_lock. */
static void fsn_pair(void)
{
	struct fsn_dev *r, *d, *pool;
	int n;

	list_for_each_entry(r, &fsn_devs, node) {
		u64 need;

		if (!r->ring || r->priv)
			continue;
		need = READ_ONCE(((struct fs_region_hdr *)r->mem)->pool_size);
		pool = NULL;
		n = 0;
		list_for_each_entry(d, &fsn_devs, node) {
			if (d->ring || d->priv || d->size < need)
				continue;
			if (fsn_same_slot(r->pci, d->pci)) {
				pool = d;
				n = 1;
				break;
			}
			pool = d;
			n++;
		}
		if (n > 1) {
			dev_warn(&r->pci->dev,
				 "%d ivshmem devices could be this ring region's pool: put the two in one PCI slot (flipswitch-qemu-args --slot)\n",
				 n);
			continue;
		}
		if (pool)
			fsn_netdev_create(r, pool);
	}
}

static bool fsn_wanted(struct pci_dev *pci)
{
	const char *name = pci_name(pci), *s = devices;
	size_t len = strlen(name);

	if (pci->driver_override && !strcmp(pci->driver_override, FSN_NAME))
		return true;
	while (s && *s) {
		size_t n = strcspn(s, ",");

		if (n == len && !strncmp(s, name, len))
			return true;
		s += n + (s[n] == ',');
	}
	return false;
}

static int fsn_probe(struct pci_dev *pci, const struct pci_device_id *id)
{
	resource_size_t start;
	struct fsn_dev *d;
	int rc;

	if (!fsn_wanted(pci))
		return -ENODEV;
	rc = pcim_enable_device(pci);
	if (rc)
		return rc;
	d = devm_kzalloc(&pci->dev, sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	d->pci = pci;
	start = pci_resource_start(pci, 2);
	d->size = pci_resource_len(pci, 2);
	if (!start || d->size < sizeof(struct fs_region_hdr)) {
		dev_err(&pci->dev, "no shared memory in BAR 2\n");
		return -ENODEV;
	}
	if (!devm_request_mem_region(&pci->dev, start, d->size, FSN_NAME))
		return -EBUSY;
	/* Cacheable: both sides are CPUs sharing memory, never a device. */
	d->mem = devm_memremap(&pci->dev, start, d->size, MEMREMAP_WB);
	if (IS_ERR(d->mem))
		return PTR_ERR(d->mem);
	d->ring = READ_ONCE(*(u64 *)d->mem) == FS_REGION_MAGIC;
	pci_set_drvdata(pci, d);
	dev_info(&pci->dev, "%s, %llu bytes\n",
		 d->ring ? "flipswitch ring region" : "pool (no ring magic)",
		 (unsigned long long)d->size);

	mutex_lock(&fsn_lock);
	list_add_tail(&d->node, &fsn_devs);
	fsn_pair();
	mutex_unlock(&fsn_lock);
	return 0;
}

static void fsn_remove(struct pci_dev *pci)
{
	struct fsn_dev *d = pci_get_drvdata(pci);

	mutex_lock(&fsn_lock);
	if (d->priv)
		fsn_netdev_destroy(d->priv);
	list_del(&d->node);
	fsn_pair(); /* the partner may pair with another */
	mutex_unlock(&fsn_lock);
}

static void fsn_shutdown(struct pci_dev *pci)
{
	struct fsn_dev *d = pci_get_drvdata(pci);

	mutex_lock(&fsn_lock);
	if (d->priv && d->ring) {
		rtnl_lock();
		dev_close(d->priv->ndev); /* detaches: the switch gets all back */
		rtnl_unlock();
	}
	mutex_unlock(&fsn_lock);
}

/* Matches every ivshmem device; fsn_probe takes only those it was told
 * to. Not exported with MODULE_DEVICE_TABLE: no autoloading. */
static const struct pci_device_id fsn_ids[] = {
	{ PCI_DEVICE(PCI_VENDOR_ID_REDHAT_QUMRANET, 0x1110) },
	{ 0 },
};

static struct pci_driver fsn_driver = {
	.name = FSN_NAME,
	.id_table = fsn_ids,
	.probe = fsn_probe,
	.remove = fsn_remove,
	.shutdown = fsn_shutdown,
};
module_pci_driver(fsn_driver);

MODULE_DESCRIPTION("flipswitch VM port network interface (ivshmem)");
MODULE_AUTHOR("flipswitch developers");
MODULE_LICENSE("GPL");
