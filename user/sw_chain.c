// SPDX-License-Identifier: MIT
/*
 * The pass's packets of several frames (ring.h M..N, ABI 1.3): jumbo
 * frames, gathered from a NIC queue's pieces (sw_nic_gather) or the group
 * socket's (sw_from_nic_chain), or taken from a VM's tx ring
 * (sw_from_vm_chain), and given to VMs or the wire. Rare next to frames
 * of one, so out of line, and simple: no burst, no cached lookup, a copy
 * for every VM a group frame goes to. A packet is c[0..m) (addr, len;
 * FS_DESC_MORE on all but the last), m > 1, every frame the switch's until
 * handed on; each is handed on or recycled, never both (sw_pass.c's
 * invariants).
 */
#include <string.h>
#include <linux/if_xdp.h>

#include "sw_internal.h"

/* Every frame of packet c[0..m) of pool p back to p. */
static void chain_recycle(struct pool *p, const struct fs_desc *c, uint32_t m)
{
	for (uint32_t j = 0; j < m; j++)
		pool_recycle(p, pool_frame(p, c[j].addr));
}

/* A copy of packet c[0..m) of pool `from` into d[0..m), frames of pool
 * `to`, frame by frame (sw_copy_frame). 0, or -1 with nothing kept (the
 * reason counted by sw_copy_frame). */
static int copy_chain(struct sw *sw, struct pool *to, const struct pool *from,
		      const struct fs_desc *c, uint32_t m, struct fs_desc *d)
{
	for (uint32_t j = 0; j < m; j++) {
		d[j].addr = sw_copy_frame(sw, to, from, c[j].addr, c[j].len);
		if (d[j].addr == UINT64_MAX) {
			chain_recycle(to, d, j);
			return -1;
		}
		d[j].len = c[j].len;
		d[j].options = c[j].options;
	}
	return 0;
}

/* Whether VM v could take a packet of m frames now: a guest that takes
 * them, room for all (counted if not, by vmport_rx_chain's reasons).
 * Looked at before a copy, so that a VM that cannot take it costs none. */
static bool chain_room(struct vmport *v, uint32_t m)
{
	if (!v->chains) {
		v->st.drops[v->attached ? VM_DROP_CHAIN_UNSUPPORTED :
					  VM_DROP_DETACHED]++;
		return false;
	}
	if (v->rx_room < m && !vmport_rx_open(v, v->pool))
		return false;
	if (v->rx_room < m) {
		v->st.drops[VM_DROP_RX_FULL]++;
		return false;
	}
	return true;
}

/* Packet c[0..m) is on VM v's rx ring: listed for the flush, and
 * captured if v is. */
static void chain_given(struct sw *sw, struct vmport *v,
			const struct fs_desc *c, uint32_t m)
{
	if (__builtin_expect(sw->cap.vm == v->index, 0))
		sw_cap_put(sw, v->pool, c, m, SW_CAP_RX);
	sw_touch(sw, v, m);
}

/* Packet c[0..m) of pool p to VM v: handed over if v is of p, else copied
 * into v's pool (why) and the original recycled; recycled if v cannot
 * take it. */
static void chain_to_vm(struct sw *sw, struct vmport *v, struct pool *p,
			const struct fs_desc *c, uint32_t m, enum sw_copy why)
{
	struct fs_desc d[VM_MAX_FRAMES];

	/* The copy baseline copies a packet of several frames as it does
	 * one of one (to_vm_slow). */
	if (v->pool != p || sw->handoff_copy) {
		int err = !chain_room(v, m) ||
			  copy_chain(sw, v->pool, p, c, m, d);

		chain_recycle(p, c, m);
		if (err)
			return;
		if (v->pool != p)
			sw->xcopies[v->pool->index][why]++;
		else
			sw->handoff_copies++;
		c = d;
		p = v->pool;
	}
	if (vmport_rx_chain(v, p, c, m)) {
		chain_recycle(p, c, m);
		return;
	}
	chain_given(sw, v, c, m);
}

/* A group packet c[0..m) of pool p to every VM it goes to (sw_flood_to), in
 * every pool: a copy each. The original stays the caller's. */
static void flood_chain(struct sw *sw, struct pool *p, const struct fs_desc *c,
			uint32_t m, uint16_t vlan, int from_vm, int from_port)
{
	struct fs_desc d[VM_MAX_FRAMES];

	for (int i = 0; i < sw->n_vms; i++) {
		struct vmport *v = &sw->vms[i];

		if (!sw_flood_to(v, i, vlan, from_vm, from_port) ||
		    !chain_room(v, m) || copy_chain(sw, v->pool, p, c, m, d))
			continue;
		if (v->pool != p)
			sw->xcopies[v->pool->index][SW_COPY_FLOOD]++;
		else
			sw->copies++;
		if (vmport_rx_chain(v, v->pool, d, m)) {
			chain_recycle(v->pool, d, m);
			continue;
		}
		chain_given(sw, v, d, m);
	}
}

/* A packet of m frames f[0..m) for the wire, of pool p, for the capture:
 * the first's header slot, then the frames as they leave. */
