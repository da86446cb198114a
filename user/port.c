// SPDX-License-Identifier: MIT
/*
 * NIC ports; see port.h for the frame flow and the broadcast mechanism.
 *
 * Set-up order matters: the sockets are bound and in the XSKMAP, and the
 * VMs' MACs are in the MAC map, before the program is attached, so the
 * first frame the program sees already has somewhere to go. libxdp only
 * manages the sockets and the UMEM (XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD):
 * its multi-program dispatcher is not used, the program is loaded through
 * the bpftool skeleton.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flipswitch.skel.h"
#include "flipswitch/ring.h"
#include "log.h"
#include "vmport.h"
#include "port.h"
#include "port_link.h"

#define MC_BATCH 32
/* The fill ring is topped up once this many of its entries are free, not
 * for every frame: a pass that received a frame or two paid the refill's
 * setup (the ring's indices, the pool's fields, a release store the
 * kernel's CPU reads) for each. The ring holds ring_size frames; the
 * kernel is never more than this many short. */
#define PORT_FILL_MIN 16

const char *const port_drop_names[PORT_DROP_NR] = {
	[PORT_DROP_TX_FULL] = "tx_ring_full",
	[PORT_DROP_MC_TRUNC] = "mcast_truncated",
	[PORT_DROP_MC_NOFRAME] = "mcast_no_frame",
	[PORT_DROP_TOO_BIG] = "too_big",
	[PORT_DROP_RX_TOO_LONG] = "rx_too_long",
};


static int queue_create(struct port *pt, struct nic_queue *q, bool zc)
{
	struct pool *p = q->pool;
	struct xsk_socket_config xc = {
		.rx_size = pt->cfg.ring_size,
		.tx_size = pt->cfg.ring_size,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.xdp_flags = pt->xdp_flags,
		.bind_flags = XDP_USE_NEED_WAKEUP | (zc ? XDP_ZEROCOPY : XDP_COPY),
	};
	bool first = !p->umem;
	int err;

	/* Multi-buffer (XDP_USE_SG) is the UMEM's, set by its first bind
	 * (later sockets share it, and may not give flags of their own):
	 * tried first, for the header slots of frames to the wire to be
	 * chained in front of the guest's frame; without it they are
	 * copied whole (txhdr.h). */
	for (int sg = first; sg >= 0; sg--) {
		if (first) {
			/* The UMEM's own fill and completion rings become
			 * this, the first, socket's; later sockets get rings
			 * of their own. */
			err = pool_umem_create(p, pt->cfg.ring_size, &q->fq,
					       &q->cq);
			if (err)
				return err;
		}
		xc.bind_flags = XDP_USE_NEED_WAKEUP |
				(zc ? XDP_ZEROCOPY : XDP_COPY) |
				(sg ? XDP_USE_SG : 0);
		err = xsk_socket__create_shared(&q->xsk, pt->cfg.name, q->qid,
						p->umem, &q->rx, &q->tx, &q->fq,
						&q->cq, &xc);
		if (!err) {
			if (first) {
				txhdr_carve(&p->txh, sg, p->frame_size);
				log_info("%s: pool %s: headers to the wire %s",
					 pt->cfg.name, p->name, sg ?
					 "chained (multi-buffer)" :
					 "copied with their frames (no multi-buffer)");
			}
			q->fd = xsk_socket__fd(q->xsk);
			return 0;
		}
		/* A failed bind leaves the UMEM's first rings unusable for
		 * a retry: start over with a fresh registration. */
		if (first)
			pool_umem_destroy(p);
	}
	return err;
}

/* The worker's default batch: one busy poll's budget (the kernel's
 * default, 8, would leave most of a burst to the next). */
#define PORT_BUSY_POLL_BUDGET 64

/* Preferred busy polling on a queue's socket (busy_poll_usecs): the
 * kernel runs the queue's NAPI when the worker reads an empty ring,
 * rather than at its interrupts, which napi_defer_hard_irqs holds off
 * while it does (port_attach). A kernel without it refuses the options. */
