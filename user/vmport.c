// SPDX-License-Identifier: MIT
/*
 * VM ports; see vmport.h for what is checked and why.
 *
 * Region layout, computed here only (the guest reads it from the header):
 * the header on the first page, then rx, free, alloc and tx rings, each on
 * its own page. The file is rounded up to a power of two because QEMU maps
 * it as a PCI BAR.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdstore.h"
#include "log.h"
#include "shmfile.h"
#include "shmguard.h"
#include "vmport.h"

#define VM_PAGE 4096u
/* The header's part a guest may only read: up to the switch's words. */
#define VM_HDR_FIXED offsetof(struct fs_region_hdr, switch_gen)

const char *const vm_drop_names[VM_DROP_NR] = {
	[VM_DROP_DETACHED] = "detached",
	[VM_DROP_QUOTA] = "quota",
	[VM_DROP_RX_FULL] = "rx_ring_full",
	[VM_BAD_RING_INDEX] = "bad_ring_index",
	[VM_BAD_ADDR] = "bad_addr",
	[VM_BAD_OWNER] = "bad_owner",
	[VM_BAD_LEN] = "bad_len",
	[VM_BAD_OPTIONS] = "bad_options",
	[VM_DROP_FLOOD_LIMITED] = "flood_limited",
	[VM_DROP_SPOOFED] = "spoofed",
	[VM_DROP_TAGGED] = "tagged",
	[VM_DROP_CHAIN_UNSUPPORTED] = "chain_unsupported",
	[VM_DROP_CHAIN_TOO_LONG] = "chain_too_long",
	[VM_DROP_CHAIN_UNENDED] = "chain_unended",
};

static uint64_t ring_bytes(uint32_t size, uint32_t desc_size)
{
	uint64_t n = sizeof(struct fs_ring_shared) + (uint64_t)size * desc_size;

	return (n + VM_PAGE - 1) & ~(uint64_t)(VM_PAGE - 1);
}

static void layout(struct fs_region_hdr *h, uint32_t size)
{
	uint64_t off = VM_PAGE;

	h->rx = (struct fs_ring_info){ off, size, sizeof(struct fs_desc) };
	off += ring_bytes(size, sizeof(struct fs_desc));
	h->free = (struct fs_ring_info){ off, size, sizeof(uint64_t) };
	off += ring_bytes(size, sizeof(uint64_t));
	h->alloc = (struct fs_ring_info){ off, size, sizeof(uint64_t) };
	off += ring_bytes(size, sizeof(uint64_t));
	h->tx = (struct fs_ring_info){ off, size, sizeof(struct fs_desc) };
	off += ring_bytes(size, sizeof(struct fs_desc));
	h->region_size = pool_pow2_roundup(off);
}

/* Whether an existing file of size bytes may become a ring region of
 * region_size: empty; a region (its magic); or zeros, no longer than the
 * region (a QEMU started before the switch makes the file). */
static bool region_file_ok(int fd, uint64_t size, uint64_t region_size)
{
	unsigned char page[VM_PAGE];
	uint64_t magic, off;
	ssize_t n;

	if (!size)
		return true;
	if (pread(fd, &magic, sizeof(magic), 0) != sizeof(magic))
		return false;
	if (magic == FS_REGION_MAGIC)
		return true;
	if (size > region_size)
		return false;
	for (off = 0; off < size; off += (uint64_t)n) {
		n = pread(fd, page, sizeof(page), (off_t)off);
		if (n <= 0)
			return false;
		for (ssize_t i = 0; i < n; i++)
			if (page[i])
				return false;
	}
	return true;
}

uint32_t vmport_max_frames(uint32_t frame_size)
{
	uint32_t room = frame_size - FS_HEADROOM;
	uint32_t n = (VM_MAX_PACKET + room - 1) / room;

	return n < VM_MAX_FRAMES ? n : VM_MAX_FRAMES;
}

struct vmport *vmport_alloc(size_t n)
{
	size_t bytes = n * sizeof(struct vmport);
	struct vmport *v = aligned_alloc(64, bytes);

	if (v)
		memset(v, 0, bytes);
	return v;
}

uint64_t vmport_region_size(uint32_t ring_size)
{
	struct fs_region_hdr h;

	layout(&h, ring_size);
	return h.region_size;
}

