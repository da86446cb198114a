// SPDX-License-Identifier: MIT
/*
 * The report: the switch's counters per port, per VM and its own, the
 * worker's time, and the frame-ownership audit, as log lines (on SIGUSR1
 * and at exit). Owns nothing: it reads what the worker writes, from the
 * worker's thread (sw_run, sw_fini), except sw_packets_in, whose relaxed
 * loads are safe from any thread.
 */
#include <stdio.h>
#include <linux/if_xdp.h>

#include "log.h"
#include "sw_internal.h"

const char *const sw_drop_names[SW_DROP_NR] = {
	[SW_DROP_NO_ROUTE] = "no_route",
	[SW_DROP_HAIRPIN] = "hairpin",
	[SW_DROP_NO_HEADROOM] = "no_headroom",
	[SW_DROP_POOL_EMPTY] = "pool_empty",
	[SW_DROP_TOO_LONG] = "too_long",
	[SW_DROP_NO_TX_SLOT] = "no_tx_slot",
};

const char *const sw_copy_names[SW_COPY_NR] = {
	[SW_COPY_NIC] = "nic",
	[SW_COPY_VM] = "vm",
	[SW_COPY_WIRE] = "wire",
	[SW_COPY_FLOOD] = "flood",
};

static int fmt_drops(char *buf, size_t len, const char *const *names,
		     const uint64_t *v, int n)
{
	int off = 0;

	for (int i = 0; i < n && off < (int)len; i++)
		off += snprintf(buf + off, len - off, " %s=%llu", names[i],
				(unsigned long long)v[i]);
	return off;
}

uint64_t sw_packets_in(const struct sw *sw)
{
	uint64_t n = 0;

	for (int i = 0; i < sw->n_ports; i++)
		n += __atomic_load_n(&sw->ports[i].st.rx_packets,
				     __ATOMIC_RELAXED);
	for (int i = 0; i < sw->n_vms; i++)
		if (__atomic_load_n(&sw->vms[i].active, __ATOMIC_RELAXED))
			n += __atomic_load_n(&sw->vms[i].st.tx_packets,
					     __ATOMIC_RELAXED);
	return n;
}

/* One pool's audit, for the frames line: its owners, each VM of it. */
static int fmt_audit(struct sw *sw, struct pool *p, char *line, size_t size,
		     bool *ok)
{
	char msg[160];
	int off;

	off = snprintf(line, size, "%s%s%sfill %u, tx %u, switch %u",
		       sw->n_pools > 1 ? "pool " : "",
		       sw->n_pools > 1 ? p->name : "",
		       sw->n_pools > 1 ? ": " : "", p->count[POOL_OWN_FILL],
		       p->count[POOL_OWN_TX], p->count[POOL_OWN_SWITCH]);
	for (int i = 0; i < sw->n_vms && off < (int)size; i++)
		if (sw->vms[i].active && sw->vms[i].pool == p)
			off += snprintf(line + off, size - off, ", %s %u",
					sw->vms[i].cfg.name,
					p->count[sw->vms[i].owner]);
	if (pool_check(p, true, msg, sizeof(msg)))
		*ok = false;
	if (off < (int)size)
		off += snprintf(line + off, size - off, "; total %u: %s",
				p->frames, msg);
	return off;
}

