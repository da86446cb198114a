// SPDX-License-Identifier: MIT
/*
 * The control thread's reads of the switch: sw_snapshot, and the consumer
 * side of the capture ring. See sw_snapshot.h for what may be read how.
 *
 * Owns nothing of the worker's; it writes only the capture ring's
 * consumer index, which is the control thread's (SPSC: the worker
 * produces).
 */
#include <string.h>

#include "sw_snapshot.h"

#define RD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* n single-writer counters, each loaded on its own: a struct copy could
 * tear one the worker is storing. */
static void rd_u64s(uint64_t *dst, const uint64_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = RD(src[i]);
}

#define RD_STATS(dst, src)                                                   \
	do {                                                                 \
		_Static_assert(sizeof(src) % sizeof(uint64_t) == 0,          \
			       "counters are u64s only");                     \
		rd_u64s((uint64_t *)&(dst), (const uint64_t *)&(src),        \
			sizeof(src) / sizeof(uint64_t));                     \
	} while (0)

static void snap_nic(const struct port *pt, struct sw_snap_nic *n)
{
	n->cfg = pt->cfg;
	n->n_queues = pt->n_queues;
	n->xdp_flags = pt->xdp_flags;
	n->prog_id = pt->prog_id;
	n->zerocopy = pt->zerocopy;
	n->mtu = __atomic_load_n(&pt->mtu, __ATOMIC_RELAXED);
	/* Set once by nl_start, before the control thread runs. */
	memcpy(n->kind, pt->kind, sizeof(n->kind));
	n->tunnel = pt->tunnel;
	if (pt->fdb_ifindex)
		memcpy(n->publish_fdb, pt->fdb_name, sizeof(n->publish_fdb));
	else
		n->publish_fdb[0] = '\0';
	n->fdb_ifindex = pt->fdb_ifindex;
	n->fdb_vlans = pt->bridge_vlans;
	for (uint32_t q = 0; q < pt->n_queues; q++) {
		n->qid[q] = pt->q[q].qid;
		n->qpool[q] = (int8_t)pt->q[q].pool->index;
	}
	RD_STATS(n->st, pt->st);
	/* The kernel's counters: its own to keep consistent. */
	port_xsk_stats(pt, &n->xsk);
	memset(n->xdp, 0, sizeof(n->xdp));
	port_xdp_counters(pt, n->xdp);
}

static void snap_vm(const struct sw *sw, const struct vmport *v,
		    struct sw_snap_vm *s)
{
	s->active = RD(v->active);
	if (!s->active)
		return;
	s->attached = RD(v->attached);
	s->db_live = RD(v->db_live) != 0;
	s->rings_me = RD(v->rings_me);
	s->broken = RD(v->broken);
	s->held = RD(v->pool->count[v->owner]);
	s->pool = v->pool->index;
	s->region_fd = v->fd;
	s->irq_fd = v->irq_fd;
	s->bell_fd = v->bell_fd;
	RD_STATS(s->st, v->st);
	s->doorbell_gap_us = (uint32_t)(ticks_ns(&sw->ticks, RD(v->sw.bell_gap)) / 1000);
	s->cfg = v->cfg;
}

static void snap_fdb(const struct fdb *f, struct sw_snap *s)
{
	s->n_fdb = 0;
	for (uint32_t i = 0; i <= f->mask; i++) {
		const struct fdb_entry *e = &f->slot[i];
		struct sw_snap_fdb *o;

		if (!e->key)
			continue;
		/* One entry per VM: the table holds no learned ones. */
		if (s->n_fdb == sizeof(s->fdb) / sizeof(s->fdb[0]))
			break;
		o = &s->fdb[s->n_fdb++];
		fdb_key_mac(e->key, o->mac);
		o->vlan = fdb_key_vlan(e->key);
		o->vm = e->port;
		o->kind = e->kind;
	}
}

