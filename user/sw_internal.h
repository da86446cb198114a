/* SPDX-License-Identifier: MIT */
/*
 * What the switch's own files share (switch.c, sw_pass.c, sw_chain.c,
 * sw_mail.c, sw_idle.c, sw_report.c) and its unit tests use; nothing else
 * includes it. Helpers the pass calls for each frame or VM are static
 * inline here: the pass makes no call for them.
 */
#ifndef FS_SW_INTERNAL_H
#define FS_SW_INTERNAL_H

#include "switch.h"

/* A VM's attach requests are acted on at most once this often: each takes
 * back what it holds, a walk of the pool's owner table, and a guest asking
 * again and again would have the worker do little else. */
#define SW_CTRL_GAP_US 1000

/* sw->full_pass. */
#define SW_PASS_SWEEP 1
#define SW_PASS_FULL 2

/* Entries of sw->touched. A VM is listed at its first frame since its
 * last flush (or reset), so at most twice a pass: before and after the
 * one reset of its rings it may have a pass (vmport_ctrl_act, on its
 * visit; vmport_check_alive and the mailbox's, which also take its
 * frames back, run before any frame is given). */
#define SW_TOUCHED_MAX (2 * CFG_MAX_VMS)

/* Room for the VMs whose doorbell is held: a VM is listed once
 * (bell_listed), its entry kept while held and dropped by sw_ring_held
 * once not; a slot whose VM left while listed may be listed again by the
 * VM added in it before sw_ring_held drops the old entry. */
#define SW_HELD_MAX (2 * CFG_MAX_VMS)

/* Room for the VMs whose bell is muted: once a VM (vmport_sw.muted), and
 * once more each for a slot reused while its old VM was listed. */
#define SW_MUTED_MAX (2 * CFG_MAX_VMS)

/* sw_idle.c: doorbell moderation. */
void sw_ring_sleeper(struct sw *sw, struct vmport *v, uint32_t n);
void sw_ring_held(struct sw *sw, bool all);

/* sw_idle.c: the guests' bells. SW_BELL_ADD puts VM v's bell into the
 * worker's sleeps (its guest connected to the doorbell), SW_BELL_DEL
 * takes it out (the guest left, or the VM). */
enum sw_bell_op { SW_BELL_ADD, SW_BELL_DEL };
void sw_bell_watch(struct sw *sw, struct vmport *v, enum sw_bell_op op);
/* After a sleep woken by bells: reads each VM's that rang and gives it
 * its quiet time (bell_rang). */
void sw_bells_read(struct sw *sw, uint64_t now);
/* Before a sleep: puts the bells whose quiet time is over (by sw->now)
 * back into the worker's sleeps; returns the ticks until the next one's
 * is (UINT64_MAX: none muted). */
uint64_t sw_bells_unmute(struct sw *sw);

/* Rings v's guest if it sleeps on its rings, after the switch published
 * n rx entries (or alloc entries, n = 0). One load for a guest with no
 * doorbell: the pass calls this for each VM it gave frames. */
static inline void sw_ring_guest(struct sw *sw, struct vmport *v, uint32_t n)
{
	if (__atomic_load_n(&v->db_live, __ATOMIC_RELAXED))
		sw_ring_sleeper(sw, v, n);
}

/* VM v's doorbell_usecs and doorbell_max_usecs in ticks. */
static inline void sw_bell_gap_set(struct sw *sw, struct vmport *v)
{
	uint32_t max = sw->cfg->doorbell_max_usecs;

	if (max < v->cfg.doorbell_usecs)
		max = v->cfg.doorbell_usecs;
	v->sw.bell_base = ticks_of_us(&sw->ticks, v->cfg.doorbell_usecs);
	v->sw.bell_max = ticks_of_us(&sw->ticks, max);
	v->sw.bell_gap = v->sw.bell_base;
	/* And its flood limit, by the same clock. */
	vmport_flood_set(v, v->cfg.flood_rate, v->cfg.flood_burst,
			 ticks_of_us(&sw->ticks, 1000000));
}

/* sw_run's step after a pass that moved `moved` frames, when naps are on
 * (max = max_sleep_usecs > 0): a nap, or none at half a batch. */
void sw_nap(struct sw *sw, uint32_t moved, uint32_t max);

/* sw_idle.c: the polling window ("adaptive") after an idle spell of
 * `spell` ticks, and the idle settings (worker, or before it runs). */
void sw_poll_adapt(struct sw *sw, uint64_t spell);
/* sw_idle.c: whether a guest that cannot ring moved frames within the
 * last SW_POLL_SLEEP_MS (at `now`): the worker polls on ("adaptive"). */
bool sw_polled_busy(struct sw *sw, uint64_t now);
void sw_idle_set(struct sw *sw, enum cfg_idle mode, uint32_t usecs);

/* sw_mail.c: the worker's side of the mailbox. */
void sw_mail_take(struct sw *sw);

/* At the start of a pass: acts on a request if one is posted (at most one
 * a pass). The load alone when none is. */
static inline void sw_mail_poll(struct sw *sw)
{
	if (__atomic_load_n(&sw->mail.state, __ATOMIC_RELAXED) ==
	    SW_MAIL_POSTED)
		sw_mail_take(sw);
}

/* Whether hand-offs take the slow path (to_vm_slow): copied, or captured. */
static inline void sw_set_slow(struct sw *sw)
{
	sw->slow = sw->handoff_copy || sw->cap.nic >= 0 || sw->cap.vm >= 0;
}

