// SPDX-License-Identifier: MIT
/*
 * The pool file, its owner table and free list, and its UMEM; see pool.h
 * for the ownership rules.
 *
 * The file lives on tmpfs (/dev/shm) or hugetlbfs. It is locked with flock()
 * while the daemon runs, so a second daemon cannot take the same pool, and
 * zeroed when mapped, so no byte of an earlier run survives into this one.
 * Pages are populated up front: the kernel pins them when the UMEM is
 * registered anyway. Right after the frames, in the same reservation of
 * the address space, an anonymous mapping of the daemon's own carries
 * the header slots of frames to the wire (txhdr.h): the UMEM is both,
 * one range, and no guest maps the second. The daemon removes the file at exit only if it created
 * it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <xdp/xsk.h>

#include "log.h"
#include "pool.h"
#include "shmfile.h"
#include "shmguard.h"

int pool_create(struct pool *p, const struct cfg_pool *c, uint32_t max_vms)
{
	struct statfs sfs;
	uint64_t tail, tail_off, align;
	unsigned char *at;
	uint32_t i;
	int err;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->guard = -1;
	snprintf(p->path, sizeof(p->path), "%s", c->path);
	snprintf(p->name, sizeof(p->name), "%s",
		 c->name[0] ? c->name : "default");
	p->frames = c->frames;
	p->frame_size = c->frame_size;
	p->shift = (uint32_t)__builtin_ctz(c->frame_size);
	p->size = (uint64_t)c->frames * c->frame_size;
	p->n_owners = POOL_OWNERS(max_vms);

	p->fd = shm_file_open("pool", p->path, 0, &p->created);
	if (p->fd < 0) {
		err = p->fd;
		p->fd = -1;
		return err;
	}
	if (fstatfs(p->fd, &sfs) == 0 && sfs.f_type == HUGETLBFS_MAGIC) {
		p->hugetlb = true;
		if (p->size % (uint64_t)sfs.f_bsize) {
			log_err("pool: %s is on hugetlbfs with %ld-byte pages; frames x frame_size (%llu) must be a multiple of it",
				p->path, (long)sfs.f_bsize,
				(unsigned long long)p->size);
			err = -EINVAL;
			goto out_close;
		}
	}
	/* A PCI BAR (ivshmem) is a power of two: the file is, the UMEM need
	 * not be. An existing file keeps its inode, so a QEMU that mapped it
	 * first keeps seeing the pool; its old bytes are zeroed below. The
	 * frames and the private tail after them are one range: reserved
	 * first (aligned for hugetlbfs), then mapped over. */
	p->file_size = pool_file_size(p->frames, p->frame_size);
	tail = txhdr_bytes(p->frames);
	align = p->hugetlb ? (uint64_t)sfs.f_bsize : 4096;
	/* The tail starts on a page: the frames' last page may be partly
	 * file (beyond the frames, which no descriptor names). */
	tail_off = (p->size + 4095) & ~(uint64_t)4095;
	p->resv_len = tail_off + tail + align;
	p->resv = mmap(NULL, p->resv_len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p->resv == MAP_FAILED) {
		err = -errno;
		p->resv = NULL;
		log_err("pool: cannot reserve %llu bytes of address space: %s",
			(unsigned long long)p->resv_len, strerror(errno));
		goto out_unlink;
	}
	at = (unsigned char *)(((uintptr_t)p->resv + align - 1) & ~(uintptr_t)(align - 1));
	p->base = shm_file_map("pool", p->path, p->fd, at, p->file_size,
			       p->size);
	if (!p->base) {
		err = -errno;
		goto out_unmap;
	}
	/* Guarded before its first touch: a file cut short from here on
	 * stops the switch, it does not crash it. */
	p->guard = shmguard_add(p->base, p->size);
	if (p->guard < 0)
		log_warn("pool: %s is not guarded against truncation (%s)",
			 p->path, strerror(-p->guard));
	memset(p->base, 0, p->size);
	if (mmap(p->base + tail_off, tail, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_POPULATE, -1,
		 0) == MAP_FAILED) {
		err = -errno;
		log_err("pool: cannot map its private tail (%llu bytes): %s",
			(unsigned long long)tail, strerror(errno));
		goto out_unmap;
	}
	err = txhdr_init(&p->txh, p->base + tail_off, tail_off, tail);
	if (err)
		goto out_unmap;

	err = scrub_init(&p->scrub, p->base, p->frames, p->frame_size,
			 c->scrub);
	if (err)
		goto out_txhdr;
	/* Every frame the switch's: POOL_OWN_SWITCH is 0. */
	p->fr = p->scrub.fr;
	p->count = calloc(p->n_owners, sizeof(*p->count));
	p->free_stack = calloc(p->frames, sizeof(*p->free_stack));
	if (!p->count || !p->free_stack) {
		err = -ENOMEM;
		goto out_free;
	}
	/* All frames start free; push in reverse so frame 0 is used first. */
	for (i = p->frames; i-- > 0;)
		pool_free(p, pool_frame_addr(p, i));
	p->count[POOL_OWN_SWITCH] = p->frames;
	p->fill_reserve = p->frames / 4;
	log_info("pool %s: %s, %u frames of %u bytes (%llu MiB%s), scrub %s",
		 p->name, p->path, p->frames, p->frame_size,
		 (unsigned long long)(p->size >> 20),
		 p->hugetlb ? ", hugetlbfs" : "", cfg_scrub_name(p->scrub.mode));
	return 0;