static void rings_reset(struct vmport *v)
{
	const struct fs_ring_info *ri[] = { &v->layout.rx, &v->layout.free,
					    &v->layout.alloc, &v->layout.tx };

	/* The guest may scribble on the shared indices at any time; the
	 * private copies, rebuilt here from the layout the switch computed,
	 * are what the switch trusts. */
	for (unsigned int i = 0; i < 4; i++) {
		struct fs_ring_shared *s =
			(struct fs_ring_shared *)(v->region + ri[i]->off);

		__atomic_store_n(&s->producer, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&s->consumer, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&s->flags, 0, __ATOMIC_RELAXED);
	}
	fs_ring_init(&v->rx, v->region, &v->layout.rx);
	v->rx_desc = (struct fs_desc *)v->rx.desc;
	v->rx_producer = v->rx.producer;
	v->rx_mask = (uint16_t)v->rx.mask;
	v->rx_prod = 0;
	fs_ring_init(&v->free, v->region, &v->layout.free);
	fs_ring_init(&v->alloc, v->region, &v->layout.alloc);
	fs_ring_init(&v->tx, v->region, &v->layout.tx);
	v->rx_unflushed = 0;
	v->rx_room = 0;
}

bool vmport_hdr_repair(struct vmport *v)
{
	struct fs_region_hdr *h = v->hdr;
	uint32_t state = v->active ? FS_SW_UP : 0;

	/* A region cut short is private memory now: nobody reads it. */
	if (v->broken)
		return false;
	if (!memcmp(h, &v->layout, VM_HDR_FIXED) &&
	    __atomic_load_n(&h->switch_gen, __ATOMIC_RELAXED) == v->gen &&
	    __atomic_load_n(&h->switch_state, __ATOMIC_RELAXED) == state)
		return false;
	memcpy(h, &v->layout, VM_HDR_FIXED);
	__atomic_store_n(&h->switch_gen, v->gen, __ATOMIC_RELAXED);
	/* Release: a guest that sees the switch up sees the header. */
	__atomic_store_n(&h->switch_state, state, __ATOMIC_RELEASE);
	v->st.hdr_repaired++;
	if (!v->hdr_logged)
		log_warn("vm %s: its region header was overwritten: written back (logged once a guest)",
			 v->cfg.name);
	v->hdr_logged = true;
	return true;
}

/* VM c's eventfd of role (FDSTORE_IRQ, FDSTORE_BELL): for a doorbell VM
 * the one the fd store kept, if any, else a new one, stored (*stored, name
 * filled for fdstore_forget). Non-blocking whoever made it: the worker
 * drains the bell with read() and writes vector 0 between passes. The fd,
 * or -errno. */
static int stored_eventfd(const char *role, const struct cfg_vm *c,
			  char *name, bool *stored)
{
	bool bell = c->doorbell[0] != 0;
	int fd;

	fdstore_name(name, role, c->name);
	fd = bell ? fdstore_claim(name, FDSTORE_EVENTFD, NULL) : -1;
	if (fd >= 0) {
		if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		return fd;
	}
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	*stored = bell && fdstore_push(name, fd) > 0;
	return fd;
}

/* A sealed VM's region (cfg "sealed"): the memfd the fd store kept, if it
 * is of this size (a running QEMU maps it: the guest stays paired), else
 * a new one, sized and sealed before anyone else sees it, and stored
 * (*stored, name filled for fdstore_forget). No flock: nobody can open it
 * by a path, and the seals hold for every holder. The fd, or -errno. */
static int sealed_region(const struct cfg_vm *c, uint64_t size, char *name,
			 bool *stored)
{
	struct stat st;
	int fd, err;

	fdstore_name(name, FDSTORE_REGION, c->name);
	fd = fdstore_claim(name, FDSTORE_MEMFD, NULL);
	if (fd >= 0 && !fstat(fd, &st) && (uint64_t)st.st_size == size) {
		log_info("vm %s: sealed region taken back from the fd store",
			 c->name);
		return fd;
	}
	if (fd >= 0) {
		/* ring_size changed: its guest must start again anyway. */
		log_warn("vm %s: the stored region is not %llu bytes: a new one (restart the VM's guest)",
			 c->name, (unsigned long long)size);
		fdstore_forget(name);
		close(fd);
	}
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) ||
	    fcntl(fd, F_ADD_SEALS, FDSTORE_SEALS)) {
		err = -errno;
		log_err("vm %s: cannot size and seal its region: %s", c->name,
			strerror(-err));
		close(fd);
		return err;
	}
	*stored = fdstore_push(name, fd) > 0;
	return fd;
}

