// SPDX-License-Identifier: GPL-2.0
/*
 * flipswitch_net data path: NAPI receive, transmit, XDP, doorbells.
 *
 * Receive copies each frame once, on this CPU, into an skb, computing the
 * checksum while copying (CHECKSUM_COMPLETE), and gives the frame back to
 * the switch at once; the switch itself never copies. XDP runs on the
 * frame in place (the switch leaves FS_HEADROOM = XDP_PACKET_HEADROOM in
 * front of it): XDP_TX sends that same frame back without a copy.
 *
 * Transmit takes an empty frame the switch lent on the alloc ring, copies
 * the skb after the headroom and publishes it on the tx ring when the
 * stack has no more to send (netdev_xmit_more()).
 *
 * The switch is untrusted: every descriptor is read once into locals and
 * checked before use, and an impossible ring index is counted and ignored.
 */
#include <linux/bpf_trace.h>
#include <linux/etherdevice.h>
#include <linux/filter.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/skbuff.h>
#include <net/checksum.h>

#include "fsn.h"

/* After publishing on ring r, the tx or the free ring (B): ring the switch
 * if it asked to be woken for that ring (L). The switch waits on tx
 * whenever it sleeps but on free only while it needs frames back soon, so
 * the free ring's own flag is the one that counts: a guest giving frames
 * back to a switch asleep on tx alone would wake it for nothing. */
void fsn_kick(struct fsn_priv *p, const struct fs_ring *r, u64 *counter)
{
	if (!p->doorbell)
		return;
	smp_mb(); /* K, pairs with J */
	if (READ_ONCE(*r->flags) & FS_RING_NEED_WAKEUP) { /* L */
		writel(FS_DOORBELL_SWITCH_ID << 16 | 0,
		       p->regs + FSN_IVSHMEM_DOORBELL);
		(*counter)++;
	}
}

irqreturn_t fsn_irq(int irq, void *data)
{
	struct fsn_priv *p = data;

	p->st.irqs++;
	napi_schedule(&p->napi);
	return IRQ_HANDLED;
}

enum hrtimer_restart fsn_poll_timer(struct hrtimer *t)
{
	struct fsn_priv *p = container_of(t, struct fsn_priv, poll_timer);

	napi_schedule(&p->napi);
	return HRTIMER_NORESTART;
}

/* ---- transmit (under the tx lock) ---------------------------------- */

/* An empty frame from the alloc ring: its base offset, false if none. The
 * consumer index is published by fsn_tx_flush (D). */
static bool fsn_alloc_take(struct fsn_priv *p, u64 *base)
{
	int bad = 0;
	u32 idx;

	while (fs_cons_peek(&p->alloc, 1, &idx, &bad)) {
		u64 addr = READ_ONCE(*fs_ring_addr(&p->alloc, idx));

		p->alloc.cached_cons++;
		p->alloc_taken++;
		if (likely(addr < p->pool_size)) {
			*base = addr & ~(u64)(p->frame_size - 1);
			return true;
		}
		p->st.tx_bad_alloc++;
	}
	if (bad)
		p->st.tx_ring_bad++;
	return false;
}

static bool fsn_alloc_ready(struct fsn_priv *p)
{
	u32 idx;

	return fs_cons_peek(&p->alloc, 1, &idx, NULL) > 0;
}

static void fsn_tx_flush(struct fsn_priv *p)
{
	if (p->alloc_taken) {
		__atomic_store_n(p->alloc.consumer, p->alloc.cached_cons,
				 __ATOMIC_RELEASE); /* D */
		p->alloc_taken = 0;
	}
	if (p->tx_pending) {
		fs_prod_submit(&p->tx); /* B */
		p->tx_pending = 0;
		fsn_kick(p, &p->tx, &p->st.doorbells_tx);
	}
}

/* Whether the next packet has a tx slot and a frame; if not, the queue is
 * stopped, and NAPI (rung for the alloc ring in doorbell mode, else on its
 * timer) wakes it when frames come back. */
