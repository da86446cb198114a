// SPDX-License-Identifier: MIT
/* The guest side of the ring ABI; see fsguest.h. libc only. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsguest.h"

static void *map_file(const char *path, uint64_t *size, char *err,
		      unsigned int errlen)
{
	struct stat st;
	void *p;
	int fd;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path,
			 strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) || st.st_size <= 0) {
		snprintf(err, errlen, "%s is empty: is flipswitchd running?",
			 path);
		close(fd);
		return NULL;
	}
	*size = (uint64_t)st.st_size;
	p = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "cannot map %s: %s", path,
			 strerror(errno));
		return NULL;
	}
	return p;
}

static int ring_ok(const struct fs_ring_info *r, uint32_t desc_size,
		   uint64_t map_size)
{
	uint64_t end = r->off + sizeof(struct fs_ring_shared) +
		       (uint64_t)r->size * desc_size;

	return fs_is_pow2(r->size) && r->desc_size == desc_size &&
	       r->off % FS_CACHELINE == 0 && r->off >= sizeof(struct fs_region_hdr) &&
	       end <= map_size && end > r->off;
}

int fsg_check_header(const struct fs_region_hdr *h, uint64_t map_size,
		     char *err, unsigned int errlen)
{
	if (map_size < sizeof(*h) || h->magic != FS_REGION_MAGIC) {
		snprintf(err, errlen, "not a flipswitch ring region (bad magic)");
		return -EINVAL;
	}
	if (h->abi_major != FS_ABI_MAJOR) {
		snprintf(err, errlen, "ring ABI %u.%u, this guest speaks %u.x",
			 h->abi_major, h->abi_minor, FS_ABI_MAJOR);
		return -EINVAL;
	}
	if (h->region_size > map_size || !fs_is_pow2(h->frame_size) ||
	    h->headroom >= h->frame_size ||
	    h->pool_size != (uint64_t)h->pool_frames * h->frame_size ||
	    !ring_ok(&h->rx, sizeof(struct fs_desc), map_size) ||
	    !ring_ok(&h->tx, sizeof(struct fs_desc), map_size) ||
	    !ring_ok(&h->free, sizeof(uint64_t), map_size) ||
	    !ring_ok(&h->alloc, sizeof(uint64_t), map_size)) {
		snprintf(err, errlen, "ring region header is inconsistent");
		return -EINVAL;
	}
	return 0;
}

int fsg_open(struct fsg *g, const char *pool_path, const char *rings_path,
	     char *err, unsigned int errlen)
{
	memset(g, 0, sizeof(*g));
	g->region = map_file(rings_path, &g->region_map_size, err, errlen);
	if (!g->region)
		return -EAGAIN;
	g->hdr = (struct fs_region_hdr *)g->region;
	if (g->region_map_size >= sizeof(*g->hdr) &&
	    __atomic_load_n(&g->hdr->magic, __ATOMIC_ACQUIRE) == 0) {
		/* The file exists (QEMU made it) but no switch wrote it yet. */
		snprintf(err, errlen, "%s holds no ring region yet: is flipswitchd running?",
			 rings_path);
		munmap(g->region, g->region_map_size);
		g->region = NULL;
		return -EAGAIN;
	}
	if (fsg_check_header(g->hdr, g->region_map_size, err, errlen))
		goto out_region;
	g->pool = map_file(pool_path, &g->pool_map_size, err, errlen);
	if (!g->pool)
		goto out_region;
	if (g->pool_map_size < g->hdr->pool_size) {
		snprintf(err, errlen, "%s holds %llu bytes, the switch's pool %llu: is it the pool of this VM's switch?",
			 pool_path, (unsigned long long)g->pool_map_size,
			 (unsigned long long)g->hdr->pool_size);
		munmap(g->pool, g->pool_map_size);
		goto out_region;
	}
	g->pool_size = g->hdr->pool_size;
	g->frame_size = g->hdr->frame_size;
	g->headroom = g->hdr->headroom;
	fs_ring_init(&g->rx, g->region, &g->hdr->rx);
	fs_ring_init(&g->free, g->region, &g->hdr->free);
	fs_ring_init(&g->alloc, g->region, &g->hdr->alloc);
	fs_ring_init(&g->tx, g->region, &g->hdr->tx);
	return 0;

out_region:
	munmap(g->region, g->region_map_size);
	g->region = NULL;
	return -EINVAL;
}

void fsg_close(struct fsg *g)
{
	if (g->pool)
		munmap(g->pool, g->pool_map_size);
	if (g->region)
		munmap(g->region, g->region_map_size);
	g->pool = g->region = NULL;
}

static void pause_us(long us)
{
	struct timespec ts = { 0, us * 1000 };

	nanosleep(&ts, NULL);
}

