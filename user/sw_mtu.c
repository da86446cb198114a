// SPDX-License-Identifier: MIT
/*
 * Uplink MTUs, from the netlink thread (nl.c) to the data path and the
 * guests. The netlink thread stores a port's MTU and bumps sw->mtu_gen;
 * the worker checks the generation once a pass and copies each VM's
 * uplink MTU into its ring header (ring.h, ABI 1.2). to_nic reads the
 * port's MTU itself, so a frame sent after the change is held to it even
 * before the headers are written.
 *
 * Ordering: the MTU is stored before mtu_gen is store-released; the
 * worker load-acquires mtu_gen, so the MTUs it then reads are at least
 * as new. A change arriving while the worker publishes bumps mtu_gen
 * again and is published the next pass.
 */
#include "switch.h"

void sw_mtu_set(struct sw *sw, int i, uint32_t mtu)
{
	__atomic_store_n(&sw->ports[i].mtu, mtu, __ATOMIC_RELAXED);
	__atomic_fetch_add(&sw->mtu_gen, 1, __ATOMIC_RELEASE);
}

void sw_mtu_vm(struct sw *sw, struct vmport *v)
{
	uint32_t mtu = 0;

	if (v->uplink < sw->n_ports)
		mtu = __atomic_load_n(&sw->ports[v->uplink].mtu,
				      __ATOMIC_RELAXED);
	/* The guest reads it when it needs it: no ordering with anything
	 * else in the region. */
	__atomic_store_n(&v->hdr->uplink_mtu, mtu, __ATOMIC_RELAXED);
}

void sw_mtu_publish(struct sw *sw)
{
	uint32_t gen = __atomic_load_n(&sw->mtu_gen, __ATOMIC_ACQUIRE);

	if (__builtin_expect(gen == sw->mtu_seen, 1))
		return;
	sw->mtu_seen = gen;
	for (int i = 0; i < sw->n_vms; i++)
		if (sw->vms[i].active)
			sw_mtu_vm(sw, &sw->vms[i]);
}