static void fsn_tx_maybe_stop(struct fsn_priv *p)
{
	int bad = 0;

	if (fs_prod_room(&p->tx, 1, &bad) && fsn_alloc_ready(p))
		return;
	if (bad)
		p->st.tx_ring_bad++;
	if (fsn_alloc_ready(p))
		p->st.tx_stop_ring_full++;
	else
		p->st.tx_stop_no_frame++;
	netif_stop_queue(p->ndev);
	if (p->doorbell) {
		WRITE_ONCE(*p->alloc.flags, FS_RING_NEED_WAKEUP); /* I */
		smp_mb(); /* J, pairs with K */
	}
	/* A frame may have come back meanwhile: look again. */
	if (fs_prod_room(&p->tx, 1, NULL) && fsn_alloc_ready(p))
		netif_start_queue(p->ndev);
	else
		napi_schedule(&p->napi);
}

netdev_tx_t fsn_start_xmit(struct sk_buff *skb, struct net_device *ndev)
{
	struct fsn_priv *p = netdev_priv(ndev);
	struct fs_desc *d;
	u32 idx, len = skb->len;
	u64 base;
	u8 *to;

	if (unlikely(len > p->frame_size - p->headroom || len < ETH_HLEN)) {
		p->st.tx_drop_bad_len++;
		dev_kfree_skb_any(skb);
		goto out;
	}
	if (unlikely(!fs_prod_reserve(&p->tx, 1, &idx, NULL)))
		goto busy;
	if (unlikely(!fsn_alloc_take(p, &base))) {
		p->tx.cached_prod--; /* not published: take the slot back */
		goto busy;
	}
	to = p->pool + base + p->headroom;
	if (skb->ip_summed == CHECKSUM_PARTIAL)
		skb_copy_and_csum_dev(skb, to);
	else
		skb_copy_bits(skb, 0, to, len);
	d = fs_ring_desc(&p->tx, idx);
	WRITE_ONCE(d->addr, base + p->headroom);
	WRITE_ONCE(d->len, len);
	WRITE_ONCE(d->options, 0);
	p->tx_pending++;
	p->st.tx_packets++;
	p->st.tx_bytes += len;
	skb_tx_timestamp(skb);
	dev_consume_skb_any(skb);
	fsn_tx_maybe_stop(p);
out:
	if (!netdev_xmit_more() || netif_queue_stopped(ndev))
		fsn_tx_flush(p);
	return NETDEV_TX_OK;
busy:
	/* fsn_tx_maybe_stop keeps this rare: it stops the queue ahead. */
	fsn_tx_maybe_stop(p);
	fsn_tx_flush(p);
	return NETDEV_TX_BUSY;
}

/* ---- receive (NAPI) --------------------------------------------------- */

static void fsn_free_put(struct fsn_priv *p, u64 base)
{
	u32 idx;

	/* fsn_poll takes no more frames than the free ring has room for. */
	if (fs_prod_reserve(&p->free, 1, &idx, NULL)) {
		WRITE_ONCE(*fs_ring_addr(&p->free, idx), base);
		p->free_pending++;
	}
}

static void fsn_rx_skb(struct fsn_priv *p, const u8 *data, u32 len)
{
	struct sk_buff *skb;

	skb = napi_alloc_skb(&p->napi, len);
	if (unlikely(!skb)) {
		p->st.rx_drop_nomem++;
		return;
	}
	/* The checksum covers what follows the Ethernet header, which
	 * eth_type_trans pulls without adjusting skb->csum. */
	memcpy(skb->data, data, ETH_HLEN);
	skb->csum = csum_partial_copy_nocheck(data + ETH_HLEN,
					      skb->data + ETH_HLEN,
					      len - ETH_HLEN);
	skb->ip_summed = CHECKSUM_COMPLETE;
	skb_put(skb, len);
	skb->protocol = eth_type_trans(skb, p->ndev);
	p->st.rx_packets++;
	p->st.rx_bytes += len;
	napi_gro_receive(&p->napi, skb);
}

/* XDP_REDIRECT: the frame is copied into a page first, since shared
 * memory has no struct page to hand to another device. */
