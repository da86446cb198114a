// SPDX-License-Identifier: MIT
/* The guest side of the ring ABI; see fsguest.h. libc only. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "flipswitch/doorbell.h"
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

/* Checks the region mapped at g->region and maps the pool. */
static int open_pool(struct fsg *g, const char *pool_path, const char *what,
		     char *err, unsigned int errlen)
{
	g->hdr = (struct fs_region_hdr *)g->region;
	if (g->region_map_size >= sizeof(*g->hdr) &&
	    __atomic_load_n(&g->hdr->magic, __ATOMIC_ACQUIRE) == 0) {
		/* The file exists (QEMU made it) but no switch wrote it yet. */
		snprintf(err, errlen, "%s holds no ring region yet: is flipswitchd running?",
			 what);
		return -EAGAIN;
	}
	if (fsg_check_header(g->hdr, g->region_map_size, err, errlen))
		return -EINVAL;
	g->pool = map_file(pool_path, &g->pool_map_size, err, errlen);
	if (!g->pool)
		return -EINVAL;
	if (g->pool_map_size < g->hdr->pool_size) {
		snprintf(err, errlen, "%s holds %llu bytes, the switch's pool %llu: is it the pool of this VM's switch?",
			 pool_path, (unsigned long long)g->pool_map_size,
			 (unsigned long long)g->hdr->pool_size);
		munmap(g->pool, g->pool_map_size);
		g->pool = NULL;
		return -EINVAL;
	}
	g->pool_size = g->hdr->pool_size;
	g->frame_size = g->hdr->frame_size;
	g->headroom = g->hdr->headroom;
	fs_ring_init(&g->rx, g->region, &g->hdr->rx);
	fs_ring_init(&g->free, g->region, &g->hdr->free);
	fs_ring_init(&g->alloc, g->region, &g->hdr->alloc);
	fs_ring_init(&g->tx, g->region, &g->hdr->tx);
	return 0;
}

static void init(struct fsg *g)
{
	memset(g, 0, sizeof(*g));
	g->wait_fd = g->ring_fd = g->db_sock = -1;
	g->ring_off = -1;
}

int fsg_open(struct fsg *g, const char *pool_path, const char *rings_path,
	     char *err, unsigned int errlen)
{
	int rc;

	init(g);
	g->region = map_file(rings_path, &g->region_map_size, err, errlen);
	if (!g->region)
		return -EAGAIN;
	rc = open_pool(g, pool_path, rings_path, err, errlen);
	if (rc) {
		munmap(g->region, g->region_map_size);
		g->region = NULL;
	}
	return rc;
}

int fsg_open_mem(struct fsg *g, const char *pool_path, void *region,
		 uint64_t region_size, char *err, unsigned int errlen)
{
	int rc;

	init(g);
	g->region = region;
	g->region_map_size = region_size;
	rc = open_pool(g, pool_path, "the ring device", err, errlen);
	g->region_map_size = 0; /* not ours to unmap */
	if (rc)
		g->region = NULL;
	return rc;
}

int fsg_open_doorbell(struct fsg *g, const char *pool_path,
		      const char *sock_path, char *err, unsigned int errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int64_t v[5];
	int fd[5], sock, rc = -EAGAIN, i;
	struct stat st;

	init(g);
	if (strlen(sock_path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s: path too long", sock_path);
		return -EINVAL;
	}
	strcpy(sun.sun_path, sock_path);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&sun, sizeof(sun))) {
		snprintf(err, errlen, "cannot connect to %s: %s: is flipswitchd running?",
			 sock_path, strerror(errno));
		if (sock >= 0)
			close(sock);
		return -EAGAIN;
	}
	/* Version, our ID, -1 + the region, the switch's ID + its eventfd,
	 * our ID + our vector's eventfd (include/flipswitch/doorbell.h). */
	for (i = 0; i < 5; i++)
		if (fs_doorbell_recv(sock, &v[i], &fd[i]))
			break;
	if (i < 5 || v[0] != FS_DOORBELL_PROTOCOL || v[2] != -1 || fd[2] < 0 ||
	    v[3] != FS_DOORBELL_SWITCH_ID || fd[3] < 0 || v[4] != v[1] ||
	    fd[4] < 0) {
		snprintf(err, errlen, "%s: %s", sock_path,
			 i < 5 ? "the switch refused us (is another guest on this VM?)" :
				 "not a flipswitch doorbell greeting");
		goto out;
	}
	if (fstat(fd[2], &st) || st.st_size <= 0) {
		snprintf(err, errlen, "%s: the ring region is empty", sock_path);
		goto out;
	}
	g->region_map_size = (uint64_t)st.st_size;
	g->region = mmap(NULL, g->region_map_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, fd[2], 0);
	if (g->region == MAP_FAILED) {
		g->region = NULL;
		snprintf(err, errlen, "cannot map the ring region: %s",
			 strerror(errno));
		goto out;
	}
	rc = open_pool(g, pool_path, sock_path, err, errlen);
	if (rc) {
		munmap(g->region, g->region_map_size);
		g->region = NULL;
		goto out;
	}
	close(fd[2]);
	g->db_sock = sock;
	fsg_set_doorbell(g, fd[4], fd[3], -1);
	return 0;
out:
	for (int k = 0; k < i && k < 5; k++)
		if (fd[k] >= 0)
			close(fd[k]);
	close(sock);
	return rc == -EAGAIN ? -EINVAL : rc;
}

