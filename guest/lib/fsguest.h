/* SPDX-License-Identifier: MIT */
/*
 * The guest side of the flipswitch ring ABI (include/flipswitch/ring.h), in
 * plain C over libc: the same code runs in a host process on the pool and
 * ring files, and inside a QEMU guest on the ivshmem BARs (sysfs resource2
 * files map the same way).
 *
 * Doorbells (ring.h, I..L) are optional: with fsg_set_doorbell() (or
 * fsg_open_doorbell() on the host) the guest rings the switch when the
 * switch asked for it, and fsg_wait() sleeps until the switch rings back;
 * without, fsg_wait() is a short sleep and the switch polls.
 *
 * A guest owns the frames it took from its rx and alloc rings until it puts
 * them on the tx or free ring. It may transmit any frame it owns, so a
 * received frame can be forwarded without a copy.
 */
#ifndef FSGUEST_H
#define FSGUEST_H

#include <stdint.h>

#include "flipswitch/ring.h"

struct fsg {
	unsigned char *pool;
	uint64_t pool_map_size;
	unsigned char *region;
	uint64_t region_map_size;
	struct fs_region_hdr *hdr;
	/* Copied out of the header once checked: the switch may be restarted
	 * under us, but the geometry we validated is what we use. */
	uint64_t pool_size;
	uint32_t frame_size;
	uint32_t headroom;
	struct fs_ring rx, free, alloc, tx;
	uint32_t gen;      /* switch_gen when we attached */
	uint32_t req;      /* our last request word */
	uint32_t free_unsubmitted, tx_unsubmitted;
	uint32_t beat;     /* our heartbeat count (guest_beat) */
	uint64_t bad_rx;   /* rx descriptors outside the pool (ignored) */
	/* Packets of several frames (ring.h M..N, ABI 1.3): chains, set
	 * before fsg_attach, asks the switch for them (FS_GUEST_CHAINS);
	 * fsg_rx returns whole packets either way. */
	int chains;
	/* Doorbells: wait_fd is an eventfd the switch's ring makes readable;
	 * ring_fd rings the switch: an eventfd (ring_off < 0) or a VFIO device
	 * whose ivshmem Doorbell register is at ring_off. -1: none. */
	int wait_fd, ring_fd;
	int64_t ring_off;
	int db_sock;       /* the doorbell socket connection, or -1 */
	uint64_t rings;    /* times we rang the switch */
	uint64_t waits;    /* times we slept in fsg_wait() */
	uint64_t wakeups;  /* of those, woken by the switch's ring */
};

/* Maps the pool and ring files (host files or PCI resource2 files) and
 * checks the header. 0 or -errno; a message in err on failure. -EAGAIN
 * means no switch has written the region yet (or the file is missing):
 * try again later. */
int fsg_open(struct fsg *g, const char *pool_path, const char *rings_path,
	     char *err, unsigned int errlen);
/* The same on a ring region already mapped (a VFIO BAR). The caller keeps
 * the mapping. */
int fsg_open_mem(struct fsg *g, const char *pool_path, void *region,
		 uint64_t region_size, char *err, unsigned int errlen);
/* On the host: gets the ring region and both doorbells from the VM's
 * doorbell socket (the ivshmem-server protocol), as QEMU does. */
int fsg_open_doorbell(struct fsg *g, const char *pool_path,
		      const char *sock_path, char *err, unsigned int errlen);
void fsg_close(struct fsg *g);

/* Doorbells of a guest opened otherwise (fsg takes the fds). */
void fsg_set_doorbell(struct fsg *g, int wait_fd, int ring_fd,
		      int64_t ring_off);
/* What fsg_wait() waits for. */
#define FSG_WAIT_RX 1u    /* received frames */
#define FSG_WAIT_ALLOC 2u /* lent frames to transmit */

/* Sleeps until the switch rings (something arrived on a ring in what) or
 * max_ms passed; returns at once if something is there already. Without
 * a doorbell, or while the switch cannot ring us, sleeps at most 1 ms. */
void fsg_wait(struct fsg *g, unsigned int what, int max_ms);

/* Checks magic, ABI version, offsets and sizes of a mapped region against
 * its mapping size. 0 or -EINVAL with a message. */
int fsg_check_header(const struct fs_region_hdr *h, uint64_t map_size,
		     char *err, unsigned int errlen);

/* Asks the switch to (re)attach and waits for its answer. Every frame the
 * guest held before is void afterwards. 0, or -ETIMEDOUT. */
int fsg_attach(struct fsg *g, int timeout_ms);
/* Waits for the switch to take what is on the tx and free rings, then
 * detaches: the switch takes back every frame this VM holds. */
int fsg_detach(struct fsg *g, int timeout_ms);
/* True if the switch restarted or went away since we attached, or gave
 * up on us (no heartbeat for its guest timeout): attach again. */
int fsg_switch_changed(const struct fsg *g);
/* True if another guest process attached to this VM since we did: the
 * switch took back our frames, and the rings are the other one's now. */
int fsg_superseded(const struct fsg *g);

/* The MTU of the interface this VM's frames leave by (ring.h, ABI 1.2):
 * a frame for the wire may be at most this + FS_ETH_HLEN bytes. It may
 * change at any time; 0 while the switch does not know it, or if it is
 * older than ABI 1.2. */
static inline uint32_t fsg_uplink_mtu(const struct fsg *g)
{
	if (g->hdr->abi_minor < 2)
		return 0;
	return __atomic_load_n(&g->hdr->uplink_mtu, __ATOMIC_RELAXED);
}

/* The longest packet the switch takes and gives, in bytes and in frames
 * (ring.h, ABI 1.3); 0 from an older switch, which takes packets of one
 * frame only. */
static inline uint32_t fsg_max_packet(const struct fsg *g)
{
	return g->hdr->abi_minor < 3 ? 0 : g->hdr->max_packet;
}

static inline uint32_t fsg_max_frames(const struct fsg *g)
{
	return g->hdr->abi_minor < 3 ? 0 : g->hdr->max_frames;
}

static inline void *fsg_data(const struct fsg *g, uint64_t addr)
{
	return g->pool + addr;
}

/* Takes up to max received frames, whole packets only: a packet of
 * several frames is its descriptors in a row, FS_DESC_MORE on all but the
 * last (max at least fsg_max_frames(), or a longer packet comes in
 * parts). Each call is also the guest's heartbeat: call it at least every
 * few hundred milliseconds. */
uint32_t fsg_rx(struct fsg *g, struct fs_desc *out, uint32_t max);
/* Gives a frame back (any offset inside it). -EAGAIN if the ring is full. */
int fsg_free(struct fsg *g, uint64_t addr);
/* A lent empty frame for transmit: its base offset, or UINT64_MAX if none
 * is available now. Write the packet at base + g->headroom. */
uint64_t fsg_alloc(struct fsg *g);
/* Queues a frame the guest owns for transmit. -EAGAIN if the ring is full. */
int fsg_tx(struct fsg *g, uint64_t addr, uint32_t len);
/* Queues a packet of n frames the guest owns (d[i].addr, d[i].len; the
 * options are set here), all or none: -EAGAIN if the ring has no room
 * for all n. */
int fsg_tx_packet(struct fsg *g, const struct fs_desc *d, uint32_t n);
/* Publishes queued free and tx entries. */
void fsg_flush(struct fsg *g);

#endif /* FSGUEST_H */
