// SPDX-License-Identifier: MIT
/*
 * fs-core-bench: the switching core alone, no kernel. The worker's own pass
 * (sw_poll_once) runs against a NIC port whose AF_XDP rings are plain memory
 * served by this program, and guests served by the guest library, all in
 * one thread:
 *
 *   nic_side     "the kernel": takes frames from the fill ring, writes an
 *                Ethernet header into each and posts it on the rx ring
 *                (not counted)
 *   switch_side  one pass of the worker: rx ring, classify, hand-off, the
 *                guests' tx and free rings (scrub, free list), alloc
 *                refills, fill refill: the same code as flipswitchd's
 *   guest_side   each VM's guest receives, reads the first cache line and
 *                gives the frame back (not counted)
 *
 * It reports the switch side's ns per packet (two clock reads a pass) and,
 * run under valgrind --tool=callgrind --toggle-collect=switch_side, its
 * instructions per packet. --handoff copy runs the copy baseline; --size
 * imix alternates 64, 576 and 1500-byte frames (7:4:1), so that scrubbing
 * has stale bytes to zero; --vms N --active K attaches N VMs and sends to
 * the first K. --from vm sends VM to VM instead: VM 0's guest transmits
 * to VMs 1..K in turn (in nic_side's place, not counted), and the switch
 * side is the worker's pass taking the frames from VM 0's tx ring to the
 * others' rx rings (the NIC queue idle); --from vm --to nic sends VM 0's
 * frames to a MAC no VM has, out of the NIC port: the switch side takes
 * them to the queue's tx ring, and reaps their completions (which
 * nic_side posts, as the kernel would once sent). --burst N offers N frames a
 * pass instead of 64: at the rates of a veth, or of a lightly loaded NIC,
 * passes carry a frame or two, and a pass's fixed costs are the cost.
 * --pools 2 puts the receivers in a pool of their own, the NIC queue (and
 * the sender, VM to VM) in the other: every frame is copied across once,
 * the cost of isolation (VM 0 sending to the wire is then the receivers'
 * pool's, and its frames are copied into the queue's).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fakenic.h"
#include "toolutil.h"

#define BATCH 64
#define MAX_VMS 256

struct bench {
	struct cfg cfg;
	struct sw sw;
	struct fsg g[MAX_VMS];
	struct fake_nic nic;
	uint32_t n_vms;
	uint32_t active;     /* traffic goes to the first `active` VMs */
	uint32_t sizes[12], n_sizes;
	uint32_t seq;
	uint64_t moved;
	int from_vm;         /* --from vm */
	int to_nic;          /* --to nic: VM 0 sends out of the NIC */
	uint32_t burst;      /* frames offered a pass (--burst, <= BATCH) */
	int n_pools;         /* --pools: 1, or 2 (one copy across) */
};

static volatile uint8_t sink;

/* A MAC no VM has: VM 0's frames to it leave through the NIC. */
static const uint8_t wire_mac[6] = { 2, 0, 0, 0, 0, 0x99 };

/* VM 0's guest sends up to `burst` frames to VMs 1..active in turn, or to
 * the wire. */
static void vm_sender(struct bench *b)
{
	struct fsg *g = &b->g[0];

	for (uint32_t i = 0; i < b->burst; i++) {
		uint32_t n = b->seq;
		uint64_t base = fsg_alloc(g);
		uint8_t *h;

		if (base == UINT64_MAX)
			break;
		h = fsg_data(g, base + g->headroom);
		memcpy(h, b->to_nic ? wire_mac : b->cfg.vms[1 + n % b->active].mac,
		       6);
		memcpy(h + 6, b->cfg.vms[0].mac, 6);
		h[12] = 0x08;
		h[13] = 0x00;
		/* The FCS is not sent. */
		if (fsg_tx(g, base + g->headroom, b->sizes[n % b->n_sizes] - 4))
			break;
		b->seq++;
	}
	fsg_flush(g);
}

/* The kernel's side of the queue: up to `burst` frames from the fill ring
 * into the rx ring, each with a header for the next VM in turn. */
static __attribute__((noinline)) void nic_side(struct bench *b)
{
	static const uint8_t src[6] = { 2, 2, 2, 2, 2, 2 };

	if (b->from_vm) {
		/* What the switch side put on the tx ring last pass, sent. */
		if (b->to_nic)
			fake_nic_transmit(&b->nic);
		vm_sender(b);
		return;
	}
	for (uint32_t i = 0; i < b->burst; i++) {
		uint32_t n = b->seq;

		/* The FCS is not received. */
		if (fake_nic_put(&b->nic, &b->sw.pools[0],
				 b->cfg.vms[n % b->active].mac, src,
				 b->sizes[n % b->n_sizes] - 4))
			break;
		b->seq++;
	}
	fake_nic_post(&b->nic);
}

