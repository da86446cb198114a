// SPDX-License-Identifier: MIT
/* The switching core; see switch.h. */
#include <errno.h>
#include <sched.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/if_xdp.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "switch.h"

/* Empty passes before the worker sleeps, and how long it sleeps: briefly
 * while some guest must be polled, longer when every guest rings. */
#define SW_SPIN_PASSES 256
#define SW_POLL_SLEEP_MS 1
#define SW_DOORBELL_SLEEP_MS 100
/* Idle VMs visited per pass, in turn. */
#define SW_SWEEP_VMS 4
/* The group socket (AF_PACKET: broadcast, multicast) is read every this
 * many passes, and every pass while it has frames. Each read is a system
 * call and a batch of frames set up and given back: on every pass it cost
 * the worker more than its AF_XDP rings. A power of two. */
#define SW_MC_POLL_PASSES 16
/* Passes after its last send that a VM is still visited every pass, not
 * only on its turn in the sweep (a few ms under load): a guest that sends
 * now and then is served at once, one that stopped costs nothing. */
#define SW_TX_HOT_PASSES 4096
/* Frames a guest gave back are taken on its turn in the sweep once this
 * many wait, or on its SW_DRAIN_MIN-th turn since the last drain, or when
 * reclaim_soon says so, or on a full pass: at a frame or two a pass, a
 * drain and an alloc refill on every turn cost a VM swept every pass (one
 * to four VMs) 100 of a one-frame pass's 717 instructions. */
#define SW_DRAIN_MIN 16

const char *const sw_drop_names[SW_DROP_NR] = {
	[SW_DROP_NO_ROUTE] = "no_route",
	[SW_DROP_HAIRPIN] = "hairpin",
	[SW_DROP_NO_HEADROOM] = "no_headroom",
	[SW_DROP_POOL_EMPTY] = "pool_empty",
};

/* Entries of sw->touched. A VM is listed at its first frame since its
 * last flush (or reset), so at most twice a pass: before and after the
 * one reset of its rings it may have a pass (vmport_ctrl_act, on its
 * visit; vmport_check_alive and the mailbox's, which also take its
 * frames back, run before any frame is given). */
#define SW_TOUCHED_MAX (2 * CFG_MAX_VMS)

/* VM v was just given n > 0 frames: listed for the flush if they are its
 * first since the last (see SW_TOUCHED_MAX). */
static inline void touch(struct sw *sw, struct vmport *v, uint32_t n)
{
	if (v->rx_unflushed == n)
		sw->touched[sw->n_touched++] = (uint16_t)v->index;
}

static void cap_tap(struct sw *sw, uint64_t addr, uint32_t len, uint32_t dir)
{
	struct sw_capture *c = &sw->cap;
	struct sw_cap_rec *r;
	struct timespec ts;

	if (c->prod - __atomic_load_n(&c->cons, __ATOMIC_ACQUIRE) >=
	    SW_CAP_SLOTS) {
		c->dropped++;
		return;
	}
	r = &c->ring[c->prod & (SW_CAP_SLOTS - 1)];
	clock_gettime(CLOCK_REALTIME, &ts);
	r->ts = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	r->len = len;
	r->dir = dir;
	memcpy(r->data, pool_data(&sw->pool, addr),
	       len < SW_CAP_SNAP ? len : SW_CAP_SNAP);
	__atomic_store_n(&c->prod, c->prod + 1, __ATOMIC_RELEASE);
}

static uint64_t copy_frame(struct sw *sw, uint64_t addr, uint32_t len);

/* The rare hand-off: captured, or the copy baseline. It repeats to_vm's
 * enqueue rather than sharing it: one path with the flag checked twice
 * cost the fast path 24 instructions a packet (148 -> 172, callgrind). */
static __attribute__((noinline)) void to_vm_slow(struct sw *sw,
						 struct vmport *v,
						 uint64_t addr, uint32_t len)
{
	if (sw->handoff_copy) {
		/* The baseline flipswitch replaces: the frame is copied into
		 * one lent to the VM, and the original recycled. */
		uint64_t c = copy_frame(sw, addr, len);

		pool_recycle(&sw->pool, pool_frame(&sw->pool, addr));
		if (c == UINT64_MAX)
			return;
		sw->copies--; /* counted as hand-off copies instead */
		sw->handoff_copies++;
		addr = c;
	}
	if (vmport_rx_enqueue(v, &sw->pool, addr, len)) {
		pool_recycle(&sw->pool, pool_frame(&sw->pool, addr));
		return;
	}
	if (sw->cap.vm == v->index)
		cap_tap(sw, addr, len, SW_CAP_RX);
	touch(sw, v, 1);
}

/* Hands a frame the switch owns to a VM, or takes it back if the VM cannot
 * take it (the reason is counted by the VM port). */
static inline void to_vm(struct sw *sw, struct vmport *v, uint64_t addr,
			 uint32_t len)
{
	if (__builtin_expect(sw->slow, 0)) {
		to_vm_slow(sw, v, addr, len);
		return;
	}
	if (vmport_rx_enqueue(v, &sw->pool, addr, len)) {
		pool_recycle(&sw->pool, pool_frame(&sw->pool, addr));
		return;
	}
	touch(sw, v, 1);
}

/* A frame from VM v for the wire, as to_nic takes it: tagged with v's
 * VLAN (*addr and *len move 4 bytes back), shown to a capture. Returns
 * false if it was dropped (no headroom for the tag). */
static __attribute__((noinline)) bool
nic_frame_slow(struct sw *sw, struct vmport *v, uint64_t *addr_p,
	       uint32_t *len_p)
{
	struct pool *p = &sw->pool;
	uint64_t addr = *addr_p;
	uint32_t len = *len_p;

	if (v->cfg.vlan) {
		unsigned char *d;

		if (pool_offset_in_frame(p, addr) < 4) {
			sw->drops[SW_DROP_NO_HEADROOM]++;
			pool_recycle(p, pool_frame(p, addr));
			return false;
		}
		addr -= 4;
		len += 4;
		pool_note_dirty(p, pool_frame(p, addr),
				pool_offset_in_frame(p, addr),
				pool_offset_in_frame(p, addr) + len);
		d = pool_data(p, addr);
		memmove(d, d + 4, 12);
		d[12] = 0x81;
		d[13] = 0x00;
		d[14] = v->cfg.vlan >> 8;
		d[15] = v->cfg.vlan & 0xff;
	}
	if (__builtin_expect(sw->cap.nic == v->uplink, 0))
		cap_tap(sw, addr, len, SW_CAP_TX);
	*addr_p = addr;
	*len_p = len;
	return true;
}