void sw_snapshot(const struct sw *sw, struct sw_snap *s)
{
	s->batch = sw->batch;
	s->handoff_copy = sw->handoff_copy;
	s->guest_timeout = sw->cfg->guest_timeout;
	s->doorbell_max_usecs = sw->cfg->doorbell_max_usecs;
	s->doorbell_usecs = sw->cfg->doorbell_usecs;
	s->max_sleep_usecs = RD(sw->max_nap_us);
	s->idle = (enum cfg_idle)RD(sw->idle_mode);
	s->poll_usecs = RD(sw->poll_usecs);

	strcpy(s->pool_path, sw->pool.path);
	s->frames = sw->pool.frames;
	s->frame_size = sw->pool.frame_size;
	s->scrub = sw->pool.scrub.mode;
	s->hugetlb = sw->pool.hugetlb;
	s->n_free = RD(sw->pool.n_free);
	s->scrubbed_frames = s->scrubbed_bytes = 0;
	s->n_pools = sw->n_pools;
	for (int k = 0; k < sw->n_pools; k++) {
		const struct pool *p = &sw->pools[k];
		struct sw_snap_pool *o = &s->pools[k];

		strcpy(o->name, p->name);
		strcpy(o->path, p->path);
		o->frames = p->frames;
		o->frame_size = p->frame_size;
		o->scrub = p->scrub.mode;
		o->hugetlb = p->hugetlb;
		o->n_free = RD(p->n_free);
		o->scrubbed_frames = RD(p->scrub.frames);
		o->scrubbed_bytes = RD(p->scrub.bytes);
		rd_u64s(o->copies, sw->xcopies[k], SW_COPY_NR);
		s->scrubbed_frames += o->scrubbed_frames;
		s->scrubbed_bytes += o->scrubbed_bytes;
	}

	RD_STATS(s->drops, sw->drops);
	s->copies = RD(sw->copies);
	s->handoff_copies = RD(sw->handoff_copies);
	s->vm2vm = RD(sw->vm2vm);
	s->sleeps = RD(sw->sleeps);
	s->bells = RD(sw->bells);
	s->naps = RD(sw->naps);
	s->packets_in = sw_packets_in(sw);
	s->busy_passes = RD(sw->busy_passes);
	s->busy_ns = ticks_ns(&sw->ticks, RD(sw->busy_ticks));
	s->idle_ns = ticks_ns(&sw->ticks, RD(sw->idle_ticks));
	s->sleep_ns = ticks_ns(&sw->ticks, RD(sw->sleep_ticks));
	s->poll_window_ns = ticks_ns(&sw->ticks, RD(sw->poll_win));

	s->n_nics = sw->n_ports;
	for (int i = 0; i < sw->n_ports; i++)
		snap_nic(&sw->ports[i], &s->nic[i]);
	snap_fdb(&sw->fdb, s);
	s->audit = sw->snap;
	s->n_vms = sw->n_vms;
	for (int i = 0; i < sw->n_vms; i++)
		snap_vm(sw, &sw->vms[i], &s->vm[i]);
}

void sw_cap_cons_reset(struct sw *sw)
{
	__atomic_store_n(&sw->cap.cons,
			 __atomic_load_n(&sw->cap.prod, __ATOMIC_ACQUIRE),
			 __ATOMIC_RELEASE);
}

const struct sw_cap_rec *sw_cap_cons_peek(const struct sw *sw)
{
	const struct sw_capture *cap = &sw->cap;

	/* Acquire: the record's bytes were written before prod moved. */
	if (cap->cons == __atomic_load_n(&cap->prod, __ATOMIC_ACQUIRE))
		return NULL;
	return &cap->ring[cap->cons & (SW_CAP_SLOTS - 1)];
}

void sw_cap_cons_release(struct sw *sw)
{
	/* Release: the record was read before the worker may write it. */
	__atomic_store_n(&sw->cap.cons, sw->cap.cons + 1, __ATOMIC_RELEASE);
}

uint64_t sw_cap_dropped(const struct sw *sw)
{
	return RD(sw->cap.dropped);
}