static __attribute__((noinline)) void cap_txf(struct sw *sw,
					      const struct pool *p,
					      const struct port_txf *f,
					      uint32_t m)
{
	struct fs_desc c[VM_MAX_FRAMES + 1];

	c[0].addr = f[0].hdr;
	c[0].len = f[0].hlen;
	for (uint32_t j = 0; j < m; j++) {
		c[1 + j].addr = f[j].addr;
		c[1 + j].len = f[j].len;
	}
	sw_cap_put(sw, p, c, m + 1, SW_CAP_TX);
}

/* A packet c[0..m) from VM v for the wire, as to_nic does a frame: the
 * whole packet's length held to the MTU, its header from the switch's
 * copy h into a slot (v's tag pushed there), the guest's frames after it
 * (copied into tp's frames where tp is not v's pool). Needs multi-buffer:
 * without it a packet longer than a frame cannot leave (no_headroom). */
static uint32_t to_nic_chain(struct sw *sw, struct vmport *v,
			     const struct fs_desc *c, uint32_t m,
			     const uint8_t *h, struct pool *tp,
			     struct port_txf *out, uint32_t k)
{
	struct pool *vp = v->pool;
	struct txhdr *t = &tp->txh;
	struct fs_desc d[VM_MAX_FRAMES];
	uint32_t total = 0;
	uint64_t s;

	for (uint32_t j = 0; j < m; j++)
		total += c[j].len;
	if (total > __atomic_load_n(&sw->ports[v->uplink].mtu,
				    __ATOMIC_RELAXED) + FS_ETH_HLEN) {
		sw->ports[v->uplink].st.drops[PORT_DROP_TOO_BIG]++;
		chain_recycle(vp, c, m);
		return k;
	}
	if (!t->sg) {
		sw->drops[SW_DROP_NO_HEADROOM]++;
		chain_recycle(vp, c, m);
		return k;
	}
	if (tp != vp) {
		int err = copy_chain(sw, tp, vp, c, m, d);

		chain_recycle(vp, c, m);
		if (err)
			return k;
		sw->xcopies[tp->index][SW_COPY_WIRE]++;
		c = d;
	}
	s = txhdr_alloc(t);
	if (s == UINT64_MAX) {
		sw->drops[SW_DROP_NO_TX_SLOT]++;
		chain_recycle(tp, c, m);
		return k;
	}
	sw_hdr_write(txhdr_data(t, s), h, v->cfg.vlan);
	for (uint32_t j = 0; j < m; j++) {
		struct port_txf *f = &out[k + j];

		f->hdr = j ? 0 : s;
		f->hlen = j ? 0 : (uint16_t)(FS_ETH_HLEN + (v->cfg.vlan ? 4 : 0));
		f->addr = c[j].addr + (j ? 0 : FS_ETH_HLEN);
		f->len = c[j].len - (j ? 0 : FS_ETH_HLEN);
		f->more = j + 1 < m;
	}
	if (__builtin_expect(sw->cap.nic == v->uplink, 0))
		cap_txf(sw, tp, out + k, m);
	return k + m;
}

/* A packet of several frames from a NIC port pt, c[0..m) of pool p, the
 * switch's: untagged, then flooded or given to its VM as nic_frame does
 * a frame. */
static __attribute__((noinline)) void nic_chain(struct sw *sw, struct port *pt,
						struct pool *p,
						struct fs_desc *c, uint32_t m)
{
	unsigned char *d = pool_data(p, c[0].addr);
	uint16_t vlan;
	int32_t vm;

	if (c[0].len < FS_ETH_HLEN) {
		sw->drops[SW_DROP_NO_ROUTE]++;
		chain_recycle(p, c, m);
		return;
	}
	vlan = sw_nic_untag(&d, &c[0].addr, &c[0].len);
	if (d[0] & 1) {
		if (sw_other_tag(d))
			sw->drops[SW_DROP_NO_ROUTE]++;
		else
			flood_chain(sw, p, c, m, vlan, -1, pt->index);
		chain_recycle(p, c, m);
		return;
	}
	vm = fdb_lookup_key(&sw->fdb, fdb_key_frame(d, vlan));
	if (vm < 0 || sw->vms[vm].uplink != pt->index) {
		sw->drops[SW_DROP_NO_ROUTE]++;
		chain_recycle(p, c, m);
		return;
	}
	chain_to_vm(sw, &sw->vms[vm], p, c, m, SW_COPY_NIC);
}

/* A group frame in several pool frames (port_mc_rx), from e on, to
 * nic_chain; returns its last entry. Out of line, with its array, and
 * moving a pointer, not an index: from_nic's loop over the frames of one
 * keeps its registers and walks f by pointer as it did before chains. */
