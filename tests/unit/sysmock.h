/* SPDX-License-Identifier: MIT */
/*
 * Mocks of system calls, to reach the error paths of the code under test.
 * A test binary that includes this is linked with -Wl,--wrap=mmap and
 * -Wl,--wrap=ftruncate (the Makefile's WRAP_<test>): every call the
 * daemon's objects make goes through __wrap_<call>, which calls the real
 * one unless the test armed it. mock_fail(MOCK_MMAP, 1, ENOMEM) makes the
 * next mmap fail with ENOMEM; mock_fail(..., 2, ...) the one after.
 * Include it in one file of the binary only (it defines the wrappers).
 */
#ifndef FS_SYSMOCK_H
#define FS_SYSMOCK_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

enum mock_call { MOCK_MMAP, MOCK_FTRUNCATE, MOCK_NR };

static struct mock {
	unsigned int fail_at; /* the call (1: the next) that fails; 0: none */
	int err;              /* its errno */
	unsigned int calls;   /* calls since armed */
	unsigned int failed;  /* calls failed since armed */
} mocks[MOCK_NR];

static inline void mock_fail(enum mock_call c, unsigned int nth, int err)
{
	mocks[c] = (struct mock){ .fail_at = nth, .err = err };
}

static inline void mock_reset(void)
{
	for (int c = 0; c < MOCK_NR; c++)
		mocks[c] = (struct mock){ 0 };
}

/* Whether this call of c is the one armed to fail (then errno is set). */
static inline int mock_fails(enum mock_call c)
{
	struct mock *m = &mocks[c];

	if (!m->fail_at || ++m->calls != m->fail_at)
		return 0;
	m->failed++;
	errno = m->err;
	return 1;
}

void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off);
int __real_ftruncate(int fd, off_t len);

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off)
{
	if (mock_fails(MOCK_MMAP))
		return MAP_FAILED;
	return __real_mmap(addr, len, prot, flags, fd, off);
}

int __wrap_ftruncate(int fd, off_t len);
int __wrap_ftruncate(int fd, off_t len)
{
	if (mock_fails(MOCK_FTRUNCATE))
		return -1;
	return __real_ftruncate(fd, len);
}

/* The failures the creation of a file-backed object (pool, VM region) is
 * tested against: each call failing, on a file it makes and on one that
 * was there before (and must be left there). */
struct mock_file_case {
	const char *name;
	enum mock_call call;
	int err;
	bool existing;
};

static const struct mock_file_case mock_file_cases[] = {
	{ "ftruncate, new file", MOCK_FTRUNCATE, ENOSPC, false },
	{ "ftruncate, existing file", MOCK_FTRUNCATE, EIO, true },
	{ "mmap, new file", MOCK_MMAP, ENOMEM, false },
	{ "mmap, existing file", MOCK_MMAP, ENODEV, true },
};

#define MOCK_FILE_CASES (sizeof(mock_file_cases) / sizeof(mock_file_cases[0]))

/* Makes an empty file at path if the case wants one there before, and
 * arms the case's call to fail. 0, or -1 if the file cannot be made. */
static inline int mock_file_arm(const struct mock_file_case *fc,
				const char *path)
{
	if (fc->existing) {
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);

		if (fd < 0)
			return -1;
		close(fd);
	}
	mock_fail(fc->call, 1, fc->err);
	return 0;
}

/* After the call under test: whether the armed call failed exactly once;
 * disarms every mock. */
static inline int mock_file_done(const struct mock_file_case *fc)
{
	int once = mocks[fc->call].failed == 1;

	mock_reset();
	return once;
}

#endif /* FS_SYSMOCK_H */