int vmport_create(struct vmport *v, const struct cfg_vm *c, int index,
		  struct pool *p)
{
	struct fs_region_hdr *h;
	uint32_t old_gen = 0;
	char who[sizeof(c->name) + 4], irq_name[FDSTORE_NAME_MAX],
		bell_name[FDSTORE_NAME_MAX], region_name[FDSTORE_NAME_MAX];
	/* What the log calls the region: its file, or what has none. */
	const char *where = c->sealed ? "(sealed memfd)" : c->rings;
	struct stat st;
	bool irq_stored = false, bell_stored = false, region_stored = false;
	int err;

	memset(v, 0, sizeof(*v));
	v->guard = -1;
	v->cfg = *c;
	v->index = index;
	v->owner = POOL_OWN_VM(index);
	v->pool = p;
	v->quota = c->quota;
	v->uplink = (uint8_t)c->uplink;
	v->pool_index = (uint8_t)p->index;
	v->alloc_target = c->quota / 4 ? c->quota / 4 : 1;
	if (v->alloc_target > c->ring_size)
		v->alloc_target = c->ring_size;
	v->bell_batch = (c->ring_size < c->quota - v->alloc_target ?
			 c->ring_size : c->quota - v->alloc_target) / 2;
	if (!v->bell_batch)
		v->bell_batch = 1;
	layout(&v->layout, c->ring_size);
	v->region_size = v->layout.region_size;

	/* Vector 0 and the guest's bell: a doorbell guest's QEMU holds these
	 * very eventfds across a restart of the switch, so the next switch
	 * takes them back from the fd store (fdstore.h). */
	v->irq_fd = stored_eventfd(FDSTORE_IRQ, c, irq_name, &irq_stored);
	if (v->irq_fd < 0)
		return v->irq_fd;
	v->bell_fd = stored_eventfd(FDSTORE_BELL, c, bell_name, &bell_stored);
	if (v->bell_fd < 0) {
		err = v->bell_fd;
		goto out_irq;
	}
	snprintf(who, sizeof(who), "vm %s", c->name);
	v->fd = c->sealed ? sealed_region(c, v->region_size, region_name,
					  &region_stored) :
			    shm_file_open(who, c->rings, O_NOFOLLOW, &v->created);
	if (v->fd < 0) {
		err = v->fd;
		goto out_bell;
	}
	/* A new file, one a QEMU started first made (zeros, of the size
	 * it was told), or a region an earlier switch left; anything else
	 * there (a link is not followed) is someone's file: the daemon runs
	 * as root, and vm add takes the path from the control socket. A
	 * sealed region was made here, or by an earlier switch. */
	if (!c->sealed &&
	    (fstat(v->fd, &st) || !S_ISREG(st.st_mode) ||
	     !region_file_ok(v->fd, (uint64_t)st.st_size, v->region_size))) {
		err = -EEXIST;
		log_err("vm %s: %s is not a ring region file: not overwriting it",
			c->name, c->rings);
		goto out_close;
	}
	/* A region left by an earlier run keeps its inode (a running QEMU
	 * may map it) and its generation goes on counting, so a guest that
	 * outlived the old switch sees the change and attaches again. */
	if (pread(v->fd, &old_gen, sizeof(old_gen),
		  offsetof(struct fs_region_hdr, switch_gen)) != sizeof(old_gen))
		old_gen = 0;
	v->region = shm_file_map(who, where, v->fd, NULL, v->region_size,
				 v->region_size);
	if (!v->region) {
		err = -errno;
		goto out_unlink;
	}
	/* From here on a truncation of the file costs this VM, not the
	 * daemon. */
	v->guard = shmguard_add(v->region, v->region_size);
	if (v->guard < 0)
		log_warn("vm %s: %s is not guarded against truncation (%s)",
			 c->name, where, strerror(-v->guard));
	h = v->hdr = (struct fs_region_hdr *)v->region;
	__atomic_store_n(&h->switch_state, 0, __ATOMIC_RELEASE);
	/* No guest is on this daemon's doorbell yet. */
	__atomic_store_n(&h->switch_doorbell, 0, __ATOMIC_RELAXED);
	/* Unknown until the worker writes it (sw_mtu_vm). */
	__atomic_store_n(&h->uplink_mtu, 0, __ATOMIC_RELAXED);
	memset(v->region + sizeof(*h), 0, v->region_size - sizeof(*h));
	/* The header a guest may only read, kept privately: what
	 * vmport_hdr_repair writes back over a guest's scribbles. */
	v->layout.magic = FS_REGION_MAGIC;
	v->layout.abi_major = FS_ABI_MAJOR;
	v->layout.abi_minor = FS_ABI_MINOR;
	v->layout.hdr_size = sizeof(*h);
	v->layout.pool_size = p->size;
	v->layout.pool_frames = p->frames;
	v->layout.frame_size = p->frame_size;
	v->layout.headroom = FS_HEADROOM;
	v->layout.quota = c->quota;
	v->layout.max_packet = VM_MAX_PACKET;
	v->layout.max_frames = vmport_max_frames(p->frame_size);
	memcpy(v->layout.mac, c->mac, 6);
	v->layout.vlan = c->vlan;
	snprintf(v->layout.name, sizeof(v->layout.name), "%s", c->name);
	memcpy(h, &v->layout, VM_HDR_FIXED);
	v->gen = old_gen + 1;
	rings_reset(v);
	/* Whatever the guest asked of the old switch is void: start from its
	 * current request word so that only a new request counts. */
	v->last_req = __atomic_load_n(&h->guest_req, __ATOMIC_ACQUIRE);
	__atomic_store_n(&h->guest_ack, v->last_req, __ATOMIC_RELAXED);
	__atomic_store_n(&h->switch_gen, v->gen, __ATOMIC_RELEASE);
	__atomic_store_n(&h->switch_state, FS_SW_UP, __ATOMIC_RELEASE);
	v->active = true;
	log_info("vm %s: %02x:%02x:%02x:%02x:%02x:%02x vlan %u, rings %s (%u entries), quota %u, generation %u",
		 c->name, c->mac[0], c->mac[1], c->mac[2], c->mac[3],
		 c->mac[4], c->mac[5], c->vlan, where, c->ring_size,
		 c->quota, old_gen + 1);
	return 0;

out_unlink:
	if (v->created)
		unlink(c->rings);
out_close:
	if (region_stored)
		fdstore_forget(region_name);
	close(v->fd);
	/* Only those stored just now: one taken back stays for the next try
	 * (a start that fails here fails whole). */
out_bell:
	if (bell_stored)
		fdstore_forget(bell_name);
	close(v->bell_fd);
out_irq:
	if (irq_stored)
		fdstore_forget(irq_name);
	close(v->irq_fd);
	v->fd = v->irq_fd = v->bell_fd = -1;
	return err;
}

