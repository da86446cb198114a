// SPDX-License-Identifier: MIT
/*
 * The pass: one turn of the worker over every ring it serves. NIC rx
 * (classify, hand the frame itself to its VM's rx ring), the VMs' rings
 * (attach requests, tx to other VMs or the wire, free, alloc refills), the
 * rx rings published once each, then tx kicks, completions and fill
 * refills.
 *
 * Owns: the worker's per-pass lists (touched, busy, the sweep's place) and
 * the counters of hand-offs and drops. Invariants: every frame the pass
 * takes from a ring is handed on or recycled before the pass ends, never
 * both (the pool's owner table says whose it is at every step); a VM's rx
 * ring is published at most once a pass (flush_touched), a VM is visited
 * at most once a pass (visited), and listed at most once for the next
 * (listed). Only the worker runs this code.
 *
 * Pools: a frame is handed on within its pool, never copied; one for a VM
 * of another pool (or for the wire on a queue of another pool) is copied
 * once into a frame of that pool and the original recycled at once
 * (to_vm_across, to_pool), counted in xcopies by the pool copied into and
 * why.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/if_xdp.h>

#include "log.h"
#include "shmguard.h"
#include "sw_internal.h"

/* Idle VMs visited per pass, in turn. */
#define SW_SWEEP_VMS 4
/* The group socket (AF_PACKET: broadcast, multicast) is read every this
 * many passes, and every pass while it has frames. Each read is a system
 * call, dearer than a pass over the AF_XDP rings. A power of two. */
#define SW_MC_POLL_PASSES 16
/* Passes after its last send that a VM is still visited every pass, not
 * only on its turn in the sweep (a few ms under load): a guest that sends
 * now and then is served at once, one that stopped costs nothing. */
#define SW_TX_HOT_PASSES 4096
/* Frames a guest gave back are taken on its turn in the sweep once this
 * many wait, or on its SW_DRAIN_MIN-th turn since the last drain, or when
 * reclaim_soon says so, or on a full pass: a drain and an alloc refill
 * have a fixed cost, which a VM swept every pass (one to four VMs) would
 * otherwise pay for each frame or two it gives back. */
#define SW_DRAIN_MIN 16

/* A packet for the capture, in m pieces c[0..m) of pool p (a frame, a
 * header slot and the rest, or the frames of a chain): its length is the
 * whole packet's, its data the first SW_CAP_SNAP bytes. */
void sw_cap_put(struct sw *sw, const struct pool *p, const struct fs_desc *c,
		uint32_t m, uint32_t dir)
{
	struct sw_capture *cp = &sw->cap;
	struct sw_cap_rec *r;
	struct timespec ts;
	uint32_t n = 0, total = 0;

	if (cp->prod - __atomic_load_n(&cp->cons, __ATOMIC_ACQUIRE) >=
	    SW_CAP_SLOTS) {
		cp->dropped++;
		return;
	}
	r = &cp->ring[cp->prod & (SW_CAP_SLOTS - 1)];
	clock_gettime(CLOCK_REALTIME, &ts);
	r->ts = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	r->dir = dir;
	for (uint32_t j = 0; j < m; j++) {
		uint32_t k = c[j].len < SW_CAP_SNAP - n ? c[j].len :
							  SW_CAP_SNAP - n;

		total += c[j].len;
		/* pool_data: the private tail (header slots) follows the
		 * frames. */
		if (k)
			memcpy(r->data + n, pool_data(p, c[j].addr), k);
		n += k;
	}
	r->len = total;
	__atomic_store_n(&cp->prod, cp->prod + 1, __ATOMIC_RELEASE);
}

static void cap_tap2(struct sw *sw, const struct pool *p, uint64_t addr,
		     uint32_t len, uint64_t addr2, uint32_t len2, uint32_t dir)
{
	const struct fs_desc c[2] = { { .addr = addr, .len = len },
				      { .addr = addr2, .len = len2 } };

	sw_cap_put(sw, p, c, len2 ? 2 : 1, dir);
}

static void cap_tap(struct sw *sw, const struct pool *p, uint64_t addr,
		    uint32_t len, uint32_t dir)
{
	cap_tap2(sw, p, addr, len, 0, 0, dir);
}

/* The rare hand-off: captured, or the copy baseline. It repeats to_vm's
 * enqueue rather than sharing it, so that the fast path tests sw->slow
 * once and carries nothing of the slow one. */
static __attribute__((noinline)) void to_vm_slow(struct sw *sw,
						 struct vmport *v,
						 uint64_t addr, uint32_t len)
{
	struct pool *p = v->pool;

	if (sw->handoff_copy) {
		/* The baseline flipswitch replaces: the frame is copied into
		 * one lent to the VM, and the original recycled. */
		uint64_t c = sw_copy_frame(sw, p, p, addr, len);

		pool_recycle(p, pool_frame(p, addr));
		if (c == UINT64_MAX)
			return;
		sw->handoff_copies++;
		addr = c;
	}
	if (vmport_rx_enqueue(v, p, addr, len)) {
		pool_recycle(p, pool_frame(p, addr));
		return;
	}
	if (sw->cap.vm == v->index)
		cap_tap(sw, p, addr, len, SW_CAP_RX);
	sw_touch(sw, v, 1);
}

/* Hands a frame the switch owns, of v's pool p (the caller's, as it
 * knows it), to a VM, or takes it back if the VM cannot take it (the
 * reason is counted by the VM port). */
static inline void to_vm(struct sw *sw, struct vmport *v, struct pool *p,
			 uint64_t addr, uint32_t len)
{
	if (__builtin_expect(sw->slow, 0)) {
		to_vm_slow(sw, v, addr, len);
		return;
	}
	if (vmport_rx_enqueue(v, p, addr, len)) {
		pool_recycle(p, pool_frame(p, addr));
		return;
	}
	sw_touch(sw, v, 1);
}