__attribute__((noinline)) const struct port_frame *
sw_from_nic_chain(struct sw *sw, struct port *pt, struct pool *p,
		  const struct port_frame *e)
{
	struct fs_desc c[VM_MAX_FRAMES];
	uint32_t m = 0;

	for (;; e++) {
		c[m].addr = e->addr;
		c[m].len = e->len;
		c[m].options = e->options;
		if (!e->options || ++m == VM_MAX_FRAMES)
			break;
	}
	if (sw->cap.nic == pt->index)
		sw_cap_put(sw, p, c, m + !e->options, SW_CAP_RX);
	nic_chain(sw, pt, p, c, m + !e->options);
	return e;
}

/*
 * A frame received in pieces (XDP_PKT_CONTD, multi-buffer), its first at
 * entry idx + i of queue qi's rx ring of the n peeked (that frame the
 * switch's already, scrubbed, its bytes counted by the caller): the rest
 * gathered, peeked past n where needed (the kernel publishes a frame's
 * pieces together), and handed on whole (nic_chain). One of more than
 * VM_MAX_FRAMES pieces reaches no VM (rx_too_long). Returns how many of
 * the n entries it took.
 */
__attribute__((noinline)) uint32_t sw_nic_gather(struct sw *sw, struct port *pt,
						 struct pool *p, uint32_t qi,
						 uint32_t idx, uint32_t i,
						 uint32_t n)
{
	struct fs_desc c[VM_MAX_FRAMES];
	uint32_t j, m = 0, extra = 0, x, fmask = p->frame_size - 1;
	uint64_t bytes = 0;
	bool more = true, over = false;

	for (j = i; more; j++) {
		const struct xdp_desc *xd;
		uint32_t frame, off;

		if (j == n + extra) {
			if (!port_rx_peek(pt, p, qi, 1, &x))
				break;
			extra++;
		}
		xd = port_rx_desc(pt, qi, idx + j);
		frame = (uint32_t)(xd->addr >> p->shift);
		off = (uint32_t)xd->addr & fmask;
		more = xd->options & XDP_PKT_CONTD;
		p->fr[frame].owner = POOL_OWN_SWITCH;
		scrub_reuse(&p->scrub, frame, off, off + xd->len);
		if (j > i)
			bytes += xd->len;
		if (m == VM_MAX_FRAMES) {
			over = true;
			pool_recycle(p, frame);
			continue;
		}
		c[m].addr = xd->addr;
		c[m].len = xd->len;
		c[m].options = more ? FS_DESC_MORE : 0;
		m++;
	}
	if (extra)
		port_rx_release(pt, qi, extra, 0);
	/* Counted as one packet of its pieces' bytes. */
	pt->st.rx_bytes += bytes;
	pt->st.rx_packets -= j - i - 1;
	pt->q[qi].rx_packets -= j - i - 1;
	if (more) {
		/* Its last piece is not published yet: this frame reaches no
		 * VM, and the pieces still to come are dropped as they come
		 * (port_rx_piece, counted at the last). */
		pt->q[qi].rx_contd = true;
		chain_recycle(p, c, m);
	} else if (over) {
		pt->st.drops[PORT_DROP_RX_TOO_LONG]++;
		chain_recycle(p, c, m);
	} else {
		if (__builtin_expect(sw->cap.nic == pt->index, 0))
			sw_cap_put(sw, p, c, m, SW_CAP_RX);
		nic_chain(sw, pt, p, c, m);
	}
	return j - i - extra;
}

/* A packet of several frames from VM v, c[0..m) (vmport_tx_collect
 * checked it whole), as from_vm does a frame: port security on the
 * switch's copy of its header, then a VM, a flood, or the wire. Returns
 * the new count of out[] (from_vm's burst to the wire). */
__attribute__((noinline)) uint32_t
sw_from_vm_chain(struct sw *sw, struct vmport *v, const struct fs_desc *c,
		 uint32_t m, struct pool *tp, struct port_txf *out, uint32_t k)
{
	uint8_t h[FS_ETH_HLEN];
	int32_t dst;

	memcpy(h, pool_data(v->pool, c[0].addr), FS_ETH_HLEN);
	__asm__ volatile("" ::: "memory");
	if (__builtin_expect(sw->cap.vm == v->index, 0))
		sw_cap_put(sw, v->pool, c, m, SW_CAP_TX);
	if (!sw_from_vm_allowed(v, h)) {
		chain_recycle(v->pool, c, m);
		return k;
	}
	if (h[0] & 1) {
		if (!vmport_flood_ok(v, sw->now)) {
			chain_recycle(v->pool, c, m);
			return k;
		}
		flood_chain(sw, v->pool, c, m, v->cfg.vlan, v->index, -1);
		return to_nic_chain(sw, v, c, m, h, tp, out, k);
	}
	dst = fdb_lookup_key(&sw->fdb, fdb_key_frame(h, v->cfg.vlan));
	if (dst == v->index) {
		sw->drops[SW_DROP_HAIRPIN]++;
		chain_recycle(v->pool, c, m);
	} else if (dst >= 0) {
		sw->vm2vm++;
		chain_to_vm(sw, &sw->vms[dst], v->pool, c, m, SW_COPY_VM);
	} else {
		k = to_nic_chain(sw, v, c, m, h, tp, out, k);
	}
	return k;
}
