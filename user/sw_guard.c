// SPDX-License-Identifier: MIT
/*
 * A shared file cut short (shmguard.h): a VM whose ring region it was is
 * taken out, its frames taken back, and the others go on; a pool cut
 * short under the AF_XDP sockets that share it leaves nothing to switch
 * with (the kernel goes on filling pages the file no longer has), so the
 * switch stops, cleanly, leaving the files for a look.
 */
#include "log.h"
#include "shmguard.h"
#include "switch.h"

void sw_guard_act(struct sw *sw)
{
	sw->guard_seen = shmguard_trips();
	for (int k = 0; k < sw->n_pools && !sw->pool_lost; k++) {
		struct pool *p = &sw->pools[k];

		if (!shmguard_broken(p->guard))
			continue;
		sw->pool_lost = true;
		for (int j = 0; j < sw->n_pools; j++)
			sw->pools[j].created = false;
		for (int i = 0; i < sw->n_vms; i++)
			sw->vms[i].created = false;
		log_err("pool %s: %s was cut short under the switch: stopping; the XDP programs are detached, the files left as they are; start flipswitchd again to serve the VMs",
			p->name, p->path);
		return;
	}
	for (int i = 0; i < sw->n_vms; i++) {
		struct vmport *v = &sw->vms[i];

		if (v->active && !v->broken && shmguard_broken(v->guard))
			vmport_region_lost(v, v->pool);
	}
}