static void fsn_xdp_redirect(struct fsn_priv *p, struct bpf_prog *prog,
			     const struct xdp_buff *xdp)
{
	u32 len = xdp->data_end - xdp->data;
	struct xdp_buff copy;
	struct page *page;

	if (len > PAGE_SIZE - XDP_PACKET_HEADROOM -
		  SKB_DATA_ALIGN(sizeof(struct skb_shared_info)))
		goto err;
	page = dev_alloc_page();
	if (!page)
		goto err;
	memcpy(page_address(page) + XDP_PACKET_HEADROOM, xdp->data, len);
	xdp_init_buff(&copy, PAGE_SIZE, &p->xdp_rxq);
	xdp_prepare_buff(&copy, page_address(page), XDP_PACKET_HEADROOM, len,
			 false);
	if (xdp_do_redirect(p->ndev, &copy, prog)) {
		put_page(page);
		goto err;
	}
	p->st.xdp_redirect++;
	return;
err:
	p->st.xdp_redirect_err++;
}

/* Runs prog on the frame in place. True if the frame goes on to the stack
 * (*data and *len say what of it); false if it was dropped, redirected or
 * queued for XDP_TX (then it is not given back here). */
static bool fsn_rx_xdp(struct fsn_priv *p, struct bpf_prog *prog, u64 base,
		       u32 off, const u8 **data, u32 *len, bool *redirected,
		       bool *keep)
{
	struct xdp_buff xdp;
	u32 act;

	xdp_init_buff(&xdp, p->frame_size, &p->xdp_rxq);
	xdp_prepare_buff(&xdp, p->pool + base, off, *len, false);
	act = bpf_prog_run_xdp(prog, &xdp);
	switch (act) {
	case XDP_PASS:
		p->st.xdp_pass++;
		*data = xdp.data;
		*len = xdp.data_end - xdp.data;
		return true;
	case XDP_TX:
		if (p->xdp_tx_n < ARRAY_SIZE(p->xdp_tx)) {
			struct fs_desc *d = &p->xdp_tx[p->xdp_tx_n++];

			d->addr = (u8 *)xdp.data - p->pool;
			d->len = xdp.data_end - xdp.data;
			d->options = 0;
			*keep = true;
			return false;
		}
		p->st.xdp_tx_full++;
		return false;
	case XDP_REDIRECT:
		fsn_xdp_redirect(p, prog, &xdp);
		*redirected = true;
		return false;
	default:
		bpf_warn_invalid_xdp_action(p->ndev, prog, act);
		fallthrough;
	case XDP_ABORTED:
		trace_xdp_exception(p->ndev, prog, act);
		p->st.xdp_aborted++;
		return false;
	case XDP_DROP:
		p->st.xdp_drop++;
		return false;
	}
}

static void fsn_rx_one(struct fsn_priv *p, struct bpf_prog *prog, u32 idx,
		       bool *redirected)
{
	const struct fs_desc *s = fs_ring_desc(&p->rx, idx);
	/* Read once: the switch could rewrite the slot while we look. */
	u64 addr = READ_ONCE(s->addr);
	u32 len = READ_ONCE(s->len);
	u32 off = addr & (p->frame_size - 1);
	u64 base = addr - off;
	const u8 *data;
	bool keep = false;

	if (unlikely(addr >= p->pool_size)) {
		p->st.rx_drop_bad_addr++;
		return;
	}
	if (unlikely(len > p->frame_size || off + len > p->frame_size)) {
		p->st.rx_drop_bad_len++;
		goto give_back;
	}
	if (unlikely(len < ETH_HLEN)) {
		p->st.rx_drop_runt++;
		goto give_back;
	}
	data = p->pool + addr;
	if (prog && !fsn_rx_xdp(p, prog, base, off, &data, &len, redirected,
				&keep)) {
		if (keep)
			return;
		goto give_back;
	}
	fsn_rx_skb(p, data, len);
give_back:
	fsn_free_put(p, base);
}

/* The frames XDP_TX kept, onto the tx ring in one go; those that do not
 * fit go back to the switch. */