static __attribute__((noinline)) void switch_side(struct bench *b)
{
	b->moved += sw_poll_once(&b->sw);
}

static __attribute__((noinline)) void guest_side(struct bench *b)
{
	struct fs_desc d[BATCH];

	for (uint32_t v = 0; v < b->n_vms; v++) {
		uint32_t n = fsg_rx(&b->g[v], d, BATCH);

		for (uint32_t i = 0; i < n; i++) {
			sink ^= *(uint8_t *)fsg_data(&b->g[v], d[i].addr);
			fsg_free(&b->g[v], d[i].addr);
		}
		fsg_flush(&b->g[v]);
	}
}

/* Frames the switch side has taken through: received from the NIC,
 * handed from VM to VM, or from VM 0 to the NIC. */
static uint64_t through(const struct bench *b)
{
	if (b->to_nic)
		return b->sw.ports[0].st.tx_packets;
	return b->from_vm ? b->sw.vm2vm + b->sw.xcopies[1][SW_COPY_VM] :
			    b->sw.ports[0].st.rx_packets;
}

/* Every frame sent reached a VM. */
static int frames_arrived(const struct bench *b)
{
	uint64_t got = 0;

	for (uint32_t v = 0; v < b->n_vms; v++)
		got += b->sw.vms[v].st.rx_packets;
	if (b->to_nic)
		return b->sw.ports[0].st.tx_packets == b->seq &&
		       b->sw.vms[0].st.tx_packets == b->seq && !got;
	if (!b->from_vm)
		return b->sw.ports[0].st.rx_packets == b->nic.rx.producer &&
		       got == b->sw.ports[0].st.rx_packets;
	return through(b) == b->seq && got == b->seq &&
	       b->sw.vms[0].st.tx_packets == b->seq;
}

/* The guests stay attached to the end, so the switch keeps the files for
 * a next switch: this program made them, it removes them. */
static struct bench *files_of;