/* A frame of pool `from`, the switch's, for VM v of another pool: copied
 * once into a frame of v's pool (its free list; v's room and quota looked
 * at first, so a VM that cannot take it costs no copy), the original
 * recycled at once. */
static __attribute__((noinline)) void
to_vm_across(struct sw *sw, struct pool *from, struct vmport *v,
	     uint64_t addr, uint32_t len, enum sw_copy why)
{
	uint64_t c = UINT64_MAX;

	if (v->rx_room || vmport_rx_open(v, v->pool))
		c = sw_copy_frame(sw, v->pool, from, addr, len);
	pool_recycle(from, pool_frame(from, addr));
	if (c == UINT64_MAX)
		return;
	sw->xcopies[v->pool->index][why]++;
	to_vm(sw, v, v->pool, c, len);
}

/* A frame from VM v longer than its uplink's MTU (+ FS_ETH_HLEN): never
 * sent. A tunnel would fragment it on the underlay, a NIC drop it. */
static __attribute__((noinline)) void too_big(struct sw *sw,
					      struct vmport *v, uint64_t addr)
{
	sw->ports[v->uplink].st.drops[PORT_DROP_TOO_BIG]++;
	pool_recycle(v->pool, pool_frame(v->pool, addr));
}

/*
 * A frame from VM v for the wire (addr, len, of v's pool; h: the switch's
 * copy of its header, checked by sw_from_vm_allowed), added to out[k]
 * (sw->nicbuf), which from_vm puts on v's uplink in one burst; returns
 * the new count. tp is the pool of the queue it leaves on. The Ethernet
 * header goes to the wire from a header slot of tp's private tail
 * (txhdr.h), written from h, with v's VLAN tag: nothing the guest writes
 * after the switch looked can change the MACs or the tag the frame
 * leaves with. A frame that fits a slot is copied whole and its frame is
 * free at once; a longer one is chained, the rest of the guest's frame
 * after the slot (copied into a frame of tp first where the uplink has no
 * queue of v's pool). The MTU is the guest's frame's limit: the tag is
 * not counted against it. (k by value: a count whose address is taken
 * lives in memory, not in a register.)
 */
static inline __attribute__((always_inline)) uint32_t
to_nic(struct sw *sw, struct vmport *v, uint64_t addr, uint32_t len,
       const uint8_t *h, struct pool *tp, struct port_txf *out, uint32_t k)
{
	struct pool *vp = v->pool;
	struct txhdr *t = &tp->txh;
	uint32_t tag = v->cfg.vlan ? 4 : 0, hl = FS_ETH_HLEN + tag;
	struct port_txf *f = &out[k];
	unsigned char *o;
	uint64_t s;

	if (__builtin_expect(len > __atomic_load_n(&sw->ports[v->uplink].mtu,
						   __ATOMIC_RELAXED) +
					   FS_ETH_HLEN, 0)) {
		too_big(sw, v, addr);
		return k;
	}
	s = txhdr_alloc(t);
	if (__builtin_expect(s == UINT64_MAX, 0)) {
		sw->drops[SW_DROP_NO_TX_SLOT]++;
		pool_recycle(vp, pool_frame(vp, addr));
		return k;
	}
	o = txhdr_data(t, s);
	sw_hdr_write(o, h, v->cfg.vlan);
	/* f->more is not written: from_vm's entries go to port_tx_burst
	 * alone, which never reads it (to_nic_chain's, to port_tx_chains,
	 * set it). */
	f->hdr = s;
	if (len + tag <= t->slot && (!t->sg || t->n_free > t->reserve)) {
		/* Whole: the bytes after the header are the guest's, read
		 * now; its frame goes back to its pool. */
		memcpy(o + hl, pool_data(vp, addr + FS_ETH_HLEN),
		       len - FS_ETH_HLEN);
		pool_recycle(vp, pool_frame(vp, addr));
		f->hlen = len + tag;
		f->addr = 0;
		f->len = 0;
	} else if (__builtin_expect(!t->sg, 0)) {
		/* Too long for a frame with its tag. */
		txhdr_free(t, s);
		sw->drops[SW_DROP_NO_HEADROOM]++;
		pool_recycle(vp, pool_frame(vp, addr));
		return k;
	} else if (__builtin_expect(tp != vp, 0)) {
		/* The rest copied into the queue's pool, once. */
		uint64_t c = sw_copy_frame(sw, tp, vp, addr + FS_ETH_HLEN,
					   len - FS_ETH_HLEN);

		pool_recycle(vp, pool_frame(vp, addr));
		if (c == UINT64_MAX) {
			txhdr_free(t, s);
			return k;
		}
		sw->xcopies[tp->index][SW_COPY_WIRE]++;
		f->hlen = hl;
		f->addr = c;
		f->len = len - FS_ETH_HLEN;
	} else {
		f->hlen = hl;
		f->addr = addr + FS_ETH_HLEN;
		f->len = len - FS_ETH_HLEN;
	}
	if (__builtin_expect(sw->cap.nic == v->uplink, 0))
		cap_tap2(sw, tp, f->hdr, f->hlen, f->addr, f->len, SW_CAP_TX);
	return k + 1;
}

/* A copy of a frame of pool `from` into a fresh frame of pool `to` (the
 * same pool, or another), at the usual headroom, or less if the frame is
 * longer than the room after it: a guest may send a whole frame (offset
 * 0, frame_size bytes), and the copy must end inside its own frame. A
 * frame longer than `to`'s frames (a 4096-byte pool's into a 2048-byte
 * one's) cannot be copied: dropped, too_long. */