void vmport_destroy(struct vmport *v, struct pool *p)
{
	if (!v->region)
		return;
	pool_reclaim(p, v->owner);
	vmport_unmap(v);
}

void vmport_unmap(struct vmport *v)
{
	/* A QEMU on its doorbell maps the file too, attached or not. */
	bool attached = v->attached, keep = attached || v->db_live;

	if (!v->region)
		return;
	/* The file outlives the port: left a region (a scribbled header
	 * would make a later vm add of it refuse it as someone else's). */
	vmport_hdr_repair(v);
	v->active = false;
	v->attached = false;
	__atomic_store_n(&v->hdr->switch_doorbell, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&v->hdr->switch_state, 0, __ATOMIC_RELEASE);
	shmguard_del(v->guard);
	v->guard = -1;
	munmap(v->region, v->region_size);
	v->region = NULL;
	/* A guest still maps the file: keep the inode, so a switch started
	 * again reuses it and the guest, seeing the generation move on,
	 * attaches again instead of being left on a file nobody serves. */
	if (keep)
		log_info("vm %s: %s: keeping %s for the next switch",
			 v->cfg.name, attached ? "a guest is attached" :
			 "a QEMU is on its doorbell",
			 v->cfg.sealed ? "its sealed region (fd store)" :
					 v->cfg.rings);
	else if (v->created)
		unlink(v->cfg.rings);
	close(v->fd);
	close(v->irq_fd);
	close(v->bell_fd);
	v->fd = v->irq_fd = v->bell_fd = -1;
}

/* Frames of an open rx burst (given, not yet flushed) are the VM's: they
 * count to it before its frames are taken back. */
static void rx_close(struct vmport *v, struct pool *p)
{
	pool_count_move(p, POOL_OWN_SWITCH, v->owner, v->rx_unflushed);
	v->rx_unflushed = 0;
	v->rx_room = 0;
}

