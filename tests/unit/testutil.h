/* SPDX-License-Identifier: MIT */
/* Helpers the cmocka tests share: hiding the expected error messages a
 * refused call logs, and asking whether a file exists. Header-only. */
#ifndef FS_TESTUTIL_H
#define FS_TESTUTIL_H

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static int saved_stderr = -1;

/* Sends stderr to /dev/null until unquiet(). */
static inline void quiet(void)
{
	int fd = open("/dev/null", O_WRONLY);

	fflush(stderr);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
}

static inline void unquiet(void)
{
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	saved_stderr = -1;
}

static inline int file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

#endif /* FS_TESTUTIL_H */
