// SPDX-License-Identifier: MIT
/* The SIGBUS guard over shared mappings; see shmguard.h. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shmguard.h"

struct guard_slot {
	uintptr_t start;  /* 0: free; store-released after len */
	size_t len;
	uint32_t broken;  /* set by the handler */
};

static struct guard_slot slots[SHMGUARD_SLOTS];
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction old_bus;
static int wake_fd = -1;
uint32_t shmguard_trip_count;

/*
 * Everything here is async-signal-safe: loads, mmap, write. The fault is
 * on a page of a shared file past its end; the whole range is replaced,
 * not the page, so that the pages still backed by the file (which the
 * worker would go on reading from a region now someone else's to resize)
 * stop being used at once too.
 */
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	int saved = errno;

	for (unsigned int i = 0; i < SHMGUARD_SLOTS; i++) {
		uintptr_t start = __atomic_load_n(&slots[i].start,
						  __ATOMIC_ACQUIRE);
		uint64_t one = 1;
		int fd;

		if (!start || a - start >= slots[i].len)
			continue;
		if (mmap((void *)start, slots[i].len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
			 0) == MAP_FAILED)
			break;
		__atomic_store_n(&slots[i].broken, 1, __ATOMIC_RELAXED);
		/* Release: the worker that sees the count sees the flag. */
		__atomic_fetch_add(&shmguard_trip_count, 1, __ATOMIC_RELEASE);
		/* A worker asleep is woken; one that is not looks once a
		 * pass anyway, so a failed write loses nothing. */
		fd = __atomic_load_n(&wake_fd, __ATOMIC_RELAXED);
		if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
		}
		errno = saved;
		return;
	}
	/* Not a guarded range: what was there before handles it when the
	 * access faults again on return. */
	sigaction(SIGBUS, &old_bus, NULL);
	errno = saved;
	(void)sig;
	(void)uc;
}

void shmguard_set_wake(int fd)
{
	__atomic_store_n(&wake_fd, fd, __ATOMIC_RELAXED);
}

int shmguard_init(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus,
				.sa_flags = SA_SIGINFO | SA_RESTART }, cur;
	int err = 0;

	/* Installed again if someone replaced it since (a test harness
	 * does, per test); what it replaced is what the handler passes
	 * foreign faults to. */
	pthread_mutex_lock(&slots_lock);
	if (sigaction(SIGBUS, NULL, &cur) ||
	    ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigbus))
		goto out;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &old_bus))
		err = -errno;
out:
	pthread_mutex_unlock(&slots_lock);
	return err;
}

int shmguard_add(void *base, size_t len)
{
	int slot = -ENOSPC;

	pthread_mutex_lock(&slots_lock);
	for (int i = 0; i < SHMGUARD_SLOTS; i++) {
		if (slots[i].start)
			continue;
		slots[i].len = len;
		__atomic_store_n(&slots[i].broken, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&slots[i].start, (uintptr_t)base,
				 __ATOMIC_RELEASE);
		slot = i;
		break;
	}
	pthread_mutex_unlock(&slots_lock);
	return slot;
}

void shmguard_del(int slot)
{
	if (slot < 0 || slot >= SHMGUARD_SLOTS)
		return;
	pthread_mutex_lock(&slots_lock);
	__atomic_store_n(&slots[slot].start, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&slots_lock);
}

bool shmguard_broken(int slot)
{
	return slot >= 0 && slot < SHMGUARD_SLOTS &&
	       __atomic_load_n(&slots[slot].broken, __ATOMIC_RELAXED);
}
