// SPDX-License-Identifier: MIT
/*
 * The worker's pass (user/sw_pass.c, sw_poll_once) with 64 VMs: a NIC queue
 * served by hand (tests/support/fakenic.h) and 64 guests of the guest
 * library on real pool and ring files, all in this thread. One pass at a
 * time, it checks when the switch looks at which VM:
 *
 *   - every frame reaches its VM at once, and every frame a guest gives
 *     back is taken back, with no drop and no frame lost (pool_check);
 *   - frames given back wait for their VM's turn in the sweep, and for 16
 *     of them or the VM's 16th turn, unless the VM holds half its quota
 *     or the pool runs low: then the next pass;
 *   - a guest that sends is found on its turn, and while it keeps sending
 *     its sends leave the next pass;
 *   - the group socket (broadcast, multicast) is read every 16 passes, and
 *     every pass while it has frames.
 *
 * And the NIC fast path (nic_rx): a batch of runs to different VMs mixed
 * with group, tagged, unknown and runt frames reaches each VM in order
 * with its counts right; a burst that meets the quota mid-way stops there;
 * the rx room kept open from pass to pass gives way to alloc refills.
 *
 * And doorbell moderation (doorbell_usecs): a sleeping guest is rung at
 * once, then at most once an interval, or when the frames waiting for it
 * reach half of what it can be given; never when awake. A guest's rings
 * to the switch are coalesced: its bell unheard for doorbell_usecs after
 * a wake-up, longer (up to 1 ms) while its rings bring no work.
 *
 * And the uplink's MTU: a guest's frame for the wire longer than it (+ 14)
 * is dropped and counted too_big, one at it leaves (tagged, 4 more); a
 * new MTU holds at once and reaches every ring header the next pass.
 *
 * And what guests and the wire may do to the switch: a guest asleep on
 * its doorbell while it sends and receives is listed once for its held
 * ring; a guest's attach requests are acted on at most every
 * SW_CTRL_GAP_US; a whole frame a guest floods (offset 0, frame_size
 * bytes) is copied for each VM into a frame of its own, and no copy is
 * made for a VM with no room, and a VM flooding past its flood_rate has
 * the rest dropped (flood_limited); group frames with another network's tags
 * reach no VM; on a switch of CFG_MAX_VMS VMs, a pass that gives every VM
 * a frame, resets each and gives it another leaves the flush's list
 * holding them all. And the mailbox: a request the worker did not take
 * in time is withdrawn.
 *
 * And shared files cut short (shmguard.h): a VM's ring region truncated
 * takes that VM out, its frames back; the pool truncated stops the
 * worker, leaving the files. And a doorbell peer's hang-up lets its
 * guest go in the next pass.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakenic.h"
#include "sw_internal.h"
#include "testutil.h"

#define N_VMS 64u
#define QUOTA 256u
#define PKT_LEN 60u

static const uint8_t nic_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static unsigned int rig_seq;

struct rig {
	struct cfg cfg;
	struct sw sw;
	struct fsg g[N_VMS];
	struct fake_nic nic;
	uint64_t got[N_VMS]; /* frames each guest received */
};

static void rig_files_remove(struct rig *r)
{
	unlink(r->cfg.pool.path);
	for (uint32_t v = 0; v < N_VMS; v++)
		unlink(r->cfg.vms[v].rings);
}

/* A switch with N_VMS attached guests on a pool of `frames`, and a few
 * idle passes behind it; the last VM on VLAN last_vlan (0: none), and
 * doorbells moderated to doorbell_usecs. */
static struct rig *rig_up_cfg(uint32_t frames, uint16_t last_vlan,
			      uint32_t doorbell_usecs)
{
	struct rig *r = calloc(1, sizeof(*r));
	char err[256];
	unsigned int seq = rig_seq++;

	assert_non_null(r);
	snprintf(r->cfg.pool.path, sizeof(r->cfg.pool.path),
		 "/dev/shm/fs-test-switch-%d-%u-pool", (int)getpid(), seq);
	r->cfg.pool.frames = frames;
	r->cfg.pool.frame_size = 2048;
	r->cfg.pool.scrub = CFG_SCRUB_USED;
	r->cfg.n_vms = (int)N_VMS;
	r->cfg.batch = 64;
	for (uint32_t v = 0; v < N_VMS; v++) {
		struct cfg_vm *vm = &r->cfg.vms[v];

		snprintf(vm->name, sizeof(vm->name), "vm%u", v);
		memcpy(vm->mac, (uint8_t[]){ 0x52, 0x54, 0, 0, 0, (uint8_t)v }, 6);
		snprintf(vm->rings, sizeof(vm->rings),
			 "/dev/shm/fs-test-switch-%d-%u-vm%u", (int)getpid(),
			 seq, v);
		vm->quota = QUOTA;
		vm->ring_size = QUOTA;
		vm->doorbell_usecs = doorbell_usecs;
	}
	r->cfg.vms[N_VMS - 1].vlan = last_vlan;
	r->cfg.doorbell_usecs = doorbell_usecs;
	quiet();
	if (sw_init(&r->sw, &r->cfg)) {
		unquiet();
		fail_msg("sw_init failed");
	}
	for (uint32_t v = 0; v < N_VMS; v++)
		if (fsg_open(&r->g[v], r->cfg.pool.path, r->cfg.vms[v].rings,
			     err, sizeof(err))) {
			unquiet();
			fail_msg("fsg_open: %s", err);
		}
	if (fake_attach_guests(&r->sw, r->g, N_VMS)) {
		unquiet();
		fail_msg("the guests did not attach");
	}
	unquiet();
	fake_nic_attach(&r->nic, &r->sw);
	for (int i = 0; i < 2 * (int)N_VMS; i++)
		sw_poll_once(&r->sw);
	return r;
}

static struct rig *rig_up_vlan(uint32_t frames, uint16_t last_vlan)
{
	return rig_up_cfg(frames, last_vlan, 0);
}

static struct rig *rig_up(uint32_t frames)
{
	return rig_up_cfg(frames, 0, 0);
}

static void rig_down(struct rig *r)
{
	char msg[256];

	assert_int_equal(pool_check(&r->sw.pool, true, msg, sizeof(msg)), 0);
	for (uint32_t i = 0; i < SW_DROP_NR; i++)
		assert_int_equal(r->sw.drops[i], 0);
	for (uint32_t v = 0; v < N_VMS; v++)
		for (uint32_t i = 0; i < VM_DROP_NR; i++)
			assert_int_equal(r->sw.vms[v].st.drops[i], 0);
	quiet();
	for (uint32_t v = 0; v < N_VMS; v++)
		fsg_close(&r->g[v]);
	sw_fini(&r->sw);
	unquiet();
	rig_files_remove(r);
	free(r);
}

/* n frames from the NIC to VM v, in one burst. */
static void nic_to(struct rig *r, uint32_t v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(fake_nic_put(&r->nic, &r->sw.pool,
					      r->cfg.vms[v].mac, nic_mac,
					      PKT_LEN), 0);
	fake_nic_post(&r->nic);
}

/* Passes for every VM's turn in the sweep to come round (SW_SWEEP_VMS a
 * pass), and for frames given back to be taken: on a VM's turn once 16
 * wait, or on its 16th turn that found some (SW_DRAIN_MIN). */
#define SWEEP_PASSES (N_VMS / 4)
#define RECLAIM_PASSES (SWEEP_PASSES * 17)

/* Passes with no traffic: every frame given back is taken back. */
static void settle(struct rig *r)
{
	for (uint32_t i = 0; i < RECLAIM_PASSES; i++)
		sw_poll_once(&r->sw);
}

/* Every guest takes what it was given and gives it back. */
static void guests_return(struct rig *r)
{
	struct fs_desc d[64];
	uint32_t n;

	for (uint32_t v = 0; v < N_VMS; v++) {
		while ((n = fsg_rx(&r->g[v], d, 64))) {
			for (uint32_t i = 0; i < n; i++)
				assert_int_equal(fsg_free(&r->g[v], d[i].addr), 0);
			r->got[v] += n;
		}
		fsg_flush(&r->g[v]);
	}
}

/* Frames VM v was given that the switch has not taken back. */
static uint64_t unreclaimed(const struct rig *r, uint32_t v)
{
	return r->sw.vms[v].st.rx_packets - r->sw.vms[v].st.freed;
}

/* The VM half a sweep ahead of the sweep's next VM: its turn is N_VMS / 2
 * / SW_SWEEP_VMS passes away, far from this pass and the next. */
static uint32_t vm_far_from_turn(const struct rig *r)
{
	return (r->sw.sweep + N_VMS / 2) % N_VMS;
}

static void test_fanout_delivered_and_reclaimed(void **state)
{
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	uint32_t seq = 0;

	(void)state;
	for (int round = 0; round < 32; round++) {
		for (uint32_t i = 0; i < 64; i++)
			assert_int_equal(fake_nic_put(&r->nic, &r->sw.pool,
						      r->cfg.vms[seq++ % N_VMS].mac,
						      nic_mac, PKT_LEN), 0);
		fake_nic_post(&r->nic);
		sw_poll_once(&r->sw);
		guests_return(r);
	}
	for (uint32_t v = 0; v < N_VMS; v++)
		assert_int_equal(r->got[v], 32);
	/* Passes with no traffic take every frame back. */
	settle(r);
	for (uint32_t v = 0; v < N_VMS; v++) {
		assert_int_equal(r->sw.vms[v].st.rx_packets, 32);
		assert_int_equal(unreclaimed(r, v), 0);
	}
	rig_down(r);
}

static void test_returned_frame_waits_for_turn(void **state)
{
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	uint32_t v = vm_far_from_turn(r), passes;

	(void)state;
	nic_to(r, v, 1);
	sw_poll_once(&r->sw);
	guests_return(r);
	assert_int_equal(r->got[v], 1); /* delivered at once */
	sw_poll_once(&r->sw);
	assert_int_equal(unreclaimed(r, v), 1); /* not drained for one frame */
	/* Nor on its next turn, one frame being all that waits... */
	for (passes = 0; passes < SWEEP_PASSES; passes++)
		sw_poll_once(&r->sw);
	assert_int_equal(unreclaimed(r, v), 1);
	/* ...but within 16 turns. */
	for (passes = 0; unreclaimed(r, v) && passes < RECLAIM_PASSES; passes++)
		sw_poll_once(&r->sw);
	assert_int_equal(unreclaimed(r, v), 0);
	assert_true(passes > 13 * SWEEP_PASSES);
	/* 16 frames given back are taken on the VM's next turn. */
	nic_to(r, v, 16);
	sw_poll_once(&r->sw);
	guests_return(r);
	for (passes = 0; unreclaimed(r, v) && passes < SWEEP_PASSES; passes++)
		sw_poll_once(&r->sw);
	assert_int_equal(unreclaimed(r, v), 0);
	rig_down(r);
}