uint64_t sw_copy_frame(struct sw *sw, struct pool *to, const struct pool *from,
		       uint64_t addr, uint32_t len)
{
	uint64_t c;
	uint32_t head = FS_HEADROOM;

	if (__builtin_expect(len > to->frame_size, 0)) {
		sw->drops[SW_DROP_TOO_LONG]++;
		return UINT64_MAX;
	}
	c = pool_alloc(to);
	if (c == UINT64_MAX) {
		sw->drops[SW_DROP_POOL_EMPTY]++;
		return c;
	}
	if (__builtin_expect(len > to->frame_size - FS_HEADROOM, 0))
		head = to->frame_size - len;
	scrub_reuse(&to->scrub, pool_frame(to, c), head, head + len);
	c += head;
	memcpy(pool_data(to, c), pool_data(from, addr), len);
	return c;
}

/* A copy of a flooded frame for v, if v can take one: its room is looked
 * at first (vmport_rx_open counts why not), so that a VM at its quota
 * costs a broadcast no copy. */
static void flood_copy(struct sw *sw, struct vmport *v, uint64_t addr,
		       uint32_t len)
{
	uint64_t c;

	if (!v->rx_room && !vmport_rx_open(v, v->pool))
		return;
	c = sw_copy_frame(sw, v->pool, v->pool, addr, len);
	if (c == UINT64_MAX)
		return;
	sw->copies++;
	to_vm(sw, v, v->pool, c, len);
}

/*
 * Floods a group-addressed frame of pool p, the switch's, to every VM of p
 * it goes to (sw_flood_to): a copy for each but the last, which gets the
 * frame itself. Returns 1 if the frame itself was used, 0 if it is still
 * the caller's.
 */
static int flood_pool(struct sw *sw, struct pool *p, uint64_t addr,
		      uint32_t len, uint16_t vlan, int from_vm, int from_port,
		      int keep)
{
	struct vmport *last = NULL;

	for (int i = 0; i < sw->n_vms; i++) {
		struct vmport *v = &sw->vms[i];

		if (!sw_flood_to(v, i, vlan, from_vm, from_port) ||
		    v->pool != p)
			continue;
		if (last)
			flood_copy(sw, last, addr, len);
		last = v;
	}
	if (!last)
		return 0;
	if (keep) {
		flood_copy(sw, last, addr, len);
		return 0;
	}
	to_vm(sw, last, p, addr, len);
	return 1;
}

/* The other pools' share of a flood: one copy into each pool with a
 * receiver, then that pool's own flooding. */
static __attribute__((noinline)) void
flood_across(struct sw *sw, struct pool *p, uint64_t addr, uint32_t len,
	     uint16_t vlan, int from_vm, int from_port)
{
	for (int k = 0; k < sw->n_pools; k++) {
		struct pool *q = &sw->pools[k];
		bool any = false;
		uint64_t c;

		if (q == p)
			continue;
		for (int i = 0; i < sw->n_vms && !any; i++)
			any = sw->vms[i].pool == q &&
			      sw_flood_to(&sw->vms[i], i, vlan, from_vm,
					  from_port);
		if (!any)
			continue;
		c = sw_copy_frame(sw, q, p, addr, len);
		if (c == UINT64_MAX)
			continue;
		sw->xcopies[k][SW_COPY_FLOOD]++;
		if (!flood_pool(sw, q, c, len, vlan, from_vm, from_port, 0))
			pool_recycle(q, pool_frame(q, c));
	}
}

/*
 * Floods a group-addressed frame of pool p, the switch's, to every
 * attached VM on `vlan` except `from` (and, when from_nic, only those
 * whose uplink is that port), in every pool. Returns 1 if the frame itself
 * was used, 0 if it is still the caller's.
 */
static int flood_vms(struct sw *sw, struct pool *p, uint64_t addr,
		     uint32_t len, uint16_t vlan, int from_vm, int from_port,
		     int keep)
{
	if (sw->n_pools > 1)
		flood_across(sw, p, addr, len, vlan, from_vm, from_port);
	return flood_pool(sw, p, addr, len, vlan, from_vm, from_port, keep);
}

/*
 * One frame from a NIC, the switch's: a tagged frame loses its tag (VM
 * ports are access ports), a group frame is flooded, a unicast frame goes
 * to its VM or is dropped. *last_key and *last_vm are the last destination
 * looked up in the batch: frames of a burst mostly go where the one before
 * went. Key 0 is no entry's: its lookup says -1 too. Inline in from_nic's
 * loop: no call per frame.
 */
static inline __attribute__((always_inline)) void
nic_frame(struct sw *sw, struct port *pt, struct pool *p, uint64_t addr,
	  uint32_t len, uint64_t *last_key, int32_t *last_vm)
{
	unsigned char *d = pool_data(p, addr);
	uint16_t vlan;
	uint64_t key;
	int32_t vm;

	if (__builtin_expect(len < FS_ETH_HLEN, 0)) {
		sw->drops[SW_DROP_NO_ROUTE]++;
		pool_recycle(p, pool_frame(p, addr));
		return;
	}
	vlan = sw_nic_untag(&d, &addr, &len);
	if (d[0] & 1) {
		if (sw_other_tag(d))
			sw->drops[SW_DROP_NO_ROUTE]++;
		else if (flood_vms(sw, p, addr, len, vlan, -1, pt->index, 0))
			return;
		pool_recycle(p, pool_frame(p, addr));
		return;
	}
	key = fdb_key_frame(d, vlan);
	if (key != *last_key) {
		*last_key = key;
		*last_vm = fdb_lookup_key(&sw->fdb, key);
	}
	vm = *last_vm;
	if (vm < 0 || sw->vms[vm].uplink != pt->index) {
		sw->drops[SW_DROP_NO_ROUTE]++;
		pool_recycle(p, pool_frame(p, addr));
		return;
	}
	if (__builtin_expect(sw->vms[vm].pool != p, 0))
		to_vm_across(sw, p, &sw->vms[vm], addr, len, SW_COPY_NIC);
	else
		to_vm(sw, &sw->vms[vm], p, addr, len);
}

