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
 * Packets longer than a frame (ABI 1.3, MTU up to 9000 and more) travel
 * as chains both ways. A received chain is copied too: its first frame,
 * which holds the headers, into the skb's linear part, the rest into
 * order-0 pages as fragments. The pool has no struct page, so the frames
 * themselves can never be fragments; pages rather than one linear buffer
 * because a 9000-byte linear skb is a higher-order allocation, which
 * fails first when memory is fragmented, and GRO and the stack take
 * fragments as they come (virtio-net builds its large packets so too).
 *
 * The switch is untrusted: every descriptor is read once into locals and
 * checked before use, and an impossible ring index is counted and ignored.
 */
#include <linux/bpf_trace.h>
#include <linux/etherdevice.h>
#include <linux/filter.h>
#include <linux/if_vlan.h>
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

/* An empty frame from the alloc ring (or a spare one): its base offset,
 * false if none. The consumer index is published by fsn_tx_flush (D). */
static bool fsn_alloc_take(struct fsn_priv *p, u64 *base)
{
	int bad = 0;
	u32 idx;

	if (p->tx_spare_n) {
		*base = p->tx_spare[--p->tx_spare_n];
		return true;
	}
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

/* Whether n frames can be taken (a bad entry among them can still make
 * fsn_alloc_take fail: the frames taken then wait in tx_spare). */
static bool fsn_alloc_ready(struct fsn_priv *p, u32 n)
{
	u32 idx;

	if (p->tx_spare_n >= n)
		return true;
	n -= p->tx_spare_n;
	return fs_cons_peek(&p->alloc, n, &idx, NULL) == n;
}

/* Frames needed by the longest packet the stack may hand over at the
 * current MTU: a packet socket may add a VLAN tag's 4 bytes to a full
 * frame. Stopping the queue for anything shorter could leave a packet
 * that never fits with the queue awake: NETDEV_TX_BUSY again and again. */
static u32 fsn_mtu_frames(struct fsn_priv *p)
{
	return fsn_frames(p, READ_ONCE(p->ndev->mtu) + VLAN_ETH_HLEN);
}

/* Tx slots and frames for one packet of the current MTU. */
static bool fsn_tx_ready(struct fsn_priv *p, int *bad)
{
	u32 n = fsn_mtu_frames(p);

	return fs_prod_room(&p->tx, n, bad) >= n && fsn_alloc_ready(p, n);
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

/* Whether the next packet has its tx slots and frames; if not, the queue
 * is stopped, and NAPI (rung for the alloc ring in doorbell mode, else on
 * its timer) wakes it when frames come back. */
static void fsn_tx_maybe_stop(struct fsn_priv *p)
{
	int bad = 0;

	if (fsn_tx_ready(p, &bad))
		return;
	if (bad)
		p->st.tx_ring_bad++;
	if (fsn_alloc_ready(p, fsn_mtu_frames(p)))
		p->st.tx_stop_ring_full++;
	else
		p->st.tx_stop_no_frame++;
	netif_stop_queue(p->ndev);
	if (p->doorbell) {
		WRITE_ONCE(*p->alloc.flags, FS_RING_NEED_WAKEUP); /* I */
		smp_mb(); /* J, pairs with K */
	}
	/* A frame may have come back meanwhile: look again. */
	if (fsn_tx_ready(p, NULL))
		netif_start_queue(p->ndev);
	else
		napi_schedule(&p->napi);
}

/*
 * Copies the skb into the frames of a chain: the first from its headroom
 * on, the others whole. A CHECKSUM_PARTIAL checksum is computed during
 * the copy, as skb_copy_and_csum_dev does for one buffer, and stored into
 * the first frame, which holds every header (a checksum field beyond it is
 * filled in by skb_checksum_help before the copy, in fsn_start_xmit).
 */
static void fsn_tx_copy(struct fsn_priv *p, struct sk_buff *skb,
			const u64 *base, u32 n)
{
	u32 len = skb->len, one = p->frame_size - p->headroom, i, off, l, c;
	bool partial = skb->ip_summed == CHECKSUM_PARTIAL;
	u32 cstart = partial ? skb_checksum_start_offset(skb) : len;
	u8 *first = p->pool + base[0] + p->headroom, *to;
	__wsum csum = 0;

	for (i = 0, off = 0; i < n; i++, off += l) {
		to = i ? p->pool + base[i] : first;
		l = min(len - off, i ? p->frame_size : one);
		/* The part before the checksummed range, then the rest. */
		c = off < cstart ? min(cstart - off, l) : 0;
		if (c)
			skb_copy_bits(skb, off, to, c);
		if (c < l)
			csum = csum_block_add(csum,
					      skb_copy_and_csum_bits(skb, off + c,
								     to + c,
								     l - c),
					      off + c - cstart);
	}
	if (partial)
		*(__sum16 *)(first + cstart + skb->csum_offset) =
			csum_fold(csum);
}

netdev_tx_t fsn_start_xmit(struct sk_buff *skb, struct net_device *ndev)
{
	struct fsn_priv *p = netdev_priv(ndev);
	u32 i, n, idx, len = skb->len, off, l;
	u64 base[FSN_CHAIN_MAX];
	struct fs_desc *d;

	if (unlikely(len > p->pkt_max || len < ETH_HLEN)) {
		p->st.tx_drop_bad_len++;
		goto drop;
	}
	n = fsn_frames(p, len);
	/* The checksum field must be in the first frame to be filled in
	 * during the copy: any protocol's headers are, in practice. */
	if (n > 1 && skb->ip_summed == CHECKSUM_PARTIAL &&
	    skb_checksum_start_offset(skb) + skb->csum_offset +
			    sizeof(__sum16) > p->frame_size - p->headroom &&
	    skb_checksum_help(skb)) {
		p->st.tx_drop_nomem++;
		goto drop;
	}
	if (unlikely(fs_prod_room(&p->tx, n, NULL) < n ||
		     !fsn_alloc_ready(p, n)))
		goto busy;
	for (i = 0; i < n; i++) {
		if (unlikely(!fsn_alloc_take(p, &base[i]))) {
			/* Bad entries on the alloc ring: keep what was
			 * taken for the next packet. */
			while (i)
				p->tx_spare[p->tx_spare_n++] = base[--i];
			goto busy;
		}
	}
	fsn_tx_copy(p, skb, base, n);
	fs_prod_reserve(&p->tx, n, &idx, NULL); /* room checked above */
	for (i = 0, off = 0; i < n; i++, off += l) {
		l = min(len - off, i ? p->frame_size : p->frame_size -
							 p->headroom);
		d = fs_ring_desc(&p->tx, idx + i);
		WRITE_ONCE(d->addr, base[i] + (i ? 0 : p->headroom));
		WRITE_ONCE(d->len, l);
		/* M: the last descriptor is written before B publishes. */
		WRITE_ONCE(d->options, i + 1 < n ? FS_DESC_MORE : 0);
	}
	p->tx_pending += n;
	p->st.tx_packets++;
	p->st.tx_bytes += len;
	if (n > 1)
		p->st.tx_chains++;
	skb_tx_timestamp(skb);
	dev_consume_skb_any(skb);
	fsn_tx_maybe_stop(p);
out:
	if (!netdev_xmit_more() || netif_queue_stopped(ndev))
		fsn_tx_flush(p);
	return NETDEV_TX_OK;
drop:
	dev_kfree_skb_any(skb);
	goto out;
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

/* A received chain being copied into an skb: its first frame into the
 * linear part, the rest into order-0 pages, one fragment each. */
struct fsn_rxc {
	struct sk_buff *skb;
	struct page *page;	/* being filled, not yet a fragment */
	u32 poff;		/* bytes in page */
	u32 pos;		/* bytes checksummed so far */
	__wsum csum;
};

static void fsn_rxc_frag(struct fsn_rxc *c)
{
	skb_add_rx_frag(c->skb, skb_shinfo(c->skb)->nr_frags, c->page, 0,
			c->poff, PAGE_SIZE);
	c->page = NULL;
}

/* Copies one frame of the chain; false if out of memory. */
static bool fsn_rxc_add(struct fsn_priv *p, struct fsn_rxc *c, const u8 *src,
			u32 len)
{
	u32 n;

	if (!c->skb) {
		c->skb = napi_alloc_skb(&p->napi, len);
		if (!c->skb)
			return false;
		/* As fsn_rx_skb: the checksum starts after the header. */
		memcpy(c->skb->data, src, ETH_HLEN);
		c->csum = csum_partial_copy_nocheck(src + ETH_HLEN,
						    c->skb->data + ETH_HLEN,
						    len - ETH_HLEN);
		c->pos = len - ETH_HLEN;
		skb_put(c->skb, len);
		return true;
	}
	while (len) {
		if (!c->page) {
			c->page = dev_alloc_page();
			if (!c->page)
				return false;
			c->poff = 0;
		}
		n = min_t(u32, len, PAGE_SIZE - c->poff);
		c->csum = csum_block_add(c->csum,
					 csum_partial_copy_nocheck(
						 src, page_address(c->page) +
							      c->poff, n),
					 c->pos);
		c->pos += n;
		c->poff += n;
		src += n;
		len -= n;
		if (c->poff == PAGE_SIZE)
			fsn_rxc_frag(c);
	}
	return true;
}

/*
 * A packet of k > 1 descriptors from idx on (or the k that run to the
 * producer index without a last one, open). Each descriptor is read once,
 * checked, its frame copied while the packet is still good, then given
 * back at once: nothing of the chain is kept in shared memory. A packet
 * that cannot be taken whole is dropped whole, counted once by its first
 * fault, and every frame of it that is ours goes back. XDP programs never
 * see chains (fsn_bpf keeps the MTU within a frame while one is attached):
 * one arriving anyway, from a peer with a larger MTU, is dropped.
 */
static void fsn_rx_chain(struct fsn_priv *p, struct bpf_prog *prog, u32 idx,
			 u32 k, bool open)
{
	struct fsn_rxc c = { 0 };
	u64 *drop = NULL;
	u32 i, total = 0;

	if (open)
		drop = &p->st.rx_drop_chain_open;
	else if (k > FSN_CHAIN_MAX)
		drop = &p->st.rx_drop_chain_long;
	else if (prog)
		drop = &p->st.rx_drop_chain_xdp;
	for (i = 0; i < k; i++) {
		const struct fs_desc *s = fs_ring_desc(&p->rx, idx + i);
		u64 addr = READ_ONCE(s->addr);
		u32 len = READ_ONCE(s->len);
		u32 off = addr & (p->frame_size - 1);

		if (unlikely(addr >= p->pool_size)) {
			if (!drop)
				drop = &p->st.rx_drop_bad_addr;
			continue; /* not ours to give back */
		}
		if (!drop && unlikely(len > p->frame_size - off))
			drop = &p->st.rx_drop_bad_len;
		if (!drop && unlikely(!i && len < ETH_HLEN))
			drop = &p->st.rx_drop_runt;
		total += len;
		if (!drop && unlikely(total > FSN_PKT_MAX))
			drop = &p->st.rx_drop_chain_long;
		if (!drop && !fsn_rxc_add(p, &c, p->pool + addr, len))
			drop = &p->st.rx_drop_nomem;
		fsn_free_put(p, addr - off);
	}
	if (!drop && c.page)
		fsn_rxc_frag(&c);
	if (drop) {
		(*drop)++;
		if (c.page)
			put_page(c.page);
		if (c.skb)
			kfree_skb(c.skb);
		return;
	}
	c.skb->csum = c.csum;
	c.skb->ip_summed = CHECKSUM_COMPLETE;
	c.skb->protocol = eth_type_trans(c.skb, p->ndev);
	p->st.rx_packets++;
	p->st.rx_bytes += total;
	p->st.rx_chains++;
	napi_gro_receive(&p->napi, c.skb);
}

/* Descriptors of the packet at idx among the avail published: up to and
 * with the first without FS_DESC_MORE, whose options are read here and
 * only here. *open if none ends the packet before the producer index
 * (N: the switch publishes packets whole, so that one is broken). */
static u32 fsn_rx_span(struct fsn_priv *p, u32 idx, u32 avail, bool *open)
{
	u32 k;

	for (k = 1; k <= avail; k++)
		if (!(READ_ONCE(fs_ring_desc(&p->rx, idx + k - 1)->options) &
		      FS_DESC_MORE))
			return k;
	*open = true;
	return avail;
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
	bool redirected = false, open = false;
	struct bpf_prog *prog;
	u32 n, i, k, idx, room, avail;
	int bad = 0;

	BUILD_BUG_ON(DIV_ROUND_UP(FSN_PKT_MAX, PAGE_SIZE) > MAX_SKB_FRAGS);
	/* Each poll is also the guest's heartbeat. */
	WRITE_ONCE(p->hdr->guest_beat, ++p->beat);
	if (p->doorbell) {
		WRITE_ONCE(*p->rx.flags, 0);
		WRITE_ONCE(*p->alloc.flags, 0);
	}
	/* Take no more frames than can be given back: a frame must never be
	 * stranded for want of room on the free ring. The budget counts
	 * packets, the rings frames. */
	room = fs_prod_room(&p->free, p->free.size, &bad);
	avail = fs_cons_peek(&p->rx, p->rx.size, &idx, &bad);
	if (bad)
		p->st.rx_ring_bad++;

	rcu_read_lock();
	prog = rcu_dereference(p->xdp_prog);
	for (n = 0, i = 0; n < budget && i < avail; n++, i += k) {
		k = fsn_rx_span(p, idx + i, avail - i, &open);
		if (k > room) {
			p->st.free_ring_full++;
			break;
		}
		room -= k;
		if (k == 1 && !open)
			fsn_rx_one(p, prog, idx + i, &redirected);
		else
			fsn_rx_chain(p, prog, idx + i, k, open);
	}
	rcu_read_unlock();
	if (i)
		fs_cons_release(&p->rx, i); /* D */
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
		if (fsn_tx_ready(p, NULL))
			netif_tx_wake_queue(txq);
		__netif_tx_unlock(txq);
	}

	if (n < budget && napi_complete_done(napi, n))
		fsn_rearm(p);
	return n;
}

/* ---- XDP setup -------------------------------------------------------- */

/*
 * A program sees each packet in place, in its one frame: the pool has no
 * struct page to lend as fragments, so there is no multi-buffer view to
 * give it. As virtio-net and veth do for programs without frags support,
 * a program is refused while the MTU exceeds what one frame holds, and
 * fsn_change_mtu keeps the MTU there while one is attached.
 */
int fsn_bpf(struct net_device *ndev, struct netdev_bpf *bpf)
{
	struct fsn_priv *p = netdev_priv(ndev);
	struct bpf_prog *old;

	switch (bpf->command) {
	case XDP_SETUP_PROG:
		if (bpf->prog && ndev->mtu > p->frame_mtu) {
			NL_SET_ERR_MSG_MOD(bpf->extack,
					   "MTU too large for XDP: a packet must fit one frame");
			netdev_warn(ndev,
				    "XDP needs an MTU of at most %u (one frame)\n",
				    p->frame_mtu);
			return -EINVAL;
		}
		old = rtnl_dereference(p->xdp_prog);
		rcu_assign_pointer(p->xdp_prog, bpf->prog);
		if (old)
			bpf_prog_put(old);
		return 0;
	default:
		return -EINVAL;
	}
}
