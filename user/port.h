/* SPDX-License-Identifier: MIT */
/*
 * A NIC port: the XDP program on one interface, one AF_XDP socket per rx
 * queue it serves, each on its pool's UMEM (cfg_iface.queue_pool: AF_XDP
 * binds one UMEM per queue, so a queue is one pool's; a queue of no pool
 * has no socket and the XDP program passes its frames to the host), and
 * one AF_PACKET socket for broadcast and multicast.
 *
 * Frames move between the pool and the kernel only here:
 *   fill ring   switch -> kernel  (POOL_OWN_SWITCH -> POOL_OWN_FILL)
 *   rx ring     kernel -> switch  (POOL_OWN_FILL -> POOL_OWN_SWITCH)
 *   tx ring     switch -> kernel  (POOL_OWN_SWITCH -> POOL_OWN_TX)
 *   completion  kernel -> switch  (POOL_OWN_TX -> POOL_OWN_SWITCH, scrubbed)
 * need_wakeup is on: the switch makes a syscall only when the kernel asks
 * for one (and, in copy mode, once per tx batch, since copy-mode transmit
 * runs only inside sendmsg).
 *
 * Broadcast and multicast: XDP cannot clone a frame, and redirecting ARP,
 * ND or DHCP into a socket would take them from the host. So the XDP program
 * passes them to the stack and the switch receives its own copy through an
 * AF_PACKET socket (a classic BPF filter keeps only group-addressed frames),
 * directly into a pool frame: one kernel copy, the same as copy-mode AF_XDP.
 */
#ifndef FS_PORT_H
#define FS_PORT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>

#include "flipswitch/xdp_shared.h"
#include "config.h"
#include "pool.h"

/* AF_XDP multi-buffer (Linux 6.6): Debian 12's kernel headers are older
 * than the kernels flipswitch runs on. The values are the kernel's ABI. */
#ifndef XDP_USE_SG
#define XDP_USE_SG (1 << 4)
#endif
#ifndef XDP_PKT_CONTD
#define XDP_PKT_CONTD (1 << 0)
#endif

struct flipswitch_bpf;

struct nic_queue {
	uint32_t qid;
	struct pool *pool;     /* whose UMEM the socket is bound to */
	int fd;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fq;
	struct xsk_ring_cons cq;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
	uint32_t tx_unkicked;  /* descriptors submitted since the last kick */
	bool rx_contd;         /* the last rx descriptor was a frame's piece
				  with more to come (XDP_PKT_CONTD) */
	uint64_t rx_packets;
};

enum port_drop {
	PORT_DROP_TX_FULL,     /* AF_XDP tx ring full */
	PORT_DROP_MC_TRUNC,    /* group frame larger than a pool frame */
	PORT_DROP_MC_NOFRAME,  /* no free frame to receive a group frame in */
	PORT_DROP_TOO_BIG,     /* a VM's frame longer than the MTU + 14 */
	PORT_DROP_RX_TOO_LONG, /* received in pieces (multi-buffer): longer
				  than a pool frame */
	PORT_DROP_NR,
};

extern const char *const port_drop_names[PORT_DROP_NR];

struct port_stats {
	uint64_t rx_packets, rx_bytes;       /* from the sockets */
	uint64_t mc_packets, mc_bytes;       /* of which via AF_PACKET */
	uint64_t tx_packets, tx_bytes;       /* put on tx rings */
	uint64_t tx_completed;
	uint64_t kicks;
	uint64_t drops[PORT_DROP_NR];
};