static void test_pool_low_reclaims_next_pass(void **state)
{
	/* The alloc rings (QUOTA / 4 each) and the fill ring leave fewer
	 * than a quarter of these free. */
	struct rig *r = rig_up(N_VMS * QUOTA / 4 + FAKE_NIC_RING + 512);
	uint32_t v = vm_far_from_turn(r);

	(void)state;
	assert_true(r->sw.pool.n_free < r->sw.pool.frames / 4);
	nic_to(r, v, 1);
	sw_poll_once(&r->sw);
	guests_return(r);
	assert_int_equal(r->got[v], 1);
	sw_poll_once(&r->sw);
	assert_int_equal(unreclaimed(r, v), 0);
	rig_down(r);
}

static void test_half_quota_reclaims_next_pass(void **state)
{
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	uint32_t v = vm_far_from_turn(r);

	(void)state;
	/* With its alloc ring (QUOTA / 4), it holds QUOTA / 2. */
	nic_to(r, v, QUOTA / 4);
	sw_poll_once(&r->sw);
	guests_return(r);
	assert_int_equal(r->got[v], QUOTA / 4);
	sw_poll_once(&r->sw);
	assert_int_equal(unreclaimed(r, v), 0);
	rig_down(r);
}

/* The Ethernet header of VM v's frames to a MAC no VM has, at h. */
static void wire_header(const struct rig *r, uint32_t v, uint8_t *h)
{
	memcpy(h, (uint8_t[]){ 0x02, 0, 0, 0, 0, 0x99 }, 6);
	memcpy(h + 6, r->cfg.vms[v].mac, 6);
	h[12] = 0x08;
	h[13] = 0x00;
}

/* VM v's guest sends up to n frames to dst, numbered from *seq on in
 * their first payload bytes; returns how many (what its alloc ring had). */
static uint32_t guest_send_to(struct rig *r, uint32_t v, uint32_t n,
			      const uint8_t dst[6], uint32_t *seq)
{
	struct fsg *g = &r->g[v];
	uint32_t k;

	for (k = 0; k < n; k++) {
		uint64_t addr = fsg_alloc(g);
		uint8_t *h;

		if (addr == UINT64_MAX)
			break;
		addr += g->headroom;
		h = fsg_data(g, addr);
		memcpy(h, dst, 6);
		memcpy(h + 6, r->cfg.vms[v].mac, 6);
		h[12] = 0x08;
		h[13] = 0x00;
		memcpy(h + 14, seq, 4);
		(*seq)++;
		assert_int_equal(fsg_tx(g, addr, PKT_LEN), 0);
	}
	fsg_flush(g);
	return k;
}

/* The same to the wire (a MAC no VM has). */
static uint32_t guest_send_seq(struct rig *r, uint32_t v, uint32_t n,
			       uint32_t *seq)
{
	return guest_send_to(r, v, n, (uint8_t[]){ 0x02, 0, 0, 0, 0, 0x99 },
			     seq);
}

/* VM v's guest sends one frame of len bytes: dst, src, then type (a
 * 16-bit ethertype, big-endian on the wire) and a byte tag after it.
 * Returns its address. */
static uint64_t guest_send_frame(struct rig *r, uint32_t v,
				 const uint8_t dst[6], const uint8_t src[6],
				 uint16_t type, uint8_t tag, uint32_t len)
{
	struct fsg *g = &r->g[v];
	uint64_t addr = fsg_alloc(g);
	uint8_t *h;

	assert_true(addr != UINT64_MAX);
	addr += g->headroom;
	h = fsg_data(g, addr);
	memcpy(h, dst, 6);
	memcpy(h + 6, src, 6);
	h[12] = (uint8_t)(type >> 8);
	h[13] = (uint8_t)type;
	memset(h + 14, tag, len - 14);
	assert_int_equal(fsg_tx(g, addr, len), 0);
	fsg_flush(g);
	return addr;
}

/* The next frame on the NIC's tx ring, from entry *i on (advanced past
 * it), its descriptors' bytes joined in out[]: a frame of several
 * descriptors has XDP_PKT_CONTD on all but its last. Returns its length. */
static uint32_t wire_frame(struct rig *r, uint32_t *i, uint8_t *out)
{
	struct fake_nic *n = &r->nic;
	uint32_t len = 0;
	const struct xdp_desc *d;

	do {
		assert_true(*i != n->tx.producer);
		d = &n->tx.desc[(*i)++ & (FAKE_NIC_RING - 1)];
		assert_true(len + d->len <= 4096);
		memcpy(out + len, pool_data(&r->sw.pool, d->addr), d->len);
		len += d->len;
	} while (d->options & XDP_PKT_CONTD);
	return len;
}

/* VM v's guest sends a frame to a MAC no VM has: out the NIC. */
static void guest_send(struct rig *r, uint32_t v)
{
	uint32_t seq = 0;

	assert_int_equal(guest_send_seq(r, v, 1, &seq), 1);
}

static void test_sender_found_then_served_every_pass(void **state)
{
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	uint32_t v = vm_far_from_turn(r), passes, sent = 0;

	(void)state;
	guest_send(r, v);
	for (passes = 1; passes <= N_VMS; passes++) {
		sw_poll_once(&r->sw);
		if ((sent = fake_nic_transmit(&r->nic)))
			break;
	}
	assert_int_equal(sent, 1);
	assert_true(passes > 2); /* on its turn, within N_VMS / 4 passes */
	assert_true(passes <= N_VMS / 4);
	/* While it sends now and then, each send leaves the next pass, turn
	 * or not. */
	for (int round = 0; round < 8; round++) {
		for (int i = 0; i < 100; i++)
			sw_poll_once(&r->sw);
		while ((v - r->sw.sweep) % N_VMS < 4 * 2)
			sw_poll_once(&r->sw);
		guest_send(r, v);
		sw_poll_once(&r->sw);
		assert_int_equal(fake_nic_transmit(&r->nic), 1);
	}
	settle(r);
	assert_int_equal(r->sw.ports[0].st.tx_packets, 9);
	rig_down(r);
}

/* The frames on the NIC's tx ring, not yet sent: each from VM vm[0] or
 * vm[1] (by its source MAC), tagged with that VM's vlan[] if not 0, and
 * numbered next[] on, in order, for each; advances next[]. */
static uint32_t check_wire(struct rig *r, const uint32_t vm[2],
			   const uint16_t vlan[2], uint32_t next[2])
{
	struct fake_nic *n = &r->nic;
	uint32_t k = n->tx.producer - n->tx.consumer;

	for (uint32_t i = 0; i < k; i++) {
		const struct xdp_desc *d =
			&n->tx.desc[(n->tx.consumer + i) & (FAKE_NIC_RING - 1)];
		const uint8_t *h = pool_data(&r->sw.pool, d->addr);
		uint32_t w = !memcmp(h + 6, r->cfg.vms[vm[1]].mac, 6);
		uint32_t tag = vlan[w] ? 4 : 0, seq;

		assert_memory_equal(h + 6, r->cfg.vms[vm[w]].mac, 6);
		assert_int_equal(d->len, PKT_LEN + tag);
		if (vlan[w]) {
			assert_int_equal(h[12], 0x81);
			assert_int_equal(h[13], 0x00);
			assert_int_equal(((h[14] << 8) | h[15]) & 0xfff, vlan[w]);
		}
		memcpy(&seq, h + 14 + tag, 4);
		assert_int_equal(seq, next[w]++);
	}
	return k;
}

/* Two guests' frames for the wire (put on the tx ring a burst a visit,
 * port_tx_burst) leave each in its order, one VM's tagged with its access
 * VLAN; when the NIC's tx ring is full, the frames it has no room for are
 * dropped, counted, and back in the pool (rig_down's check). */
static void test_guest_frames_to_wire(void **state)
{
	struct rig *r = rig_up_cfg(8192 + QUOTA * N_VMS, 10, 0);
	uint32_t seq[2] = { 0, 0 }, next[2] = { 0, 0 }, vm[2] = { 0, N_VMS - 1 };
	const uint16_t vlan[2] = { 0, 10 };
	uint32_t queued = 0, sent, i;
	struct port *pt = &r->sw.ports[0];

	(void)state;
	settle(r);
	/* Each guest sends 3 x its alloc ring's stock; the switch takes them
	 * (the senders are served every pass once found), the NIC sends them. */
	for (int round = 0; round < 3; round++) {
		for (i = 0; i < 2; i++) {
			sent = guest_send_seq(r, vm[i], 64, &seq[i]);
			assert_int_equal(sent, QUOTA / 4);
		}
		for (int pass = 0; pass < (int)N_VMS; pass++)
			sw_poll_once(&r->sw);
		sent = check_wire(r, vm, vlan, next);
		assert_int_equal(fake_nic_transmit(&r->nic), sent);
	}
	assert_int_equal(next[0], 3 * QUOTA / 4);
	assert_int_equal(next[1], 3 * QUOTA / 4);
	assert_int_equal(pt->st.tx_packets, 6 * QUOTA / 4);
	/* Now the NIC sends nothing: its tx ring fills, and what does not
	 * fit is dropped. */
	while (queued < FAKE_NIC_RING + QUOTA / 4) {
		sent = guest_send_seq(r, vm[0], 64, &seq[0]);
		assert_int_equal(sent, QUOTA / 4);
		queued += sent;
		for (int pass = 0; pass < 8; pass++)
			sw_poll_once(&r->sw);
	}
	assert_int_equal(check_wire(r, vm, vlan, next), FAKE_NIC_RING);
	assert_int_equal(pt->st.drops[PORT_DROP_TX_FULL], QUOTA / 4);
	assert_int_equal(pt->st.tx_packets, 6 * QUOTA / 4 + FAKE_NIC_RING);
	/* Sent at last; every frame comes back. */
	assert_int_equal(fake_nic_transmit(&r->nic), FAKE_NIC_RING);
	settle(r);
	assert_int_equal(r->sw.pool.count[POOL_OWN_TX], 0);
	rig_down(r);
}

/* VM v's guest sends one frame of len bytes to a MAC no VM has. */
static void guest_send_len(struct rig *r, uint32_t v, uint32_t len)
{
	struct fsg *g = &r->g[v];
	uint64_t addr = fsg_alloc(g);

	assert_true(addr != UINT64_MAX);
	addr += g->headroom;
	wire_header(r, v, fsg_data(g, addr));
	assert_int_equal(fsg_tx(g, addr, len), 0);
	fsg_flush(g);
}

/* The length of the one frame on the NIC's tx ring (0: none), sent. */
static uint32_t wire_len(struct rig *r)
{
	struct fake_nic *n = &r->nic;
	uint32_t k = n->tx.consumer, len = 0;
	uint8_t f[4096];

	if (k != n->tx.producer)
		len = wire_frame(r, &k, f);
	assert_int_equal(k, n->tx.producer);
	fake_nic_transmit(n);
	return len;
}

/* Frames for the wire longer than the uplink's MTU + 14 are dropped and
 * counted too_big, those at it leave (a VLAN VM's with its tag, 4 bytes
 * more); a new MTU holds from the next frame, and every VM's ring header
 * has it after the next pass. */