/* sw_pass.c, for sw_chain.c: a frame of pool `from` copied into a new
 * frame of pool `to` (its address, or UINT64_MAX with the reason
 * counted); a packet in m pieces for the capture; a source MAC among VM
 * v's allowed_macs. */
uint64_t sw_copy_frame(struct sw *sw, struct pool *to, const struct pool *from,
		      uint64_t addr, uint32_t len);
void sw_cap_put(struct sw *sw, const struct pool *p, const struct fs_desc *c,
		uint32_t m, uint32_t dir);
bool sw_src_allowed(const struct vmport *v, const uint8_t *src);

/* VM v was just given n > 0 frames: listed for the flush if they are its
 * first since the last (see SW_TOUCHED_MAX). Its index from its place in
 * the array, not v->index: a hand-off reads the port's first line alone. */
static inline void sw_touch(struct sw *sw, struct vmport *v, uint32_t n)
{
	if (v->rx_unflushed == n)
		sw->touched[sw->n_touched++] = (uint16_t)(v - sw->vms);
}

/* Writes the Ethernet header of a frame for the wire into o (a header
 * slot): h's MACs, vlan's tag (0: none), h's type. Untagged, the header
 * goes as one copy of fixed size, which the compiler makes two moves;
 * only a tagged one is put together byte by byte. */
static inline void sw_hdr_write(unsigned char *o, const uint8_t *h,
				uint16_t vlan)
{
	if (!vlan) {
		memcpy(o, h, FS_ETH_HLEN);
		return;
	}
	memcpy(o, h, 12);
	o[12] = 0x81;
	o[13] = 0x00;
	o[14] = (uint8_t)(vlan >> 8);
	o[15] = (uint8_t)vlan;
	o[16] = h[12];
	o[17] = h[13];
}

/* Whether VM v is one that a group frame on `vlan` from VM from_vm (or,
 * when from_port >= 0, from that port) is flooded to. */
static inline bool sw_flood_to(const struct vmport *v, int i, uint16_t vlan,
			       int from_vm, int from_port)
{
	return v->attached && i != from_vm && v->cfg.vlan == vlan &&
	       (from_port < 0 || v->uplink == from_port);
}

/* A VLAN tag on a frame from a NIC (d: its first bytes, *addr, *len):
 * removed in place, as access ports see frames, and its VLAN returned;
 * 0 for an untagged frame. */
static inline uint16_t sw_nic_untag(unsigned char **d, uint64_t *addr,
				    uint32_t *len)
{
	unsigned char macs[12], *b = *d;
	uint16_t vlan;

	if (!(b[12] == 0x81 && b[13] == 0x00 && *len >= FS_ETH_HLEN + 4))
		return 0;
	vlan = ((b[14] << 8) | b[15]) & 0x0fff;
	/* Drop the tag in place by moving the MACs 4 bytes on (and zero the
	 * 4 bytes left before them). */
	memcpy(macs, b, 12);
	memset(b, 0, 4);
	memcpy(b + 4, macs, 12);
	*addr += 4;
	*len -= 4;
	*d = b + 4;
	return vlan;
}

/* Whether a group frame (d) carries a tag left after sw_nic_untag: an S-tag
 * or one inside the 802.1Q tag is another network's, for no access port.
 * (Unicast with one the XDP program passes to the host.) */
static inline bool sw_other_tag(const unsigned char *d)
{
	return (d[12] == 0x81 && d[13] == 0x00) ||
	       (d[12] == 0x88 && d[13] == 0xa8) ||
	       (d[12] == 0x91 && d[13] == 0x00);
}

/*
 * Port security, on the switch's copy h of a frame's header from VM v:
 * its source must be the VM's MAC or one of its allowed_macs (libvirt's
 * no-mac-spoofing, OVS port security), and it must carry no VLAN tag of
 * its own (an access port's tag is the switch's to push; an untagged
 * port's guest would otherwise reach any VLAN of the wire). Returns
 * false, the reason counted, for a frame to drop.
 */
static inline bool sw_from_vm_allowed(struct vmport *v, const uint8_t *h)
{
	if (__builtin_expect(memcmp(h + 6, v->cfg.mac, 6) != 0, 0) &&
	    !sw_src_allowed(v, h + 6)) {
		v->st.drops[VM_DROP_SPOOFED]++;
		return false;
	}
	if (__builtin_expect((h[12] == 0x81 && h[13] == 0x00) ||
			     (h[12] == 0x88 && h[13] == 0xa8) ||
			     (h[12] == 0x91 && h[13] == 0x00), 0)) {
		v->st.drops[VM_DROP_TAGGED]++;
		return false;
	}
	return true;
}

/* sw_chain.c, for the pass: packets of several frames. */
uint32_t sw_nic_gather(struct sw *sw, struct port *pt, struct pool *p,
		       uint32_t qi, uint32_t idx, uint32_t i, uint32_t n);
const struct port_frame *sw_from_nic_chain(struct sw *sw, struct port *pt,
					   struct pool *p,
					   const struct port_frame *e);
uint32_t sw_from_vm_chain(struct sw *sw, struct vmport *v,
			  const struct fs_desc *c, uint32_t m,
			  struct pool *tp, struct port_txf *out, uint32_t k);

#endif /* FS_SW_INTERNAL_H */