/* Frames from a NIC read into f[] (port_mc_rx), frames of pool p: the
 * path of the group socket. */
static void from_nic(struct sw *sw, struct port *pt, struct pool *p,
		     struct port_frame *f, uint32_t n)
{
	unsigned char *base = p->base;
	uint64_t last_key = 0;
	int32_t last_vm = -1;

	for (const struct port_frame *e = f; e < f + n; e++) {
		/* f[n] exists (rxbuf has a spare entry); a prefetch of
		 * whatever it holds cannot fault. */
		__builtin_prefetch(base + e[1].addr);
		if (__builtin_expect(e->options != 0, 0)) {
			e = sw_from_nic_chain(sw, pt, p, e);
			continue;
		}
		if (__builtin_expect(sw->slow, 0) && sw->cap.nic == pt->index)
			cap_tap(sw, p, e->addr, e->len, SW_CAP_RX);
		nic_frame(sw, pt, p, e->addr, e->len, &last_key, &last_vm);
	}
}

/*
 * A frame of the NIC's that is not plain unicast, or any while hand-offs
 * are slow (capture, copy baseline): entry idx + i of the n peeked of
 * queue qi, the switch's (scrubbed, its bytes counted). The first piece of
 * a frame in several is gathered with the rest (sw_nic_gather), a piece of
 * one that reaches no VM recycled (port_rx_piece), a frame of one taken
 * as from_nic takes it (*key and *vm as nic_frame keeps them). Returns
 * how many of the n entries it took; the queue's rx_contd says where the
 * next entry stands.
 */
static __attribute__((noinline)) uint32_t
nic_rare(struct sw *sw, struct port *pt, struct pool *p, uint32_t qi,
	 uint32_t idx, uint32_t i, uint32_t n, uint64_t *key, int32_t *vm)
{
	const struct xdp_desc *xd = port_rx_desc(pt, qi, idx + i);

	if (!pt->q[qi].rx_contd && xd->options == XDP_PKT_CONTD)
		return sw_nic_gather(sw, pt, p, qi, idx, i, n);
	if (xd->options || pt->q[qi].rx_contd) {
		port_rx_piece(pt, p, qi, xd->options,
			      (uint32_t)(xd->addr >> p->shift));
		return 1;
	}
	if (__builtin_expect(sw->cap.nic == pt->index, 0))
		cap_tap(sw, p, xd->addr, xd->len, SW_CAP_RX);
	nic_frame(sw, pt, p, xd->addr, xd->len, key, vm);
	return 1;
}

/* nic_rx while hand-offs are slow: every frame taken by nic_rare. */
static __attribute__((noinline)) uint32_t nic_rx_slow(struct sw *sw,
						      struct port *pt,
						      struct pool *p,
						      uint32_t qi)
{
	uint32_t idx, i, n, fmask = p->frame_size - 1;
	uint64_t bytes = 0, key = 0;
	int32_t vm = -1;

	n = port_rx_peek(pt, p, qi, sw->batch, &idx);
	if (!n)
		return 0;
	for (i = 0; i < n; i++) {
		const struct xdp_desc *xd = port_rx_desc(pt, qi, idx + i);
		uint32_t frame = (uint32_t)(xd->addr >> p->shift);
		uint32_t off = (uint32_t)xd->addr & fmask;

		/* The entry after the last is in the ring (stale, perhaps):
		 * a prefetch of what it points to cannot fault. */
		__builtin_prefetch(
			pool_data(p, port_rx_desc(pt, qi, idx + i + 1)->addr));
		p->fr[frame].owner = POOL_OWN_SWITCH;
		scrub_reuse(&p->scrub, frame, off, off + xd->len);
		bytes += xd->len;
		/* A frame of one inline, as nic_rare would take it. */
		if (__builtin_expect(xd->options || pt->q[qi].rx_contd, 0)) {
			i += nic_rare(sw, pt, p, qi, idx, i, n, &key, &vm) - 1;
			continue;
		}
		if (__builtin_expect(sw->cap.nic == pt->index, 0))
			cap_tap(sw, p, xd->addr, xd->len, SW_CAP_RX);
		nic_frame(sw, pt, p, xd->addr, xd->len, &key, &vm);
	}
	port_rx_release(pt, qi, n, bytes);
	return n;
}

/* Ends the burst, if any, and adds its bytes to *bytes; its VM is
 * published at the flush. Inline, as burst_grow: the burst stays in
 * registers only if its address is never taken. */
static inline __attribute__((always_inline)) void
burst_end(struct sw *sw, struct vmport_burst *b, uint64_t *bytes)
{
	struct vmport *v = b->v;
	uint32_t n;

	if (!v)
		return;
	*bytes += b->bytes;
	n = vmport_burst_end(b);
	if (n)
		sw_touch(sw, v, n);
}

/* The burst's room ran out, or there was none: opens more if the VM can
 * take it (vmport_rx_open counts the reason if not). Returns whether the
 * burst has room. When it cannot, vmport_burst_begin tries once more,
 * quietly: the drop path pays two looks so that the fast path pays none. */
static inline __attribute__((always_inline)) bool
burst_grow(struct sw *sw, struct vmport_burst *b, uint64_t *bytes)
{
	struct vmport *v = b->v;

	burst_end(sw, b, bytes);
	vmport_rx_open(v, v->pool);
	vmport_burst_begin(b, v, v->pool);
	return !vmport_burst_full(b);
}

