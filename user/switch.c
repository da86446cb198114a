// SPDX-License-Identifier: MIT
/*
 * Start and stop: sw_init creates the pools, the VM ports, the NIC ports and
 * the MAC table, sw_start attaches the XDP programs, sw_fini undoes it all.
 * The design of the switch is in switch.h; the pass is sw_pass.c, the
 * mailbox sw_mail.c, idling sw_idle.c, the report sw_report.c.
 *
 * Invariants: sw_fini undoes only what sw_init made (pools with fd < 0,
 * NULL buffers and closed descriptors are skipped), so it serves every
 * exit of a failed sw_init; at its end every frame is back with the switch
 * and scrubbed, and a pool file is kept while a guest of it is still
 * attached. Pools and which queues are whose are fixed here, at start:
 * AF_XDP binds a queue's socket to one UMEM for good.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fdstore.h"
#include "log.h"
#include "shmguard.h"
#include "sw_internal.h"

int sw_init(struct sw *sw, struct cfg *cfg)
{
	int err;

	memset(sw, 0, sizeof(*sw));
	sw->idle_ep = -1;
	for (int k = 0; k < CFG_MAX_POOLS; k++)
		sw->pools[k].fd = -1; /* sw_fini() tears down only what was made */
	sw->bell_ep = epoll_create1(EPOLL_CLOEXEC);
	sw->mail_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sw->bell_ep < 0 || sw->mail_fd < 0)
		return -errno;
	/* Before the pool and the regions are mapped; the handler wakes a
	 * sleeping worker through the mailbox's eventfd. */
	err = shmguard_init();
	if (err)
		return err;
	shmguard_set_wake(sw->mail_fd);
	sw->cap.nic = sw->cap.vm = -1;
	sw->cfg = cfg;
	sw->batch = cfg->batch;
	sw->handoff_copy = cfg->handoff_copy;
	sw->max_nap_us = cfg->max_sleep_usecs;
	ticks_init(&sw->ticks);
	sw->ctrl_gap = ticks_of_us(&sw->ticks, SW_CTRL_GAP_US);
	sw_idle_set(sw, cfg->idle, cfg->poll_usecs);
	sw_set_slow(sw);
	if (sw->handoff_copy)
		log_info("handoff: copy (each frame copied to the VM: the benchmark's baseline, not zero-copy)");
	sw->vms = vmport_alloc(CFG_MAX_VMS);
	sw->touched = calloc(SW_TOUCHED_MAX, sizeof(*sw->touched));
	sw->busy[0] = calloc(CFG_MAX_VMS, sizeof(*sw->busy[0]));
	sw->busy[1] = calloc(CFG_MAX_VMS, sizeof(*sw->busy[1]));
	sw->held = calloc(SW_HELD_MAX, sizeof(*sw->held));
	sw->full_pass = SW_PASS_FULL;
	/* A packet of several frames may run VM_MAX_FRAMES - 1 entries past
	 * a batch (vmport_tx_collect, port_mc_rx); from_nic reads one entry
	 * past the last. */
	sw->rxbuf = calloc(sw->batch + VM_MAX_FRAMES, sizeof(*sw->rxbuf));
	sw->txbuf = calloc(sw->batch + VM_MAX_FRAMES, sizeof(*sw->txbuf));
	sw->nicbuf = calloc(sw->batch + VM_MAX_FRAMES, sizeof(*sw->nicbuf));
	sw->cap.ring = calloc(SW_CAP_SLOTS, sizeof(*sw->cap.ring));
	if (!sw->vms || !sw->touched || !sw->rxbuf || !sw->txbuf || !sw->nicbuf ||
	    !sw->cap.ring || !sw->busy[0] || !sw->busy[1] || !sw->held)
		return -ENOMEM;
	err = fdb_init(&sw->fdb, CFG_MAX_VMS * 4);
	if (err)
		return err;
	for (int k = 0; k < cfg_n_pools(cfg); k++) {
		err = pool_create(&sw->pools[k], &cfg->pools[k], CFG_MAX_VMS);
		if (err)
			return err;
		sw->pools[k].index = k;
		sw->n_pools++;
	}
	for (int i = 0; i < cfg->n_vms; i++) {
		err = vmport_create(&sw->vms[i], &cfg->vms[i], i,
				    &sw->pools[cfg->vms[i].pool]);
		if (err)
			return err;
		sw_bell_gap_set(sw, &sw->vms[i]);
		sw->n_vms++;
		err = fdb_add(&sw->fdb, cfg->vms[i].mac, cfg->vms[i].vlan, i,
			      FDB_STATIC);
		if (err)
			return err;
	}
	/* Rules a killed switch left on any NIC go before this one's come:
	 * they could send its VMs' frames to queues no socket serves now. */
	steer_reclaim(cfg->control, steer_default_ops, NULL);
	for (int i = 0; i < cfg->n_ifaces; i++) {
		err = port_create(&sw->ports[i], &cfg->ifaces[i], i, sw->pools);
		if (err)
			return err;
		sw->n_ports++;
		port_warn_host(&sw->ports[i]);
		for (int v = 0; v < cfg->n_vms; v++) {
			if (cfg->vms[v].uplink != i)
				continue;
			port_vm_txq(&sw->ports[i], (uint32_t)v, sw->vms[v].pool);
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
		while (port_service(&sw->ports[i], sw->batch))
			;
		err = sw_steer_port(sw, i);
		if (err)
			return err;
	}
	sw->idle_ep = epoll_create1(EPOLL_CLOEXEC);
	if (sw->idle_ep < 0)
		return -errno;
	return 0;
}