/* The guest is gone, or the VM is: takes back every frame it holds and
 * empties its rings. Returns the frames taken. */
static uint32_t let_go(struct vmport *v, struct pool *p)
{
	uint32_t n;

	rx_close(v, p);
	n = pool_reclaim(p, v->owner);
	v->st.reclaimed += n;
	rings_reset(v);
	/* Whatever the guest wrote over its header broke only itself, and
	 * only until now. */
	vmport_hdr_repair(v);
	v->hdr_logged = false;
	v->attached = false;
	v->rings_me = false;
	v->chains = false;
	v->beat_ms = 0;
	return n;
}

void vmport_ctrl_act(struct vmport *v, struct pool *p, uint32_t req)
{
	/* let_go repairs the header before G: the guest that sees its ack
	 * reads the switch's header. */
	uint32_t n = let_go(v, p), flags;

	v->attached = req & FS_REQ_ATTACH;
	flags = __atomic_load_n(&v->hdr->guest_flags, __ATOMIC_RELAXED);
	v->rings_me = flags & FS_GUEST_RINGS;
	v->chains = flags & FS_GUEST_CHAINS;
	v->last_req = req;
	__atomic_store_n(&v->hdr->guest_ack, req, __ATOMIC_RELEASE); /* G */
	log_info("vm %s: guest %s, %u frames taken back", v->cfg.name,
		 v->attached ? "attached" : "detached", n);
}

uint32_t vmport_region_lost(struct vmport *v, struct pool *p)
{
	uint32_t n;

	v->broken = true;
	n = let_go(v, p);
	v->st.region_truncated++;
	/* The region is private zeros from here on: rebuilt, the rings stay
	 * empty, and the request word never moves again (nothing but the
	 * switch writes it now), so no attach is ever acted on. */
	v->last_req = __atomic_load_n(&v->hdr->guest_req, __ATOMIC_RELAXED);
	log_err("vm %s: its ring region %s was cut short under the switch: the VM is out of service, %u frames taken back; vm del and vm add it to serve it again",
		v->cfg.name, v->cfg.rings, n);
	return n;
}

uint32_t vmport_peer_gone(struct vmport *v, struct pool *p)
{
	uint32_t n;

	v->st.hangups++;
	if (!v->attached)
		return 0;
	n = let_go(v, p);
	__atomic_store_n(&v->hdr->guest_ack, FS_ACK_GONE, __ATOMIC_RELEASE);
	log_info("vm %s: its doorbell peer hung up: guest taken for gone, %u frames taken back",
		 v->cfg.name, n);
	return n;
}

uint32_t vmport_check_alive(struct vmport *v, struct pool *p, uint64_t now_ms,
			    uint32_t timeout_ms)
{
	uint32_t beat, n;

	if (!v->attached || !timeout_ms)
		return 0;
	beat = __atomic_load_n(&v->hdr->guest_beat, __ATOMIC_RELAXED);
	if (!v->beat_ms || beat != v->last_beat) {
		v->last_beat = beat;
		v->beat_ms = now_ms;
		return 0;
	}
	if (now_ms - v->beat_ms < timeout_ms)
		return 0;
	n = let_go(v, p);
	v->st.timeouts++;
	__atomic_store_n(&v->hdr->guest_ack, FS_ACK_GONE, __ATOMIC_RELEASE);
	log_warn("vm %s: guest silent for %u ms, taken for gone; %u frames taken back",
		 v->cfg.name, timeout_ms, n);
	return n;
}

uint32_t vmport_rx_try_open(struct vmport *v, struct pool *p, int *why)
{
	uint32_t held = p->count[v->owner] + v->rx_unflushed, room;
	int bad = 0;

	if (!v->attached) {
		*why = VM_DROP_DETACHED;
		return 0;
	}
	if (held >= v->quota) {
		*why = VM_DROP_QUOTA;
		return 0;
	}
	/* The producer index lives in rx_prod, on the port's first line;
	 * fs_prod_room reads it from the ring. */
	v->rx.cached_prod = v->rx_prod;
	room = fs_prod_room(&v->rx, v->quota - held, &bad);
	if (!room) {
		*why = bad ? VM_BAD_RING_INDEX : VM_DROP_RX_FULL;
		return 0;
	}
	v->rx_room = room < v->quota - held ? room : v->quota - held;
	return v->rx_room;
}