static void test_too_big_never_sent(void **state)
{
	struct rig *r = rig_up_cfg(8192 + QUOTA * N_VMS, 10, 0);
	struct port *pt = &r->sw.ports[0];
	const struct {
		uint32_t vm, mtu, len, wire; /* wire 0: dropped */
	} cases[] = {
		{ 0, 1500, 1514, 1514 },
		{ 0, 1500, 1515, 0 },
		{ N_VMS - 1, 1500, 1514, 1518 },
		{ N_VMS - 1, 1500, 1515, 0 },
		{ 0, 1400, 1415, 0 },
		{ 0, 1400, 1414, 1414 },
		{ N_VMS - 1, 1400, 1414, 1418 },
		{ 0, 9000, 1786, 1786 }, /* a whole frame after its headroom */
	};
	uint64_t drops = 0;

	(void)state;
	assert_int_equal(fsg_uplink_mtu(&r->g[0]), 1500);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (pt->mtu != cases[i].mtu) {
			sw_mtu_set(&r->sw, 0, cases[i].mtu);
			sw_poll_once(&r->sw);
			for (uint32_t v = 0; v < N_VMS; v++)
				assert_int_equal(fsg_uplink_mtu(&r->g[v]),
						 cases[i].mtu);
		}
		guest_send_len(r, cases[i].vm, cases[i].len);
		for (uint32_t pass = 0; pass < N_VMS; pass++)
			sw_poll_once(&r->sw);
		assert_int_equal(wire_len(r), cases[i].wire);
		drops += !cases[i].wire;
		assert_int_equal(pt->st.drops[PORT_DROP_TOO_BIG], drops);
	}
	settle(r);
	rig_down(r);
}

/*
 * Port security: a guest's frames go anywhere only with its own source
 * MAC or one of its allowed_macs, and with no VLAN tag of their own. The
 * others, to the wire, to another VM or to all, are dropped, counted
 * (spoofed, tagged) and back in the pool; none reaches the wire or a VM.
 */
static void test_spoofed_frames_dropped(void **state)
{
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	static const uint8_t wire[6] = { 0x02, 0, 0, 0, 0, 0x99 };
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t extra[6] = { 0x52, 0x54, 0, 0, 0xaa, 0x01 };
	struct vmport *v0 = &r->sw.vms[0];
	const uint8_t *own = r->cfg.vms[0].mac, *other = r->cfg.vms[1].mac;
	uint8_t f[4096];
	uint32_t i, len, k, from_own = 0, from_extra = 0;

	(void)state;
	memcpy(v0->cfg.allowed_macs[0], extra, 6);
	v0->cfg.n_allowed_macs = 1;
	settle(r);
	/* Another VM's source: to the wire, to a VM, to all. */
	for (i = 0; i < 4; i++)
		guest_send_frame(r, 0, wire, other, 0x0800, 1, PKT_LEN);
	guest_send_frame(r, 0, r->cfg.vms[2].mac, other, 0x0800, 2, PKT_LEN);
	guest_send_frame(r, 0, bcast, other, 0x0806, 3, PKT_LEN);
	/* A source no VM has. */
	guest_send_frame(r, 0, wire, (uint8_t[]){ 0x02, 1, 2, 3, 4, 5 },
			 0x0800, 4, PKT_LEN);
	/* Its own and its allowed one: these leave. */
	guest_send_frame(r, 0, wire, own, 0x0800, 5, PKT_LEN);
	guest_send_frame(r, 0, wire, extra, 0x0800, 6, 1000);
	guest_send_frame(r, 0, wire, own, 0x0800, 7, 1500);
	/* Its own source, but a tag of its own (or an S-tag). */
	guest_send_frame(r, 0, wire, own, 0x8100, 8, PKT_LEN);
	guest_send_frame(r, 0, bcast, own, 0x88a8, 9, PKT_LEN);
	for (int pass = 0; pass < (int)N_VMS; pass++)
		sw_poll_once(&r->sw);
	assert_int_equal(v0->st.drops[VM_DROP_SPOOFED], 7);
	assert_int_equal(v0->st.drops[VM_DROP_TAGGED], 2);
	assert_int_equal(r->sw.vms[2].st.rx_packets, 0);
	for (i = 1; i < N_VMS; i++)
		assert_int_equal(r->sw.vms[i].st.rx_packets, 0);
	assert_int_equal(r->sw.vm2vm, 0);
	k = r->nic.tx.consumer;
	for (i = 0; i < 3; i++) {
		len = wire_frame(r, &k, f);
		assert_memory_equal(f, wire, 6);
		if (!memcmp(f + 6, own, 6))
			from_own++;
		else if (!memcmp(f + 6, extra, 6) && len == 1000 && f[14] == 6)
			from_extra++;
		else
			fail_msg("a frame left with a source not its own");
		assert_int_equal(f[12], 0x08);
		assert_int_equal(f[13], 0x00);
	}
	assert_int_equal(k, r->nic.tx.producer);
	assert_int_equal(from_own, 2);
	assert_int_equal(from_extra, 1);
	assert_int_equal(r->sw.ports[0].st.tx_packets, 3);
	fake_nic_transmit(&r->nic);
	settle(r);
	/* Every frame is back: none was lost with the drops. */
	v0->st.drops[VM_DROP_SPOOFED] = v0->st.drops[VM_DROP_TAGGED] = 0;
	rig_down(r);
}

/* The frames for the wire a guest wrote (untagged VM 0 and VM N_VMS - 1
 * on VLAN 10; 60 and 1000 bytes) are on the NIC's tx ring; then each
 * guest writes another destination, source, tag and type over every one
 * of them, where they were and where a tag pushed in place would have
 * put them. The wire still carries each as the switch decided it: the
 * header comes from the UMEM's private tail, the rest from the guest's
 * frame (a long one chained, XDP_PKT_CONTD; a short one copied whole and
 * its frame back in the pool at once). Without multi-buffer (sg false)
 * every frame is copied whole into a slot of a frame's size, and one too
 * long for its tag is dropped. Every slot comes back with the
 * completions. */
static void wire_header_private(bool sg)
{
	struct rig *r = rig_up_cfg(8192 + QUOTA * N_VMS, 10, 0);
	static const uint8_t wire[6] = { 0x02, 0, 0, 0, 0, 0x99 };
	static const uint32_t lens[2] = { 60, 1000 };
	const uint32_t vm[2] = { 0, N_VMS - 1 };
	struct txhdr *t = &r->sw.pool.txh;
	uint64_t addr[2][2];
	uint8_t f[4096];
	uint32_t k, len;

	if (!sg)
		txhdr_carve(t, false, r->sw.pool.frame_size);
	settle(r);
	for (int w = 0; w < 2; w++)
		for (int l = 0; l < 2; l++)
			addr[w][l] = guest_send_frame(r, vm[w], wire,
						      r->cfg.vms[vm[w]].mac,
						      0x0800, (uint8_t)(w * 2 + l),
						      lens[l]);
	for (int pass = 0; pass < (int)N_VMS; pass++)
		sw_poll_once(&r->sw);
	/* Chained frames hold their pool frame until sent; whole ones not. */
	assert_int_equal(r->sw.pool.count[POOL_OWN_TX], sg ? 2 : 0);
	assert_int_equal(t->n - t->n_free, 4);
	for (int w = 0; w < 2; w++)
		for (int l = 0; l < 2; l++)
			memset(pool_data(&r->sw.pool, addr[w][l] - 4), 0xee, 22);
	k = r->nic.tx.consumer;
	for (int seen = 0; seen < 4; seen++) {
		const struct xdp_desc *d = &r->nic.tx.desc[k & (FAKE_NIC_RING - 1)];
		/* Whose (the tag says: the source is checked below) and which
		 * length. */
		const int w = ((uint8_t *)pool_data(&r->sw.pool, d->addr))[12] == 0x81;
		const uint32_t tag = w ? 4 : 0;
		const int l = d->len > 64 + tag || (d->options & XDP_PKT_CONTD);

		{
			/* The header from the tail, the rest chained or not. */
			assert_true(d->addr >= r->sw.pool.size);
			if (sg && l) {
				assert_int_equal(d->len, 14 + tag);
				assert_int_equal(d->options, XDP_PKT_CONTD);
				assert_int_equal(d[1].addr, addr[w][l] + 14);
			} else {
				assert_int_equal(d->len, lens[l] + tag);
				assert_int_equal(d->options, 0);
			}
			len = wire_frame(r, &k, f);
			assert_int_equal(len, lens[l] + tag);
			assert_memory_equal(f, wire, 6);
			assert_memory_equal(f + 6, r->cfg.vms[vm[w]].mac, 6);
			if (w)
				assert_memory_equal(f + 12,
						    ((uint8_t[]){ 0x81, 0, 0, 10 }), 4);
			assert_int_equal(f[12 + tag], 0x08);
			assert_int_equal(f[13 + tag], 0x00);
			/* The rest: what the guest wrote, but where it wrote
			 * over a chained frame's first bytes after it. */
			for (uint32_t i = 14 + tag + (sg && l ? 4 : 0); i < len; i++)
				assert_int_equal(f[i], w * 2 + l);
		}
	}
	assert_int_equal(k, r->nic.tx.producer);
	if (!sg) {
		/* A whole frame of the VLAN VM has no room for its tag. */
		struct fsg *g = &r->g[vm[1]];
		uint64_t a = fsg_alloc(g);
		uint8_t *h = fsg_data(g, a);

		sw_mtu_set(&r->sw, 0, 9000); /* not too big: too long */
		memcpy(h, wire, 6);
		memcpy(h + 6, r->cfg.vms[vm[1]].mac, 6);
		h[12] = 0x08;
		h[13] = 0x00;
		assert_int_equal(fsg_tx(g, a, r->sw.pool.frame_size), 0);
		fsg_flush(g);
		for (int pass = 0; pass < (int)N_VMS; pass++)
			sw_poll_once(&r->sw);
		assert_int_equal(r->sw.drops[SW_DROP_NO_HEADROOM], 1);
		r->sw.drops[SW_DROP_NO_HEADROOM] = 0;
	}
	fake_nic_transmit(&r->nic);
	settle(r);
	assert_int_equal(t->n_free, t->n);
	assert_int_equal(r->sw.pool.count[POOL_OWN_TX], 0);
	rig_down(r);
}

static void test_wire_header_private(void **state)
{
	(void)state;
	wire_header_private(true);
}

static void test_wire_header_private_no_sg(void **state)
{
	(void)state;
	wire_header_private(false);
}

/* A request word from guest g (detach: attach false), as
 * fsg_attach/fsg_detach store it, without waiting for the answer. */
static uint32_t request_word(struct fsg *g, bool attach)
{
	g->req = ((__atomic_load_n(&g->hdr->guest_req, __ATOMIC_RELAXED) >> 1) +
		  1) << 1 | (attach ? FS_REQ_ATTACH : 0);
	__atomic_store_n(&g->hdr->guest_req, g->req, __ATOMIC_RELEASE);
	return g->req;
}

/* The same from VM v's guest, SW_CTRL_GAP_US after the last (the test's
 * clock, sw->now, moves on that much: the worker acts on a VM's requests
 * at most that often). */