/*
 * The NIC fast path: a queue's rx ring read in place, each unicast frame
 * classified and given straight to its VM's rx ring, with the destination
 * held in a burst (vmport_burst) while frames go where the one before
 * went. The frame goes from the fill ring's owner to the VM's, its
 * descriptor from ring to ring, in one loop: no copy of the descriptors in
 * between, the owner table written once, the VM's ring state in registers.
 * Tagged, group and runt frames take nic_frame's path; so do all frames
 * while hand-offs are slow (capture, copy baseline). A frame for a VM of
 * another pool than the queue's is copied across (xvm: the destination
 * looked up last is such a VM), outside the burst.
 */
static uint32_t nic_rx(struct sw *sw, struct port *pt, uint32_t qi)
{
	struct pool *p = pt->q[qi].pool;
	unsigned char *base = p->base;
	struct scrub_rec *fr = p->fr;
	uint32_t shift = p->shift, fmask = p->frame_size - 1;
	struct vmport_burst b = { .v = NULL, .prod = 0, .end = 0 };
	/* Bytes of the frames given in a burst are added as it ends. */
	uint64_t key, last_key = 0, bytes = 0;
	const struct xdp_desc *ring, *xd, *next;
	uint32_t idx, i, n, rmask;
	/* Inside a frame received in pieces (port_rx_piece). */
	bool contd = pt->q[qi].rx_contd;
	/* The last destination of the frames nic_rare took. */
	uint64_t rare_key = 0;
	int32_t rare_vm = -1;
	uint16_t route = vmport_route((uint8_t)pt->index, (uint8_t)p->index);
	int32_t xvm = -1;

	if (__builtin_expect(sw->slow, 0))
		return nic_rx_slow(sw, pt, p, qi);
	n = port_rx_peek(pt, p, qi, sw->batch, &idx);
	if (!n)
		return 0; /* and no store to the ring's consumer line */
	ring = port_rx_ring(pt, qi, &rmask);
	xd = &ring[idx & rmask];
	for (i = 0; i < n; i++, xd = next) {
		uint64_t addr = xd->addr;
		uint32_t len = xd->len, off = (uint32_t)addr & fmask;
		uint32_t frame = (uint32_t)(addr >> shift);
		unsigned char *d = base + addr;

		/* The entry after the last is in the ring (stale, perhaps):
		 * a prefetch of what it points to cannot fault. */
		next = &ring[(idx + i + 1) & rmask];
		__builtin_prefetch(base + next->addr);
		/* scrub_reuse, with the table in a local. */
		if (fr[frame].dirty != SCRUB_RANGE(off, off + len))
			scrub_zero_stale(&p->scrub, frame, off, off + len);
		if (__builtin_expect(len < FS_ETH_HLEN || (d[0] & 1) ||
				     (d[12] == 0x81 && d[13] == 0x00) ||
				     xd->options || contd, 0)) {
			/* Flooding may give the burst's VM frames. */
			burst_end(sw, &b, &bytes);
			last_key = 0;
			bytes += len;
			fr[frame].owner = POOL_OWN_SWITCH;
			i += nic_rare(sw, pt, p, qi, idx, i, n, &rare_key,
				      &rare_vm) - 1;
			next = &ring[(idx + i + 1) & rmask];
			contd = pt->q[qi].rx_contd;
			continue;
		}
		key = fdb_key_frame(d, 0);
		if (key != last_key) {
			int32_t vm = fdb_lookup_key(&sw->fdb, key);

			burst_end(sw, &b, &bytes);
			last_key = key;
			xvm = -1;
			/* Its uplink this port and its pool this queue's,
			 * in one compare; else, rarely, another pool's VM. */
			if (vm >= 0 && sw->vms[vm].route == route)
				vmport_burst_begin(&b, &sw->vms[vm], p);
			else if (vm >= 0 && sw->vms[vm].uplink == pt->index)
				xvm = vm;
		}
		/* No burst (no route, or another pool's VM) is a full one. */
		if (__builtin_expect(vmport_burst_full(&b), 0) &&
		    (!b.v || !burst_grow(sw, &b, &bytes))) {
			bytes += len;
			fr[frame].owner = POOL_OWN_SWITCH;
			if (xvm >= 0) {
				to_vm_across(sw, p, &sw->vms[xvm], addr, len,
					     SW_COPY_NIC);
				continue;
			}
			if (!b.v)
				sw->drops[SW_DROP_NO_ROUTE]++;
			pool_recycle(p, frame);
			continue;
		}
		vmport_burst_put(&b, fr, frame, addr, len);
	}
	burst_end(sw, &b, &bytes);
	port_rx_release(pt, qi, n, bytes);
	return n;
}

/* Whether a VM given frames has its free ring drained next pass rather
 * than on its turn in the sweep: it holds half its quota, or the pool runs
 * low. Otherwise what it gives back waits for its turn and one drain takes
 * many frames (as a virtio driver reclaims used buffers at its next send):
 * with many VMs each given a frame or two a pass, a drain per VM per pass
 * would cost more than the hand-offs. */
static inline bool reclaim_soon(const struct sw *sw, const struct vmport *v)
{
	(void)sw;
	/* Low: below the reserve the fill rings leave (a quarter). */
	return vmport_held(v, v->pool) >= v->quota / 2 ||
	       v->pool->n_free < v->pool->fill_reserve;
}

/* Lists VM i for a visit next pass (once). */
static void busy_next(struct sw *sw, uint16_t i)
{
	struct vmport *v = &sw->vms[i];

	/* Pass numbers + 1 in the markers: 0 is "never". */
	if (v->sweep.listed == sw->passes + 2)
		return;
	v->sweep.listed = sw->passes + 2;
	sw->busy[0][sw->n_busy[0]++] = i;
}