/* A frame from VM v for the wire, added to out[*k] (sw->nicbuf), which
 * from_vm puts on v's uplink in one burst. Inline for untagged frames;
 * the tag and the capture take a call. */
static inline __attribute__((always_inline)) void
to_nic(struct sw *sw, struct vmport *v, uint64_t addr, uint32_t len,
       struct port_frame *out, uint32_t *k)
{
	if (__builtin_expect(v->cfg.vlan || sw->slow, 0) &&
	    !nic_frame_slow(sw, v, &addr, &len))
		return;
	out[*k].addr = addr;
	out[*k].len = len;
	(*k)++;
}

/* A copy of a frame into a fresh pool frame, at the usual headroom, or
 * less if the frame is longer than the room after it: a guest may send a
 * whole frame (offset 0, frame_size bytes), and a copy at the headroom
 * wrote past the end of its frame, into the next (or past the pool). */
static uint64_t copy_frame(struct sw *sw, uint64_t addr, uint32_t len)
{
	struct pool *p = &sw->pool;
	uint64_t c = pool_alloc(p);
	uint32_t head = FS_HEADROOM;

	if (c == UINT64_MAX) {
		sw->drops[SW_DROP_POOL_EMPTY]++;
		return c;
	}
	if (__builtin_expect(len > p->frame_size - FS_HEADROOM, 0))
		head = p->frame_size - len; /* len <= frame_size: tx_collect */
	pool_reuse(p, pool_frame(p, c), head, head + len);
	c += head;
	memcpy(pool_data(p, c), pool_data(p, addr), len);
	sw->copies++;
	return c;
}

/* A copy of a flooded frame for v, if v can take one: its room is looked
 * at first (vmport_rx_open counts why not). Copied first, a broadcast
 * storm to VMs at their quota made a copy for each, for nothing. */
static void flood_copy(struct sw *sw, struct vmport *v, uint64_t addr,
		       uint32_t len)
{
	uint64_t c;

	if (!v->rx_room && !vmport_rx_open(v, &sw->pool))
		return;
	c = copy_frame(sw, addr, len);
	if (c != UINT64_MAX)
		to_vm(sw, v, c, len);
}

/*
 * Floods a group-addressed frame the switch owns to every attached VM on
 * `vlan` except `from` (and, when from_nic, only those whose uplink is
 * that port): a copy for each but the last, which gets the frame itself.
 * Returns 1 if the frame itself was used, 0 if it is still the caller's.
 */