static uint32_t guest_request(struct rig *r, uint32_t v, bool attach)
{
	r->sw.now += r->sw.ctrl_gap;
	return request_word(&r->g[v], attach);
}

/* Passes until VM v's guest finds its request answered (at most
 * N_VMS passes; N_VMS + 1 if never). */
static uint32_t passes_to_ack(struct rig *r, uint32_t v, uint32_t req)
{
	uint32_t passes;

	for (passes = 1; passes <= N_VMS; passes++) {
		sw_poll_once(&r->sw);
		if (__atomic_load_n(&r->g[v].hdr->guest_ack,
				    __ATOMIC_ACQUIRE) == req)
			return passes;
	}
	return passes;
}

/* An idle VM's turn in the sweep is cheap (sw_pass.c vm_quiet), but still
 * finds what its guest asks: a detach, and an attach after it, each
 * answered on the VM's turn, with the frames it held taken back. */
static void test_idle_vm_request_seen_on_turn(void **state)
{
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	uint32_t v = vm_far_from_turn(r), req, passes;

	(void)state;
	settle(r);
	assert_true(r->sw.vms[v].attached);
	assert_true(vmport_held(&r->sw.vms[v], &r->sw.pool) > 0); /* alloc */
	req = guest_request(r, v, false);
	passes = passes_to_ack(r, v, req);
	assert_true(passes > 2);
	assert_true(passes <= SWEEP_PASSES);
	assert_false(r->sw.vms[v].attached);
	assert_int_equal(vmport_held(&r->sw.vms[v], &r->sw.pool), 0);
	/* A frame for it now is dropped, not given. */
	nic_to(r, v, 1);
	sw_poll_once(&r->sw);
	assert_int_equal(r->sw.vms[v].st.drops[VM_DROP_DETACHED], 1);
	r->sw.vms[v].st.drops[VM_DROP_DETACHED] = 0; /* rig_down checks */
	/* Attached again on its next turn, it is given frames again. */
	req = guest_request(r, v, true);
	assert_true(passes_to_ack(r, v, req) <= SWEEP_PASSES);
	assert_true(r->sw.vms[v].attached);
	nic_to(r, v, 1);
	sw_poll_once(&r->sw);
	guests_return(r);
	assert_int_equal(r->got[v], 1);
	rig_down(r);
}

/* A guest that asks to attach again and again: the worker acts on its
 * requests at most every SW_CTRL_GAP_US (each takes back what the VM holds,
 * a walk of the pool's owner table; it acted on one each turn, and a guest
 * could keep the worker at that). The latest request is answered once the
 * time has come. */
static void test_requests_acted_on_at_most_every_gap(void **state)
{
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	uint32_t v = vm_far_from_turn(r), first, req = 0;
	uint64_t reclaimed;

	(void)state;
	first = guest_request(r, v, true);
	assert_true(passes_to_ack(r, v, first) <= SWEEP_PASSES);
	reclaimed = r->sw.vms[v].st.reclaimed;
	for (int i = 0; i < 4; i++) {
		req = request_word(&r->g[v], true); /* the clock stands */
		for (uint32_t k = 0; k < SWEEP_PASSES; k++)
			sw_poll_once(&r->sw);
		assert_int_equal(__atomic_load_n(&r->g[v].hdr->guest_ack,
						 __ATOMIC_ACQUIRE), first);
	}
	assert_int_equal(r->sw.vms[v].st.reclaimed, reclaimed);
	r->sw.now += r->sw.ctrl_gap;
	assert_true(passes_to_ack(r, v, req) <= SWEEP_PASSES);
	assert_true(r->sw.vms[v].attached);
	settle(r);
	rig_down(r);
}

/* While the worker naps (max_sleep_usecs), a VM far from its turn in the
 * sweep that starts sending is served by the pass after the nap, not
 * N_VMS / 4 passes (naps) later. */
static void test_sender_seen_after_nap(void **state)
{
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	uint32_t v = vm_far_from_turn(r);

	(void)state;
	settle(r);
	guest_send(r, v);
	sw_poll_once(&r->sw); /* not its turn */
	assert_int_equal(fake_nic_transmit(&r->nic), 0);
	sw_nap(&r->sw, 0, 5);
	sw_poll_once(&r->sw);
	assert_int_equal(fake_nic_transmit(&r->nic), 1);
	r->sw.nap_us = 0;
	settle(r);
	rig_down(r);
}

/* Whether a datagram waits on the socket. */
static bool pending(int fd)
{
	char c;

	return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) >= 0;
}

static void test_group_socket_read_in_turn(void **state)
{
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	uint8_t frame[PKT_LEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				   0x02, 0, 0, 0, 0, 0x01, 0x08, 0x06 };
	uint32_t passes;
	int sv[2];

	(void)state;
	/* A datagram socket stands in for the AF_PACKET group socket. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	r->sw.ports[0].mc_fd = sv[0]; /* closed by sw_fini */
	while (r->sw.passes % 16 == 0) /* the next pass is not its turn */
		sw_poll_once(&r->sw);
	assert_int_equal(send(sv[1], frame, sizeof(frame), 0), sizeof(frame));
	/* Not read on every pass... */
	sw_poll_once(&r->sw);
	assert_true(pending(sv[0]));
	/* ...but within 16, and every VM gets the broadcast. */
	for (passes = 1; pending(sv[0]) && passes < 16; passes++)
		sw_poll_once(&r->sw);
	assert_false(pending(sv[0]));
	guests_return(r);
	for (uint32_t v = 0; v < N_VMS; v++)
		assert_int_equal(r->got[v], 1);
	/* While it has frames it is read every pass. */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(send(sv[1], frame, sizeof(frame), 0),
				 sizeof(frame));
		sw_poll_once(&r->sw);
		assert_false(pending(sv[0]));
	}
	guests_return(r);
	for (uint32_t v = 0; v < N_VMS; v++)
		assert_int_equal(r->got[v], 5);
	/* Idle again, it is not read every pass... */
	for (int i = 0; i < 16; i++)
		sw_poll_once(&r->sw);
	while (r->sw.passes % 16 == 0)
		sw_poll_once(&r->sw);
	assert_int_equal(send(sv[1], frame, sizeof(frame), 0), sizeof(frame));
	sw_poll_once(&r->sw);
	assert_true(pending(sv[0]));
	/* ...unless the worker napped before the pass (max_sleep_usecs):
	 * 16 passes might be 16 naps. */
	sw_nap(&r->sw, 0, 5);
	sw_poll_once(&r->sw);
	assert_false(pending(sv[0]));
	r->sw.nap_us = 0;
	close(sv[1]);
	settle(r);
	rig_down(r);
}

/* One frame of the mixed batch: to dst (tagged with vlan unless 0), of
 * len bytes, its sequence number at byte 40. */
static void nic_put_seq(struct rig *r, const uint8_t dst[6], uint16_t vlan,
			uint32_t len, uint8_t seq)
{
	uint8_t f[64] = { 0 };
	uint32_t o = vlan ? 4 : 0;

	memcpy(f, dst, 6);
	memcpy(f + 6, nic_mac, 6);
	if (vlan) {
		f[12] = 0x81;
		f[14] = (uint8_t)(vlan >> 8);
		f[15] = (uint8_t)vlan;
	}
	f[12 + o] = 0x08;
	f[40] = seq;
	assert_int_equal(fake_nic_put_frame(&r->nic, &r->sw.pool, f,
					    sizeof(f), len), 0);
}

/* What VM v received: sequence numbers (byte 40 - the tag it lost) and
 * total bytes; the frames go back. Returns how many. */
static uint32_t received(struct rig *r, uint32_t v, uint8_t *seq,
			 uint64_t *bytes)
{
	struct fs_desc d[64];
	uint32_t n = fsg_rx(&r->g[v], d, 64);

	*bytes = 0;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *h = fsg_data(&r->g[v], d[i].addr);

		/* Untagged, addressed as sent. */
		assert_int_equal(h[12], 0x08);
		if (!(h[0] & 1))
			assert_memory_equal(h, r->cfg.vms[v].mac, 6);
		seq[i] = h[v == N_VMS - 1 ? 36 : 40];
		*bytes += d[i].len;
		assert_int_equal(fsg_free(&r->g[v], d[i].addr), 0);
	}
	fsg_flush(&r->g[v]);
	r->got[v] += n;
	return n;
}

static void test_nic_batch_sorted_to_vms(void **state)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t nobody[6] = { 0x52, 0x54, 0, 0, 0x77, 0x77 };
	struct rig *r = rig_up_vlan(8192 + QUOTA * N_VMS, 5);
	const uint8_t *a = r->cfg.vms[1].mac, *b = r->cfg.vms[2].mac;
	const uint8_t *c = r->cfg.vms[N_VMS - 1].mac;
	uint8_t seq[64];
	uint64_t bytes, sent = 0;
	struct port *pt = &r->sw.ports[0];
	uint64_t rx0 = pt->st.rx_packets, rxb0 = pt->st.rx_bytes;
	/* Runs to VM 1 and VM 2 with an unknown MAC, a broadcast, a frame
	 * tagged for the last VM's VLAN and a runt between them. */
	const struct {
		const uint8_t *dst;
		uint16_t vlan;
		uint32_t len;
	} batch[] = {
		{ a, 0, 60 }, { a, 0, 61 }, { a, 0, 62 }, { b, 0, 63 },
		{ b, 0, 64 }, { a, 0, 65 }, { nobody, 0, 66 }, { b, 0, 67 },
		{ bcast, 0, 68 }, { c, 5, 69 }, { a, 0, 10 }, { a, 0, 70 },
		{ a, 0, 71 },
	};

	(void)state;
	for (uint8_t i = 0; i < sizeof(batch) / sizeof(batch[0]); i++) {
		nic_put_seq(r, batch[i].dst, batch[i].vlan, batch[i].len, i);
		sent += batch[i].len;
	}
	fake_nic_post(&r->nic);
	sw_poll_once(&r->sw);

	assert_int_equal(received(r, 1, seq, &bytes), 7);
	assert_memory_equal(seq, ((uint8_t[]){ 0, 1, 2, 5, 8, 11, 12 }), 7);
	assert_int_equal(bytes, 60 + 61 + 62 + 65 + 68 + 70 + 71);
	assert_int_equal(r->sw.vms[1].st.rx_bytes, bytes);
	assert_int_equal(received(r, 2, seq, &bytes), 4);
	assert_memory_equal(seq, ((uint8_t[]){ 3, 4, 7, 8 }), 4);
	assert_int_equal(r->sw.vms[2].st.rx_bytes, bytes);
	assert_int_equal(bytes, 63 + 64 + 67 + 68);
	/* The tagged one, untagged (its sequence 4 bytes earlier now); the
	 * broadcast was on VLAN 0, not the last VM's. */
	assert_int_equal(received(r, N_VMS - 1, seq, &bytes), 1);
	assert_int_equal(seq[0], 9);
	assert_int_equal(bytes, 65);
	for (uint32_t v = 0; v < N_VMS - 1; v++) {
		if (v == 1 || v == 2)
			continue;
		assert_int_equal(received(r, v, seq, &bytes), 1);
		assert_int_equal(seq[0], 8);
	}
	/* The unknown MAC and the runt. */
	assert_int_equal(r->sw.drops[SW_DROP_NO_ROUTE], 2);
	r->sw.drops[SW_DROP_NO_ROUTE] = 0;
	assert_int_equal(pt->st.rx_packets - rx0, 13);
	assert_int_equal(pt->st.rx_bytes - rxb0, sent);
	settle(r);
	for (uint32_t v = 0; v < N_VMS; v++)
		assert_int_equal(unreclaimed(r, v), 0);
	rig_down(r);
}

