// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: everything a guest can make the switch's side of a VM
 * port do (user/vmport.c), over a real pool and region on /dev/shm.
 *
 * An input is a run of operations, each an opcode byte and its arguments:
 * the guest's (any word of the region written with any value; a
 * descriptor posted on the tx or free ring, of a frame the VM owns or of
 * any offset; an attach or detach request; a heartbeat) mixed with the
 * switch's (acting on requests, collecting tx, draining free, refilling
 * alloc, giving frames on rx one at a time or in a burst, the heartbeat
 * check, the header repair). After every operation the ownership audit
 * (pool_check) must hold, and the VM may hold no more than its quota;
 * anything else aborts, as do the sanitizers. Each input starts from a
 * detached VM with every frame back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "pool.h"
#include "vmport.h"

#define FRAMES 64u
#define QUOTA 16u
#define RING 16u

static struct pool pool;
static struct vmport vm;
static struct cfg_pool pc;
static struct cfg_vm vc;
static char pool_path[64], rings_path[64];

static void cleanup(void)
{
	vmport_destroy(&vm, &pool);
	pool_destroy(&pool);
	unlink(rings_path);
	unlink(pool_path);
}

static void setup(void)
{
	snprintf(pool_path, sizeof(pool_path), "/dev/shm/fs-fuzz-vmport-%d-pool",
		 (int)getpid());
	snprintf(rings_path, sizeof(rings_path), "/dev/shm/fs-fuzz-vmport-%d-vm",
		 (int)getpid());
	unlink(pool_path);
	unlink(rings_path);
	log_level = LOG_LVL_ERR;
	snprintf(pc.path, sizeof(pc.path), "%s", pool_path);
	pc.frames = FRAMES;
	pc.frame_size = 2048;
	pc.scrub = CFG_SCRUB_FULL;
	snprintf(vc.name, sizeof(vc.name), "fuzz");
	memcpy(vc.mac, (uint8_t[]){ 0x52, 0x54, 0, 0, 0, 1 }, 6);
	snprintf(vc.rings, sizeof(vc.rings), "%s", rings_path);
	vc.quota = QUOTA;
	vc.ring_size = RING;
	if (pool_create(&pool, &pc, 1) || vmport_create(&vm, &vc, 0, &pool))
		abort();
	atexit(cleanup);
}

struct in {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct in *in, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes && in->n; i++, in->p++, in->n--)
		v |= (uint64_t)*in->p << (8 * i);
	return v;
}

/* The k-th frame the VM owns (as the guest would hold it), or any
 * offset if it owns none. */
static uint64_t owned_frame(uint32_t k, uint64_t fallback)
{
	uint32_t n = pool.count[vm.owner];

	if (!n)
		return fallback;
	k %= n;
	for (uint32_t f = 0; f < pool.frames; f++)
		if (pool.fr[f].owner == vm.owner && !k--)
			return pool_frame_addr(&pool, f);
	return fallback;
}

static void audit(void)
{
	char msg[160];

	if (pool_check(&pool, true, msg, sizeof(msg))) {
		fprintf(stderr, "ownership audit: %s\n", msg);
		abort();
	}
	if (pool.count[vm.owner] > vm.quota) {
		fprintf(stderr, "the VM holds %u frames, quota %u\n",
			pool.count[vm.owner], vm.quota);
		abort();
	}
}