uint32_t vmport_rx_open(struct vmport *v, struct pool *p)
{
	int why;
	uint32_t n = vmport_rx_try_open(v, p, &why);

	if (!n)
		v->st.drops[why]++;
	return n;
}

/* Checks a pool offset from the guest: inside the pool (size bytes), on a
 * frame the VM (owner id vo) owns. Returns the frame, or -(reason) after
 * counting it. The callers hold the pool's and the port's fields in
 * locals (see pool_set_owner: owner-table stores would reload v->owner). */
static inline int64_t check_frame(struct vmport *v, const struct scrub_rec *fr,
				  uint16_t vo, uint64_t size, uint32_t shift,
				  uint64_t addr)
{
	uint32_t frame;

	if (addr >= size) {
		v->st.drops[VM_BAD_ADDR]++;
		return -VM_BAD_ADDR;
	}
	frame = (uint32_t)(addr >> shift);
	if (fr[frame].owner != vo) {
		v->st.drops[VM_BAD_OWNER]++;
		return -VM_BAD_OWNER;
	}
	return frame;
}

/*
 * A packet of several frames on the tx ring, its first descriptor at
 * idx + *i (FS_DESC_MORE seen): read once into private memory, checked
 * whole (ring.h, N), its frames moved to the switch only if every one is
 * the VM's. Appended to out[*k] with the switch's own FS_DESC_MORE flags.
 * *n grows when the packet runs past the batch peeked (it may end up to
 * VM_MAX_FRAMES - 1 entries past max); *i ends on its last descriptor.
 * A bad packet is dropped whole, counted once, and every frame it named
 * stays the guest's: the owner table is put back as it was.
 */
static __attribute__((noinline)) void
tx_chain(struct vmport *v, struct pool *p, uint32_t idx, uint32_t *i,
	 uint32_t *n, uint32_t max, struct fs_desc *out, uint32_t *k,
	 uint64_t *bytes)
{
	const struct fs_desc *ring = (const struct fs_desc *)v->tx.desc;
	uint32_t fsize = p->frame_size, mask = v->tx.mask;
	uint32_t limit = v->layout.max_frames, m = 0, total = 0, j, unused;
	struct fs_desc c[VM_MAX_FRAMES];
	uint32_t frames[VM_MAX_FRAMES];
	int reason = -1, bad = 0;
	bool more = true;

	for (j = *i; more; j++) {
		const struct fs_desc *s;
		uint32_t opt, off;

		if (j == *n) {
			/* Past what was peeked: the rest of a packet begun
			 * inside the batch may follow, published with it (M);
			 * a packet up to the producer index never ends. */
			*n = fs_cons_peek(&v->tx, j < max ? j + 1 : j + limit,
					  &unused, &bad);
			if (j >= *n) {
				if (reason < 0)
					reason = VM_DROP_CHAIN_UNENDED;
				break;
			}
		}
		s = &ring[(idx + j) & mask];
		opt = __atomic_load_n(&s->options, __ATOMIC_RELAXED);
		more = opt & FS_DESC_MORE;
		if (m == limit) {
			/* Too many frames: skipped up to its end (or the
			 * producer index), so the rest is not taken for a
			 * packet of its own. */
			reason = VM_DROP_CHAIN_TOO_LONG;
			continue;
		}
		c[m].addr = __atomic_load_n(&s->addr, __ATOMIC_RELAXED);
		c[m].len = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
		off = (uint32_t)c[m].addr & (fsize - 1);
		if (opt & ~FS_DESC_MORE)
			reason = reason < 0 ? VM_BAD_OPTIONS : reason;
		else if (c[m].len < (m ? 1u : FS_ETH_HLEN) ||
			 (uint64_t)off + c[m].len > fsize)
			reason = reason < 0 ? VM_BAD_LEN : reason;
		total += c[m].len;
		m++;
	}
	*i = j - 1;
	/* Peeked past the batch: consumed up to the packet's end, no
	 * further (out[] has room for one packet past max). */
	if (*n > max)
		*n = j;
	if (bad)
		v->st.drops[VM_BAD_RING_INDEX]++;
	if (reason < 0 && total > VM_MAX_PACKET)
		reason = VM_DROP_CHAIN_TOO_LONG;
	if (reason >= 0) {
		v->st.drops[reason]++;
		return;
	}
	/* Ownership, frame by frame: a frame named twice is found the
	 * switch's at its second mention. */
	for (j = 0; j < m; j++) {
		int64_t f = check_frame(v, p->fr, v->owner, p->size,
					p->shift, c[j].addr);

		if (f < 0) {
			while (j--)
				p->fr[frames[j]].owner = v->owner;
			return;
		}
		frames[j] = (uint32_t)f;
		p->fr[f].owner = POOL_OWN_SWITCH;
	}
	for (j = 0; j < m; j++) {
		uint32_t off = (uint32_t)c[j].addr & (fsize - 1);

		scrub_from_guest(&p->scrub, frames[j]);
		scrub_note(&p->scrub, frames[j], off, off + c[j].len);
		out[*k].addr = c[j].addr;
		out[*k].len = c[j].len;
		out[*k].options = j + 1 < m ? FS_DESC_MORE : 0;
		++*k;
	}
	v->tx_chained = true;
	/* The caller counts k frames moved and k packets sent: this packet
	 * is one of them. */
	v->st.tx_packets -= m - 1;
	*bytes += total;
}