static void test_nic_burst_stops_at_quota(void **state)
{
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	struct vmport *vm = &r->sw.vms[3];
	/* Its alloc ring holds QUOTA / 4 of its quota. */
	uint32_t room = QUOTA - QUOTA / 4;

	(void)state;
	/* 30, then 64 a pass: the fourth batch meets the quota 34 frames
	 * in, mid-burst. The guest takes nothing meanwhile. */
	nic_to(r, 3, 30);
	sw_poll_once(&r->sw);
	for (int i = 0; i < 3; i++) {
		nic_to(r, 3, 64);
		sw_poll_once(&r->sw);
	}
	assert_int_equal(vm->st.rx_packets, room);
	assert_int_equal(vm->st.rx_bytes, (uint64_t)room * PKT_LEN);
	assert_int_equal(vm->st.drops[VM_DROP_QUOTA], 30 + 3 * 64 - room);
	vm->st.drops[VM_DROP_QUOTA] = 0;
	/* Given back, it takes a full batch again. */
	guests_return(r);
	assert_int_equal(r->got[3], room);
	settle(r);
	nic_to(r, 3, 64);
	sw_poll_once(&r->sw);
	guests_return(r);
	assert_int_equal(r->got[3], room + 64);
	settle(r);
	rig_down(r);
}

static void test_rx_room_gives_way_to_alloc(void **state)
{
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	struct vmport *vm = &r->sw.vms[5];
	uint64_t kept[QUOTA / 4];
	uint32_t held;

	(void)state;
	/* 100 frames: the room opened for them (QUOTA - its alloc ring's
	 * QUOTA / 4) stays open, 92 left. */
	nic_to(r, 5, 100);
	sw_poll_once(&r->sw);
	/* The guest takes its alloc ring's frames, keeps all but one and
	 * sends that one; the switch lends as many again, out of that open
	 * room. */
	for (uint32_t i = 0; i < QUOTA / 4 - 1; i++) {
		kept[i] = fsg_alloc(&r->g[5]);
		assert_int_not_equal(kept[i], UINT64_MAX);
	}
	guest_send(r, 5);
	settle(r);
	assert_int_equal(fake_nic_transmit(&r->nic), 1);
	held = vmport_held(vm, &r->sw.pool);
	assert_int_equal(held, 100 + QUOTA / 4 - 1 + QUOTA / 4);
	/* So only QUOTA - held more frames fit. */
	nic_to(r, 5, 64);
	sw_poll_once(&r->sw);
	assert_int_equal(vm->st.rx_packets, 100 + QUOTA - held);
	assert_int_equal(vm->st.drops[VM_DROP_QUOTA], 64 - (QUOTA - held));
	assert_true(vmport_held(vm, &r->sw.pool) <= QUOTA);
	vm->st.drops[VM_DROP_QUOTA] = 0;
	for (uint32_t i = 0; i < QUOTA / 4 - 1; i++)
		assert_int_equal(fsg_free(&r->g[5], kept[i]), 0);
	guests_return(r);
	settle(r);
	rig_down(r);
}

/* VM v's guest sleeps on its rx ring, on a live doorbell (I): as the
 * guest library's fsg_wait and the control thread leave it. */
static void guest_sleeps(struct rig *r, uint32_t v, bool on)
{
	struct vmport *vp = &r->sw.vms[v];

	vp->db_live = 1;
	__atomic_store_n(vp->rx.flags, on ? FS_RING_NEED_WAKEUP : 0,
			 __ATOMIC_RELAXED);
}

/* One frame to VM v, one pass; the doorbells rung to v so far. */
static uint64_t frame_and_pass(struct rig *r, uint32_t v)
{
	nic_to(r, v, 1);
	sw_poll_once(&r->sw);
	return r->sw.vms[v].st.irqs;
}

/* idle = "adaptive": a guest that cannot ring and moved frames within the
 * last millisecond keeps the worker polling once its window ran out; one
 * that moved none for that long, or a guest on its doorbell, does not. */
static void test_polled_guest_keeps_polling(void **state)
{
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	uint64_t t = r->sw.now, ms = r->sw.poll_sleep_max;

	(void)state;
	assert_true(ms > 0);
	assert_false(vmport_can_sleep(&r->sw.vms[2]));
	/* The first look counts; nothing moved since then. */
	sw_polled_busy(&r->sw, t);
	assert_false(sw_polled_busy(&r->sw, t + ms));
	/* VM 2's guest sends (or gives back): a millisecond of polling. */
	guest_send(r, 2);
	for (uint32_t i = 0; i < N_VMS && !r->sw.vms[2].st.tx_packets; i++)
		sw_poll_once(&r->sw);
	assert_int_equal(r->sw.vms[2].st.tx_packets, 1);
	assert_true(sw_polled_busy(&r->sw, t + ms));
	assert_true(sw_polled_busy(&r->sw, t + 2 * ms - 1));
	assert_false(sw_polled_busy(&r->sw, t + 2 * ms));
	/* Guests on their doorbells: none to poll. */
	for (uint32_t v = 0; v < N_VMS; v++) {
		r->sw.vms[v].rings_me = true;
		r->sw.vms[v].db_live = 1;
	}
	r->sw.vms[2].st.freed++;
	assert_false(sw_polled_busy(&r->sw, t + 2 * ms));
	rig_down(r);
}

/* n frames to sleeping VM v, each in a pass, none rung; the interval
 * then moved back `back` ticks, and a pass: the held ring goes out. */
static void held_ring(struct rig *r, uint32_t v, uint32_t n, uint64_t back)
{
	struct vmport *vp = &r->sw.vms[v];
	uint64_t irqs = vp->st.irqs;

	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(frame_and_pass(r, v), irqs);
	vp->sw.bell_at -= back;
	sw_poll_once(&r->sw);
	assert_int_equal(vp->st.irqs, irqs + 1);
}

/* doorbell_max_usecs: a held ring that went out on its time with two
 * frames or more per doorbell_usecs doubles the interval, up to the most;
 * one with less than a frame per doorbell_usecs halves it, and a ring
 * after four quiet intervals halves it too. With the most at
 * doorbell_usecs (the rig's doorbell_max_usecs is 0) it stays fixed. */
static void test_doorbells_adapt(void **state)
{
	struct rig *r = rig_up_cfg(8192 + QUOTA * N_VMS, 0, 100);
	const uint32_t v = 3;
	struct vmport *vp = &r->sw.vms[v];
	uint64_t base = vp->sw.bell_base, irqs;

	(void)state;
	assert_true(base > 0);
	assert_int_equal(vp->sw.bell_gap, base);
	assert_int_equal(vp->sw.bell_max, base);
	guest_sleeps(r, v, true);
	vp->sw.bell_at = r->sw.now - base; /* rung an interval ago */
	assert_int_equal(frame_and_pass(r, v), 1);
	held_ring(r, v, 4, base);
	assert_int_equal(vp->sw.bell_gap, base); /* fixed */

	vp->sw.bell_max = 4 * base;
	/* A stream: four frames an interval. */
	held_ring(r, v, 4, base);
	assert_int_equal(vp->sw.bell_gap, 2 * base);
	held_ring(r, v, 4, 2 * base);
	assert_int_equal(vp->sw.bell_gap, 4 * base);
	held_ring(r, v, 8, 4 * base); /* at the most */
	assert_int_equal(vp->sw.bell_gap, 4 * base);
	/* Between one and two frames per doorbell_usecs: it stays. */
	held_ring(r, v, 6, 4 * base);
	assert_int_equal(vp->sw.bell_gap, 4 * base);
	/* A thinner stream: one frame in four doorbell_usecs. */
	held_ring(r, v, 1, 4 * base);
	assert_int_equal(vp->sw.bell_gap, 2 * base);
	/* Quiet for four intervals: the next frame is rung at once, and the
	 * interval halves. */
	irqs = vp->st.irqs;
	vp->sw.bell_at -= 8 * base;
	assert_int_equal(frame_and_pass(r, v), irqs + 1);
	assert_int_equal(vp->sw.bell_gap, base);
	guests_return(r);
	assert_int_equal(r->got[v], 1 + 4 + 4 + 4 + 8 + 6 + 1 + 1);
	rig_down(r);
}

/* doorbell_usecs: the first frame for a sleeping guest rings at once;
 * frames within the interval after it wait, listed once, and are rung
 * when it has passed (its start moved back here: no sleeping test); a
 * guest awake by then is not rung. Without moderation every pass that
 * gives a sleeping guest frames rings it. */
static void test_doorbells_moderated(void **state)
{
	struct rig *r = rig_up_cfg(8192 + QUOTA * N_VMS, 0, 200000);
	const uint32_t v = 3;
	struct vmport *vp = &r->sw.vms[v];

	(void)state;
	/* 200 ms from the VM's config, in ticks. */
	assert_int_equal(vp->sw.bell_gap, ticks_of_us(&r->sw.ticks, 200000));
	assert_true(vp->sw.bell_gap > 0);
	/* sw_run's clock stands still here (the test calls sw_poll_once),
	 * and the interval is one no stall of a loaded machine would reach
	 * anyway: its passing is the test's to say. */
	vp->sw.bell_gap = (uint64_t)1 << 62;
	vp->sw.bell_at = r->sw.now - vp->sw.bell_gap; /* rung long ago */
	guest_sleeps(r, v, true);
	assert_int_equal(frame_and_pass(r, v), 1);
	assert_int_equal(frame_and_pass(r, v), 1);
	assert_int_equal(frame_and_pass(r, v), 1);
	assert_int_equal(r->sw.n_held, 1);
	assert_true(vp->sw.bell_held);
	sw_poll_once(&r->sw);
	assert_int_equal(vp->st.irqs, 1);
	vp->sw.bell_at -= vp->sw.bell_gap; /* the interval has passed */
	sw_poll_once(&r->sw);
	assert_int_equal(vp->st.irqs, 2);
	assert_int_equal(r->sw.n_held, 0);
	assert_false(vp->sw.bell_held);
	/* Held, then the guest wakes on its own before the interval ends. */
	assert_int_equal(frame_and_pass(r, v), 2);
	assert_int_equal(r->sw.n_held, 1);
	guest_sleeps(r, v, false);
	vp->sw.bell_at -= vp->sw.bell_gap;
	sw_poll_once(&r->sw);
	assert_int_equal(vp->st.irqs, 2);
	assert_int_equal(r->sw.n_held, 0);
	/* A guest that does not sleep is never rung. */
	assert_int_equal(frame_and_pass(r, v), 2);
	assert_int_equal(r->sw.n_held, 0);
	guests_return(r);
	assert_int_equal(r->got[v], 5);
	/* Asleep again, just rung: frames up to half of what it can be
	 * given (bell_batch) wait; the one that reaches it rings at once. */
	guest_sleeps(r, v, true);
	vp->sw.bell_at = r->sw.now;
	assert_int_equal(vp->bell_batch, (QUOTA - QUOTA / 4) / 2);
	nic_to(r, v, vp->bell_batch - 1);
	for (int i = 0; i < 4; i++) /* a NIC batch a pass */
		sw_poll_once(&r->sw);
	assert_int_equal(vp->st.rx_packets, 5 + vp->bell_batch - 1);
	assert_int_equal(vp->st.irqs, 2);
	assert_int_equal(frame_and_pass(r, v), 3);
	assert_int_equal(r->sw.n_held, 0);
	guests_return(r);
	assert_int_equal(r->got[v], 5 + vp->bell_batch);
	rig_down(r);

	r = rig_up(8192 + QUOTA * N_VMS);
	assert_int_equal(r->sw.vms[v].sw.bell_gap, 0);
	guest_sleeps(r, v, true);
	for (uint64_t i = 1; i <= 3; i++)
		assert_int_equal(frame_and_pass(r, v), i);
	assert_int_equal(r->sw.n_held, 0);
	guests_return(r);
	rig_down(r);
}