void sw_report(struct sw *sw)
{
	char drops[512], line[1024];
	uint64_t busy, all, in, sf = 0, sb = 0;
	bool ok = true;
	int off;

	for (int i = 0; i < sw->n_ports; i++) {
		struct port *pt = &sw->ports[i];
		struct fs_xdp_counter xc[FS_XDP_NR_VERDICTS] = { 0 };
		struct xdp_statistics xs;

		port_xsk_stats(pt, &xs);
		if (pt->skel)
			port_xdp_counters(pt, xc);
		fmt_drops(drops, sizeof(drops), port_drop_names, pt->st.drops,
			  PORT_DROP_NR);
		off = 0;
		for (uint32_t q = 0; q < pt->n_queues && off < (int)sizeof(line); q++)
			off += snprintf(line + off, sizeof(line) - off, "%s%llu",
					q ? "/" : "",
					(unsigned long long)pt->q[q].rx_packets);
		log_info("port %s: rx %llu packets %llu bytes (multicast %llu, per queue %s), tx %llu packets %llu bytes, completed %llu; drops%s; xdp redirect=%llu pass_mcast=%llu pass_other=%llu pass_nosock=%llu pass_malformed=%llu; xsk rx_dropped=%llu rx_ring_full=%llu fill_ring_empty=%llu rx_invalid=%llu tx_invalid=%llu tx_ring_empty=%llu",
			 pt->cfg.name, (unsigned long long)pt->st.rx_packets,
			 (unsigned long long)pt->st.rx_bytes,
			 (unsigned long long)pt->st.mc_packets, line,
			 (unsigned long long)pt->st.tx_packets,
			 (unsigned long long)pt->st.tx_bytes,
			 (unsigned long long)pt->st.tx_completed, drops,
			 (unsigned long long)xc[FS_XDP_REDIRECT].packets,
			 (unsigned long long)xc[FS_XDP_PASS_MCAST].packets,
			 (unsigned long long)xc[FS_XDP_PASS_OTHER].packets,
			 (unsigned long long)xc[FS_XDP_PASS_NOSOCK].packets,
			 (unsigned long long)xc[FS_XDP_PASS_MALFORMED].packets,
			 (unsigned long long)xs.rx_dropped,
			 (unsigned long long)xs.rx_ring_full,
			 (unsigned long long)xs.rx_fill_ring_empty_descs,
			 (unsigned long long)xs.rx_invalid_descs,
			 (unsigned long long)xs.tx_invalid_descs,
			 (unsigned long long)xs.tx_ring_empty_descs);
	}
	for (int i = 0; i < sw->n_vms; i++) {
		struct vmport *v = &sw->vms[i];

		if (!v->active)
			continue;
		fmt_drops(drops, sizeof(drops), vm_drop_names, v->st.drops,
			  VM_DROP_NR);
		log_info("vm %s: %s%s, holds %u of %u; rx %llu packets %llu bytes, tx %llu packets %llu bytes, freed %llu, lent %llu, reclaimed %llu, guest timeouts %llu, doorbells rung %llu, region_truncated=%llu; drops%s",
			 v->cfg.name, v->attached ? "attached" :
				      v->broken ? "broken" : "detached",
			 __atomic_load_n(&v->db_live, __ATOMIC_RELAXED) ?
				 " on its doorbell" : "",
			 vmport_held(v, v->pool), v->cfg.quota,
			 (unsigned long long)v->st.rx_packets,
			 (unsigned long long)v->st.rx_bytes,
			 (unsigned long long)v->st.tx_packets,
			 (unsigned long long)v->st.tx_bytes,
			 (unsigned long long)v->st.freed,
			 (unsigned long long)v->st.lent,
			 (unsigned long long)v->st.reclaimed,
			 (unsigned long long)v->st.timeouts,
			 (unsigned long long)v->st.irqs,
			 (unsigned long long)v->st.region_truncated, drops);
	}
	for (int k = 0; k < sw->n_pools; k++) {
		sf += sw->pools[k].scrub.frames;
		sb += sw->pools[k].scrub.bytes;
	}
	fmt_drops(drops, sizeof(drops), sw_drop_names, sw->drops, SW_DROP_NR);
	log_info("switch: copies %llu, vm-to-vm %llu, slept %llu times (%llu woken by a doorbell), scrubbed %llu frames %llu bytes; drops%s",
		 (unsigned long long)sw->copies, (unsigned long long)sw->vm2vm,
		 (unsigned long long)sw->sleeps, (unsigned long long)sw->bells,
		 (unsigned long long)sf, (unsigned long long)sb, drops);
	for (int k = 0; k < sw->n_pools && sw->n_pools > 1; k++) {
		fmt_drops(drops, sizeof(drops), sw_copy_names, sw->xcopies[k],
			  SW_COPY_NR);
		log_info("pool %s: copied in from other pools:%s",
			 sw->pools[k].name, drops);
	}
	busy = ticks_ns(&sw->ticks, sw->busy_ticks);
	all = busy + ticks_ns(&sw->ticks, sw->idle_ticks) +
	      ticks_ns(&sw->ticks, sw->sleep_ticks);
	in = sw_packets_in(sw);
	log_info("worker: busy %.1f %% of %.3f s, %.0f ns a packet taken in, %.1f packets a busy pass",
		 all ? 100.0 * (double)busy / (double)all : 0.0,
		 (double)all / 1e9, in ? (double)busy / (double)in : 0.0,
		 sw->busy_passes ? (double)in / (double)sw->busy_passes : 0.0);

	/* One line for all pools, that ends in ": ok" only if every pool's
	 * audit is. */
	off = 0;
	for (int k = 0; k < sw->n_pools && off < (int)sizeof(line); k++) {
		if (k)
			off += snprintf(line + off, sizeof(line) - off, "; ");
		if (off < (int)sizeof(line))
			off += fmt_audit(sw, &sw->pools[k], line + off,
					 sizeof(line) - off, &ok);
	}
	log_info("frames: %s%s", line, ok ? "" : "; audit failed");
}