struct port {
	struct cfg_iface cfg;
	int index;
	struct flipswitch_bpf *skel;
	uint32_t xdp_flags;     /* XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE */
	uint32_t prog_id;
	int xdp_link;           /* the attachment (a bpf_link), valid while
				   xdp_attached: it ends with the process */
	bool xdp_attached;
	uint8_t vlan_strip_was; /* rx VLAN stripping (C-, S-tags: bits 0, 1)
				   this switch turned off (port_attach) */
	bool zerocopy;
	bool busy_poll;         /* cfg busy_poll_usecs: the worker drives the
				   NAPI of a queue whose rx ring is empty
				   (port_rx_peek) */
	int napi_was[2];        /* napi_defer_hard_irqs, gro_flush_timeout
				   before port_attach set them, */
	uint8_t napi_saved;     /* bit i: napi_was[i] is to be put back */
	uint32_t n_queues;      /* sockets in q[], in queue order */
	/* The tx queue (index into q[]) of VM i's frames: one of its pool's
	 * queues if the port has any (port_vm_txq), looked up, not divided,
	 * once a batch. */
	uint8_t txq_of_vm[CFG_MAX_VMS];
	struct nic_queue q[FS_XDP_MAX_QUEUES];
	uint32_t tx_unkicked;   /* the queues' tx_unkicked, summed: a pass
				   with nothing to kick looks at no queue */
	struct pool *mc_pool;   /* group frames are received into its frames:
				   the pool of the port's first queue */
	int mc_fd;
	bool mc_busy;           /* the last read of mc_fd found frames */
	uint32_t fill_target;   /* frames to keep on each fill ring */
	/* From rtnetlink (nl.c). mtu: IFLA_MTU, stored by the netlink
	 * thread as it changes (sw_mtu_set), loaded relaxed by the worker
	 * for each frame it sends; 0 until read. */
	uint32_t mtu;
	char kind[16];          /* IFLA_INFO_KIND: "vxlan", "veth"; "" for
				   a device with none (a NIC) */
	bool tunnel;            /* kind is an Ethernet overlay (vxlan,
				   geneve, gretap) */
	unsigned int master;    /* IFLA_MASTER at start: its bridge, or 0 */
	unsigned int fdb_ifindex; /* publish_fdb: the bridge port its VMs'
				     entries go on (it, or the one named),
				     0: none */
	char fdb_name[16];      /* that port's name */
	bool bridge_vlans;      /* that bridge filters by VLAN: fdb entries
				   name the VM's VLAN (publish_fdb) */
	struct port_stats st;
};

/* The queue VM vm's frames from the wire should arrive on, where the NIC
 * can steer them (steer.h): the queue its frames leave on, one of its
 * pool's where the port has one (port_vm_txq). The one place that picks
 * it. Fixed once the port is made. */
static inline uint32_t port_steer_queue(const struct port *pt, uint32_t vm)
{
	return pt->txq_of_vm[vm];
}

/* Loads the XDP program, creates the sockets (a pool's first socket
 * registers its UMEM): queue q's on pools[c->queue_pool[q]]. */
int port_create(struct port *pt, const struct cfg_iface *c, int index,
		struct pool *pools);
/* Attaches the XDP program (native, else generic, per xdp_mode). Called
 * once every port and VM is in place. */
int port_attach(struct port *pt);
/* Detaches the program (if it is still ours) and closes the sockets; the
 * frames the kernel held are then the caller's to take back (pool_reclaim
 * of POOL_OWN_FILL and POOL_OWN_TX). */
void port_destroy(struct port *pt);

/* In zero-copy mode every frame a queue with a socket receives lands in
 * its pool, the host's included: warns once per pool, naming its queues.
 * (In copy mode only the frames the XDP program redirects enter a pool.) */
void port_warn_host(const struct port *pt);

/* Picks VM vm's tx queue: one of pool's queues on this port, spread by
 * VM index, or any queue if the pool has none here (its frames are then
 * copied into that queue's pool). */
void port_vm_txq(struct port *pt, uint32_t vm, const struct pool *pool);

/* The pool whose frames VM vm's tx queue sends. */
static inline struct pool *port_txq_pool(const struct port *pt, uint32_t vm)
{
	return pt->q[pt->txq_of_vm[vm]].pool;
}

/* Adds or removes a VM's (MAC, VLAN) in the program's MAC map. */
int port_mac_add(struct port *pt, const uint8_t mac[6], uint16_t vlan,
		 uint32_t vm);
int port_mac_del(struct port *pt, const uint8_t mac[6], uint16_t vlan);

struct port_frame {
	uint64_t addr;
	uint32_t len;
	uint32_t options;  /* FS_DESC_MORE: the next entry is more of this
			      frame (a group frame of several pool frames,
			      port_mc_rx) */
};

/*
 * The rx ring read in place (the switch's NIC paths read descriptors
 * with them and hand frames on without a copy of the descriptors in
 * between). port_rx_peek: up to max received frames from *idx on,
 * counted to the switch (the caller sets each one's owner table entry:
 * the kernel hands back only frames it had from the fill ring, so no
 * check). port_rx_release: gives the n entries back and counts them and
 * their bytes.
 */