/* Group frames (from the group socket, or the fast path's rare branch)
 * with another network's tags, an S-tag or a tag inside the 802.1Q one,
 * reach no VM: they went to the untagged VMs with the tags in them. */
static void test_foreign_tags_reach_no_vm(void **state)
{
	static const uint8_t stag[18] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					  0x02, 0, 0, 0, 0, 0x01,
					  0x88, 0xa8, 0x00, 0x05, 0x08, 0x00 };
	static const uint8_t qinq[22] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					  0x02, 0, 0, 0, 0, 0x01,
					  0x81, 0x00, 0x00, 0x00,
					  0x81, 0x00, 0x00, 0x05, 0x08, 0x00 };
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	struct fs_desc d[4];

	(void)state;
	assert_int_equal(fake_nic_put_frame(&r->nic, &r->sw.pool, stag,
					    sizeof(stag), 64), 0);
	assert_int_equal(fake_nic_put_frame(&r->nic, &r->sw.pool, qinq,
					    sizeof(qinq), 64), 0);
	fake_nic_post(&r->nic);
	sw_poll_once(&r->sw);
	for (uint32_t v = 0; v < N_VMS; v++)
		assert_int_equal(fsg_rx(&r->g[v], d, 4), 0);
	assert_int_equal(r->sw.drops[SW_DROP_NO_ROUTE], 2);
	assert_int_equal(r->sw.copies, 0);
	r->sw.drops[SW_DROP_NO_ROUTE] = 0; /* rig_down checks */
	settle(r);
	rig_down(r);
}

/* A broadcast to VMs one of which is at its quota: no copy is made for
 * that one (one was, and thrown away: a storm cost a copy per VM), and
 * its drop is counted. */
static void test_flood_copies_only_for_room(void **state)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	struct vmport *full = &r->sw.vms[5];
	uint32_t quota = full->quota;

	(void)state;
	full->quota = vmport_held(full, &r->sw.pool);
	full->rx_room = 0;
	assert_int_equal(fake_nic_put(&r->nic, &r->sw.pool, bcast, nic_mac,
				      PKT_LEN), 0);
	fake_nic_post(&r->nic);
	sw_poll_once(&r->sw);
	/* Every VM but the last a copy, the last the frame; not VM 5. */
	assert_int_equal(r->sw.copies, N_VMS - 2);
	assert_int_equal(full->st.drops[VM_DROP_QUOTA], 1);
	full->st.drops[VM_DROP_QUOTA] = 0; /* rig_down checks */
	full->quota = quota;
	guests_return(r);
	assert_int_equal(r->got[5], 0);
	assert_int_equal(r->got[6], 1);
	settle(r);
	rig_down(r);
}

/* A mailbox request from the control thread (sw_mail_call). */
struct mail_call {
	struct sw *sw;
	int op, arg, rc;
	int64_t result;
};

static void *mail_call_thread(void *arg)
{
	struct mail_call *c = arg;

	c->rc = sw_mail_call(c->sw, c->op, c->arg, 0, NULL, &c->result, 2000);
	return NULL;
}

/* A request the worker does not take in time is withdrawn: a late worker
 * does not act on it (left posted, it did, with the caller's memory
 * freed by then: vm add frees its port on a timeout), and the next
 * request is answered. */
static void test_mail_withdrawn_on_timeout(void **state)
{
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	struct mail_call c = { &r->sw, SW_MAIL_FRAMES, 0, -1, -1 };
	int64_t res = -1;
	pthread_t th;
	bool joined = false;

	(void)state;
	/* No pass runs meanwhile: 5 ms, then withdrawn. */
	assert_int_equal(sw_mail_call(&r->sw, SW_MAIL_VM_DEL, 5, 0, NULL,
				      &res, 5), -ETIMEDOUT);
	sw_poll_once(&r->sw);
	assert_true(r->sw.vms[5].active);
	assert_int_equal(res, -1);
	/* The next one, with the worker running, is answered. */
	assert_int_equal(pthread_create(&th, NULL, mail_call_thread, &c), 0);
	for (int i = 0; i < 200000 && !joined; i++) {
		sw_poll_once(&r->sw);
		if (__atomic_load_n(&c.rc, __ATOMIC_ACQUIRE) != -1)
			joined = true;
		else
			usleep(10);
	}
	pthread_join(th, NULL);
	assert_int_equal(c.rc, 0);
	assert_int_equal(c.result, 0);
	assert_int_equal(r->sw.snap.ok, 1);
	rig_down(r);
}

/* A guest asleep on its doorbell that keeps sending and receiving: each
 * time the interval has passed, the alloc refill of its visit rings it at
 * once and the frames flushed later in the pass hold it again. It stays
 * listed once (it was listed again each interval, and the list, full,
 * left every VM's doorbells unmoderated). */
static void test_doorbell_listed_once(void **state)
{
	struct rig *r = rig_up_cfg(8192 + QUOTA * N_VMS, 0, 200000);
	const uint32_t v = 3;
	struct vmport *vp = &r->sw.vms[v];
	uint32_t seq = 0;
	uint64_t irqs;

	(void)state;
	/* Sending, it is visited every pass (SW_TX_HOT_PASSES). */
	assert_int_equal(guest_send_seq(r, v, 1, &seq), 1);
	for (uint32_t i = 0; i <= SWEEP_PASSES; i++)
		sw_poll_once(&r->sw);
	assert_true(vp->sweep.tx_pass > 0);
	vp->sw.bell_gap = (uint64_t)1 << 40; /* its passing is the test's */
	guest_sleeps(r, v, true);
	for (int i = 0; i < 8; i++) {
		irqs = vp->st.irqs;
		vp->sw.bell_at = r->sw.now - vp->sw.bell_gap; /* the interval passed */
		assert_int_equal(guest_send_seq(r, v, 1, &seq), 1);
		nic_to(r, v, 1);
		sw_poll_once(&r->sw);
		assert_int_equal(vp->st.irqs, irqs + 1); /* the refill's */
		assert_true(vp->sw.bell_held);              /* the frame's */
		assert_int_equal(r->sw.n_held, 1);
	}
	vp->sw.bell_at -= vp->sw.bell_gap;
	sw_poll_once(&r->sw);
	assert_int_equal(vp->st.irqs, irqs + 2);
	assert_int_equal(r->sw.n_held, 0);
	assert_false(vp->sw.bell_listed);
	guest_sleeps(r, v, false);
	guests_return(r);
	assert_int_equal(r->got[v], 8);
	settle(r);
	rig_down(r);
}

/* A guest may send a whole frame: offset 0, frame_size bytes. Flooded, it
 * is copied for every other VM; each copy must lie inside its own frame
 * (it was copied at the usual headroom, 256 bytes into a frame of 2048, and
 * its last 256 bytes went over the next frame, or past the pool's end). */
static void test_whole_frame_flooded_within_frames(void **state)
{
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	struct fsg *g = &r->g[0];
	const uint32_t fsize = r->cfg.pool.frame_size;
	static uint8_t want[4096];
	uint64_t base;
	uint8_t *h;

	(void)state;
	base = fsg_alloc(g);
	assert_true(base != UINT64_MAX);
	assert_int_equal(base & (fsize - 1), 0);
	h = fsg_data(g, base);
	for (uint32_t i = 0; i < fsize; i++)
		h[i] = (uint8_t)(i * 7 + 1);
	memset(h, 0xff, 6);
	memcpy(h + 6, r->cfg.vms[0].mac, 6);
	h[12] = 0x08;
	h[13] = 0x00;
	/* The frame itself, longer than the uplink's MTU, is dropped
	 * (too_big) and scrubbed: the copies are compared with this. */
	assert_true(fsize <= sizeof(want));
	memcpy(want, h, fsize);
	assert_int_equal(fsg_tx(g, base, fsize), 0);
	fsg_flush(g);
	for (uint32_t i = 0; i <= SWEEP_PASSES; i++)
		sw_poll_once(&r->sw);
	assert_int_equal(r->sw.ports[0].st.drops[PORT_DROP_TOO_BIG], 1);
	for (uint32_t v = 1; v < N_VMS; v++) {
		struct fs_desc d[2];
		const uint8_t *c;

		assert_int_equal(fsg_rx(&r->g[v], d, 2), 1);
		assert_int_equal(d[0].len, fsize);
		assert_true((d[0].addr & (fsize - 1)) + d[0].len <= fsize);
		c = fsg_data(&r->g[v], d[0].addr);
		assert_memory_equal(c, want, fsize);
		assert_int_equal(fsg_free(&r->g[v], d[0].addr), 0);
		fsg_flush(&r->g[v]);
	}
	assert_int_equal(r->sw.copies, N_VMS - 1); /* the sent frame is kept */
	settle(r);
	rig_down(r);
}

/* Every VM of a full switch (CFG_MAX_VMS) given a frame, then, in the same
 * pass, all but the last reset by their guests' attach requests and given
 * a frame again: each of those is listed for the flush twice
 * (rx_unflushed, which says a VM is listed, went back to 0 at the reset),
 * 2 x CFG_MAX_VMS - 1 entries in all. A list of CFG_MAX_VMS entries was
 * written past its end (one VM more than it holds is enough, and guests
 * choose when to ask): this aborted (heap corruption). */