static void remove_files(void)
{
	for (int k = 0; k < files_of->cfg.n_pools; k++)
		unlink(files_of->cfg.pools[k].path);
	for (uint32_t v = 0; v < files_of->n_vms; v++)
		unlink(files_of->cfg.vms[v].rings);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "size", required_argument, NULL, 's' },
		{ "packets", required_argument, NULL, 'n' },
		{ "handoff", required_argument, NULL, 'H' },
		{ "scrub", required_argument, NULL, 'S' },
		{ "vms", required_argument, NULL, 'v' },
		{ "active", required_argument, NULL, 'a' },
		{ "from", required_argument, NULL, 'f' },
		{ "burst", required_argument, NULL, 'b' },
		{ "to", required_argument, NULL, 't' },
		{ "pools", required_argument, NULL, 'p' },
		{ 0 },
	};
	static struct bench b;
	struct sw *sw = &b.sw;
	unsigned long long warm;
	unsigned long long packets = 1000000, done = 0;
	const char *size = "64";
	const char *handoff = "zerocopy", *scrub = "used";
	double ns = 0;
	char err[256];
	int c;

	b.n_vms = 1;
	b.burst = BATCH;
	b.n_pools = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': size = optarg; break;
		case 'n': packets = strtoull(optarg, NULL, 0); break;
		case 'H': handoff = optarg; break;
		case 'S': scrub = optarg; break;
		case 'v': b.n_vms = (uint32_t)atoi(optarg); break;
		case 'a': b.active = (uint32_t)atoi(optarg); break;
		case 'f': b.from_vm = !strcmp(optarg, "vm"); break;
		case 'b': b.burst = (uint32_t)atoi(optarg); break;
		case 't': b.to_nic = !strcmp(optarg, "nic"); break;
		case 'p': b.n_pools = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: fs-core-bench [--size 64..1518|imix] [--packets N] [--handoff zerocopy|copy] [--scrub off|used|full] [--vms 1..256 [--active N]] [--from nic|vm [--to vm|nic]] [--burst 1..64] [--pools 1|2]\n");
			return 2;
		}
	}
	if (!strcmp(size, "imix")) {
		/* 7 x 64, 4 x 576, 1 x 1500, interleaved. */
		static const uint32_t imix[12] = { 64, 576, 64, 64, 576, 64,
						   1500, 64, 576, 64, 576, 64 };

		memcpy(b.sizes, imix, sizeof(imix));
		b.n_sizes = 12;
	} else {
		b.sizes[0] = (uint32_t)atoi(size);
		b.n_sizes = 1;
		if (b.sizes[0] < 64 || b.sizes[0] > 1518)
			return 2;
	}
	if (b.to_nic && !b.from_vm)
		return 2;
	if (b.from_vm && !b.to_nic && b.n_vms < 2)
		b.n_vms = 2;
	if (!b.active && !b.to_nic)
		b.active = b.from_vm ? b.n_vms - 1 : b.n_vms;
	if (!b.burst || b.burst > BATCH || !b.n_vms || b.n_vms > MAX_VMS ||
	    b.active > b.n_vms - (b.from_vm ? 1 : 0) || b.n_pools < 1 ||
	    b.n_pools > 2)
		return 2;
	b.cfg.n_pools = b.n_pools;
	for (int k = 0; k < b.n_pools; k++) {
		struct cfg_pool *p = &b.cfg.pools[k];

		snprintf(p->name, sizeof(p->name), "%s", k ? "guests" : "default");
		snprintf(p->path, sizeof(p->path),
			 "/dev/shm/fs-core-bench-%d-pool%d", (int)getpid(), k);
		p->frames = 8192 + 256 * b.n_vms;
		p->frame_size = 2048;
		p->scrub = !strcmp(scrub, "off") ? CFG_SCRUB_OFF :
			   !strcmp(scrub, "full") ? CFG_SCRUB_FULL : CFG_SCRUB_USED;
	}
	b.cfg.n_vms = (int)b.n_vms;
	b.cfg.batch = BATCH;
	b.cfg.handoff_copy = !strcmp(handoff, "copy");
	for (uint32_t v = 0; v < b.n_vms; v++) {
		struct cfg_vm *vm = &b.cfg.vms[v];

		snprintf(vm->name, sizeof(vm->name), "vm%u", v);
		memcpy(vm->mac, (uint8_t[]){ 0x52, 0x54, 0, 0, v >> 8, v & 0xff }, 6);
		snprintf(vm->rings, sizeof(vm->rings),
			 "/dev/shm/fs-core-bench-%d-vm%u", (int)getpid(), v);
		vm->quota = 256;
		vm->ring_size = 256;
		/* Two pools: the receivers in the second, the NIC queue (pool
		 * 0) and a VM 0 that sends to other VMs in the first. */
		vm->pool = b.n_pools > 1 && (v || !b.from_vm || b.to_nic);
	}
	files_of = &b;
	atexit(remove_files);
	if (sw_init(sw, &b.cfg)) {
		fprintf(stderr, "fs-core-bench: cannot set up the switch\n");
		return 1;
	}
	for (uint32_t v = 0; v < b.n_vms; v++)
		if (fsg_open(&b.g[v], b.cfg.pools[b.cfg.vms[v].pool].path,
			     b.cfg.vms[v].rings, err, sizeof(err))) {
			fprintf(stderr, "fs-core-bench: %s\n", err);
			return 1;
		}
	if (fake_attach_guests(sw, b.g, b.n_vms)) {
		fprintf(stderr, "fs-core-bench: the guests did not attach\n");
		return 1;
	}
	/* The NIC port, on rings this program serves as the kernel would. */
	fake_nic_attach(&b.nic, sw);
	/* Warm up, then measure. */
	for (int i = 0; i < 1000; i++) {
		nic_side(&b);
		switch_side(&b);
		guest_side(&b);
	}
	warm = through(&b);
	while (through(&b) - warm < packets) {
		double t0, t1;

		nic_side(&b);
		t0 = tool_now();
		switch_side(&b);
		t1 = tool_now();
		guest_side(&b);
		ns += (t1 - t0) * 1e9;
	}
	done = through(&b) - warm;
	printf("core size %s handoff %s scrub %s vms %u active %u from %s to %s burst %u pools %d: %.2f ns/packet over %llu packets (%llu through switch_side)\n",
	       size, handoff, scrub, b.n_vms, b.active,
	       b.from_vm ? "vm" : "nic", b.to_nic ? "nic" : "vm", b.burst,
	       b.n_pools,
	       ns / (double)done, done,
	       (unsigned long long)through(&b));
	if (!frames_arrived(&b)) {
		fprintf(stderr, "fs-core-bench: frames went missing\n");
		return 1;
	}
	for (uint32_t v = 0; v < b.n_vms; v++)
		fsg_close(&b.g[v]);
	sw_fini(sw);
	return 0;
}