static int queue_busy_poll(struct port *pt, struct nic_queue *q)
{
	static const struct {
		int opt;
		const char *name;
	} opts[] = {
		{ SO_PREFER_BUSY_POLL, "SO_PREFER_BUSY_POLL" },
		{ SO_BUSY_POLL, "SO_BUSY_POLL" },
		{ SO_BUSY_POLL_BUDGET, "SO_BUSY_POLL_BUDGET" },
	};
	int val[] = { 1, (int)pt->cfg.busy_poll_usecs, PORT_BUSY_POLL_BUDGET };

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (setsockopt(q->fd, SOL_SOCKET, opts[i].opt, &val[i],
			       sizeof(val[i]))) {
			int err = -errno;

			log_err("%s: the kernel refuses busy polling on queue %u (%s: %s); set busy_poll_usecs = 0 on %s (line %d)",
				pt->cfg.name, q->qid, opts[i].name,
				strerror(errno), pt->cfg.name, pt->cfg.line);
			return err;
		}
	return 0;
}

static int queues_create(struct port *pt)
{
	int map_fd = bpf_map__fd(pt->skel->maps.xsks_map);
	bool zc = pt->cfg.zerocopy != CFG_ZC_OFF;
	uint32_t i;
	int err;

	for (i = 0; i < pt->n_queues; i++) {
		struct nic_queue *q = &pt->q[i];

		err = queue_create(pt, q, zc);
		if (err && zc && i == 0 && pt->cfg.zerocopy == CFG_ZC_AUTO) {
			log_info("%s: zero-copy AF_XDP not available (%s), using copy mode",
				 pt->cfg.name, strerror(-err));
			zc = false;
			err = queue_create(pt, q, zc);
		}
		if (err) {
			log_err("%s: cannot create an AF_XDP socket on queue %u: %s%s",
				pt->cfg.name, q->qid, strerror(-err),
				zc && pt->cfg.zerocopy == CFG_ZC_ON ?
					" (zerocopy = \"on\" needs a driver with AF_XDP zero-copy support)" :
					"");
			return err;
		}
		if (pt->cfg.busy_poll_usecs) {
			err = queue_busy_poll(pt, q);
			if (err)
				return err;
		}
		err = bpf_map_update_elem(map_fd, &q->qid, &q->fd, BPF_ANY);
		if (err) {
			err = -errno;
			log_err("%s: cannot add queue %u's socket to the XSKMAP: %s",
				pt->cfg.name, q->qid, strerror(errno));
			return err;
		}
	}
	pt->zerocopy = zc;
	return 0;
}

static int mc_socket(struct port *pt)
{
	/* Accept a frame if bit 0 of its first byte (the group bit of the
	 * destination MAC) is set. */
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 1, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffff),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { .len = 4, .filter = code };
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = (int)pt->cfg.ifindex,
	};
	int one = 1, fd, err;

	/* Protocol 0: the socket receives nothing until bound, so no frame
	 * slips in before the filter is in place. */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) ||
	    setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one,
		       sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		err = -errno;
		close(fd);
		return err;
	}
	pt->mc_fd = fd;
	return 0;
}

static int xdp_attach(struct port *pt)
{
	int prog_fd = bpf_program__fd(pt->skel->progs.flipswitch_xdp);
	static const uint32_t drv[] = { XDP_FLAGS_DRV_MODE }, skb[] = {
		XDP_FLAGS_SKB_MODE
	}, both[] = { XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE };
	const uint32_t *modes = both;
	unsigned int n = 2, i;
	int err = 0;

	if (pt->cfg.xdp_mode == CFG_XDP_NATIVE)
		modes = drv, n = 1;
	else if (pt->cfg.xdp_mode == CFG_XDP_GENERIC)
		modes = skb, n = 1;
	/* A link, not a netlink attachment: the kernel detaches the program
	 * when the last fd of the link closes, so a daemon that is killed
	 * (SIGKILL, a crash) leaves nothing on the NIC to block the switch
	 * started after it. A program already there (netlink or link) makes
	 * the kernel refuse with EBUSY, as XDP_FLAGS_UPDATE_IF_NOEXIST did. */
	for (i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_link_create_opts, lopts, .flags = modes[i]);

		pt->xdp_link = bpf_link_create(prog_fd, (int)pt->cfg.ifindex,
					       BPF_XDP, &lopts);
		err = pt->xdp_link < 0 ? -errno : 0;
		if (!err) {
			pt->xdp_flags = modes[i];
			pt->xdp_attached = true;
			bpf_xdp_query_id((int)pt->cfg.ifindex, (int)modes[i],
					 &pt->prog_id);
			log_info("%s: XDP program attached in %s mode (id %u)",
				 pt->cfg.name,
				 modes[i] == XDP_FLAGS_DRV_MODE ? "native" :
								  "generic",
				 pt->prog_id);
			return 0;
		}
		if (err == -EBUSY || err == -EEXIST) {
			log_err("%s already has an XDP program: remove it first (ip link set dev %s xdp off)",
				pt->cfg.name, pt->cfg.name);
			return err;
		}
		if (i + 1 < n)
			log_info("%s: native XDP not available (%s), trying generic mode",
				 pt->cfg.name, strerror(-err));
	}
	log_err("%s: cannot attach the XDP program: %s", pt->cfg.name,
		strerror(-err));
	return err;
}

