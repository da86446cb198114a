/* SPDX-License-Identifier: MIT */
/*
 * Shared-memory files: the pool and each VM's ring region are files that
 * guests map too (a PCI BAR in QEMU, through ivshmem). Both are opened
 * the same way: created if missing (the caller removes a file only if it
 * created it), locked for this daemon alone (flock, held while the
 * descriptor is open, so a second flipswitchd is refused), sized, and
 * mapped shared with their pages populated.
 */
#ifndef FS_SHMFILE_H
#define FS_SHMFILE_H

#include <stdbool.h>
#include <stdint.h>

/* Opens path (created if missing; flags are added to O_RDWR | O_CREAT |
 * O_CLOEXEC) and locks it. Returns the descriptor and sets *created, or
 * -errno with the reason logged, led by who ("pool", "vm web1"). */
int shm_file_open(const char *who, const char *path, int flags,
		  bool *created);

/* Sizes fd's file to file_size bytes and maps its first map_size bytes,
 * at `at` if not NULL (over what is there: the caller's reservation).
 * Returns the mapping, or NULL with errno set and the reason logged. */
void *shm_file_map(const char *who, const char *path, int fd, void *at,
		   uint64_t file_size, uint64_t map_size);

#endif /* FS_SHMFILE_H */