/* Publishes the rx rings given frames since the last flush: one release
 * store (and, for a sleeping guest, at most one doorbell) per VM per pass.
 * Their guests will give frames back: see reclaim_soon. */
static void flush_touched(struct sw *sw)
{
	for (uint32_t i = 0; i < sw->n_touched; i++) {
		struct vmport *v = &sw->vms[sw->touched[i]];
		uint32_t n = vmport_rx_flush(v, v->pool);

		if (n)
			sw_ring_guest(sw, v, n);
		if (reclaim_soon(sw, v))
			busy_next(sw, sw->touched[i]);
	}
	sw->n_touched = 0;
}

/* The destination of VM v's frames to key: a VM of v's pool, -1 for the
 * wire, or v's own index for vm_frame_rare (v itself, or a VM of another
 * pool): the frames that stay in the pool pay no test for the others.
 * Out of line, as the frame that follows it: once a key, and from_vm's
 * loop keeps its registers. */
static __attribute__((noinline)) int32_t vm_lookup(struct sw *sw,
						   struct vmport *v,
						   uint64_t key)
{
	int32_t dst = fdb_lookup_key(&sw->fdb, key);

	if (dst >= 0 && sw->vms[dst].pool != v->pool)
		return v->index;
	return dst;
}

/* A frame of VM v to key for which vm_lookup said v's own index: to a VM
 * of another pool (one copy), or to v itself (dropped, hairpin). */
static __attribute__((noinline)) void vm_frame_rare(struct sw *sw,
						    struct vmport *v,
						    uint64_t key, uint64_t addr,
						    uint32_t len)
{
	int32_t dst = fdb_lookup_key(&sw->fdb, key);

	if (dst >= 0 && dst != v->index) {
		to_vm_across(sw, v->pool, &sw->vms[dst], addr, len,
			     SW_COPY_VM);
		return;
	}
	sw->drops[SW_DROP_HAIRPIN]++;
	pool_recycle(v->pool, pool_frame(v->pool, addr));
}

/* Whether src (6 bytes) is one of VM v's allowed_macs: the rare case of
 * a guest that sends with more than its own MAC. */
__attribute__((noinline)) bool sw_src_allowed(const struct vmport *v,
					      const uint8_t *src)
{
	for (uint32_t i = 0; i < v->cfg.n_allowed_macs; i++)
		if (!memcmp(src, v->cfg.allowed_macs[i], 6))
			return true;
	return false;
}

static inline void to_nic_burst(struct vmport *v, struct port *pt,
				struct pool *tp, struct port_txf *out,
				uint32_t k, bool chains);

static void from_vm(struct sw *sw, struct vmport *v, const struct fs_desc *t,
		    uint32_t n)
{
	/* The pool of the uplink's queue for v (its frames' headers come
	 * from its tail), v's own unless the uplink has no queue of it. */
	struct port *pt = &sw->ports[v->uplink];
	struct pool *tp = port_txq_pool(pt, (uint32_t)v->index);
	/* The last destination looked up, as from_nic keeps it. */
	uint64_t key, last_key = 0;
	int32_t last_dst = -1;
	/* Frames for the wire, in order: one burst on the uplink's tx ring,
	 * one reservation and the counts once, not per frame. */
	struct port_txf *out = sw->nicbuf;
	uint32_t k = 0;

	/* v->pool, not a local: the loop has no register to spare. */
	for (uint32_t i = 0; i < n; i++) {
		/* The header as the switch reads it, once: the guest may
		 * write its frame at any time, and what the switch decides
		 * comes from this copy alone (the barrier keeps the compiler
		 * from reading the frame again instead). */
		uint8_t d[16];
		int32_t dst;

		memcpy(d, pool_data(v->pool, t[i].addr), FS_ETH_HLEN);
		__asm__ volatile("" ::: "memory");
		if (i + 1 < n)
			__builtin_prefetch(pool_data(v->pool, t[i + 1].addr));
		if (__builtin_expect(sw->cap.vm == v->index, 0))
			cap_tap(sw, v->pool, t[i].addr, t[i].len, SW_CAP_TX);
		if (__builtin_expect(!sw_from_vm_allowed(v, d), 0)) {
			pool_recycle(v->pool, pool_frame(v->pool, t[i].addr));
			continue;
		}
		if (d[0] & 1) {
			/* Past its flood limit: neither the VMs nor the
			 * wire see it. */
			if (!vmport_flood_ok(v, sw->now)) {
				pool_recycle(v->pool, pool_frame(v->pool, t[i].addr));
				continue;
			}
			/* Other VMs get copies; the uplink gets the frame. */
			flood_vms(sw, v->pool, t[i].addr, t[i].len, v->cfg.vlan,
				  v->index, -1, 1);
			k = to_nic(sw, v, t[i].addr, t[i].len, d, tp, out, k);
			continue;
		}
		key = fdb_key_frame(d, v->cfg.vlan);
		if (key != last_key) {
			last_key = key;
			last_dst = vm_lookup(sw, v, key);
		}
		dst = last_dst;
		if (__builtin_expect(dst == v->index, 0)) {
			vm_frame_rare(sw, v, key, t[i].addr, t[i].len);
		} else if (dst >= 0) {
			sw->vm2vm++;
			to_vm(sw, &sw->vms[dst], v->pool, t[i].addr, t[i].len);
		} else {
			k = to_nic(sw, v, t[i].addr, t[i].len, d, tp, out, k);
		}
	}
	to_nic_burst(v, pt, tp, out, k, false);
}

/* from_vm's frames for the wire, out[0..k), on v's uplink pt in one
 * burst; what the ring has no room for back to tp (tx_ring_full). */