/* The queues the port serves, in q[] in queue order, each with its pool:
 * those the config gives a pool (pools_given), else the first `queues`
 * (all the interface has, by default), every one the default pool's. */
static int queues_assign(struct port *pt, const struct cfg_iface *c,
			 struct pool *pools)
{
	uint32_t n = FS_XDP_MAX_QUEUES;

	if (!c->pools_given) {
		n = c->queues ? c->queues : port_rx_queue_count(c->name);
		if (n > FS_XDP_MAX_QUEUES)
			n = FS_XDP_MAX_QUEUES;
	}
	for (uint32_t qid = 0; qid < n; qid++) {
		if (c->queue_pool[qid] == CFG_QUEUE_HOST)
			continue;
		pt->q[pt->n_queues].qid = qid;
		pt->q[pt->n_queues].pool = &pools[c->queue_pool[qid]];
		pt->n_queues++;
	}
	if (!pt->n_queues) {
		log_err("%s: no queue given to a pool (add pools = ( { pool = \"%s\"; queues = [0]; } ); to the interface)",
			c->name, pools[0].name);
		return -EINVAL;
	}
	pt->mc_pool = pt->q[0].pool;
	for (uint32_t i = 0; i < CFG_MAX_VMS; i++)
		pt->txq_of_vm[i] = (uint8_t)(i % pt->n_queues);
	return 0;
}

void port_vm_txq(struct port *pt, uint32_t vm, const struct pool *pool)
{
	uint32_t n = 0, k;

	if (!pt->n_queues)
		return;
	for (uint32_t i = 0; i < pt->n_queues; i++)
		n += pt->q[i].pool == pool;
	if (!n) {
		pt->txq_of_vm[vm] = (uint8_t)(vm % pt->n_queues);
		return;
	}
	k = vm % n;
	for (uint32_t i = 0; i < pt->n_queues; i++)
		if (pt->q[i].pool == pool && !k--) {
			pt->txq_of_vm[vm] = (uint8_t)i;
			return;
		}
}

int port_create(struct port *pt, const struct cfg_iface *c, int index,
		struct pool *pools)
{
	int err;

	memset(pt, 0, sizeof(*pt));
	pt->cfg = *c;
	pt->index = index;
	pt->mc_fd = -1;
	for (uint32_t i = 0; i < FS_XDP_MAX_QUEUES; i++)
		pt->q[i].fd = -1;
	err = queues_assign(pt, c, pools);
	if (err)
		return err;
	pt->fill_target = c->ring_size;
	/* The mode the sockets are told about; xdp_attach() settles it. */
	pt->xdp_flags = c->xdp_mode == CFG_XDP_GENERIC ? XDP_FLAGS_SKB_MODE :
							  XDP_FLAGS_DRV_MODE;