static void guest_post(struct fs_ring_info *ri, bool desc, uint64_t addr,
		       uint32_t len, uint32_t options)
{
	struct fs_ring_shared *s =
		(struct fs_ring_shared *)(vm.region + ri->off);
	uint32_t prod = __atomic_load_n(&s->producer, __ATOMIC_RELAXED);

	if (desc) {
		struct fs_desc *d = (struct fs_desc *)s->desc +
				    (prod & (ri->size - 1));

		d->addr = addr;
		d->len = len;
		d->options = options;
	} else {
		((uint64_t *)s->desc)[prod & (ri->size - 1)] = addr;
	}
	__atomic_store_n(&s->producer, prod + 1, __ATOMIC_RELEASE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct fs_desc out[RING];
	uint64_t now_ms = 1;

	if (!vm.region)
		setup();
	/* Every input from the same start: detached, everything back. */
	vmport_ctrl_act(&vm, &pool, 0);
	vm.sw.ctrl_next = 0;
	audit();
	while (in.n) {
		uint8_t op = (uint8_t)take(&in, 1);
		uint64_t a, b;
		uint32_t n;

		switch (op % 14) {
		case 0: /* the guest writes a word anywhere in the region */
			a = take(&in, 4) % (vm.region_size / 4);
			b = take(&in, 4);
			__atomic_store_n((uint32_t *)vm.region + a, (uint32_t)b,
					 __ATOMIC_RELAXED);
			break;
		case 1: /* ... or a u64 */
			a = take(&in, 4) % (vm.region_size / 8);
			b = take(&in, 8);
			__atomic_store_n((uint64_t *)vm.region + a, b,
					 __ATOMIC_RELAXED);
			break;
		case 2: /* the guest sends a frame it owns, at an offset */
			a = owned_frame((uint32_t)take(&in, 1), take(&in, 8));
			a += take(&in, 2) & 2047;
			b = take(&in, 2);
			guest_post(&vm.layout.tx, true, a, (uint32_t)b,
				   (uint32_t)(take(&in, 1) == 0xff));
			break;
		case 3: /* the guest gives a frame back (or any offset) */
			a = take(&in, 1);
			a = a & 0x80 ? take(&in, 8) : owned_frame((uint32_t)a, 0);
			guest_post(&vm.layout.free, false, a, 0, 0);
			break;
		case 4: /* attach or detach request */
			a = take(&in, 2);
			__atomic_store_n(&vm.hdr->guest_req, (uint32_t)a,
					 __ATOMIC_RELEASE);
			break;
		case 5:
			vmport_poll_ctrl(&vm, &pool);
			break;
		case 6:
			n = vmport_tx_collect(&vm, &pool, out, RING);
			for (uint32_t i = 0; i < n; i++)
				pool_recycle(&pool, pool_frame(&pool, out[i].addr));
			break;
		case 7:
			vmport_free_drain(&vm, &pool, RING);
			break;
		case 8:
			vmport_alloc_refill(&vm, &pool);
			break;
		case 9: /* frames from the switch, one at a time */
			n = (uint32_t)take(&in, 1) % 8;
			for (uint32_t i = 0; i < n; i++) {
				uint64_t f = pool_alloc(&pool);

				if (f == UINT64_MAX)
					break;
				if (vmport_rx_enqueue(&vm, &pool, f + FS_HEADROOM, 60))
					pool_free(&pool, f);
			}
			vmport_rx_flush(&vm, &pool);
			break;
		case 10: { /* ... or in a burst */
			struct vmport_burst bu;

			n = (uint32_t)take(&in, 1) % 8;
			vmport_burst_begin(&bu, &vm, &pool);
			for (uint32_t i = 0; i < n && !vmport_burst_full(&bu); i++) {
				uint64_t f = pool_alloc(&pool);

				if (f == UINT64_MAX)
					break;
				vmport_burst_put(&bu, pool.fr,
						 pool_frame(&pool, f),
						 f + FS_HEADROOM, 60);
			}
			vmport_burst_end(&bu);
			vmport_rx_flush(&vm, &pool);
			break;
		}
		case 11: /* time passes; the heartbeat check */
			now_ms += take(&in, 2);
			vmport_check_alive(&vm, &pool, now_ms, 500);
			break;
		case 12:
			vmport_hdr_repair(&vm);
			break;
		case 13: /* the guest's heartbeat */
			__atomic_fetch_add(&vm.hdr->guest_beat, 1,
					   __ATOMIC_RELAXED);
			break;
		}
		audit();
	}
	return 0;
}