static int flood_vms(struct sw *sw, uint64_t addr, uint32_t len,
		     uint16_t vlan, int from_vm, int from_port, int keep)
{
	struct vmport *last = NULL;

	for (int i = 0; i < sw->n_vms; i++) {
		struct vmport *v = &sw->vms[i];

		if (!v->attached || i == from_vm || v->cfg.vlan != vlan ||
		    (from_port >= 0 && v->uplink != from_port))
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
	to_vm(sw, last, addr, len);
	return 1;
}

/*
 * One frame from a NIC, the switch's: a tagged frame loses its tag (VM
 * ports are access ports), a group frame is flooded, a unicast frame goes
 * to its VM or is dropped. *last_key and *last_vm are the last destination
 * looked up in the batch: frames of a burst mostly go where the one before
 * went. Key 0 is no entry's: its lookup says -1 too. Inline in from_nic's
 * loop (a call a frame cost the copy baseline 12 instructions).
 */
static inline __attribute__((always_inline)) void
nic_frame(struct sw *sw, struct port *pt, uint64_t addr, uint32_t len,
	  uint64_t *last_key, int32_t *last_vm)
{
	struct pool *p = &sw->pool;
	unsigned char *d = pool_data(p, addr);
	uint16_t vlan = 0;
	uint64_t key;
	int32_t vm;

	if (__builtin_expect(len < FS_ETH_HLEN, 0)) {
		sw->drops[SW_DROP_NO_ROUTE]++;
		pool_recycle(p, pool_frame(p, addr));
		return;
	}
	if (d[12] == 0x81 && d[13] == 0x00 && len >= FS_ETH_HLEN + 4) {
		unsigned char macs[12];

		vlan = ((d[14] << 8) | d[15]) & 0x0fff;
		/* Access ports see untagged frames: drop the tag in place by
		 * moving the MACs 4 bytes on (and zero the 4 bytes left
		 * before them). */
		memcpy(macs, d, 12);
		memset(d, 0, 4);
		memcpy(d + 4, macs, 12);
		addr += 4;
		len -= 4;
		d += 4;
	}
	if (d[0] & 1) {
		/* A tag left, an S-tag or one inside the 802.1Q tag, is
		 * another network's: no access port may see it. (Unicast
		 * with one the XDP program passes to the host.) */
		if ((d[12] == 0x81 && d[13] == 0x00) ||
		    (d[12] == 0x88 && d[13] == 0xa8) ||
		    (d[12] == 0x91 && d[13] == 0x00))
			sw->drops[SW_DROP_NO_ROUTE]++;
		else if (flood_vms(sw, addr, len, vlan, -1, pt->index, 0))
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
	to_vm(sw, &sw->vms[vm], addr, len);
}

/* Frames from a NIC read into f[] (port_rx, port_mc_rx): the path of the
 * group socket, and of the NIC queues while hand-offs are slow. */
static void from_nic(struct sw *sw, struct port *pt, struct port_frame *f,
		     uint32_t n)
{
	unsigned char *base = sw->pool.base;
	uint64_t last_key = 0;
	int32_t last_vm = -1;

	for (uint32_t i = 0; i < n; i++) {
		/* f[n] exists (rxbuf has a spare entry); a prefetch of
		 * whatever it holds cannot fault. */
		__builtin_prefetch(base + f[i + 1].addr);
		if (__builtin_expect(sw->slow, 0) && sw->cap.nic == pt->index)
			cap_tap(sw, f[i].addr, f[i].len, SW_CAP_RX);
		nic_frame(sw, pt, f[i].addr, f[i].len, &last_key, &last_vm);
	}
}

/* The fast path's frames that are not plain unicast. */
static __attribute__((noinline)) void nic_frame_rare(struct sw *sw,
						     struct port *pt,
						     uint64_t addr,
						     uint32_t len)
{
	uint64_t key = 0;
	int32_t vm = -1;

	nic_frame(sw, pt, addr, len, &key, &vm);
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
		touch(sw, v, n);
}

/* The burst's room ran out, or there was none: opens more if the VM can
 * take it (vmport_rx_open counts the reason if not). Returns whether the
 * burst has room. When it cannot, vmport_burst_begin tries once more,
 * quietly: the drop path pays two looks, the fast path none (a variant
 * that looked once cost every packet an instruction, callgrind). */
static inline __attribute__((always_inline)) bool
burst_grow(struct sw *sw, struct vmport_burst *b, uint64_t *bytes)
{
	struct vmport *v = b->v;

	burst_end(sw, b, bytes);
	vmport_rx_open(v, &sw->pool);
	vmport_burst_begin(b, v, &sw->pool);
	return !vmport_burst_full(b);
}

/*
 * The NIC fast path: a queue's rx ring read in place, each unicast frame
 * classified and given straight to its VM's rx ring, with the destination
 * held in a burst (vmport_burst) while frames go where the one before
 * went. The frame goes from the fill ring's owner to the VM's, its
 * descriptor from ring to ring, in one loop: port_rx into rxbuf, then
 * from_nic and vmport_rx_enqueue frame by frame, cost the worker 136
 * instructions a frame, this 97 (callgrind, fs-core-bench --vms 1). Tagged,
 * group and runt frames take nic_frame's path; so do all frames while
 * hand-offs are slow (capture, copy baseline).
 */
static uint32_t nic_rx(struct sw *sw, struct port *pt, uint32_t qi)
{
	struct pool *p = &sw->pool;
	unsigned char *base = p->base;
	uint16_t *owner = p->owner;
	uint32_t *dirty = p->dirty;
	uint32_t shift = p->shift, fmask = p->frame_size - 1;
	struct vmport_burst b = { .v = NULL, .prod = 0, .end = 0 };
	/* Bytes of the frames given in a burst are added as it ends. */
	uint64_t key, last_key = 0, bytes = 0;
	const struct xdp_desc *ring, *xd, *next;
	uint32_t idx, i, n, rmask;

	if (__builtin_expect(sw->slow, 0)) {
		n = port_rx(pt, p, qi, sw->rxbuf, sw->batch);
		from_nic(sw, pt, sw->rxbuf, n);
		return n;
	}
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
		/* pool_reuse, with the pool's fields in locals. */
		if (dirty[frame] != POOL_DIRTY(off, off + len))
			pool_zero_stale(p, frame, off, off + len);
		if (__builtin_expect(len < FS_ETH_HLEN || (d[0] & 1) ||
				     (d[12] == 0x81 && d[13] == 0x00), 0)) {
			/* Flooding may give the burst's VM frames. */
			burst_end(sw, &b, &bytes);
			last_key = 0;
			bytes += len;
			owner[frame] = POOL_OWN_SWITCH;
			nic_frame_rare(sw, pt, addr, len);
			continue;
		}
		key = fdb_key_frame(d, 0);
		if (key != last_key) {
			int32_t vm = fdb_lookup_key(&sw->fdb, key);

			burst_end(sw, &b, &bytes);
			last_key = key;
			if (vm >= 0 && sw->vms[vm].uplink == pt->index)
				vmport_burst_begin(&b, &sw->vms[vm], p);
		}
		/* No burst (no route) is a full one. */
		if (__builtin_expect(vmport_burst_full(&b), 0) &&
		    (!b.v || !burst_grow(sw, &b, &bytes))) {
			if (!b.v)
				sw->drops[SW_DROP_NO_ROUTE]++;
			bytes += len;
			owner[frame] = POOL_OWN_SWITCH;
			pool_recycle(p, frame);
			continue;
		}
		vmport_burst_put(&b, owner, frame, addr, len);
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
 * cost more than the hand-offs. */
static inline bool reclaim_soon(const struct sw *sw, const struct vmport *v)
{
	return vmport_held(v, &sw->pool) >= v->quota / 2 ||
	       sw->pool.n_free < sw->reclaim_low;
}

/* Lists VM i for a visit next pass (once). */
static void busy_next(struct sw *sw, uint16_t i)
{
	struct vmport *v = &sw->vms[i];

	/* Pass numbers + 1 in the markers: 0 is "never". */
	if (v->listed == sw->passes + 2)
		return;
	v->listed = sw->passes + 2;
	sw->busy[0][sw->n_busy[0]++] = i;
}

/* Room for the VMs whose doorbell is held: a VM is listed once
 * (bell_listed), its entry kept while held and dropped by ring_held once
 * not; a slot whose VM left while listed may be listed again by the VM
 * added in it before ring_held drops the old entry. */
#define SW_HELD_MAX (2 * CFG_MAX_VMS)

/*
 * Rings a guest that sleeps on its rings, after the switch published n rx
 * entries (or alloc entries, n = 0): at once if it last rang it the VM's
 * doorbell_usecs ago or more, or if the frames given to it asleep reach
 * bell_batch (half of what it can be given: its ring must not run full
 * while it sleeps); else once doorbell_usecs have passed (ring_held).
 * Interrupt moderation, as a NIC's rx-usecs and rx-frames: while frames
 * keep coming a woken guest finds a batch, not one frame per wake-up; the
 * first frame after a quiet spell is rung at once. (Measured with the
 * guest on the switch's CPU: without it a ring for every 1.9 frames at
 * 0.33 Mpps, each a switch to the guest and back, 2.5 us of the worker's
 * time a packet.)
 */
static __attribute__((noinline)) void ring_sleeper(struct sw *sw,
						    struct vmport *v,
						    uint32_t n)
{
	if (!vmport_wants_ring(v)) {
		v->bell_frames = 0; /* awake: it finds them itself */
		return;
	}
	v->bell_frames += n;
	if (sw->now - v->bell_at >= v->bell_gap ||
	    v->bell_frames >= v->bell_batch || sw->n_held == SW_HELD_MAX) {
		vmport_ring(v);
		v->bell_at = sw->now;
		v->bell_frames = 0;
		v->bell_held = false; /* ring_held drops its entry */
	} else if (!v->bell_held) {
		/* Held again before ring_held dropped its entry (rung at once
		 * from an alloc refill, then given frames in the same pass):
		 * that entry serves. (Listed anew, a guest that sleeps while
		 * it sends and receives added an entry each interval, until
		 * the list was full and no doorbell was moderated.) */
		v->bell_held = true;
		if (!v->bell_listed) {
			v->bell_listed = true;
			sw->held[sw->n_held++] = (uint16_t)v->index;
		}
	}
}

/* The same, for any guest: one load for those with no doorbell (a call
 * for each VM given frames cost 12 instructions a packet with 256 VMs in
 * turn, callgrind). */
static inline void ring_guest(struct sw *sw, struct vmport *v, uint32_t n)
{
	if (__atomic_load_n(&v->db_live, __ATOMIC_RELAXED))
		ring_sleeper(sw, v, n);
}

/* Rings the guests whose ring was held, once their time has come (all of
 * them if all: the worker is about to sleep). */
static void ring_held(struct sw *sw, bool all)
{
	uint32_t i, n = 0;

	for (i = 0; i < sw->n_held; i++) {
		struct vmport *v = &sw->vms[sw->held[i]];

		/* Rung since, or gone: the VM left (its slot perhaps
		 * reused), or its guest. */
		if (!v->bell_held || !v->active || !v->attached) {
			v->bell_held = v->bell_listed = false;
			continue;
		}
		if (!all && sw->now - v->bell_at < v->bell_gap) {
			sw->held[n++] = sw->held[i];
			continue;
		}
		v->bell_held = v->bell_listed = false;
		/* The guest may have woken on its own (its timeout) and be
		 * polling: L again. */
		if (vmport_wants_ring(v)) {
			vmport_ring(v);
			v->bell_at = sw->now;
		}
		v->bell_frames = 0;
	}
	sw->n_held = n;
}

/* Publishes the rx rings given frames since the last flush: one release
 * store (and, for a sleeping guest, at most one doorbell) per VM per pass.
 * Their guests will give frames back: see reclaim_soon. */
static void flush_touched(struct sw *sw)
{
	for (uint32_t i = 0; i < sw->n_touched; i++) {
		struct vmport *v = &sw->vms[sw->touched[i]];
		uint32_t n = vmport_rx_flush(v, &sw->pool);

		if (n)
			ring_guest(sw, v, n);
		if (reclaim_soon(sw, v))
			busy_next(sw, sw->touched[i]);
	}
	sw->n_touched = 0;
}

static void from_vm(struct sw *sw, struct vmport *v, const struct fs_desc *t,
		    uint32_t n)
{
	struct pool *p = &sw->pool;
	/* The last destination looked up, as from_nic keeps it. */
	uint64_t key, last_key = 0;
	int32_t last_dst = -1;
	/* Frames for the wire, in order: one burst on the uplink's tx ring
	 * (a call, a reservation and the counts a frame cost 50 instructions
	 * a frame, callgrind, fs-core-bench --from vm --to nic). */
	struct port_frame *out = sw->nicbuf;
	uint32_t k = 0, sent;

	for (uint32_t i = 0; i < n; i++) {
		const unsigned char *d = pool_data(p, t[i].addr);
		int32_t dst;

		if (i + 1 < n)
			__builtin_prefetch(pool_data(p, t[i + 1].addr));
		if (__builtin_expect(sw->cap.vm == v->index, 0))
			cap_tap(sw, t[i].addr, t[i].len, SW_CAP_TX);
		if (d[0] & 1) {
			/* Other VMs get copies; the uplink gets the frame. */
			flood_vms(sw, t[i].addr, t[i].len, v->cfg.vlan,
				  v->index, -1, 1);
			to_nic(sw, v, t[i].addr, t[i].len, out, &k);
			continue;
		}
		key = fdb_key_frame(d, v->cfg.vlan);
		if (key != last_key) {
			last_key = key;
			last_dst = fdb_lookup_key(&sw->fdb, key);
		}
		dst = last_dst;
		if (dst == v->index) {
			sw->drops[SW_DROP_HAIRPIN]++;
			pool_recycle(p, pool_frame(p, t[i].addr));
		} else if (dst >= 0) {
			sw->vm2vm++;
			to_vm(sw, &sw->vms[dst], t[i].addr, t[i].len);
		} else {
			to_nic(sw, v, t[i].addr, t[i].len, out, &k);
		}
	}
	if (!k)
		return;
	sent = port_tx_burst(&sw->ports[v->uplink], p, (uint32_t)v->index,
			     out, k);
	for (uint32_t i = sent; i < k; i++)
		pool_recycle(p, pool_frame(p, out[i].addr));
}

#ifdef FS_DEBUG
static void debug_check(struct sw *sw)
{
	static struct timespec last;
	struct timespec now;
	uint64_t sum = 0;
	char msg[160];

	for (uint32_t i = 0; i < sw->pool.n_owners; i++)
		sum += sw->pool.count[i];
	if (sum != sw->pool.frames ||
	    sw->pool.count[POOL_OWN_SWITCH] != sw->pool.n_free) {
		log_err("frame ownership broken: counts sum to %llu of %u, switch %u, free list %u",
			(unsigned long long)sum, sw->pool.frames,
			sw->pool.count[POOL_OWN_SWITCH], sw->pool.n_free);
		abort();
	}
	/* The full recount walks every frame: once a second. */
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec == last.tv_sec)
		return;
	last = now;
	if (pool_check(&sw->pool, true, msg, sizeof(msg))) {
		log_err("frame ownership broken: %s", msg);
		abort();
	}
}
#endif

static void frames_snapshot(struct sw *sw)
{
	struct sw_frames_snap *s = &sw->snap;
	struct pool *p = &sw->pool;

	s->fill = p->count[POOL_OWN_FILL];
	s->tx = p->count[POOL_OWN_TX];
	s->sw = p->count[POOL_OWN_SWITCH];
	s->free_list = p->n_free;
	for (int i = 0; i < sw->n_vms; i++)
		s->vm[i] = p->count[sw->vms[i].owner];
	s->ok = !pool_check(p, true, s->msg, sizeof(s->msg));
}

/* VM v's doorbell_usecs in ticks. */
static void bell_gap_set(struct sw *sw, struct vmport *v)
{
	v->bell_gap = ticks_of_us(&sw->ticks, v->cfg.doorbell_usecs);
}

static int64_t vm_link(struct sw *sw, int idx, struct vmport *ready)
{
	struct vmport *v = &sw->vms[idx];
	int err;

	err = fdb_add(&sw->fdb, ready->cfg.mac, ready->cfg.vlan, idx,
		      FDB_STATIC);
	if (err)
		return err;
	*v = *ready;
	bell_gap_set(sw, v);
	if (idx == sw->n_vms)
		sw->n_vms++;
	return 0;
}

static void sw_set_slow(struct sw *sw)
{
	sw->slow = sw->handoff_copy || sw->cap.nic >= 0 || sw->cap.vm >= 0;
}

static int64_t vm_unlink(struct sw *sw, int idx)
{
	struct vmport *v = &sw->vms[idx];
	uint32_t n;

	fdb_del(&sw->fdb, v->cfg.mac, v->cfg.vlan);
	v->attached = false;
	v->active = false;
	if (sw->cap.vm == idx) {
		sw->cap.vm = -1;
		sw_set_slow(sw);
	}
	/* Frames on its rx ring are counted to it, so this takes them too. */
	n = pool_reclaim(&sw->pool, v->owner);
	v->st.reclaimed += n;
	return n;
}

/* Worker side of the mailbox: at most one request per pass. */
static void mail_poll(struct sw *sw)
{
	struct sw_mail *m = &sw->mail;
	uint32_t posted = SW_MAIL_POSTED;

	if (__atomic_load_n(&m->state, __ATOMIC_RELAXED) != SW_MAIL_POSTED ||
	    !__atomic_compare_exchange_n(&m->state, &posted, SW_MAIL_TAKEN,
					 false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		return; /* none, or withdrawn just now */
	switch (m->op) {
	case SW_MAIL_FRAMES:
		frames_snapshot(sw);
		m->result = 0;
		break;
	case SW_MAIL_VM_ADD:
		m->result = vm_link(sw, m->arg, m->ptr);
		break;
	case SW_MAIL_VM_DEL:
		m->result = vm_unlink(sw, m->arg);
		break;
	case SW_MAIL_CLEAR:
		memset(sw->drops, 0, sizeof(sw->drops));
		sw->copies = sw->vm2vm = sw->sleeps = sw->bells = sw->naps = 0;
		sw->busy_ticks = sw->idle_ticks = sw->sleep_ticks = 0;
		sw->busy_passes = 0;
		sw->pool.scrubbed_frames = sw->pool.scrubbed_bytes = 0;
		for (int i = 0; i < sw->n_ports; i++) {
			memset(&sw->ports[i].st, 0, sizeof(sw->ports[i].st));
			for (uint32_t q = 0; q < sw->ports[i].n_queues; q++)
				sw->ports[i].q[q].rx_packets = 0;
		}
		for (int i = 0; i < sw->n_vms; i++)
			memset(&sw->vms[i].st, 0, sizeof(sw->vms[i].st));
		m->result = 0;
		break;
	case SW_MAIL_CAPTURE:
		sw->cap.nic = m->arg;
		sw->cap.vm = m->arg2;
		sw_set_slow(sw);
		m->result = 0;
		break;
	default:
		m->result = -EINVAL;
	}
	__atomic_store_n(&m->state, SW_MAIL_DONE, __ATOMIC_RELEASE);
}

int sw_mail_call(struct sw *sw, int op, int arg, int arg2, void *ptr,
		 int64_t *result, int timeout_ms)
{
	struct sw_mail *m = &sw->mail;
	struct timespec pause = { 0, 100000 };
	uint32_t posted = SW_MAIL_POSTED;
	uint64_t one = 1;

	m->op = op;
	m->arg = arg;
	m->arg2 = arg2;
	m->ptr = ptr;
	__atomic_store_n(&m->state, SW_MAIL_POSTED, __ATOMIC_RELEASE);
	/* The worker may be asleep. */
	if (sw->mail_fd >= 0 && write(sw->mail_fd, &one, sizeof(one)) < 0)
		log_warn("worker: cannot wake it for the mailbox: %s",
			 strerror(errno));
	for (int i = 0;; i++) {
		if (__atomic_load_n(&m->state, __ATOMIC_ACQUIRE) ==
		    SW_MAIL_DONE)
			break;
		/* Time is up: withdrawn, unless the worker took it. (Left
		 * posted, a late worker acted on memory the caller had
		 * freed, and the next request overwrote it meanwhile.) */
		if (i >= timeout_ms * 10 &&
		    __atomic_compare_exchange_n(&m->state, &posted,
						SW_MAIL_IDLE, false,
						__ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			return -ETIMEDOUT;
		posted = SW_MAIL_POSTED;
		nanosleep(&pause, NULL);
	}
	if (result)
		*result = m->result;
	__atomic_store_n(&m->state, SW_MAIL_IDLE, __ATOMIC_RELAXED);
	return 0;
}

/* VM v's turn in the sweep: whether its free ring is to be drained now
 * (see drain_due), counting a turn that found frames there. The guest's
 * index, unchecked: vmport_free_drain checks it. */
static inline bool drain_turn(const struct sw *sw, struct vmport *v)
{
	uint32_t posted = __atomic_load_n(v->free.producer, __ATOMIC_RELAXED) -
			  v->free.cached_cons;

	return posted && (posted >= SW_DRAIN_MIN ||
			  ++v->drain_turns >= SW_DRAIN_MIN ||
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
	v->drain_turns = 0;
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
	struct pool *p = &sw->pool;
	uint32_t n = 0, k, lent = 0;
	bool acted = false, hot;

	if (v->visited == sw->passes + 1)
		return 0;
	v->visited = sw->passes + 1;
	if (!v->active)
		return 0;
	/* A request sooner than ctrl_gap after the last one acted on waits
	 * for a later turn (vm_quiet keeps the VM visited meanwhile). */
	if (sweep && sw->now >= v->ctrl_next && vmport_poll_ctrl(v, p)) {
		v->ctrl_next = sw->now + sw->ctrl_gap;
		acted = true;
		busy_next(sw, i);
	}
	if (!v->attached)
		return 0;
	hot = v->tx_pass && sw->passes + 1 - v->tx_pass < SW_TX_HOT_PASSES;
	/* Most VMs visited in the sweep have nothing on any ring: a load of
	 * each ring's producer says so before any batch is set up. */
	if ((sweep || hot) && fs_cons_posted(&v->tx)) {
		n = vmport_tx_collect(v, p, sw->txbuf, sw->batch);
		if (n) {
			v->tx_pass = sw->passes + 1;
			hot = true;
			from_vm(sw, v, sw->txbuf, n);
		}
	}
	k = drain_due(sw, v, sweep) ? vmport_free_drain(v, p, sw->batch) : 0;
	if (n || (sweep && (k || acted)) ||
	    fs_prod_pending(&v->alloc) < v->alloc_target)
		if ((lent = vmport_alloc_refill(v, p)))
			ring_guest(sw, v, 0);
	if (hot || lent || k == sw->batch ||
	    (k && vmport_held(v, p) > fs_prod_pending(&v->alloc) &&
	     reclaim_soon(sw, v)))
		busy_next(sw, i);
	return n + k;
}

/* Whether VM v's turn in the sweep would find nothing to do: not in use,
 * or no attach request, not sending lately, nothing on its tx and free
 * rings, and its alloc ring stocked; then visit_vm would only have looked.
 * Inline, in the sweep's loop: most VMs swept are idle, and the call and
 * visit_vm's own checks cost each ~70 instructions (callgrind,
 * fs-core-bench --vms 256 --active 1). */
static inline bool vm_quiet(const struct sw *sw, struct vmport *v)
{
	if (!v->active)
		return true;
	if (__atomic_load_n(&v->hdr->guest_req, __ATOMIC_RELAXED) !=
	    v->last_req)
		return false;
	if (!v->attached)
		return true;
	if ((v->tx_pass && sw->passes + 1 - v->tx_pass < SW_TX_HOT_PASSES) ||
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
	struct pool *p = &sw->pool;
	uint32_t work = 0, n;

	mail_poll(sw);
	/* Guest heartbeats, a few times a second at most. */
	if ((!(sw->passes & 255) || sw->check_alive) && sw->cfg->guest_timeout) {
		struct timespec ts;
		uint64_t now;

		clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
		now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
		sw->check_alive = false;
		if (now - sw->alive_ms >= 100) {
			sw->alive_ms = now;
			for (int i = 0; i < sw->n_vms; i++)
				if (sw->vms[i].active)
					vmport_check_alive(&sw->vms[i], p, now,
							   sw->cfg->guest_timeout);
		}
	}

	for (int i = 0; i < sw->n_ports; i++) {
		struct port *pt = &sw->ports[i];

		for (uint32_t q = 0; q < pt->n_queues; q++) {
			work += nic_rx(sw, pt, q);
		}
		/* full_pass: the worker just woke up (or napped), perhaps
		 * for it. */
		if (pt->mc_busy || sw->full_pass ||
		    !(sw->passes & (SW_MC_POLL_PASSES - 1))) {
			n = port_mc_rx(pt, p, sw->rxbuf, sw->batch);
			pt->mc_busy = n > 0;
			from_nic(sw, pt, sw->rxbuf, n);
			work += n;
		}
	}

	work += visit_vms(sw);
	flush_touched(sw);
	if (sw->n_held)
		ring_held(sw, false);

	for (int i = 0; i < sw->n_ports; i++) {
		port_tx_flush(&sw->ports[i], p);
		work += port_service(&sw->ports[i], p, sw->batch);
	}
	sw->passes++;
#ifdef FS_DEBUG
	debug_check(sw);
#endif
	return work;
}

/* How long the worker may sleep: long only if nothing needs polling. */
static int sleep_ms(struct sw *sw)
{
	/* Transmitted frames still to complete (zero-copy drivers complete
	 * later, and their completions raise no poll event). */
	if (sw->pool.count[POOL_OWN_TX])
		return SW_POLL_SLEEP_MS;
	for (int i = 0; i < sw->n_vms; i++)
		if (sw->vms[i].active && !vmport_can_sleep(&sw->vms[i]))
			return SW_POLL_SLEEP_MS;
	return SW_DOORBELL_SLEEP_MS;
}

static void want_wakeups(struct sw *sw, bool on)
{
	for (int i = 0; i < sw->n_vms; i++)
		if (sw->vms[i].attached)
			vmport_want_wakeup(&sw->vms[i], on);
}

static void drain_eventfd(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("worker: eventfd: %s", strerror(errno));
}

static void idle_wait(struct sw *sw)
{
	struct pollfd pfd[CFG_MAX_IFACES * (FS_XDP_MAX_QUEUES + 1) + 2];
	int ms = sleep_ms(sw), n = 0;
	bool armed = ms > SW_POLL_SLEEP_MS;

	if (armed) {
		want_wakeups(sw, true);                  /* I */
		__atomic_thread_fence(__ATOMIC_SEQ_CST); /* J, pairs with K */
		sw->full_pass = SW_PASS_FULL; /* every ring looked at after I */
		if (sw_poll_once(sw)) {
			want_wakeups(sw, false);
			return;
		}
	}
	for (int i = 0; i < sw->n_ports; i++) {
		struct port *pt = &sw->ports[i];

		for (uint32_t q = 0; q < pt->n_queues; q++)
			pfd[n++] = (struct pollfd){ .fd = pt->q[q].fd,
						    .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = pt->mc_fd, .events = POLLIN };
	}
	pfd[n++] = (struct pollfd){ .fd = sw->bell_fd, .events = POLLIN };
	pfd[n++] = (struct pollfd){ .fd = sw->mail_fd, .events = POLLIN };
	/* No held doorbell waits through the sleep. */
	if (sw->n_held)
		ring_held(sw, true);
	poll(pfd, (nfds_t)n, ms);
	sw->sleeps++;
	if (pfd[n - 2].revents) {
		drain_eventfd(sw->bell_fd);
		sw->bells++;
	}
	if (pfd[n - 1].revents)
		drain_eventfd(sw->mail_fd);
	if (armed)
		want_wakeups(sw, false);
	sw->check_alive = true;
	sw->full_pass = SW_PASS_FULL;
}

/*
 * Under light load, with max_sleep_usecs set (OVS's pmd-sleep-max): after
 * a pass that moved less than half a batch, the worker sleeps, 1 us
 * longer after each such pass, up to max_sleep_usecs; a pass with half a
 * batch or more ends the naps. The next pass finds frames waiting, not
 * one, and the CPU is left to others meanwhile, for up to max_sleep_usecs
 * more latency. No doorbell held back by moderation waits through it.
 * The nap counts as asleep.
 */
void sw_nap(struct sw *sw, uint32_t moved, uint32_t max)
{
	struct timespec ts;
	uint64_t t;

	if (moved >= sw->batch / 2) {
		sw->nap_us = 0;
		return;
	}
	/* Naps of a few microseconds, not the default 50 us of slack. */
	if (!sw->slack_set) {
		if (prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0))
			log_warn("worker: cannot set its timer slack: %s",
				 strerror(errno));
		sw->slack_set = true;
	}
	if (sw->nap_us < max)
		sw->nap_us++;
	else
		sw->nap_us = max; /* lowered at run time */
	if (sw->n_held)
		ring_held(sw, true);
	/* The pass after a nap looks at every VM (vm_quiet; a visit for
	 * those with something to do) and the group sockets, and at the
	 * heartbeats' clock: the sweep's turns (n_vms / SW_SWEEP_VMS
	 * passes), the group sockets' (16) and the heartbeats' (256) could
	 * otherwise be as many naps, a guest that starts sending unseen for
	 * that long. */
	if (!sw->full_pass)
		sw->full_pass = SW_PASS_SWEEP;
	sw->check_alive = true;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)sw->nap_us * 1000;
	t = sw->now; /* the caller's read, at the end of the pass */
	nanosleep(&ts, NULL);
	sw->naps++;
	sw->now = ticks_now(&sw->ticks);
	sw->sleep_ticks += sw->now - t;
}

/* One clock read a pass, into sw->now (and one after a nap): the pass's
 * time, from the end of the one before, goes to busy or idle by whether it
 * moved frames (an empty pass's yield, and whatever ran meanwhile, to
 * idle), a nap's to asleep, and the next pass moderates doorbells by it. */
void sw_run(struct sw *sw, volatile sig_atomic_t *stop,
	    volatile sig_atomic_t *report)
{
	unsigned int idle = 0;
	uint32_t n, naps;
	uint64_t t;

	sw->now = ticks_now(&sw->ticks);
	while (!*stop) {
		if (*report) {
			*report = 0;
			sw_report(sw);
		}
		n = sw_poll_once(sw);
		naps = __atomic_load_n(&sw->max_nap_us, __ATOMIC_RELAXED);
		t = sw->now;
		if (n) {
			sw->now = ticks_now(&sw->ticks);
			sw->busy_ticks += sw->now - t;
			sw->busy_passes++;
			idle = 0;
			if (naps)
				sw_nap(sw, n, naps);
			continue;
		}
		/* An empty pass lets whatever else wants this CPU run first:
		 * a guest sharing it, which a spinning worker kept waiting
		 * for the rest of its time slice. (VM to VM with the receiving
		 * guest on the switch's CPU: 1.7-6.5 -> 8.8-9.3 Mpps.) Alone
		 * on its CPU, the worker pays a system call an empty pass. */
		if (!naps)
			sched_yield();
		sw->now = ticks_now(&sw->ticks);
		sw->idle_ticks += sw->now - t;
		if (naps)
			sw_nap(sw, 0, naps);
		if (++idle < SW_SPIN_PASSES)
			continue;
		idle_wait(sw);
		t = sw->now;
		sw->now = ticks_now(&sw->ticks);
		sw->sleep_ticks += sw->now - t;
	}
}

int sw_init(struct sw *sw, struct cfg *cfg)
{
	int err;

	memset(sw, 0, sizeof(*sw));
	sw->pool.fd = -1; /* sw_fini() tears down only what was made */
	sw->bell_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	sw->mail_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sw->bell_fd < 0 || sw->mail_fd < 0)
		return -errno;
	sw->cap.nic = sw->cap.vm = -1;
	sw->cfg = cfg;
	sw->batch = cfg->batch;
	sw->reclaim_low = cfg->pool.frames / 4;
	sw->handoff_copy = cfg->handoff_copy;
	sw->max_nap_us = cfg->max_sleep_usecs;
	ticks_init(&sw->ticks);
	sw->ctrl_gap = ticks_of_us(&sw->ticks, SW_CTRL_GAP_US);
	sw_set_slow(sw);
	if (sw->handoff_copy)
		log_info("handoff: copy (each frame copied to the VM: the benchmark's baseline, not zero-copy)");
	sw->vms = vmport_alloc(CFG_MAX_VMS);
	sw->touched = calloc(SW_TOUCHED_MAX, sizeof(*sw->touched));
	sw->busy[0] = calloc(CFG_MAX_VMS, sizeof(*sw->busy[0]));
	sw->busy[1] = calloc(CFG_MAX_VMS, sizeof(*sw->busy[1]));
	sw->held = calloc(SW_HELD_MAX, sizeof(*sw->held));
	sw->full_pass = SW_PASS_FULL;
	sw->rxbuf = calloc(sw->batch + 1, sizeof(*sw->rxbuf)); /* from_nic */
	sw->txbuf = calloc(sw->batch, sizeof(*sw->txbuf));
	sw->nicbuf = calloc(sw->batch, sizeof(*sw->nicbuf));
	sw->cap.ring = calloc(SW_CAP_SLOTS, sizeof(*sw->cap.ring));
	if (!sw->vms || !sw->touched || !sw->rxbuf || !sw->txbuf || !sw->nicbuf ||
	    !sw->cap.ring || !sw->busy[0] || !sw->busy[1] || !sw->held)
		return -ENOMEM;
	err = fdb_init(&sw->fdb, CFG_MAX_VMS * 4);
	if (err)
		return err;
	err = pool_create(&sw->pool, &cfg->pool, CFG_MAX_VMS);
	if (err)
		return err;
	for (int i = 0; i < cfg->n_vms; i++) {
		err = vmport_create(&sw->vms[i], &cfg->vms[i], i, &sw->pool);
		if (err)
			return err;
		bell_gap_set(sw, &sw->vms[i]);
		sw->n_vms++;
		err = fdb_add(&sw->fdb, cfg->vms[i].mac, cfg->vms[i].vlan, i,
			      FDB_STATIC);
		if (err)
			return err;
	}
	for (int i = 0; i < cfg->n_ifaces; i++) {
		err = port_create(&sw->ports[i], &cfg->ifaces[i], i, &sw->pool);
		if (err)
			return err;
		sw->n_ports++;
		for (int v = 0; v < cfg->n_vms; v++) {
			if (cfg->vms[v].uplink != i)
				continue;
			err = port_mac_add(&sw->ports[i], cfg->vms[v].mac,
					   cfg->vms[v].vlan, (uint32_t)v);
			if (err) {
				log_err("%s: cannot add vm %s to the MAC map: %s",
					cfg->ifaces[i].name, cfg->vms[v].name,
					strerror(-err));
				return err;
			}
		}
		/* Fill rings full before the first frame arrives. */
		while (port_service(&sw->ports[i], &sw->pool, sw->batch))
			;
	}
	return 0;
}

int sw_start(struct sw *sw)
{
	for (int i = 0; i < sw->n_ports; i++) {
		int err = port_attach(&sw->ports[i]);

		if (err)
			return err;
	}
	return 0;
}

void sw_fini(struct sw *sw)
{
	for (int i = 0; i < sw->n_ports; i++)
		port_destroy(&sw->ports[i], &sw->pool);
	if (sw->pool.fd >= 0) {
		for (int i = 0; i < sw->n_vms; i++)
			sw->vms[i].st.reclaimed +=
				pool_reclaim(&sw->pool, sw->vms[i].owner);
		/* With the sockets closed the kernel holds no frame. */
		pool_reclaim(&sw->pool, POOL_OWN_FILL);
		pool_reclaim(&sw->pool, POOL_OWN_TX);
		/* Frames are scrubbed when used again: scrub what is left, so
		 * a pool file kept for the next switch holds no packet. */
		pool_scrub_all(&sw->pool);
		sw_report(sw);
	}
	for (int i = 0; i < sw->n_vms; i++) {
		/* Guests still attached keep the pool file too (see
		 * vmport_unmap). */
		if (sw->vms[i].attached && sw->pool.created) {
			log_info("pool: a guest is attached: keeping %s for the next switch",
				 sw->pool.path);
			sw->pool.created = false;
		}
		vmport_destroy(&sw->vms[i], &sw->pool);
	}
	if (sw->pool.umem)
		xsk_umem__delete(sw->pool.umem);
	sw->pool.umem = NULL;
	pool_destroy(&sw->pool);
	fdb_fini(&sw->fdb);
	free(sw->vms);
	free(sw->touched);
	free(sw->busy[0]);
	free(sw->busy[1]);
	free(sw->held);
	free(sw->rxbuf);
	free(sw->txbuf);
	free(sw->nicbuf);
	free(sw->cap.ring);
	sw->vms = NULL;
	if (sw->bell_fd >= 0)
		close(sw->bell_fd);
	if (sw->mail_fd >= 0)
		close(sw->mail_fd);
	sw->bell_fd = sw->mail_fd = -1;
}

static int fmt_drops(char *buf, size_t len, const char *const *names,
		     const uint64_t *v, int n)
{
	int off = 0;

	for (int i = 0; i < n && off < (int)len; i++)
		off += snprintf(buf + off, len - off, " %s=%llu", names[i],
				(unsigned long long)v[i]);
	return off;
}

uint64_t sw_packets_in(const struct sw *sw)
{
	uint64_t n = 0;

	for (int i = 0; i < sw->n_ports; i++)
		n += __atomic_load_n(&sw->ports[i].st.rx_packets,
				     __ATOMIC_RELAXED);
	for (int i = 0; i < sw->n_vms; i++)
		if (__atomic_load_n(&sw->vms[i].active, __ATOMIC_RELAXED))
			n += __atomic_load_n(&sw->vms[i].st.tx_packets,
					     __ATOMIC_RELAXED);
	return n;
}

void sw_report(struct sw *sw)
{
	struct pool *p = &sw->pool;
	char drops[512], msg[160], line[1024];
	uint64_t busy, all, in;
	int off;

	for (int i = 0; i < sw->n_ports; i++) {
		struct port *pt = &sw->ports[i];
		struct fs_xdp_counter xc[FS_XDP_NR_VERDICTS] = { 0 };
		struct xdp_statistics xs;

		port_xsk_stats(pt, &xs);
		if (pt->skel)
			port_xdp_counters(pt, xc);
		fmt_drops(drops, sizeof(drops), port_drop_names, pt->st.drops,
			  PORT_DROP_NR);
		off = 0;
		for (uint32_t q = 0; q < pt->n_queues && off < (int)sizeof(line); q++)
			off += snprintf(line + off, sizeof(line) - off, "%s%llu",
					q ? "/" : "",
					(unsigned long long)pt->q[q].rx_packets);
		log_info("port %s: rx %llu packets %llu bytes (multicast %llu, per queue %s), tx %llu packets %llu bytes, completed %llu; drops%s; xdp redirect=%llu pass_mcast=%llu pass_other=%llu pass_nosock=%llu pass_malformed=%llu; xsk rx_dropped=%llu rx_ring_full=%llu fill_ring_empty=%llu rx_invalid=%llu tx_invalid=%llu tx_ring_empty=%llu",
			 pt->cfg.name, (unsigned long long)pt->st.rx_packets,
			 (unsigned long long)pt->st.rx_bytes,
			 (unsigned long long)pt->st.mc_packets, line,
			 (unsigned long long)pt->st.tx_packets,
			 (unsigned long long)pt->st.tx_bytes,
			 (unsigned long long)pt->st.tx_completed, drops,
			 (unsigned long long)xc[FS_XDP_REDIRECT].packets,
			 (unsigned long long)xc[FS_XDP_PASS_MCAST].packets,
			 (unsigned long long)xc[FS_XDP_PASS_OTHER].packets,
			 (unsigned long long)xc[FS_XDP_PASS_NOSOCK].packets,
			 (unsigned long long)xc[FS_XDP_PASS_MALFORMED].packets,
			 (unsigned long long)xs.rx_dropped,
			 (unsigned long long)xs.rx_ring_full,
			 (unsigned long long)xs.rx_fill_ring_empty_descs,
			 (unsigned long long)xs.rx_invalid_descs,
			 (unsigned long long)xs.tx_invalid_descs,
			 (unsigned long long)xs.tx_ring_empty_descs);
	}
	for (int i = 0; i < sw->n_vms; i++) {
		struct vmport *v = &sw->vms[i];

		if (!v->active)
			continue;
		fmt_drops(drops, sizeof(drops), vm_drop_names, v->st.drops,
			  VM_DROP_NR);
		log_info("vm %s: %s%s, holds %u of %u; rx %llu packets %llu bytes, tx %llu packets %llu bytes, freed %llu, lent %llu, reclaimed %llu, guest timeouts %llu, doorbells rung %llu; drops%s",
			 v->cfg.name, v->attached ? "attached" : "detached",
			 __atomic_load_n(&v->db_live, __ATOMIC_RELAXED) ?
				 " on its doorbell" : "",
			 vmport_held(v, p), v->cfg.quota,
			 (unsigned long long)v->st.rx_packets,
			 (unsigned long long)v->st.rx_bytes,
			 (unsigned long long)v->st.tx_packets,
			 (unsigned long long)v->st.tx_bytes,
			 (unsigned long long)v->st.freed,
			 (unsigned long long)v->st.lent,
			 (unsigned long long)v->st.reclaimed,
			 (unsigned long long)v->st.timeouts,
			 (unsigned long long)v->st.irqs, drops);
	}
	fmt_drops(drops, sizeof(drops), sw_drop_names, sw->drops, SW_DROP_NR);
	log_info("switch: copies %llu, vm-to-vm %llu, slept %llu times (%llu woken by a doorbell), scrubbed %llu frames %llu bytes; drops%s",
		 (unsigned long long)sw->copies, (unsigned long long)sw->vm2vm,
		 (unsigned long long)sw->sleeps, (unsigned long long)sw->bells,
		 (unsigned long long)p->scrubbed_frames,
		 (unsigned long long)p->scrubbed_bytes, drops);
	busy = ticks_ns(&sw->ticks, sw->busy_ticks);
	all = busy + ticks_ns(&sw->ticks, sw->idle_ticks) +
	      ticks_ns(&sw->ticks, sw->sleep_ticks);
	in = sw_packets_in(sw);
	log_info("worker: busy %.1f %% of %.3f s, %.0f ns a packet taken in, %.1f packets a busy pass",
		 all ? 100.0 * (double)busy / (double)all : 0.0,
		 (double)all / 1e9, in ? (double)busy / (double)in : 0.0,
		 sw->busy_passes ? (double)in / (double)sw->busy_passes : 0.0);

	off = snprintf(line, sizeof(line), "fill %u, tx %u, switch %u",
		       p->count[POOL_OWN_FILL], p->count[POOL_OWN_TX],
		       p->count[POOL_OWN_SWITCH]);
	for (int i = 0; i < sw->n_vms && off < (int)sizeof(line); i++)
		if (sw->vms[i].active)
			off += snprintf(line + off, sizeof(line) - off, ", %s %u",
				sw->vms[i].cfg.name,
				p->count[sw->vms[i].owner]);
	pool_check(p, true, msg, sizeof(msg));
	log_info("frames: %s; total %u: %s", line, p->frames, msg);
}