#define ALL_VMS CFG_MAX_VMS
static void test_all_vms_reset_and_given_again_in_a_pass(void **state)
{
	static struct cfg cfg;
	static struct sw sw;
	static struct fsg g[ALL_VMS];
	static struct fake_nic nic;
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint64_t rx[ALL_VMS];
	const uint32_t last = ALL_VMS - 1;
	char err[256], msg[256];
	uint64_t addr;
	uint8_t *h;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.pool.path, sizeof(cfg.pool.path),
		 "/dev/shm/fs-test-switch-%d-all-pool", (int)getpid());
	cfg.pool.frames = 8192 + 64 * ALL_VMS;
	cfg.pool.frame_size = 2048;
	cfg.pool.scrub = CFG_SCRUB_USED;
	cfg.n_vms = ALL_VMS;
	cfg.batch = 64;
	for (uint32_t v = 0; v < ALL_VMS; v++) {
		struct cfg_vm *vm = &cfg.vms[v];

		snprintf(vm->name, sizeof(vm->name), "vm%u", v);
		memcpy(vm->mac, (uint8_t[]){ 0x52, 0x54, 0, 0, (uint8_t)(v >> 8),
					     (uint8_t)v }, 6);
		snprintf(vm->rings, sizeof(vm->rings),
			 "/dev/shm/fs-test-switch-%d-all-vm%u", (int)getpid(),
			 v);
		vm->quota = 64;
		vm->ring_size = 64;
	}
	quiet();
	if (sw_init(&sw, &cfg)) {
		unquiet();
		fail_msg("sw_init failed");
	}
	for (uint32_t v = 0; v < ALL_VMS; v++)
		if (fsg_open(&g[v], cfg.pool.path, cfg.vms[v].rings, err,
			     sizeof(err))) {
			unquiet();
			fail_msg("fsg_open: %s", err);
		}
	if (fake_attach_guests(&sw, g, ALL_VMS)) {
		unquiet();
		fail_msg("the guests did not attach");
	}
	unquiet();
	fake_nic_attach(&nic, &sw);
	for (uint32_t i = 0; i < 2 * ALL_VMS; i++)
		sw_poll_once(&sw);
	for (uint32_t v = 0; v < ALL_VMS; v++)
		rx[v] = sw.vms[v].st.rx_packets;

	/* The pass: a broadcast from the NIC for every VM; then, in the
	 * sweep (a full pass, from VM 0 on), VMs 0..last-1 act on their
	 * attach requests, and the last VM's broadcast gives each of them
	 * a frame again. */
	assert_int_equal(fake_nic_put(&nic, &sw.pool, bcast, nic_mac, PKT_LEN),
			 0);
	fake_nic_post(&nic);
	for (uint32_t v = 0; v < last; v++)
		request_word(&g[v], true);
	addr = fsg_alloc(&g[last]);
	assert_true(addr != UINT64_MAX);
	addr += g[last].headroom;
	h = fsg_data(&g[last], addr);
	memcpy(h, bcast, 6);
	memcpy(h + 6, cfg.vms[last].mac, 6);
	h[12] = 0x08;
	h[13] = 0x00;
	assert_int_equal(fsg_tx(&g[last], addr, PKT_LEN), 0);
	fsg_flush(&g[last]);
	sw.sweep = 0;
	sw.full_pass = SW_PASS_FULL;
	quiet();
	sw_poll_once(&sw);
	unquiet();

	/* Each reset VM has the last one's frame (the NIC's went back at
	 * its reset), the last VM the NIC's; nothing else moved. */
	for (uint32_t v = 0; v < last; v++) {
		assert_int_equal(__atomic_load_n(&g[v].hdr->guest_ack,
						 __ATOMIC_ACQUIRE), g[v].req);
		assert_int_equal(sw.vms[v].st.rx_packets, rx[v] + 1);
		assert_int_equal(sw.vms[v].st.reclaimed > 0, 1);
	}
	assert_int_equal(sw.vms[last].st.rx_packets, rx[last] + 1);
	assert_int_equal(sw.n_touched, 0);
	for (uint32_t i = 0; i < sw.n_busy[0]; i++)
		assert_true(sw.busy[0][i] < ALL_VMS);
	assert_int_equal(pool_check(&sw.pool, true, msg, sizeof(msg)), 0);
	for (uint32_t i = 0; i < SW_DROP_NR; i++)
		assert_int_equal(sw.drops[i], 0);
	quiet();
	for (uint32_t v = 0; v < ALL_VMS; v++)
		fsg_close(&g[v]);
	sw_fini(&sw);
	unquiet();
	unlink(cfg.pool.path);
	for (uint32_t v = 0; v < ALL_VMS; v++)
		unlink(cfg.vms[v].rings);
}

/* A VM's ring region cut short under the switch while its guest holds
 * frames (shmguard.h): the sweep's next look at it faults, and the pass
 * after takes it out: every frame back, counted once, the audit exact,
 * frames for it dropped as detached, the other VMs served. */
static void test_region_cut_short_takes_vm_out(void **state)
{
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	struct vmport *v0 = &r->sw.vms[0];
	struct fs_desc d[64];
	char msg[256];
	uint32_t held;

	(void)state;
	nic_to(r, 0, 16);
	sw_poll_once(&r->sw);
	assert_int_equal(fsg_rx(&r->g[0], d, 64), 16); /* and holds them */
	fsg_close(&r->g[0]); /* its guest's mapping would fault too */
	held = vmport_held(v0, &r->sw.pool);
	assert_true(held >= 16);

	assert_int_equal(truncate(r->cfg.vms[0].rings, 0), 0);
	quiet();
	for (uint32_t i = 0; i < SWEEP_PASSES + 1; i++)
		sw_poll_once(&r->sw);
	unquiet();
	assert_true(v0->broken);
	assert_false(v0->attached);
	assert_int_equal(v0->st.region_truncated, 1);
	assert_int_equal(vmport_held(v0, &r->sw.pool), 0);
	assert_true(v0->st.reclaimed >= held);
	assert_int_equal(pool_check(&r->sw.pool, true, msg, sizeof(msg)), 0);
	assert_false(r->sw.pool_lost);

	nic_to(r, 1, 8);
	nic_to(r, 0, 3);
	sw_poll_once(&r->sw);
	assert_int_equal(fsg_rx(&r->g[1], d, 64), 8);
	for (uint32_t i = 0; i < 8; i++)
		assert_int_equal(fsg_free(&r->g[1], d[i].addr), 0);
	fsg_flush(&r->g[1]);
	assert_int_equal(v0->st.drops[VM_DROP_DETACHED], 3);
	settle(r);
	assert_int_equal(v0->st.region_truncated, 1);
	assert_int_equal(vmport_held(v0, &r->sw.pool), 0);
	v0->st.drops[VM_DROP_DETACHED] = 0; /* rig_down wants none */
	rig_down(r);
}

/* The pool cut short under traffic: the worker's read of a frame faults,
 * the next pass sets pool_lost, sw_run returns at once, and sw_fini
 * removes no file. */
static void test_pool_cut_short_stops_switch(void **state)
{
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	volatile sig_atomic_t stop = 0, report = 0;

	(void)state;
	nic_to(r, 1, 4);
	for (uint32_t v = 0; v < N_VMS; v++)
		fsg_close(&r->g[v]);
	assert_int_equal(truncate(r->cfg.pool.path, 0), 0);
	quiet();
	sw_poll_once(&r->sw); /* reads the frames: SIGBUS */
	sw_poll_once(&r->sw);
	unquiet();
	assert_true(r->sw.pool_lost);
	sw_run(&r->sw, &stop, &report);
	assert_false(r->sw.pool.created);
	for (uint32_t v = 0; v < N_VMS; v++)
		assert_false(r->sw.vms[v].created);
	/* The frames read as zeros after the fault: no route. */
	assert_int_equal(r->sw.drops[SW_DROP_NO_ROUTE], 4);
	r->sw.drops[SW_DROP_NO_ROUTE] = 0;
	rig_down(r);
}

/* sw_run on a thread of its own, until *stop. */
struct run_call {
	struct sw *sw;
	volatile sig_atomic_t *stop, *report;
};

static void *run_thread(void *arg)
{
	struct run_call *c = arg;

	sw_run(c->sw, c->stop, c->report);
	return NULL;
}

/* An fd the worker cannot watch while it sleeps (epoll takes no regular
 * file) stands for one epoll_ctl refuses: the worker says so and sleeps
 * 1 ms at a time, polling, where it would otherwise sleep longer and
 * longer with nothing to do (up to SW_POLL_SLEEP_MAX_MS while a guest
 * may need polling, SW_DOORBELL_SLEEP_MS when none does). */
static void test_sleep_unwatched_fd_polls(void **state)
{
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	volatile sig_atomic_t stop = 0, report = 0;
	struct run_call c = { &r->sw, &stop, &report };
	pthread_t th;

	(void)state;
	assert_true(r->sw.idle_ep >= 0);
	for (uint32_t v = 0; v < N_VMS; v++)
		fsg_close(&r->g[v]);
	/* In the group socket's place; closed by sw_fini. */
	r->sw.ports[0].mc_fd = open(r->cfg.pool.path, O_RDONLY | O_CLOEXEC);
	assert_true(r->sw.ports[0].mc_fd >= 0);
	quiet();
	assert_int_equal(pthread_create(&th, NULL, run_thread, &c), 0);
	usleep(300000);
	stop = 1;
	pthread_join(th, NULL);
	unquiet();
	assert_true(r->sw.idle_ep_short);
	/* About 300 sleeps; some 20 without the fallback. */
	print_message("  %llu sleeps in 300 ms\n",
		      (unsigned long long)r->sw.sleeps);
	assert_true(r->sw.sleeps >= 40);
	rig_down(r);
}

/* A doorbell peer's hang-up (the control thread's SW_MAIL_DOORBELL with
 * live 0) lets the VM's guest go in the pass that takes it, whatever the
 * VM's turn: its frames back, the guest told (FS_ACK_GONE), counted
 * once. */
/* A guest's bell (sw_idle.c, the guests' bells), without a pass: rings
 * are counted and coalesced, the bell left out of the worker's sleeps for
 * doorbell_usecs after a ring that brought work and for twice as long,
 * up to 1 ms, after rings that brought none soon after; a ring after a
 * quiet spell wakes the worker at once. */
static int bell_ready(const struct sw *sw)
{
	struct epoll_event ev;

	return epoll_wait(sw->bell_ep, &ev, 1, 0);
}

static void ring(const struct vmport *v, uint64_t n)
{
	assert_int_equal(write(v->bell_fd, &n, sizeof(n)), sizeof(n));
}