	pt->skel = flipswitch_bpf__open_and_load();
	if (!pt->skel) {
		err = -errno;
		log_err("%s: cannot load the XDP program: %s", c->name,
			strerror(errno));
		return err;
	}
	err = queues_create(pt);
	if (err)
		goto out_destroy;
	err = mc_socket(pt);
	if (err) {
		log_err("%s: cannot open the broadcast/multicast socket: %s",
			c->name, strerror(-err));
		goto out_destroy;
	}
	log_info("%s: %u queue%s, AF_XDP %s mode, rings of %u", c->name,
		 pt->n_queues, pt->n_queues > 1 ? "s" : "",
		 pt->zerocopy ? "zero-copy" : "copy", c->ring_size);
	return 0;

out_destroy:
	port_destroy(pt);
	return err;
}

void port_warn_host(const struct port *pt)
{
	char list[256];
	int off;

	if (!pt->zerocopy)
		return;
	for (uint32_t i = 0; i < pt->n_queues; i++) {
		struct pool *p = pt->q[i].pool;
		bool first = true;

		/* Once per pool, at its first queue. */
		for (uint32_t j = 0; j < i && first; j++)
			first = pt->q[j].pool != p;
		if (!first)
			continue;
		off = 0;
		for (uint32_t j = i; j < pt->n_queues && off < (int)sizeof(list); j++)
			if (pt->q[j].pool == p)
				off += snprintf(list + off, sizeof(list) - off,
						"%s%u", off ? "," : "",
						pt->q[j].qid);
		log_warn("%s: zero-copy: queue%s %s (pool %s) may receive the host's traffic, which the NIC then writes into pool %s, where its guests can read it; steer only the VMs' MACs to these queues (ethtool -N %s flow-type ether dst MAC action Q) and leave the host's traffic to queues of no pool",
			 pt->cfg.name, strchr(list, ',') ? "s" : "", list,
			 p->name, p->name, pt->cfg.name);
	}
}

/* Attaching is a separate step so that every port and VM is in place
 * before any program sees a frame. */
int port_attach(struct port *pt)
{
	int err = port_vlan_strip_set(pt->cfg.name, false, &pt->vlan_strip_was);

	if (err) {
		log_err("%s: cannot turn off its rx VLAN stripping (ethtool -K %s rx-vlan-offload off rx-vlan-stag-hw-parse off): %s; tagged frames could not be told from untagged ones",
			pt->cfg.name, pt->cfg.name, strerror(-err));
		return err;
	}
	if (pt->cfg.busy_poll_usecs) {
		err = port_napi_set(pt);
		if (err)
			return err;
	}
	if (pt->vlan_strip_was)
		log_info("%s: rx VLAN stripping off while the switch runs (the XDP program reads the tags)",
			 pt->cfg.name);
	return xdp_attach(pt);
}

void port_destroy(struct port *pt)
{
	if (pt->xdp_attached) {
		close(pt->xdp_link);
		log_info("%s: XDP program detached", pt->cfg.name);
	}
	pt->xdp_attached = false;
	pt->busy_poll = false;
	for (int i = 0; i < 2; i++)
		if ((pt->napi_saved & (1u << i)) &&
		    port_napi_knob(pt->cfg.name, i, pt->napi_was[i], NULL))
			log_warn("%s: cannot set %s back to %d", pt->cfg.name,
				 port_napi_knobs[i], pt->napi_was[i]);
	pt->napi_saved = 0;
	if (pt->vlan_strip_was) {
		if (port_vlan_strip_set(pt->cfg.name, true, &pt->vlan_strip_was))
			log_warn("%s: cannot turn its rx VLAN stripping back on",
				 pt->cfg.name);
		else
			log_info("%s: rx VLAN stripping back on",
				 pt->cfg.name);
		pt->vlan_strip_was = 0;
	}
	for (uint32_t i = 0; i < FS_XDP_MAX_QUEUES; i++) {
		if (pt->q[i].xsk)
			xsk_socket__delete(pt->q[i].xsk);
		pt->q[i].xsk = NULL;
		pt->q[i].fd = -1;
	}
	if (pt->mc_fd >= 0)
		close(pt->mc_fd);
	pt->mc_fd = -1;
	if (pt->skel)
		flipswitch_bpf__destroy(pt->skel);
	pt->skel = NULL;
}

