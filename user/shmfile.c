// SPDX-License-Identifier: MIT
/*
 * Shared-memory files (see shmfile.h): how the pool and the VM regions
 * open, lock, size and map their files. It keeps no state: the callers
 * own the descriptor and the mapping, and undo them.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "shmfile.h"

int shm_file_open(const char *who, const char *path, int flags,
		  bool *created)
{
	int fd, err;

	*created = access(path, F_OK) != 0;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | flags, 0660);
	if (fd < 0) {
		err = -errno;
		log_err("%s: cannot open %s: %s", who, path, strerror(errno));
		return err;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		err = -errno;
		log_err("%s: %s is in use by another flipswitchd", who, path);
		close(fd);
		return err;
	}
	return fd;
}

void *shm_file_map(const char *who, const char *path, int fd, void *at,
		   uint64_t file_size, uint64_t map_size)
{
	void *base;
	int err;

	if (ftruncate(fd, (off_t)file_size)) {
		err = errno;
		log_err("%s: cannot size %s to %llu bytes: %s", who, path,
			(unsigned long long)file_size, strerror(err));
		errno = err;
		return NULL;
	}
	base = mmap(at, map_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_POPULATE | (at ? MAP_FIXED : 0), fd, 0);
	if (base == MAP_FAILED) {
		err = errno;
		log_err("%s: cannot map %s: %s", who, path, strerror(err));
		errno = err;
		return NULL;
	}
	return base;
}