static inline void to_nic_burst(struct vmport *v, struct port *pt,
				struct pool *tp, struct port_txf *out,
				uint32_t k, bool chains)
{
	uint32_t sent;

	if (!k)
		return;
	sent = chains ? port_tx_chains(pt, (uint32_t)v->index, out, k) :
			port_tx_burst(pt, (uint32_t)v->index, out, k);
	for (uint32_t i = sent; i < k; i++) {
		if (out[i].hlen)
			txhdr_free(&tp->txh, out[i].hdr);
		if (out[i].len)
			pool_recycle(tp, pool_frame(tp, out[i].addr));
	}
}

/* A VM's batch with packets of several frames in it (vmport_tx_collect
 * said so): the runs of frames of one go through from_vm, each packet of
 * several through sw_from_vm_chain, in order, so that from_vm's loop pays
 * nothing for them. */
static __attribute__((noinline)) void from_vm_mixed(struct sw *sw,
						    struct vmport *v,
						    const struct fs_desc *t,
						    uint32_t n)
{
	struct port *pt = &sw->ports[v->uplink];
	struct pool *tp = port_txq_pool(pt, (uint32_t)v->index);
	uint32_t i = 0, s, m, k;

	while (i < n) {
		for (s = i; i < n && !t[i].options; i++)
			;
		if (i > s)
			from_vm(sw, v, &t[s], i - s);
		if (i == n)
			break;
		/* vmport_tx_collect took it whole: its last entry has no
		 * flag. */
		for (m = 1; t[i + m - 1].options & FS_DESC_MORE; m++)
			;
		k = sw_from_vm_chain(sw, v, &t[i], m, tp, sw->nicbuf, 0);
		to_nic_burst(v, pt, tp, sw->nicbuf, k, true);
		i += m;
	}
}

#ifdef FS_DEBUG
static void debug_check(struct sw *sw)
{
	static struct timespec last;
	struct timespec now;
	char msg[160];

	for (int k = 0; k < sw->n_pools; k++) {
		struct pool *p = &sw->pools[k];
		uint64_t sum = 0;

		for (uint32_t i = 0; i < p->n_owners; i++)
			sum += p->count[i];
		if (sum != p->frames || p->count[POOL_OWN_SWITCH] != p->n_free) {
			log_err("frame ownership broken in pool %s: counts sum to %llu of %u, switch %u, free list %u",
				p->name, (unsigned long long)sum, p->frames,
				p->count[POOL_OWN_SWITCH], p->n_free);
			abort();
		}
	}
	/* The full recount walks every frame: once a second. */
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec == last.tv_sec)
		return;
	last = now;
	for (int k = 0; k < sw->n_pools; k++) {
		if (pool_check(&sw->pools[k], true, msg, sizeof(msg))) {
			log_err("frame ownership broken in pool %s: %s",
				sw->pools[k].name, msg);
			abort();
		}
	}
}
#endif

/* VM v's turn in the sweep: whether its free ring is to be drained now
 * (see drain_due), counting a turn that found frames there. The guest's
 * index, unchecked: vmport_free_drain checks it. */
static inline bool drain_turn(const struct sw *sw, struct vmport *v)
{
	uint32_t posted = __atomic_load_n(v->free.producer, __ATOMIC_RELAXED) -
			  v->free.cached_cons;

	return posted && (posted >= SW_DRAIN_MIN ||
			  ++v->sweep.drain_turns >= SW_DRAIN_MIN ||
			  reclaim_soon(sw, v));
}

/* Whether to drain VM v's free ring on this visit: always when it is
 * listed (it was listed for that) or on a full pass; on its turn in the
 * sweep, once SW_DRAIN_MIN frames wait, on the SW_DRAIN_MIN-th turn that
 * found some, or reclaim_soon. */
static inline bool drain_due(const struct sw *sw, struct vmport *v,
			     bool sweep)
{
	if (!sweep || sw->full_pass == SW_PASS_FULL)
		return fs_cons_posted(&v->free);
	if (!drain_turn(sw, v))
		return false;
	v->sweep.drain_turns = 0;
	return true;
}

/*
 * One VM's rings, once a pass. On its turn in the sweep (every VM on a full
 * pass): attach requests and all four rings, the free ring when drain_due.
 * Listed (see below): its free
 * ring and its tx ring; its alloc ring only after it sent (sending is what
 * takes frames off it) or when it runs short. A VM is listed for the next
 * pass while it sends (for SW_TX_HOT_PASSES passes after it last did), was
 * lent frames, gave back a full batch, or still holds frames it was given
 * and reclaim_soon.
 */
static uint32_t visit_vm(struct sw *sw, uint16_t i, bool sweep)
{
	struct vmport *v = &sw->vms[i];
	uint32_t n = 0, k, lent = 0;
	bool acted = false, hot;

	if (v->sweep.visited == sw->passes + 1)
		return 0;
	v->sweep.visited = sw->passes + 1;
	if (!v->active)
		return 0;
	/* A request sooner than ctrl_gap after the last one acted on waits
	 * for a later turn (vm_quiet keeps the VM visited meanwhile). */
	if (sweep && sw->now >= v->sw.ctrl_next &&
	    vmport_poll_ctrl(v, v->pool)) {
		v->sw.ctrl_next = sw->now + sw->ctrl_gap;
		acted = true;
		busy_next(sw, i);
	}
	if (!v->attached)
		return 0;
	hot = v->sweep.tx_pass && sw->passes + 1 - v->sweep.tx_pass < SW_TX_HOT_PASSES;
	/* Most VMs visited in the sweep have nothing on any ring: a load of
	 * each ring's producer says so before any batch is set up. */
	if ((sweep || hot) && fs_cons_posted(&v->tx)) {
		n = vmport_tx_collect(v, v->pool, sw->txbuf, sw->batch);
		if (n) {
			v->sweep.tx_pass = sw->passes + 1;
			hot = true;
			if (__builtin_expect(v->tx_chained, 0)) {
				v->tx_chained = false;
				from_vm_mixed(sw, v, sw->txbuf, n);
			} else {
				from_vm(sw, v, sw->txbuf, n);
			}
		}
	}
	/* v->pool, not a local kept across from_vm's loop (inline), which
	 * has no register to spare. */
	k = drain_due(sw, v, sweep) ? vmport_free_drain(v, v->pool, sw->batch) :
				      0;
	if (n || (sweep && (k || acted)) ||
	    fs_prod_pending(&v->alloc) < v->alloc_target)
		if ((lent = vmport_alloc_refill(v, v->pool)))
			sw_ring_guest(sw, v, 0);
	if (hot || lent || k == sw->batch ||
	    (k && vmport_held(v, v->pool) > fs_prod_pending(&v->alloc) &&
	     reclaim_soon(sw, v)))
		busy_next(sw, i);
	return n + k;
}