static void test_bell_quiet_time(void **state)
{
	struct sw *sw = calloc(1, sizeof(*sw));
	struct vmport *v;
	uint64_t gap, max, t;

	(void)state;
	assert_non_null(sw);
	ticks_init(&sw->ticks);
	sw_idle_set(sw, CFG_IDLE_ADAPTIVE, 50);
	sw->vms = vmport_alloc(1);
	sw->n_vms = 1;
	sw->bell_ep = epoll_create1(EPOLL_CLOEXEC);
	assert_true(sw->bell_ep >= 0);
	v = &sw->vms[0];
	v->active = true;
	v->db_live = 1;
	v->bell_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(v->bell_fd >= 0);
	gap = v->sw.bell_gap = v->sw.bell_base = ticks_of_us(&sw->ticks, 100);
	max = ticks_of_us(&sw->ticks, 1000);
	sw_bell_watch(sw, v, SW_BELL_ADD);

	/* The first rings: heard at once, five as one wake-up. */
	t = 1000 * max;
	ring(v, 5);
	assert_int_equal(bell_ready(sw), 1);
	sw_bells_read(sw, t);
	assert_int_equal(v->st.rings, 5);
	assert_int_equal(v->st.rings_coalesced, 4);
	assert_int_equal(v->st.bell_storm, 0);
	assert_true(v->sw.muted);
	assert_int_equal(v->sw.mute_until, t + gap);
	/* Unheard for doorbell_usecs, counted meanwhile. */
	ring(v, 3);
	assert_int_equal(bell_ready(sw), 0);
	sw->now = t + gap - 1;
	assert_int_equal(sw_bells_unmute(sw), 1);
	assert_int_equal(bell_ready(sw), 0);
	sw->now = t + gap;
	assert_int_equal(sw_bells_unmute(sw), UINT64_MAX);
	assert_false(v->sw.muted);
	assert_int_equal(bell_ready(sw), 1);

	/* Those rings brought no work, and came soon: twice as long, and
	 * so on up to 1 ms. */
	t += gap;
	sw_bells_read(sw, t);
	assert_int_equal(v->st.rings, 8);
	assert_int_equal(v->st.rings_coalesced, 6);
	assert_int_equal(v->st.bell_storm, 1);
	assert_int_equal(v->sw.mute, 2 * gap);
	for (int i = 0; i < 8; i++) {
		t = v->sw.mute_until;
		sw->now = t;
		sw_bells_unmute(sw);
		ring(v, 1);
		sw_bells_read(sw, t);
	}
	assert_int_equal(v->st.bell_storm, 9);
	assert_int_equal(v->sw.mute, max);

	/* A ring that brought work (its tx ring moved): doorbell_usecs. */
	sw->now = t = v->sw.mute_until;
	sw_bells_unmute(sw);
	v->tx.cached_cons++;
	ring(v, 1);
	sw_bells_read(sw, t);
	assert_int_equal(v->st.bell_storm, 9);
	assert_int_equal(v->sw.mute, gap);

	/* After a quiet spell a ring is heard at once, and, whether or not
	 * it brought work, gets doorbell_usecs. */
	sw->now = t = t + 10 * max;
	assert_int_equal(sw_bells_unmute(sw), UINT64_MAX);
	ring(v, 1);
	assert_int_equal(bell_ready(sw), 1);
	sw_bells_read(sw, t);
	assert_int_equal(v->st.bell_storm, 9);
	assert_int_equal(v->sw.mute, gap);
	assert_int_equal(v->st.rings, 18);

	/* The guest left its doorbell: out of the set, off the list. */
	sw_bell_watch(sw, v, SW_BELL_DEL);
	v->db_live = 0;
	assert_int_equal(sw_bells_unmute(sw), UINT64_MAX);
	assert_false(v->sw.muted);
	assert_int_equal(sw->n_muted, 0);

	close(v->bell_fd);
	close(sw->bell_ep);
	free(sw->vms);
	free(sw);
}

static void test_hangup_lets_guest_go_next_pass(void **state)
{
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	uint32_t v = vm_far_from_turn(r);
	struct vmport *vp = &r->sw.vms[v];
	struct mail_call c = { .sw = &r->sw, .op = SW_MAIL_DOORBELL,
			       .arg = (int)v, .rc = -1 };
	struct fs_desc d[64];
	char msg[256];
	pthread_t th;

	(void)state;
	nic_to(r, v, 10);
	sw_poll_once(&r->sw);
	assert_int_equal(fsg_rx(&r->g[v], d, 64), 10); /* and holds them */
	assert_true(vmport_held(vp, &r->sw.pool) >= 10);
	vp->db_live = 1; /* its peer was connected */
	quiet();
	assert_int_equal(pthread_create(&th, NULL, mail_call_thread, &c), 0);
	for (int i = 0; i < 200000 &&
			__atomic_load_n(&c.rc, __ATOMIC_ACQUIRE) == -1; i++) {
		sw_poll_once(&r->sw);
		usleep(10);
	}
	pthread_join(th, NULL);
	unquiet();
	assert_int_equal(c.rc, 0);
	assert_false(vp->attached);
	assert_false(vp->db_live);
	assert_int_equal(vmport_held(vp, &r->sw.pool), 0);
	assert_int_equal(vp->st.hangups, 1);
	assert_int_equal(vp->st.timeouts, 0);
	assert_int_equal(__atomic_load_n(&vp->hdr->guest_ack, __ATOMIC_ACQUIRE),
			 FS_ACK_GONE);
	assert_int_equal(pool_check(&r->sw.pool, true, msg, sizeof(msg)), 0);
	settle(r);
	assert_int_equal(vp->st.hangups, 1);
	rig_down(r);
}

/* VM 0 sends n broadcast frames from its alloc ring; returns how many. */
static uint32_t guest_broadcast(struct rig *r, uint32_t n)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint32_t seq = 0;

	return guest_send_to(r, 0, n, bcast, &seq);
}

/* A broadcast storm from one VM past its flood limit (flood_rate,
 * flood_burst): the burst is flooded, the rest dropped and counted
 * flood_limited, the credit grows back with time, and another VM's
 * unicast from the wire arrives whole meanwhile. */
static void test_flood_limited(void **state)
{
	struct rig *r = rig_up(8192 + QUOTA * N_VMS);
	struct vmport *v0 = &r->sw.vms[0];
	uint64_t tps = ticks_of_us(&r->sw.ticks, 1000000), got1;
	char msg[256];

	(void)state;
	settle(r);
	vmport_flood_set(v0, 1000, 40, tps); /* 1000 a second, 40 at once */
	r->sw.now = 1000 * tps;
	v0->flood_at = r->sw.now;
	got1 = r->got[1];
	assert_int_equal(guest_broadcast(r, 64), 64);
	nic_to(r, 1, 10);
	for (int pass = 0; pass < (int)N_VMS; pass++)
		sw_poll_once(&r->sw);
	r->sw.now = 1000 * tps; /* sw_poll_once leaves the clock alone */
	guests_return(r);
	assert_int_equal(v0->st.drops[VM_DROP_FLOOD_LIMITED], 24);
	assert_int_equal(r->got[1] - got1, 40 + 10);
	assert_int_equal(r->got[N_VMS - 1], 40);
	assert_int_equal(fake_nic_transmit(&r->nic), 40);
	/* 10 ms later: room for 10 more. */
	r->sw.now += tps / 100;
	settle(r);
	assert_int_equal(guest_broadcast(r, 20), 20);
	for (int pass = 0; pass < (int)N_VMS; pass++)
		sw_poll_once(&r->sw);
	guests_return(r);
	assert_int_equal(v0->st.drops[VM_DROP_FLOOD_LIMITED], 24 + 10);
	assert_int_equal(r->got[N_VMS - 1], 40 + 10);
	assert_int_equal(fake_nic_transmit(&r->nic), 10);
	settle(r);
	assert_int_equal(pool_check(&r->sw.pool, true, msg, sizeof(msg)), 0);
	v0->st.drops[VM_DROP_FLOOD_LIMITED] = 0; /* rig_down wants none */
	rig_down(r);
}

/* idle = "adaptive": the polling window grows (from a quarter of
 * poll_usecs, doubling) after idle spells that polling up to poll_usecs
 * would have covered and the window did not, holds after those it did,
 * halves (to 0 below a quarter) after longer ones; setting poll_usecs
 * lower clamps it. Ticks stand for time here. */
static void test_poll_window_adapts(void **state)
{
	static struct sw sw;
	static const struct { uint64_t spell, win; } steps[] = {
		{ 8000, 2500 },  /* blocked, woken soon: poll a quarter */
		{ 8000, 5000 },
		{ 8000, 10000 },
		{ 9000, 10000 }, /* polling caught it: as it is */
		{ 400, 10000 },
		{ 20000, 5000 }, /* polled 10000 for nothing: halve */
		{ 30000, 2500 },
		{ 30000, 0 },    /* below a quarter: block at once */
		{ 30000, 0 },
		{ 10000, 2500 }, /* frames close again */
	};

	(void)state;
	ticks_init(&sw.ticks);
	sw.poll_max = 10000;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		sw_poll_adapt(&sw, steps[i].spell);
		assert_int_equal(sw.poll_win, steps[i].win);
	}
	sw.poll_win = sw.poll_max = 10000;
	sw_idle_set(&sw, CFG_IDLE_ADAPTIVE, 0);
	assert_int_equal(sw.poll_max, 0);
	assert_int_equal(sw.poll_win, 0);
	sw_poll_adapt(&sw, 1);
	assert_int_equal(sw.poll_win, 0); /* poll_usecs 0: never polls */
	sw_idle_set(&sw, CFG_IDLE_POLL, 20);
	assert_int_equal(sw.idle_mode, CFG_IDLE_POLL);
	assert_int_equal(sw.poll_usecs, 20);
	assert_int_equal(sw.poll_max, ticks_of_us(&sw.ticks, 20));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fanout_delivered_and_reclaimed),
		cmocka_unit_test(test_poll_window_adapts),
		cmocka_unit_test(test_returned_frame_waits_for_turn),
		cmocka_unit_test(test_pool_low_reclaims_next_pass),
		cmocka_unit_test(test_half_quota_reclaims_next_pass),
		cmocka_unit_test(test_sender_found_then_served_every_pass),
		cmocka_unit_test(test_idle_vm_request_seen_on_turn),
		cmocka_unit_test(test_requests_acted_on_at_most_every_gap),
		cmocka_unit_test(test_guest_frames_to_wire),
		cmocka_unit_test(test_too_big_never_sent),
		cmocka_unit_test(test_spoofed_frames_dropped),
		cmocka_unit_test(test_wire_header_private),
		cmocka_unit_test(test_wire_header_private_no_sg),
		cmocka_unit_test(test_sender_seen_after_nap),
		cmocka_unit_test(test_group_socket_read_in_turn),
		cmocka_unit_test(test_nic_batch_sorted_to_vms),
		cmocka_unit_test(test_nic_burst_stops_at_quota),
		cmocka_unit_test(test_rx_room_gives_way_to_alloc),
		cmocka_unit_test(test_doorbells_moderated),
		cmocka_unit_test(test_doorbells_adapt),
		cmocka_unit_test(test_polled_guest_keeps_polling),
		cmocka_unit_test(test_foreign_tags_reach_no_vm),
		cmocka_unit_test(test_flood_copies_only_for_room),
		cmocka_unit_test(test_flood_limited),
		cmocka_unit_test(test_mail_withdrawn_on_timeout),
		cmocka_unit_test(test_doorbell_listed_once),
		cmocka_unit_test(test_whole_frame_flooded_within_frames),
		cmocka_unit_test(test_all_vms_reset_and_given_again_in_a_pass),
		cmocka_unit_test(test_region_cut_short_takes_vm_out),
		cmocka_unit_test(test_pool_cut_short_stops_switch),
		cmocka_unit_test(test_sleep_unwatched_fd_polls),
		cmocka_unit_test(test_hangup_lets_guest_go_next_pass),
		cmocka_unit_test(test_bell_quiet_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
