/* SPDX-License-Identifier: MIT */
/*
 * A NIC queue with no kernel behind it, for the core benchmark and the
 * switch's unit tests: the four AF_XDP rings of port 0's queue 0 as plain
 * memory, laid out as the kernel lays them out for libxdp's struct
 * xsk_ring_prod/cons, that the caller serves as the kernel would. And the
 * guests' attach, answered by the switch in the caller's thread.
 * Header-only.
 */
#ifndef FS_FAKENIC_H
#define FS_FAKENIC_H

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fsguest.h"
#include "switch.h"

#define FAKE_NIC_RING 2048

struct fake_ring {
	uint32_t producer, consumer, flags;
	union {
		uint64_t addr[FAKE_NIC_RING];
		struct xdp_desc desc[FAKE_NIC_RING];
	};
};

struct fake_nic {
	struct fake_ring fq, rx, cq, tx;
	uint32_t burst; /* frames fake_nic_put() added since the last post */
};

static inline void fake_prod(struct xsk_ring_prod *r, struct fake_ring *f)
{
	*r = (struct xsk_ring_prod){ .cached_cons = FAKE_NIC_RING,
				     .mask = FAKE_NIC_RING - 1,
				     .size = FAKE_NIC_RING,
				     .producer = &f->producer,
				     .consumer = &f->consumer, .ring = f->addr,
				     .flags = &f->flags };
}

static inline void fake_cons(struct xsk_ring_cons *r, struct fake_ring *f)
{
	*r = (struct xsk_ring_cons){ .mask = FAKE_NIC_RING - 1,
				     .size = FAKE_NIC_RING,
				     .producer = &f->producer,
				     .consumer = &f->consumer, .ring = f->addr,
				     .flags = &f->flags };
}

/* Makes the switch's port 0 a one-queue port of MTU 1500 on n's rings,
 * its queue of the first pool, and fills its fill ring. */
static inline void fake_nic_attach(struct fake_nic *n, struct sw *sw)
{
	struct port *pt = &sw->ports[0];

	memset(n, 0, sizeof(*n));
	memset(pt, 0, sizeof(*pt));
	snprintf(pt->cfg.name, sizeof(pt->cfg.name), "fake0");
	pt->n_queues = 1;
	pt->zerocopy = true;
	pt->mc_fd = pt->q[0].fd = -1;
	pt->q[0].pool = pt->mc_pool = &sw->pools[0];
	fake_prod(&pt->q[0].fq, &n->fq);
	fake_cons(&pt->q[0].rx, &n->rx);
	fake_cons(&pt->q[0].cq, &n->cq);
	fake_prod(&pt->q[0].tx, &n->tx);
	sw->n_ports = 1;
	sw_mtu_set(sw, 0, 1500);
	while (port_service(pt, sw->batch))
		;
}

/* "Receives" a frame of len bytes (FCS not included) whose first n bytes
 * are bytes[] (the rest is whatever the frame held): takes a frame off the
 * fill ring and writes them and the rx descriptor; fake_nic_post() shows
 * the burst to the switch. Returns 0, or -1 if the fill ring is empty or
 * the rx ring full. */
static inline int fake_nic_put_frame(struct fake_nic *n, struct pool *p,
				     const void *bytes, uint32_t nb,
				     uint32_t len)
{
	uint32_t fill = __atomic_load_n(&n->fq.producer, __ATOMIC_ACQUIRE);
	uint32_t i = n->burst;
	uint64_t addr;
	struct xdp_desc *d;

	if (n->fq.consumer + i == fill ||
	    n->rx.producer - n->rx.consumer + i >= FAKE_NIC_RING)
		return -1;
	addr = n->fq.addr[(n->fq.consumer + i) & (FAKE_NIC_RING - 1)];
	d = &n->rx.desc[(n->rx.producer + i) & (FAKE_NIC_RING - 1)];
	memcpy(pool_data(p, addr + FS_HEADROOM), bytes, nb);
	d->addr = addr + FS_HEADROOM;
	d->len = len;
	d->options = 0;
	n->burst++;
	return 0;
}

/* The same with an Ethernet header (IPv4) for dst from src. */
static inline int fake_nic_put(struct fake_nic *n, struct pool *p,
			       const uint8_t dst[6], const uint8_t src[6],
			       uint32_t len)
{
	uint8_t h[FS_ETH_HLEN];

	memcpy(h, dst, 6);
	memcpy(h + 6, src, 6);
	h[12] = 0x08;
	h[13] = 0x00;
	return fake_nic_put_frame(n, p, h, sizeof(h), len);
}

static inline void fake_nic_post(struct fake_nic *n)
{
	__atomic_store_n(&n->fq.consumer, n->fq.consumer + n->burst,
			 __ATOMIC_RELEASE);
	__atomic_store_n(&n->rx.producer, n->rx.producer + n->burst,
			 __ATOMIC_RELEASE);
	n->burst = 0;
}

/* "Transmits" what the switch posted on the tx ring: completes it all.
 * Returns how many frames. */
static inline uint32_t fake_nic_transmit(struct fake_nic *n)
{
	uint32_t prod = __atomic_load_n(&n->tx.producer, __ATOMIC_ACQUIRE);
	uint32_t k = prod - n->tx.consumer;

	for (uint32_t i = 0; i < k; i++)
		n->cq.addr[(n->cq.producer + i) & (FAKE_NIC_RING - 1)] =
			n->tx.desc[(n->tx.consumer + i) & (FAKE_NIC_RING - 1)].addr;
	__atomic_store_n(&n->tx.consumer, prod, __ATOMIC_RELEASE);
	__atomic_store_n(&n->cq.producer, n->cq.producer + k, __ATOMIC_RELEASE);
	return k;
}

struct fake_guests {
	struct fsg *g;
	uint32_t n;
};

static inline void *fake_attach_all(void *arg)
{
	struct fake_guests *a = arg;

	for (uint32_t v = 0; v < a->n; v++)
		if (fsg_attach(&a->g[v], 5000))
			return (void *)1;
	return NULL;
}

/* Attaches the n opened guests g[] to VMs 0..n-1 of sw: they ask from
 * another thread while the switch answers in this one. Returns 0 once
 * all are attached. */
static inline int fake_attach_guests(struct sw *sw, struct fsg *g, uint32_t n)
{
	struct fake_guests a = { g, n };
	pthread_t th;
	void *rc = (void *)1;
	bool joined = false;

	if (pthread_create(&th, NULL, fake_attach_all, &a))
		return -1;
	for (int i = 0; i < 100000 && !joined; i++) {
		for (uint32_t v = 0; v < n; v++)
			vmport_poll_ctrl(&sw->vms[v], &sw->pool);
		usleep(10);
		joined = !pthread_tryjoin_np(th, &rc);
	}
	if (!joined) {
		/* It uses a, which ends with this call: stop it first. */
		pthread_cancel(th);
		pthread_join(th, NULL);
		return -1;
	}
	return rc ? -1 : 0;
}

#endif /* FS_FAKENIC_H */