void fsg_set_doorbell(struct fsg *g, int wait_fd, int ring_fd,
		      int64_t ring_off)
{
	g->wait_fd = wait_fd;
	g->ring_fd = ring_fd;
	g->ring_off = ring_off;
}

static void ring_switch(struct fsg *g)
{
	uint64_t one = 1;
	uint32_t bell = FS_DOORBELL_SWITCH_ID << 16 | 0; /* peer, vector 0 */
	ssize_t n;

	if (g->ring_off < 0)
		n = write(g->ring_fd, &one, sizeof(one));
	else
		n = pwrite(g->ring_fd, &bell, sizeof(bell), g->ring_off);
	if (n > 0)
		g->rings++;
}

/* After publishing tx and/or free entries (B): ring if the switch sleeps
 * waiting on a ring that got some (it may wait on tx alone: frames given
 * back can wait for its next wake-up). */
static void kick(struct fsg *g, int tx, int free)
{
	uint32_t f = 0;

	if (g->ring_fd < 0)
		return;
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* K, pairs with J */
	if (tx)
		f |= __atomic_load_n(g->tx.flags, __ATOMIC_RELAXED);
	if (free)
		f |= __atomic_load_n(g->free.flags, __ATOMIC_RELAXED);
	if (f & FS_RING_NEED_WAKEUP) /* L */
		ring_switch(g);
}

static int ring_has_new(const struct fs_ring *r)
{
	return __atomic_load_n(r->producer, __ATOMIC_ACQUIRE) != r->cached_cons;
}

void fsg_wait(struct fsg *g, unsigned int what, int max_ms)
{
	struct pollfd pfd = { .fd = g->wait_fd, .events = POLLIN };
	uint32_t rx = what & FSG_WAIT_RX ? FS_RING_NEED_WAKEUP : 0;
	uint32_t alloc = what & FSG_WAIT_ALLOC ? FS_RING_NEED_WAKEUP : 0;
	uint64_t v;

	if (g->wait_fd < 0 ||
	    !__atomic_load_n(&g->hdr->switch_doorbell, __ATOMIC_ACQUIRE)) {
		struct timespec ts = { 0, 1000000 };

		/* Nobody will ring us: poll again soon. */
		nanosleep(&ts, NULL);
		return;
	}
	__atomic_store_n(g->rx.flags, rx, __ATOMIC_RELAXED);
	__atomic_store_n(g->alloc.flags, alloc, __ATOMIC_RELAXED); /* I */
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* J, pairs with K */
	if (!(rx && ring_has_new(&g->rx)) && !(alloc && ring_has_new(&g->alloc))) {
		g->waits++;
		if (poll(&pfd, 1, max_ms) > 0 &&
		    read(g->wait_fd, &v, sizeof(v)) == sizeof(v))
			g->wakeups++;
	}
	__atomic_store_n(g->rx.flags, 0, __ATOMIC_RELAXED);
	__atomic_store_n(g->alloc.flags, 0, __ATOMIC_RELAXED);
}

void fsg_close(struct fsg *g)
{
	if (g->pool)
		munmap(g->pool, g->pool_map_size);
	if (g->region && g->region_map_size)
		munmap(g->region, g->region_map_size);
	g->pool = g->region = NULL;
	if (g->wait_fd >= 0)
		close(g->wait_fd);
	if (g->ring_fd >= 0 && g->ring_off < 0)
		close(g->ring_fd); /* a VFIO device is its opener's */
	if (g->db_sock >= 0)
		close(g->db_sock);
	g->wait_fd = g->ring_fd = g->db_sock = -1;
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
	__atomic_store_n(&g->hdr->guest_flags,
			 (g->ring_fd >= 0 ? FS_GUEST_RINGS : 0) |
				 (g->chains ? FS_GUEST_CHAINS : 0),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&g->hdr->guest_req, g->req, __ATOMIC_RELEASE); /* E */
	if (g->ring_fd >= 0)
		ring_switch(g); /* it may be asleep */
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
	if (g->ring_fd >= 0)
		ring_switch(g);
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
	/* Whole packets: up to the last descriptor without FS_DESC_MORE
	 * (the switch publishes packets whole), unless one packet fills
	 * max. */
	for (i = n; i && (fs_ring_desc(&g->rx, idx + i - 1)->options &
			  FS_DESC_MORE); i--)
		;
	if (i || n < max)
		n = i;
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

int fsg_tx_packet(struct fsg *g, const struct fs_desc *d, uint32_t n)
{
	uint32_t idx;

	if (fs_prod_room(&g->tx, n, NULL) < n)
		return -EAGAIN;
	fs_prod_reserve(&g->tx, n, &idx, NULL);
	for (uint32_t i = 0; i < n; i++) {
		struct fs_desc *s = fs_ring_desc(&g->tx, idx + i);

		s->addr = d[i].addr;
		s->len = d[i].len;
		s->options = i + 1 < n ? FS_DESC_MORE : 0;
	}
	g->tx_unsubmitted += n;
	return 0;
}

void fsg_flush(struct fsg *g)
{
	int free = g->free_unsubmitted != 0, tx = g->tx_unsubmitted != 0;

	if (g->free_unsubmitted) {
		fs_prod_submit(&g->free);
		g->free_unsubmitted = 0;
	}
	if (g->tx_unsubmitted) {
		fs_prod_submit(&g->tx);
		g->tx_unsubmitted = 0;
	}
	if (free || tx)
		kick(g, tx, free);
}