int port_mac_add(struct port *pt, const uint8_t mac[6], uint16_t vlan,
		 uint32_t vm)
{
	struct fs_mac_key k = { .vlan = vlan };
	struct fs_mac_val v = { .vm = vm };

	memcpy(k.mac, mac, 6);
	if (bpf_map_update_elem(bpf_map__fd(pt->skel->maps.mac_map), &k, &v,
				BPF_ANY))
		return -errno;
	return 0;
}

int port_mac_del(struct port *pt, const uint8_t mac[6], uint16_t vlan)
{
	struct fs_mac_key k = { .vlan = vlan };

	memcpy(k.mac, mac, 6);
	if (bpf_map_delete_elem(bpf_map__fd(pt->skel->maps.mac_map), &k))
		return -errno;
	return 0;
}

void port_rx_piece(struct port *pt, struct pool *p, uint32_t qi,
		   uint32_t options, uint32_t frame)
{
	struct nic_queue *q = &pt->q[qi];

	q->rx_contd = options & XDP_PKT_CONTD;
	if (!q->rx_contd)
		pt->st.drops[PORT_DROP_RX_TOO_LONG]++; /* its last piece */
	pool_recycle(p, frame);
}

/* Pool frames a group frame of the port's MTU takes in port_mc_rx: the
 * first after the headroom, the others whole (the rest of a packet of
 * several frames has no headroom, ring.h M..N). */
static uint32_t mc_frames(const struct port *pt, const struct pool *p)
{
	uint32_t want = __atomic_load_n(&pt->mtu, __ATOMIC_RELAXED) +
			FS_ETH_HLEN + 4, first = p->frame_size - FS_HEADROOM;
	uint32_t n = want <= first ? 1 :
		     1 + (want - first + p->frame_size - 1) / p->frame_size;

	return n < VM_MAX_FRAMES ? n : VM_MAX_FRAMES;
}