int sw_steer_port(struct sw *sw, int i)
{
	const struct cfg *cfg = sw->cfg;
	int err;

	if (cfg->ifaces[i].steer != CFG_STEER_NTUPLE)
		return 0;
	err = steer_init(&sw->steer[i], cfg->ifaces[i].name, steer_default_ops,
			 NULL, cfg->control);
	if (err)
		return err;
	for (int v = 0; v < cfg->n_vms; v++) {
		if (cfg->vms[v].uplink != i)
			continue;
		/* A refusal stops the start: sw_fini removes the rules made
		 * so far, and nothing was attached. */
		err = steer_vm_add(&sw->steer[i], v, cfg->vms[v].mac,
				   cfg->vms[v].vlan,
				   port_steer_queue(&sw->ports[i], (uint32_t)v));
		if (err)
			return err;
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
		steer_fini(&sw->steer[i]);
	for (int i = 0; i < sw->n_ports; i++)
		port_destroy(&sw->ports[i]);
	for (int i = 0; i < sw->n_vms; i++)
		sw->vms[i].st.reclaimed +=
			pool_reclaim(sw->vms[i].pool, sw->vms[i].owner);
	for (int k = 0; k < sw->n_pools; k++) {
		/* With the sockets closed the kernel holds no frame. */
		pool_reclaim(&sw->pools[k], POOL_OWN_FILL);
		pool_reclaim(&sw->pools[k], POOL_OWN_TX);
		/* Frames are scrubbed when used again: scrub what is left, so
		 * a pool file kept for the next switch holds no packet. (A
		 * pool cut short is private zeros now, and any pool cut
		 * short leaves every file as it is, for a look.) */
		if (!sw->pool_lost)
			scrub_all(&sw->pools[k].scrub);
	}
	if (sw->n_pools)
		sw_report(sw);
	for (int i = 0; i < sw->n_vms; i++) {
		struct pool *p = sw->vms[i].pool;

		/* Guests still attached keep their pool file too (see
		 * vmport_unmap). */
		if ((sw->vms[i].attached || sw->vms[i].db_live) &&
		    p->created) {
			log_info("pool %s: a guest is attached: keeping %s for the next switch",
				 p->name, p->path);
			p->created = false;
		}
		vmport_destroy(&sw->vms[i], p);
	}
	/* And their UMEMs: the sockets are closed. */
	for (int k = 0; k < sw->n_pools; k++)
		pool_destroy(&sw->pools[k]);
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
	shmguard_set_wake(-1);
	if (sw->bell_ep >= 0)
		close(sw->bell_ep);
	if (sw->mail_fd >= 0)
		close(sw->mail_fd);
	if (sw->idle_ep >= 0)
		close(sw->idle_ep);
	sw->bell_ep = sw->mail_fd = sw->idle_ep = -1;
}
