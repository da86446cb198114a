// SPDX-License-Identifier: MIT
/*
 * The mailbox between the control thread and the worker (switch.h): the
 * one way the control thread changes what the worker owns (the VM table,
 * the MAC tables' static entries, the capture, the counters, the settings,
 * whether a VM's guest is on its doorbell) or the guests see. What the
 * control thread reads goes through sw_snapshot (sw_snapshot.c).
 *
 * Owns: sw->mail and sw->snap. Invariants: one request at a time; the
 * worker takes a request only at the start of a pass (sw_mail_poll), so
 * no frame of the pass is in flight while it acts; a request the worker
 * did not take in time is withdrawn and never acted on.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sw_internal.h"

/* Each pool's audit, every VM counted in its own pool. */
static void frames_snapshot(struct sw *sw)
{
	struct sw_frames_snap *s = &sw->snap;

	s->ok = 1;
	s->msg[0] = '\0';
	for (int k = 0; k < sw->n_pools; k++) {
		struct pool *p = &sw->pools[k];

		s->pool[k].fill = p->count[POOL_OWN_FILL];
		s->pool[k].tx = p->count[POOL_OWN_TX];
		s->pool[k].sw = p->count[POOL_OWN_SWITCH];
		s->pool[k].free_list = p->n_free;
		s->pool[k].ok = !pool_check(p, true, s->pool[k].msg,
					    sizeof(s->pool[k].msg));
		if (!s->pool[k].ok && s->ok) {
			s->ok = 0;
			snprintf(s->msg, sizeof(s->msg), "pool %s: %s", p->name,
				 s->pool[k].msg);
		}
	}
	for (int i = 0; i < sw->n_vms; i++)
		s->vm[i] = sw->vms[i].active ?
				   sw->vms[i].pool->count[sw->vms[i].owner] : 0;
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
	sw_bell_gap_set(sw, v);
	sw_mtu_vm(sw, v);
	if (v->uplink < sw->n_ports)
		port_vm_txq(&sw->ports[v->uplink], (uint32_t)idx, v->pool);
	if (idx == sw->n_vms)
		sw->n_vms++;
	/* Last, the NIC's XDP program: frames for it come once it is here. */
	if (v->cfg.uplink < sw->n_ports) {
		err = port_mac_add(&sw->ports[v->cfg.uplink], v->cfg.mac,
				   v->cfg.vlan, (uint32_t)idx);
		if (err)
			log_warn("vm %s: cannot add to the XDP MAC map: %s",
				 v->cfg.name, strerror(-err));
	}
	return 0;
}

/* Unlinks VM idx and hands its port over in *out, the caller's from then
 * on (to unmap). */
static int64_t vm_unlink(struct sw *sw, int idx, struct vmport *out)
{
	struct vmport *v = &sw->vms[idx];
	uint32_t n;

	/* First the NIC's XDP program stops sending its frames. */
	if (v->cfg.uplink < sw->n_ports)
		port_mac_del(&sw->ports[v->cfg.uplink], v->cfg.mac,
			     v->cfg.vlan);
	fdb_del(&sw->fdb, v->cfg.mac, v->cfg.vlan);
	v->attached = false;
	v->active = false;
	/* Out of the worker's sleeps before the control thread closes it
	 * (QEMU's copy would keep it in the epoll set). */
	if (v->db_live)
		sw_bell_watch(sw, v, SW_BELL_DEL);
	__atomic_store_n(&v->db_live, false, __ATOMIC_RELAXED);
	if (sw->cap.vm == idx) {
		sw->cap.vm = -1;
		sw_set_slow(sw);
	}
	/* Frames on its rx ring are counted to it, so this takes them too. */
	n = pool_reclaim(v->pool, v->owner);
	v->st.reclaimed += n;
	*out = *v;
	/* The slot keeps nothing of it to unmap again (sw_fini). */
	v->region = NULL;
	v->hdr = NULL;
	v->fd = v->irq_fd = v->bell_fd = -1;
	return n;
}

/* Whether the switch may ring VM idx's guest: only while one is connected
 * to its doorbell (ring.h, I); the guest learns it from switch_doorbell. */
static int64_t vm_doorbell(struct sw *sw, int idx, int live)
{
	struct vmport *v = &sw->vms[idx];

	if (idx < 0 || idx >= sw->n_vms || !v->active)
		return -ENOENT;
	/* The peer hung up: its QEMU is gone, and the guest in it. Its
	 * frames come back now, not after guest_timeout of silence. */
	if (v->db_live && !live)
		vmport_peer_gone(v, v->pool);
	if (!v->db_live != !live)
		sw_bell_watch(sw, v, live ? SW_BELL_ADD : SW_BELL_DEL);
	__atomic_store_n(&v->db_live, live != 0, __ATOMIC_RELAXED);
	/* Release: pairs with the guest's acquire of switch_doorbell. */
	__atomic_store_n(&v->hdr->switch_doorbell, (uint32_t)live,
			 __ATOMIC_RELEASE);
	return 0;
}

/* Worker side of the mailbox, a request posted (sw_mail_poll): takes it
 * unless it was withdrawn just now, acts, answers. */
void sw_mail_take(struct sw *sw)
{
	struct sw_mail *m = &sw->mail;
	uint32_t posted = SW_MAIL_POSTED;

	if (!__atomic_compare_exchange_n(&m->state, &posted, SW_MAIL_TAKEN,
					 false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		return; /* withdrawn just now */
	switch (m->op) {
	case SW_MAIL_FRAMES:
		frames_snapshot(sw);
		m->result = 0;
		break;
	case SW_MAIL_VM_ADD:
		m->result = vm_link(sw, m->arg, m->ptr);
		break;
	case SW_MAIL_VM_DEL:
		m->result = vm_unlink(sw, m->arg, m->ptr);
		break;
	case SW_MAIL_CLEAR:
		memset(sw->drops, 0, sizeof(sw->drops));
		memset(sw->xcopies, 0, sizeof(sw->xcopies));
		sw->copies = sw->vm2vm = sw->sleeps = sw->bells = sw->naps = 0;
		sw->busy_ticks = sw->idle_ticks = sw->sleep_ticks = 0;
		sw->busy_passes = 0;
		for (int k = 0; k < sw->n_pools; k++)
			scrub_clear_counters(&sw->pools[k].scrub);
		for (int i = 0; i < sw->n_ports; i++) {
			memset(&sw->ports[i].st, 0, sizeof(sw->ports[i].st));
			for (uint32_t q = 0; q < sw->ports[i].n_queues; q++)
				sw->ports[i].q[q].rx_packets = 0;
			/* The XDP program's too: one clear, one request. */
			port_xdp_counters_clear(&sw->ports[i]);
		}
		for (int i = 0; i < sw->n_vms; i++)
			memset(&sw->vms[i].st, 0, sizeof(sw->vms[i].st));
		m->result = 0;
		break;
	case SW_MAIL_DOORBELL:
		m->result = vm_doorbell(sw, m->arg, m->arg2);
		break;
	case SW_MAIL_SET_SLEEP:
		/* Relaxed: sw_snapshot's load is its one other reader. */
		__atomic_store_n(&sw->max_nap_us, (uint32_t)m->arg,
				 __ATOMIC_RELAXED);
		m->result = 0;
		break;
	case SW_MAIL_SET_IDLE:
		sw_idle_set(sw, (enum cfg_idle)m->arg, (uint32_t)m->arg2);
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
		/* Time is up: withdrawn, unless the worker took it. A
		 * withdrawn request is never acted on: not on ptr's memory
		 * once the caller frees it, nor with the next request's
		 * arguments. */
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