uint32_t port_mc_rx(struct port *pt, struct pool *p, struct port_frame *out,
		    uint32_t max)
{
	struct mmsghdr msg[MC_BATCH];
	struct iovec iov[MC_BATCH * VM_MAX_FRAMES];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
	} ctl[MC_BATCH];
	uint64_t base[MC_BATCH * VM_MAX_FRAMES];
	uint32_t n, i, j, k = 0, nf = mc_frames(pt, p), first, used;
	char peek;
	int got;

	if (pt->mc_fd < 0)
		return 0;
	/* Most reads find nothing: a peek says so before a batch of frames
	 * is taken from the pool, set up for recvmmsg and given back, a
	 * setup that costs more than the peek's system call. */
	if (recv(pt->mc_fd, &peek, 1, MSG_DONTWAIT | MSG_PEEK) < 0)
		return 0;
	/* Each message is received into nf frames (out[] entries). */
	max = max / nf ? max / nf : 1;
	if (max > MC_BATCH)
		max = MC_BATCH;
	for (n = 0; n < max; n++) {
		for (j = 0; j < nf; j++) {
			uint64_t b = pool_alloc(p);

			if (b == UINT64_MAX)
				break;
			base[n * nf + j] = b;
			iov[n * nf + j].iov_base =
				pool_data(p, b + (j ? 0 : FS_HEADROOM));
			iov[n * nf + j].iov_len =
				p->frame_size - (j ? 0 : FS_HEADROOM);
		}
		if (j < nf) {
			while (j--)
				pool_free(p, base[n * nf + j]);
			break;
		}
		memset(&msg[n], 0, sizeof(msg[n]));
		msg[n].msg_hdr.msg_iov = &iov[n * nf];
		msg[n].msg_hdr.msg_iovlen = nf;
		msg[n].msg_hdr.msg_control = ctl[n].buf;
		msg[n].msg_hdr.msg_controllen = sizeof(ctl[n].buf);
	}
	if (!n) {
		char c;

		/* No frame to receive into: drop one so the socket does not
		 * stay readable and spin the loop. */
		if (recv(pt->mc_fd, &c, 1, MSG_DONTWAIT | MSG_TRUNC) >= 0)
			pt->st.drops[PORT_DROP_MC_NOFRAME]++;
		return 0;
	}
	got = recvmmsg(pt->mc_fd, msg, n, MSG_DONTWAIT, NULL);
	first = p->frame_size - FS_HEADROOM;
	for (i = 0; got > 0 && i < (uint32_t)got; i++) {
		uint64_t addr = base[i * nf] + FS_HEADROOM;
		uint32_t len = msg[i].msg_len, rest;
		struct cmsghdr *cm;

		if (msg[i].msg_hdr.msg_flags & MSG_TRUNC || len < FS_ETH_HLEN) {
			pt->st.drops[PORT_DROP_MC_TRUNC]++;
			for (j = 0; j < nf; j++) {
				scrub_note(&p->scrub,
					   pool_frame(p, base[i * nf + j]),
					   j ? 0 : FS_HEADROOM, p->frame_size);
				pool_free(p, base[i * nf + j]);
			}
			continue;
		}
		/* The frames the message filled, in order; the others were
		 * never written. */
		used = len <= first ? 1 :
		       1 + (len - first + p->frame_size - 1) / p->frame_size;
		for (j = used; j < nf; j++)
			pool_free(p, base[i * nf + j]);
		pt->st.mc_packets++;
		pt->st.mc_bytes += len;
		pt->st.rx_packets++;
		pt->st.rx_bytes += len;
		rest = len - (len < first ? len : first);
		len -= rest;
		/* The stack took the 802.1Q tag off into metadata; put it back
		 * in the headroom so the frame is as it was on the wire. */
		for (cm = CMSG_FIRSTHDR(&msg[i].msg_hdr); cm;
		     cm = CMSG_NXTHDR(&msg[i].msg_hdr, cm)) {
			struct tpacket_auxdata aux;
			unsigned char *d;
			uint16_t tpid;

			if (cm->cmsg_level != SOL_PACKET ||
			    cm->cmsg_type != PACKET_AUXDATA)
				continue;
			memcpy(&aux, CMSG_DATA(cm), sizeof(aux));
			if (!(aux.tp_status & TP_STATUS_VLAN_VALID))
				continue;
			tpid = aux.tp_status & TP_STATUS_VLAN_TPID_VALID ?
				       aux.tp_vlan_tpid : ETH_P_8021Q;
			addr -= 4;
			d = pool_data(p, addr);
			memmove(d, d + 4, 12);
			d[12] = tpid >> 8;
			d[13] = tpid & 0xff;
			d[14] = aux.tp_vlan_tci >> 8;
			d[15] = aux.tp_vlan_tci & 0xff;
			len += 4;
		}
		for (j = 0; j < used; j++) {
			uint32_t off = pool_offset_in_frame(p, addr);

			scrub_reuse(&p->scrub, pool_frame(p, addr), off,
				    off + len);
			out[k].addr = addr;
			out[k].len = len;
			out[k].options = j + 1 < used ? FS_DESC_MORE : 0;
			k++;
			if (j + 1 < used) {
				addr = base[i * nf + j + 1];
				len = rest < p->frame_size ? rest :
							     p->frame_size;
				rest -= len;
			}
		}
	}
	/* Frames nothing was received into were never written: no scrub. */
	for (i = got > 0 ? (uint32_t)got : 0; i < n; i++)
		for (j = 0; j < nf; j++)
			pool_free(p, base[i * nf + j]);
	return k;
}