static void fsn_xdp_tx_flush(struct fsn_priv *p)
{
	struct netdev_queue *txq = netdev_get_tx_queue(p->ndev, 0);
	u32 i, n, idx;

	__netif_tx_lock(txq, smp_processor_id());
	n = fs_prod_reserve(&p->tx, p->xdp_tx_n, &idx, NULL);
	for (i = 0; i < n; i++) {
		struct fs_desc *d = fs_ring_desc(&p->tx, idx + i);

		WRITE_ONCE(d->addr, p->xdp_tx[i].addr);
		WRITE_ONCE(d->len, p->xdp_tx[i].len);
		WRITE_ONCE(d->options, 0);
	}
	p->tx_pending += n;
	p->st.xdp_tx += n;
	fsn_tx_flush(p);
	__netif_tx_unlock(txq);
	for (i = n; i < p->xdp_tx_n; i++) {
		p->st.xdp_tx_full++;
		fsn_free_put(p, p->xdp_tx[i].addr &
				~(u64)(p->frame_size - 1));
	}
	p->xdp_tx_n = 0;
}

/* Ready for the next poll: in doorbell mode ask the switch to ring (I..J)
 * and look once more; else poll again after poll_usecs. */
static void fsn_rearm(struct fsn_priv *p)
{
	bool stopped = netif_queue_stopped(p->ndev);

	if (p->doorbell &&
	    __atomic_load_n(&p->hdr->switch_doorbell, __ATOMIC_ACQUIRE)) {
		WRITE_ONCE(*p->rx.flags, FS_RING_NEED_WAKEUP);
		WRITE_ONCE(*p->alloc.flags,
			   stopped ? FS_RING_NEED_WAKEUP : 0); /* I */
		smp_mb(); /* J, pairs with K */
		if (READ_ONCE(*p->rx.producer) != p->rx.cached_cons ||
		    (stopped &&
		     READ_ONCE(*p->alloc.producer) != p->alloc.cached_cons))
			napi_schedule(&p->napi);
		return;
	}
	hrtimer_start(&p->poll_timer, ns_to_ktime(fsn_poll_usecs * 1000ULL),
		      HRTIMER_MODE_REL);
}

int fsn_poll(struct napi_struct *napi, int budget)
{
	struct fsn_priv *p = container_of(napi, struct fsn_priv, napi);
	bool redirected = false;
	struct bpf_prog *prog;
	int bad = 0;
	u32 n, i, idx, room;

	/* Each poll is also the guest's heartbeat. */
	WRITE_ONCE(p->hdr->guest_beat, ++p->beat);
	if (p->doorbell) {
		WRITE_ONCE(*p->rx.flags, 0);
		WRITE_ONCE(*p->alloc.flags, 0);
	}
	/* Take no more than can be given back: a frame must never be
	 * stranded for want of room on the free ring. */
	room = fs_prod_room(&p->free, budget, &bad);
	if (room < budget)
		p->st.free_ring_full++;
	n = fs_cons_peek(&p->rx, min_t(u32, budget, room), &idx, &bad);
	if (bad)
		p->st.rx_ring_bad++;

	rcu_read_lock();
	prog = rcu_dereference(p->xdp_prog);
	for (i = 0; i < n; i++)
		fsn_rx_one(p, prog, idx + i, &redirected);
	rcu_read_unlock();
	if (n)
		fs_cons_release(&p->rx, n); /* D */
	if (p->xdp_tx_n)
		fsn_xdp_tx_flush(p);
	if (redirected)
		xdp_do_flush();
	if (p->free_pending) {
		p->free_pending = 0;
		fs_prod_submit(&p->free); /* B, once a poll */
		fsn_kick(p, &p->free, &p->st.doorbells_free);
	}

	if (netif_queue_stopped(p->ndev)) {
		struct netdev_queue *txq = netdev_get_tx_queue(p->ndev, 0);

		__netif_tx_lock(txq, smp_processor_id());
		if (fs_prod_room(&p->tx, 1, NULL) && fsn_alloc_ready(p))
			netif_tx_wake_queue(txq);
		__netif_tx_unlock(txq);
	}

	if (n < budget && napi_complete_done(napi, n))
		fsn_rearm(p);
	return n;
}

/* ---- XDP setup -------------------------------------------------------- */

int fsn_bpf(struct net_device *ndev, struct netdev_bpf *bpf)
{
	struct fsn_priv *p = netdev_priv(ndev);
	struct bpf_prog *old;

	switch (bpf->command) {
	case XDP_SETUP_PROG:
		old = rtnl_dereference(p->xdp_prog);
		rcu_assign_pointer(p->xdp_prog, bpf->prog);
		if (old)
			bpf_prog_put(old);
		return 0;
	default:
		return -EINVAL;
	}
}
