// SPDX-License-Identifier: MIT
/*
 * fs-core-bench: the switching core alone, no kernel. Frames go round the
 * loop a NIC and a guest would drive, all in one thread:
 *
 *   nic_side     "the NIC" writes an Ethernet header into each frame the
 *                fill ring holds (not counted)
 *   switch_side  takes the frames from the fill ring, classifies them and
 *                hands them off (sw_from_nic_burst), takes back what the
 *                guests freed (scrub, free list), refills the fill ring
 *   guest_side   each VM's guest receives, reads the first cache line and
 *                gives the frame back (not counted)
 *
 * It reports the switch side's ns per packet (two clock reads a batch) and,
 * run under valgrind --tool=callgrind --toggle-collect=switch_side, its
 * instructions per packet. --handoff copy runs the copy baseline.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsguest.h"
#include "switch.h"
#include "toolutil.h"

#define BATCH 64
#define MAX_VMS 256

struct bench {
	struct cfg cfg;
	struct sw sw;
	struct port nic;
	struct fsg g[MAX_VMS];
	uint32_t n_vms;
	uint32_t len;
	uint64_t fill[BATCH];
	uint32_t seq;
};

static volatile uint8_t sink;

static __attribute__((noinline)) void nic_side(struct bench *b)
{
	for (uint32_t i = 0; i < BATCH; i++) {
		uint8_t *d = pool_data(&b->sw.pool, b->fill[i] + FS_HEADROOM);

		memcpy(d, b->cfg.vms[b->seq++ % b->n_vms].mac, 6);
		memset(d + 6, 0x02, 6);
		d[12] = 0x08;
		d[13] = 0x00;
	}
}

static __attribute__((noinline)) void switch_side(struct bench *b)
{
	struct pool *p = &b->sw.pool;
	struct port_frame f[BATCH];

	/* As port_rx: the frames leave the fill ring. */
	for (uint32_t i = 0; i < BATCH; i++) {
		uint32_t frame = pool_frame(p, b->fill[i]);

		pool_move(p, frame, POOL_OWN_FILL, POOL_OWN_SWITCH);
		pool_note_extent(p, frame, FS_HEADROOM + b->len);
		f[i].addr = b->fill[i] + FS_HEADROOM;
		f[i].len = b->len;
	}
	sw_from_nic_burst(&b->sw, &b->nic, f, BATCH);
	for (uint32_t v = 0; v < b->n_vms; v++)
		vmport_free_drain(&b->sw.vms[v], p, BATCH);
	/* As port_service: the fill ring gets new frames. */
	for (uint32_t i = 0; i < BATCH; i++) {
		uint64_t addr = pool_alloc(p);

		pool_move(p, pool_frame(p, addr), POOL_OWN_SWITCH, POOL_OWN_FILL);
		b->fill[i] = addr;
	}
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

static void *attach_all(void *arg)
{
	struct bench *b = arg;

	for (uint32_t v = 0; v < b->n_vms; v++)
		if (fsg_attach(&b->g[v], 5000))
			return (void *)1;
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "size", required_argument, NULL, 's' },
		{ "packets", required_argument, NULL, 'n' },
		{ "handoff", required_argument, NULL, 'H' },
		{ "scrub", required_argument, NULL, 'S' },
		{ "vms", required_argument, NULL, 'v' },
		{ 0 },
	};
	static struct bench b;
	struct sw *sw = &b.sw;
	unsigned long long packets = 1000000, done = 0;
	unsigned int size = 64;
	const char *handoff = "zerocopy", *scrub = "used";
	double ns = 0;
	char err[256];
	pthread_t th;
	void *rc;
	int c;

	b.n_vms = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': size = (unsigned int)atoi(optarg); break;
		case 'n': packets = strtoull(optarg, NULL, 0); break;
		case 'H': handoff = optarg; break;
		case 'S': scrub = optarg; break;
		case 'v': b.n_vms = (uint32_t)atoi(optarg); break;
		default:
			fprintf(stderr, "usage: fs-core-bench [--size 64..1518] [--packets N] [--handoff zerocopy|copy] [--scrub off|used|full] [--vms 1..256]\n");
			return 2;
		}
	}
	if (size < 64 || size > 1518 || !b.n_vms || b.n_vms > MAX_VMS)
		return 2;
	b.len = size - 4;
	snprintf(b.cfg.pool.path, sizeof(b.cfg.pool.path),
		 "/dev/shm/fs-core-bench-%d-pool", (int)getpid());
	b.cfg.pool.frames = 8192 + 256 * b.n_vms;
	b.cfg.pool.frame_size = 2048;
	b.cfg.pool.scrub = !strcmp(scrub, "off") ? CFG_SCRUB_OFF :
			   !strcmp(scrub, "full") ? CFG_SCRUB_FULL : CFG_SCRUB_USED;
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
	}
	if (sw_init(sw, &b.cfg)) {
		fprintf(stderr, "fs-core-bench: cannot set up the switch\n");
		return 1;
	}
	b.nic.index = 0;
	for (uint32_t v = 0; v < b.n_vms; v++)
		if (fsg_open(&b.g[v], b.cfg.pool.path, b.cfg.vms[v].rings, err,
			     sizeof(err))) {
			fprintf(stderr, "fs-core-bench: %s\n", err);
			return 1;
		}
	/* The guests attach while the switch answers. */
	pthread_create(&th, NULL, attach_all, &b);
	for (int i = 0; i < 100000 && pthread_tryjoin_np(th, &rc); i++) {
		for (uint32_t v = 0; v < b.n_vms; v++)
			vmport_poll_ctrl(&sw->vms[v], &sw->pool);
		usleep(10);
	}
	for (uint32_t i = 0; i < BATCH; i++) {
		b.fill[i] = pool_alloc(&sw->pool);
		pool_move(&sw->pool, pool_frame(&sw->pool, b.fill[i]),
			  POOL_OWN_SWITCH, POOL_OWN_FILL);
	}
	/* Warm up, then measure. */
	for (int i = 0; i < 1000; i++) {
		nic_side(&b);
		switch_side(&b);
		guest_side(&b);
	}
	while (done < packets) {
		double t0, t1;

		nic_side(&b);
		t0 = tool_now();
		switch_side(&b);
		t1 = tool_now();
		guest_side(&b);
		ns += (t1 - t0) * 1e9;
		done += BATCH;
	}
	printf("core size %u handoff %s scrub %s vms %u: %.2f ns/packet over %llu packets (%llu through switch_side)\n",
	       size, handoff, scrub, b.n_vms, ns / (double)done, done,
	       done + 1000ull * BATCH);
	for (uint32_t v = 0; v < b.n_vms; v++)
		fsg_close(&b.g[v]);
	sw_fini(sw);
	return 0;
}