/* Whether VM v's turn in the sweep would find nothing to do: not in use,
 * or no attach request, not sending lately, nothing on its tx and free
 * rings, and its alloc ring stocked; then visit_vm would only have looked.
 * Inline, in the sweep's loop: most VMs swept are idle, and a call and
 * visit_vm's own checks would be most of what an idle VM costs. */
static inline bool vm_quiet(const struct sw *sw, struct vmport *v)
{
	if (!v->active)
		return true;
	if (__atomic_load_n(&v->hdr->guest_req, __ATOMIC_RELAXED) !=
	    v->last_req)
		return false;
	if (!v->attached)
		return true;
	if ((v->sweep.tx_pass && sw->passes + 1 - v->sweep.tx_pass < SW_TX_HOT_PASSES) ||
	    fs_cons_posted(&v->tx) ||
	    fs_prod_pending(&v->alloc) < v->alloc_target)
		return false;
	/* Its free ring, as drain_due sees it: frames that wait for a later
	 * turn are nothing to do now. A drain due (not counted off here)
	 * is found so again by visit_vm's drain_due. */
	return !drain_turn(sw, v);
}

/* SW_SWEEP_VMS VMs in turn (all of them on a full pass), with their
 * attach requests, then those listed last pass not visited yet. */
static uint32_t visit_vms(struct sw *sw)
{
	uint16_t *list = sw->busy[0];
	uint32_t n = sw->n_busy[0], work = 0, sweep;

	/* This pass's list becomes the other buffer; next pass's fills
	 * busy[0]. */
	sw->busy[0] = sw->busy[1];
	sw->busy[1] = list;
	sw->n_busy[0] = 0;
	sweep = sw->full_pass || sw->n_vms <= SW_SWEEP_VMS ? (uint32_t)sw->n_vms :
							       SW_SWEEP_VMS;
	for (uint32_t k = 0; k < sweep; k++) {
		if (sw->sweep >= (uint32_t)sw->n_vms)
			sw->sweep = 0;
		if (sw->full_pass == SW_PASS_FULL ||
		    !vm_quiet(sw, &sw->vms[sw->sweep]))
			work += visit_vm(sw, (uint16_t)sw->sweep, true);
		sw->sweep++;
	}
	sw->full_pass = 0;
	for (uint32_t k = 0; k < n; k++)
		work += visit_vm(sw, list[k], false);
	return work;
}

uint32_t sw_poll_once(struct sw *sw)
{
	uint32_t work = 0, n;

	if (__builtin_expect(shmguard_trips() != sw->guard_seen, 0)) {
		sw_guard_act(sw);
		if (sw->pool_lost)
			return 0;
	}
	sw_mail_poll(sw);
	if (__atomic_load_n(&sw->mtu_gen, __ATOMIC_RELAXED) != sw->mtu_seen)
		sw_mtu_publish(sw);
	/* Guest heartbeats and the region headers (vmport_hdr_repair), a
	 * few times a second at most. */
	if (!(sw->passes & 255) || sw->check_alive) {
		struct timespec ts;
		uint64_t now;

		clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
		now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
		sw->check_alive = false;
		if (now - sw->alive_ms >= 100) {
			sw->alive_ms = now;
			for (int i = 0; i < sw->n_vms; i++) {
				if (!sw->vms[i].active)
					continue;
				vmport_hdr_repair(&sw->vms[i]);
				if (sw->cfg->guest_timeout)
					vmport_check_alive(&sw->vms[i],
							   sw->vms[i].pool, now,
							   sw->cfg->guest_timeout);
			}
		}
	}

	for (int i = 0; i < sw->n_ports; i++) {
		struct port *pt = &sw->ports[i];

		for (uint32_t q = 0; q < pt->n_queues; q++) {
			work += nic_rx(sw, pt, q);
		}
		/* full_pass: the worker just woke up (or napped), perhaps
		 * for it; from a sleep it knows (mc_known). */
		if (pt->mc_busy || (sw->full_pass && !sw->mc_known) ||
		    !(sw->passes & (SW_MC_POLL_PASSES - 1))) {
			n = port_mc_rx(pt, pt->mc_pool, sw->rxbuf, sw->batch);
			pt->mc_busy = n > 0;
			from_nic(sw, pt, pt->mc_pool, sw->rxbuf, n);
			work += n;
		}
	}

	work += visit_vms(sw);
	flush_touched(sw);
	if (sw->n_held)
		sw_ring_held(sw, false);

	for (int i = 0; i < sw->n_ports; i++) {
		port_tx_flush(&sw->ports[i]);
		work += port_service(&sw->ports[i], sw->batch);
	}
	sw->passes++;
	sw->mc_known = false;
#ifdef FS_DEBUG
	debug_check(sw);
#endif
	return work;
}