uint32_t port_tx_chains(struct port *pt, uint32_t vm,
			const struct port_txf *f, uint32_t n)
{
	struct nic_queue *q = &pt->q[pt->txq_of_vm[vm]];
	struct pool *p = q->pool;
	uint32_t room = xsk_prod_nb_free(&q->tx, 2 * n), descs = 0, moved = 0;
	uint32_t idx, i, j, k = 0, e, sent = 0, pkts = 0;
	uint64_t bytes = 0;

	/* An entry takes one descriptor, or two when chained; a packet goes
	 * whole or not at all. */
	for (e = 0, j = 0; e < n; e++) {
		j += !!f[e].hlen + !!f[e].len;
		if (j > room)
			break;
		if (!f[e].more) {
			k = e + 1;
			descs = j;
			sent++;
		}
	}
	for (e = k; e < n; e++)
		pkts += !f[e].more;
	pt->st.drops[PORT_DROP_TX_FULL] += pkts;
	if (!k || xsk_ring_prod__reserve(&q->tx, descs, &idx) != descs)
		return 0;
	for (i = j = 0; i < k; i++) {
		struct xdp_desc *d;

		bytes += f[i].hlen + f[i].len;
		if (f[i].hlen) {
			d = xsk_ring_prod__tx_desc(&q->tx, idx + j++);
			d->addr = f[i].hdr;
			d->len = f[i].hlen;
			d->options = f[i].len || f[i].more ? XDP_PKT_CONTD : 0;
		}
		if (!f[i].len)
			continue;
		d = xsk_ring_prod__tx_desc(&q->tx, idx + j++);
		pool_set_owner(p, pool_frame(p, f[i].addr), POOL_OWN_TX);
		d->addr = f[i].addr;
		d->len = f[i].len;
		d->options = f[i].more ? XDP_PKT_CONTD : 0;
		moved++;
	}
	pool_count_move(p, POOL_OWN_SWITCH, POOL_OWN_TX, moved);
	q->tx_unkicked += descs;
	pt->tx_unkicked += descs;
	pt->st.tx_packets += sent;
	pt->st.tx_bytes += bytes;
	return k;
}

uint32_t port_tx_burst(struct port *pt, uint32_t vm,
		       const struct port_txf *f, uint32_t n)
{
	struct nic_queue *q = &pt->q[pt->txq_of_vm[vm]];
	struct pool *p = q->pool;
	uint32_t room = xsk_prod_nb_free(&q->tx, 2 * n), descs = 0, moved = 0;
	uint32_t idx, i, j, k;
	uint64_t bytes = 0;

	/* A frame takes one descriptor, or two when chained. */
	for (k = 0; k < n && descs + 1 + !!f[k].len <= room; k++)
		descs += 1 + !!f[k].len;
	if (k < n)
		pt->st.drops[PORT_DROP_TX_FULL] += n - k;
	if (!k || xsk_ring_prod__reserve(&q->tx, descs, &idx) != descs)
		return 0;
	for (i = j = 0; i < k; i++) {
		struct xdp_desc *d = xsk_ring_prod__tx_desc(&q->tx, idx + j++);

		d->addr = f[i].hdr;
		d->len = f[i].hlen;
		d->options = f[i].len ? XDP_PKT_CONTD : 0;
		bytes += f[i].hlen + f[i].len;
		if (!f[i].len)
			continue;
		d = xsk_ring_prod__tx_desc(&q->tx, idx + j++);
		pool_set_owner(p, pool_frame(p, f[i].addr), POOL_OWN_TX);
		d->addr = f[i].addr;
		d->len = f[i].len;
		d->options = 0;
		moved++;
	}
	pool_count_move(p, POOL_OWN_SWITCH, POOL_OWN_TX, moved);
	q->tx_unkicked += descs;
	pt->tx_unkicked += descs;
	pt->st.tx_packets += k;
	pt->st.tx_bytes += bytes;
	return k;
}

