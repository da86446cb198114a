// SPDX-License-Identifier: MIT
/*
 * Shared files cut short under the switch (user/shmguard.c, sw_guard.c):
 *
 *   - a guarded mapping of a file truncated to nothing reads zeros after,
 *     is marked broken and counted, where an unguarded one still dies of
 *     SIGBUS (the handler passes on what is not its own).
 *
 * What the worker does about it is test_switch's (a VM's region, the
 * pool).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmguard.h"

static void test_guarded_range_survives_truncation(void **state)
{
	char path[64];
	size_t len = 4 * 4096;
	uint32_t trips = shmguard_trips();
	unsigned char *m;
	int fd, slot;

	(void)state;
	snprintf(path, sizeof(path), "/dev/shm/fs-test-shmguard-%d",
		 (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	memset(m, 0xab, len);
	assert_int_equal(shmguard_init(), 0);
	slot = shmguard_add(m, len);
	assert_true(slot >= 0);
	assert_false(shmguard_broken(slot));
	assert_int_equal(ftruncate(fd, 4096), 0); /* cut short, not away */
	assert_int_equal(m[2 * 4096 + 7], 0);      /* would be SIGBUS */
	assert_true(shmguard_broken(slot));
	assert_int_equal(shmguard_trips(), trips + 1);
	/* The whole range is private now, the page still in the file too. */
	assert_int_equal(m[0], 0);
	m[len - 1] = 1;
	assert_int_equal(m[len - 1], 1);
	shmguard_del(slot);
	munmap(m, len);
	close(fd);
	unlink(path);
}

static void test_unguarded_sigbus_still_kills(void **state)
{
	char path[64];
	int status;
	pid_t pid;

	(void)state;
	snprintf(path, sizeof(path), "/dev/shm/fs-test-shmguard-%d-child",
		 (int)getpid());
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		volatile unsigned char *m;

		/* The default under the guard, not cmocka's handler. */
		signal(SIGBUS, SIG_DFL);
		if (shmguard_init() || fd < 0 || ftruncate(fd, 4096))
			_exit(2);
		m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED || ftruncate(fd, 0))
			_exit(2);
		(void)m[0];
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	unlink(path);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGBUS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guarded_range_survives_truncation),
		cmocka_unit_test(test_unguarded_sigbus_still_kills),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