out_free:
	free(p->count);
	free(p->free_stack);
	scrub_fini(&p->scrub);
out_txhdr:
	txhdr_fini(&p->txh);
out_unmap:
	shmguard_del(p->guard);
	p->guard = -1;
	munmap(p->resv, p->resv_len);
out_unlink:
	if (p->created)
		unlink(p->path);
out_close:
	close(p->fd);
	p->fd = -1;
	return err;
}

int pool_umem_create(struct pool *p, uint32_t ring_size,
		     struct xsk_ring_prod *fq, struct xsk_ring_cons *cq)
{
	struct xsk_umem_config uc = {
		.fill_size = ring_size,
		.comp_size = ring_size,
		.frame_size = p->frame_size,
		.frame_headroom = 0,
	};

	return xsk_umem__create(&p->umem, p->base, p->txh.base + p->txh.size,
				fq, cq, &uc);
}

void pool_umem_destroy(struct pool *p)
{
	if (p->umem)
		xsk_umem__delete(p->umem);
	p->umem = NULL;
}

void pool_destroy(struct pool *p)
{
	if (p->fd < 0)
		return;
	pool_umem_destroy(p);
	free(p->count);
	free(p->free_stack);
	scrub_fini(&p->scrub);
	shmguard_del(p->guard);
	p->guard = -1;
	txhdr_fini(&p->txh);
	if (p->resv)
		munmap(p->resv, p->resv_len);
	if (p->created)
		unlink(p->path);
	close(p->fd);
	p->fd = -1;
}

uint32_t pool_reclaim(struct pool *p, uint16_t who)
{
	uint32_t i, n = 0;

	for (i = 0; i < p->frames && p->count[who]; i++) {
		if (p->fr[i].owner != who)
			continue;
		pool_move(p, i, who, POOL_OWN_SWITCH);
		if (who >= POOL_OWN_VM0)
			scrub_from_guest(&p->scrub, i);
		pool_recycle(p, i);
		n++;
	}
	return n;
}

int pool_check(const struct pool *p, bool between_batches, char *msg,
	       size_t msglen)
{
	uint32_t *seen = calloc(p->n_owners, sizeof(*seen));
	uint64_t sum = 0;
	uint32_t i;
	int rc = 0;

	if (!seen) {
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	for (i = 0; i < p->frames; i++) {
		if (p->fr[i].owner >= p->n_owners) {
			snprintf(msg, msglen, "frame %u has owner %u, not one of the %u owners",
				 i, p->fr[i].owner, p->n_owners);
			rc = -1;
			goto out;
		}
		seen[p->fr[i].owner]++;
	}
	for (i = 0; i < p->n_owners; i++) {
		if (seen[i] != p->count[i]) {
			snprintf(msg, msglen, "owner %u holds %u frames but is counted as %u",
				 i, seen[i], p->count[i]);
			rc = -1;
			goto out;
		}
		sum += p->count[i];
	}
	if (sum != p->frames) {
		snprintf(msg, msglen, "counts sum to %llu, not %u",
			 (unsigned long long)sum, p->frames);
		rc = -1;
	} else if (between_batches && p->count[POOL_OWN_SWITCH] != p->n_free) {
		snprintf(msg, msglen, "switch owns %u frames but its free list holds %u",
			 p->count[POOL_OWN_SWITCH], p->n_free);
		rc = -1;
	} else {
		snprintf(msg, msglen, "ok");
	}
out:
	free(seen);
	return rc;
}