static void tx_kick(struct port *pt, struct nic_queue *q)
{
	/* Copy-mode transmit happens only inside sendmsg, a bounded budget
	 * of frames per call; zero-copy drivers say when they need it. */
	if (pt->zerocopy && !xsk_ring_prod__needs_wakeup(&q->tx))
		return;
	if (sendto(q->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 &&
	    errno != EAGAIN && errno != EBUSY && errno != ENOBUFS &&
	    errno != ENETDOWN)
		log_debug("%s: tx kick: %s", pt->cfg.name, strerror(errno));
	pt->st.kicks++;
}

void __port_tx_flush(struct port *pt)
{
	pt->tx_unkicked = 0;
	for (uint32_t i = 0; i < pt->n_queues; i++) {
		struct nic_queue *q = &pt->q[i];

		if (!q->tx_unkicked)
			continue;
		xsk_ring_prod__submit(&q->tx, q->tx_unkicked);
		q->tx_unkicked = 0;
		tx_kick(pt, q);
	}
}

uint32_t port_service(struct port *pt, uint32_t batch)
{
	uint32_t moved = 0;

	for (uint32_t qi = 0; qi < pt->n_queues; qi++) {
		struct nic_queue *q = &pt->q[qi];
		struct pool *p = q->pool;
		/* Nothing on any of the pool's tx rings, nothing to complete
		 * or kick: not a look at the kernel's completion and tx
		 * consumer lines. */
		bool tx = pool_tx_busy(p);
		uint32_t idx, n, room;

		n = tx ? xsk_ring_cons__peek(&q->cq, batch, &idx) : 0;
		if (n) {
			pool_recycle_burst(p, POOL_OWN_TX,
					   (const uint64_t *)q->cq.ring,
					   q->cq.mask, idx, n);
			xsk_ring_cons__release(&q->cq, n);
			pt->st.tx_completed += n;
			moved += n;
		}
		/* Transmit left on the ring (copy mode sends a bounded number
		 * per kick) needs another kick. */
		if (tx && *q->tx.producer !=
			      __atomic_load_n(q->tx.consumer, __ATOMIC_ACQUIRE))
			tx_kick(pt, q);

		/* The consumer index (the kernel's line) is loaded only when
		 * the cached count says fewer than PORT_FILL_MIN are free. */
		room = xsk_prod_nb_free(&q->fq, PORT_FILL_MIN);
		if (room > batch)
			room = batch;
		if (room < PORT_FILL_MIN && room < batch)
			room = 0;
		if (room + p->fill_reserve > p->n_free)
			room = p->n_free > p->fill_reserve ?
				       p->n_free - p->fill_reserve : 0;
		if (room && xsk_ring_prod__reserve(&q->fq, room, &idx) == room) {
			pool_alloc_burst(p, POOL_OWN_FILL, (uint64_t *)q->fq.ring,
					 q->fq.mask, idx, room);
			xsk_ring_prod__submit(&q->fq, room);
			moved += room;
		}
		if (xsk_ring_prod__needs_wakeup(&q->fq))
			recvfrom(q->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
	}
	return moved;
}

void port_xsk_stats(const struct port *pt, struct xdp_statistics *out)
{
	memset(out, 0, sizeof(*out));
	for (uint32_t q = 0; q < pt->n_queues; q++) {
		struct xdp_statistics s;
		socklen_t sl = sizeof(s);

		if (pt->q[q].fd < 0 ||
		    getsockopt(pt->q[q].fd, SOL_XDP, XDP_STATISTICS, &s, &sl))
			continue;
		out->rx_dropped += s.rx_dropped;
		out->rx_invalid_descs += s.rx_invalid_descs;
		out->tx_invalid_descs += s.tx_invalid_descs;
		out->rx_ring_full += s.rx_ring_full;
		out->rx_fill_ring_empty_descs += s.rx_fill_ring_empty_descs;
		out->tx_ring_empty_descs += s.tx_ring_empty_descs;
	}
}

int port_xdp_counters(const struct port *pt,
		      struct fs_xdp_counter out[FS_XDP_NR_VERDICTS])
{
	int ncpu = libbpf_num_possible_cpus();
	int fd = bpf_map__fd(pt->skel->maps.counters);
	struct fs_xdp_counter *per;

	if (ncpu <= 0)
		return -EINVAL;
	per = calloc((size_t)ncpu, sizeof(*per));
	if (!per)
		return -ENOMEM;
	for (uint32_t v = 0; v < FS_XDP_NR_VERDICTS; v++) {
		out[v] = (struct fs_xdp_counter){ 0 };
		if (bpf_map_lookup_elem(fd, &v, per))
			continue;
		for (int c = 0; c < ncpu; c++) {
			out[v].packets += per[c].packets;
			out[v].bytes += per[c].bytes;
		}
	}
	free(per);
	return 0;
}

int port_xdp_counters_clear(const struct port *pt)
{
	int ncpu = libbpf_num_possible_cpus();
	int fd = bpf_map__fd(pt->skel->maps.counters);
	struct fs_xdp_counter *zero;
	int err = 0;

	if (ncpu <= 0)
		return -EINVAL;
	zero = calloc((size_t)ncpu, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	for (uint32_t v = 0; v < FS_XDP_NR_VERDICTS && !err; v++)
		if (bpf_map_update_elem(fd, &v, zero, BPF_ANY))
			err = -errno;
	free(zero);
	return err;
}