static uint32_t tx_collect_chains(struct vmport *v, struct pool *p,
				  struct fs_desc *out, uint32_t max,
				  uint32_t idx, uint32_t i, uint32_t n,
				  uint32_t k, uint64_t bytes);

/*
 * vmport_tx_collect's loop over the n entries peeked from idx on, from
 * entry i, with k frames already in out[] and their bytes, to the end:
 * the ring released, the frames counted. Two copies: the plain one
 * (chains false) hands over, at the first options word not 0, to the one
 * that takes packets of several frames (tx_collect_chains), so that the
 * count and index of the plain loop stay in registers.
 */
static inline __attribute__((always_inline)) uint32_t
tx_loop(struct vmport *v, struct pool *p, struct fs_desc *out, uint32_t max,
	uint32_t idx, uint32_t i, uint32_t n, uint32_t k, uint64_t bytes,
	bool chains)
{
	/* The pool's and the port's fields in locals (see check_frame). */
	struct scrub_rec *fr = p->fr;
	uint16_t vo = v->owner;
	uint64_t size = p->size;
	uint32_t shift = p->shift, fsize = p->frame_size, mask = v->tx.mask;
	const struct fs_desc *ring = (const struct fs_desc *)v->tx.desc;
	/* The loop counts in ring indices, j = idx + i: one register for
	 * both, as many as the loop had before it could hand over. */
	uint32_t j, end = idx + n;

	for (j = idx + i; j != end; j++) {
		const struct fs_desc *s = &ring[j & mask];
		/* Read once: the guest may rewrite the slot while we look. */
		uint64_t addr = __atomic_load_n(&s->addr, __ATOMIC_RELAXED);
		uint32_t len = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
		uint32_t opt = __atomic_load_n(&s->options, __ATOMIC_RELAXED);
		uint32_t off = (uint32_t)addr & (fsize - 1);
		int64_t frame;

		if (__builtin_expect(opt != 0, 0)) {
			if (opt != FS_DESC_MORE || !v->chains) {
				v->st.drops[VM_BAD_OPTIONS]++;
				continue;
			}
			if (!chains)
				return tx_collect_chains(v, p, out, max, idx,
							 j - idx, n, k, bytes);
			/* Taken whole: i and n move past it. */
			i = j - idx;
			tx_chain(v, p, idx, &i, &n, max, out, &k, &bytes);
			j = idx + i;
			end = idx + n;
			continue;
		}
		if (len < FS_ETH_HLEN || (uint64_t)off + len > fsize) {
			v->st.drops[VM_BAD_LEN]++;
			continue;
		}
		frame = check_frame(v, fr, vo, size, shift, addr);
		if (frame < 0)
			continue;
		fr[frame].owner = POOL_OWN_SWITCH;
		scrub_from_guest(&p->scrub, (uint32_t)frame);
		scrub_note(&p->scrub, (uint32_t)frame, off, off + len);
		bytes += len;
		out[k].addr = addr;
		out[k].len = len;
		out[k].options = 0;
		k++;
	}
	if (n)
		fs_cons_release(&v->tx, n);
	pool_count_move(p, vo, POOL_OWN_SWITCH, k);
	v->st.tx_packets += k;
	v->st.tx_bytes += bytes;
	return k;
}

static __attribute__((noinline)) uint32_t
tx_collect_chains(struct vmport *v, struct pool *p, struct fs_desc *out,
		  uint32_t max, uint32_t idx, uint32_t i, uint32_t n,
		  uint32_t k, uint64_t bytes)
{
	return tx_loop(v, p, out, max, idx, i, n, k, bytes, true);
}