static inline uint32_t port_rx_peek(struct port *pt, struct pool *p,
				    uint32_t q, uint32_t max, uint32_t *idx)
{
	uint32_t n = xsk_ring_cons__peek(&pt->q[q].rx, max, idx);

	/* Preferred busy polling: nothing received, so run the queue's NAPI
	 * from here (one poll of up to the socket's budget, MSG_DONTWAIT),
	 * its interrupts held off meanwhile (napi_defer_hard_irqs); what it
	 * receives is on the ring at the next pass. */
	if (!n && __builtin_expect(pt->busy_poll, 0))
		recvfrom(pt->q[q].fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
	pool_count_move(p, POOL_OWN_FILL, POOL_OWN_SWITCH, n);
	return n;
}

static inline const struct xdp_desc *port_rx_desc(const struct port *pt,
						  uint32_t q, uint32_t idx)
{
	return xsk_ring_cons__rx_desc(&pt->q[q].rx, idx);
}

/* The ring's descriptors, entry idx at [idx & *mask], for a loop to keep
 * in locals (stores of its own would make it reload pt->q[q].rx). */
static inline const struct xdp_desc *port_rx_ring(const struct port *pt,
						  uint32_t q, uint32_t *mask)
{
	*mask = pt->q[q].rx.mask;
	return xsk_ring_cons__rx_desc(&pt->q[q].rx, 0);
}

static inline void port_rx_release(struct port *pt, uint32_t q, uint32_t n,
				   uint64_t bytes)
{
	xsk_ring_cons__release(&pt->q[q].rx, n);
	pt->st.rx_bytes += bytes;
	pt->st.rx_packets += n;
	pt->q[q].rx_packets += n;
}
/* A piece of a frame received in several (XDP_PKT_CONTD in options, or
 * the piece after one that had it): longer than a pool frame, it reaches
 * no VM. Recycles it, counts the frame at its last piece. */
void port_rx_piece(struct port *pt, struct pool *p, uint32_t q,
		   uint32_t options, uint32_t frame);
/* Receives up to max group-addressed frames into fresh pool frames. */
uint32_t port_mc_rx(struct port *pt, struct pool *p, struct port_frame *out,
		    uint32_t max);
/* A frame for the wire: hlen bytes of a header slot of the private tail
 * of its queue's pool (hdr, txhdr.h), then, if len, len bytes of a frame
 * of that pool the switch owns (addr): two descriptors, the first with
 * XDP_PKT_CONTD. A packet of several pool frames (ABI 1.3) is one such
 * entry, then one entry a further frame with hlen 0 (no slot); every
 * entry of it but the last has more set. */
struct port_txf {
	uint64_t hdr, addr;
	uint32_t len;
	uint16_t hlen;
	uint16_t more;
};

/* Queues frames f[0..n), from VM vm, for transmit on its tx queue: one
 * reservation, one owner count move, the counters once. The frames are of
 * that queue's pool (port_txq_pool); each entry is a packet of its own,
 * and more is not read (to_nic leaves it unwritten). Returns how many,
 * from the first; the rest (the ring is full) stay the switch's, their
 * slots too, and are counted as tx_ring_full. */
uint32_t port_tx_burst(struct port *pt, uint32_t vm,
		       const struct port_txf *f, uint32_t n);
/* The same for entries that may hold packets of several frames (more
 * set): whole packets only, the count of entries returned. */
uint32_t port_tx_chains(struct port *pt, uint32_t vm,
			const struct port_txf *f, uint32_t n);
/* Publishes queued tx descriptors and wakes the kernel if it needs it. */
void __port_tx_flush(struct port *pt);

static inline void port_tx_flush(struct port *pt)
{
	if (pt->tx_unkicked)
		__port_tx_flush(pt);
}
/* Takes back completed tx frames (scrubbed) and tops up the fill rings,
 * each queue from its pool. Returns the number of frames moved. */
uint32_t port_service(struct port *pt, uint32_t batch);

/* Sums the AF_XDP sockets' XDP_STATISTICS over the port's queues. */
void port_xsk_stats(const struct port *pt, struct xdp_statistics *out);

/* Sums the program's per-CPU counters. */
int port_xdp_counters(const struct port *pt,
		      struct fs_xdp_counter out[FS_XDP_NR_VERDICTS]);
/* Zeroes the XDP program's counters (on every CPU); 0 or -errno. */
int port_xdp_counters_clear(const struct port *pt);

#endif /* FS_PORT_H */