int fsg_attach(struct fsg *g, int timeout_ms)
{
	uint32_t ack, gen;
	int waited = 0;

	/* Wait for a live switch. */
	while (__atomic_load_n(&g->hdr->switch_state, __ATOMIC_ACQUIRE) !=
	       FS_SW_UP) {
		if (waited >= timeout_ms * 10)
			return -ETIMEDOUT;
		pause_us(100);
		waited++;
	}
	gen = __atomic_load_n(&g->hdr->switch_gen, __ATOMIC_ACQUIRE);
	g->req = ((__atomic_load_n(&g->hdr->guest_req, __ATOMIC_RELAXED) >> 1) +
		  1) << 1 | FS_REQ_ATTACH;
	__atomic_store_n(&g->hdr->guest_req, g->req, __ATOMIC_RELEASE); /* E */
	for (waited = 0;; waited++) {
		ack = __atomic_load_n(&g->hdr->guest_ack,
				      __ATOMIC_ACQUIRE); /* H, matches G */
		if (ack == g->req)
			break;
		if (waited >= timeout_ms * 10)
			return -ETIMEDOUT;
		pause_us(100);
	}
	g->gen = gen;
	fs_ring_init(&g->rx, g->region, &g->hdr->rx);
	fs_ring_init(&g->free, g->region, &g->hdr->free);
	fs_ring_init(&g->alloc, g->region, &g->hdr->alloc);
	fs_ring_init(&g->tx, g->region, &g->hdr->tx);
	g->free_unsubmitted = g->tx_unsubmitted = 0;
	return 0;
}

int fsg_detach(struct fsg *g, int timeout_ms)
{
	int waited;

	fsg_flush(g);
	/* Frames still on the tx ring would be taken back unsent. */
	for (waited = 0; waited < timeout_ms * 10; waited++) {
		if (__atomic_load_n(g->tx.consumer, __ATOMIC_ACQUIRE) ==
			    g->tx.cached_prod &&
		    __atomic_load_n(g->free.consumer, __ATOMIC_ACQUIRE) ==
			    g->free.cached_prod)
			break;
		if (fsg_switch_changed(g))
			return -ENOTCONN;
		pause_us(100);
	}
	g->req = ((g->req >> 1) + 1) << 1;
	__atomic_store_n(&g->hdr->guest_req, g->req, __ATOMIC_RELEASE); /* E */
	for (waited = 0; waited < timeout_ms * 10; waited++) {
		if (__atomic_load_n(&g->hdr->guest_ack, __ATOMIC_ACQUIRE) ==
		    g->req) /* H */
			return 0;
		if (fsg_switch_changed(g))
			return -ENOTCONN;
		pause_us(100);
	}
	return -ETIMEDOUT;
}

int fsg_superseded(const struct fsg *g)
{
	return __atomic_load_n(&g->hdr->guest_req, __ATOMIC_ACQUIRE) != g->req;
}

int fsg_switch_changed(const struct fsg *g)
{
	return __atomic_load_n(&g->hdr->switch_state, __ATOMIC_ACQUIRE) !=
		       FS_SW_UP ||
	       __atomic_load_n(&g->hdr->switch_gen, __ATOMIC_ACQUIRE) != g->gen ||
	       __atomic_load_n(&g->hdr->guest_ack, __ATOMIC_ACQUIRE) == FS_ACK_GONE;
}

uint32_t fsg_rx(struct fsg *g, struct fs_desc *out, uint32_t max)
{
	uint32_t idx, i, k = 0, n;

	/* Polling the rx ring is the guest's heartbeat. */
	__atomic_store_n(&g->hdr->guest_beat, ++g->beat, __ATOMIC_RELAXED);

	n = fs_cons_peek(&g->rx, max, &idx, NULL);
	for (i = 0; i < n; i++) {
		struct fs_desc d = *fs_ring_desc(&g->rx, idx + i);

		/* The switch is trusted, but a bad offset must not crash the
		 * guest either. */
		if (d.addr >= g->pool_size || d.len > g->frame_size ||
		    (d.addr & (g->frame_size - 1)) + d.len > g->frame_size) {
			g->bad_rx++;
			continue;
		}
		out[k++] = d;
	}
	if (n)
		fs_cons_release(&g->rx, n);
	return k;
}

int fsg_free(struct fsg *g, uint64_t addr)
{
	uint32_t idx;

	if (!fs_prod_reserve(&g->free, 1, &idx, NULL))
		return -EAGAIN;
	*fs_ring_addr(&g->free, idx) = addr;
	g->free_unsubmitted++;
	return 0;
}

uint64_t fsg_alloc(struct fsg *g)
{
	uint32_t idx;
	uint64_t addr;

	if (!fs_cons_peek(&g->alloc, 1, &idx, NULL))
		return UINT64_MAX;
	addr = *fs_ring_addr(&g->alloc, idx);
	fs_cons_release(&g->alloc, 1);
	if (addr >= g->pool_size)
		return UINT64_MAX;
	return addr & ~(uint64_t)(g->frame_size - 1);
}

int fsg_tx(struct fsg *g, uint64_t addr, uint32_t len)
{
	struct fs_desc *d;
	uint32_t idx;

	if (!fs_prod_reserve(&g->tx, 1, &idx, NULL))
		return -EAGAIN;
	d = fs_ring_desc(&g->tx, idx);
	d->addr = addr;
	d->len = len;
	d->options = 0;
	g->tx_unsubmitted++;
	return 0;
}

void fsg_flush(struct fsg *g)
{
	if (g->free_unsubmitted) {
		fs_prod_submit(&g->free);
		g->free_unsubmitted = 0;
	}
	if (g->tx_unsubmitted) {
		fs_prod_submit(&g->tx);
		g->tx_unsubmitted = 0;
	}
}