uint32_t vmport_tx_collect(struct vmport *v, struct pool *p,
			   struct fs_desc *out, uint32_t max)
{
	uint32_t idx, n;
	int bad = 0;

	n = fs_cons_peek(&v->tx, max, &idx, &bad);
	if (bad)
		v->st.drops[VM_BAD_RING_INDEX]++;
	return tx_loop(v, p, out, max, idx, 0, n, 0, 0, false);
}

int vmport_rx_chain(struct vmport *v, struct pool *p, const struct fs_desc *c,
		    uint32_t m)
{
	uint32_t held;

	if (!v->chains) {
		v->st.drops[v->attached ? VM_DROP_CHAIN_UNSUPPORTED :
					  VM_DROP_DETACHED]++;
		return -1;
	}
	if (v->rx_room < m && !vmport_rx_open(v, p))
		return -1;
	if (v->rx_room < m) {
		/* Some room, not enough for the whole packet. */
		held = p->count[v->owner] + v->rx_unflushed;
		v->st.drops[held + m > v->quota ? VM_DROP_QUOTA :
						  VM_DROP_RX_FULL]++;
		return -1;
	}
	for (uint32_t j = 0; j < m; j++) {
		struct fs_desc *d = &v->rx_desc[v->rx_prod++ & v->rx_mask];

		pool_set_owner(p, pool_frame(p, c[j].addr), v->owner);
		d->addr = c[j].addr;
		d->len = c[j].len;
		d->options = j + 1 < m ? FS_DESC_MORE : 0;
		v->st.rx_bytes += c[j].len;
	}
	v->rx_room -= m;
	v->rx_unflushed += m;
	/* The flush counts frames as packets: this packet is one. */
	v->st.rx_packets -= m - 1;
	return 0;
}

uint32_t vmport_free_drain(struct vmport *v, struct pool *p, uint32_t max)
{
	struct scrub_rec *fr = p->fr;
	uint16_t vo = v->owner;
	uint64_t *top = pool_recycle_begin(p);
	uint64_t size = p->size;
	uint32_t shift = p->shift, idx, i, n, k, mask = v->free.mask;
	const uint64_t *ring = (const uint64_t *)v->free.desc;
	int bad = 0;

	n = fs_cons_peek(&v->free, max, &idx, &bad);
	if (bad)
		v->st.drops[VM_BAD_RING_INDEX]++;
	if (!n)
		return 0;
	for (i = 0; i < n; i++) {
		uint64_t addr = __atomic_load_n(&ring[(idx + i) & mask],
						__ATOMIC_RELAXED);
		int64_t frame = check_frame(v, fr, vo, size, shift, addr);

		if (frame < 0)
			continue;
		fr[frame].owner = POOL_OWN_SWITCH;
		*top++ = (uint64_t)frame << shift;
	}
	fs_cons_release(&v->free, n);
	k = pool_recycle_end(p, vo, top);
	v->st.freed += k;
	return k;
}

uint32_t vmport_alloc_refill(struct vmport *v, struct pool *p)
{
	uint32_t cons, pending, want, room, held, idx, n;
	int bad = 0;

	if (!v->attached)
		return 0;
	cons = __atomic_load_n(v->alloc.consumer, __ATOMIC_ACQUIRE); /* A */
	pending = v->alloc.cached_prod - cons;
	if (pending > v->alloc.size) {
		v->st.drops[VM_BAD_RING_INDEX]++;
		return 0;
	}
	v->alloc.cached_cons = cons;
	if (pending >= v->alloc_target)
		return 0;
	want = v->alloc_target - pending;
	/* Frames given and not yet flushed count against the quota; the rx
	 * room kept open gives way to what is lent here. */
	held = p->count[v->owner] + v->rx_unflushed;
	if (held >= v->quota)
		return 0;
	room = v->quota - held;
	if (want > room)
		want = room;
	if (want > p->n_free)
		want = p->n_free;
	n = fs_prod_reserve(&v->alloc, want, &idx, &bad);
	if (v->rx_room > room - n)
		v->rx_room = room - n;
	pool_lend_burst(p, v->owner, (uint64_t *)v->alloc.desc, v->alloc.mask,
			idx, n);
	if (n) {
		fs_prod_submit(&v->alloc);
		v->st.lent += n;
	}
	return n;
}
