/* SPDX-License-Identifier: MIT */
/*
 * A guard against shared files cut short under the daemon.
 *
 * The pool and every VM's ring region are files that other processes (the
 * QEMUs of the daemon's group) may open for writing. One of them may
 * truncate a file while flipswitchd maps it; the next access to a page past
 * the new end raises SIGBUS, and SIGBUS kills the whole daemon, every VM
 * with it. As Wayland compositors guard their clients' shm pools, the
 * daemon registers each shared mapping here; the SIGBUS handler, finding
 * the faulting address inside one, maps anonymous memory over the whole
 * range (MAP_FIXED), so the access completes and every later one reads
 * private zeros, and marks the range broken. The worker sees the trip
 * count move (once a pass) and takes out what was cut short: a VM's ring
 * region takes that VM out (sw_guard.c), a pool stops the switch.
 *
 * A SIGBUS anywhere else goes to the disposition that was there before
 * (the default: the process dies, as it would have).
 *
 * Registration takes a mutex (the main and control threads register and
 * remove); the handler only loads, with acquire, each slot's start, which
 * a registration store-releases after its length.
 */
#ifndef FS_SHMGUARD_H
#define FS_SHMGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The pool and each VM's region, a VM port made for vm add while its
 * predecessor in the slot is still mapped, and spares. */
#define SHMGUARD_SLOTS 520

/* Installs the SIGBUS handler (once). 0 or -errno. */
int shmguard_init(void);
/* The eventfd the handler writes to wake the worker (-1: none). */
void shmguard_set_wake(int fd);
/* Guards [base, base + len). The slot (>= 0), or -ENOSPC. */
int shmguard_add(void *base, size_t len);
/* Stops guarding the slot (before its range is unmapped). */
void shmguard_del(int slot);
/* Whether the slot's range was cut short and is now private memory. */
bool shmguard_broken(int slot);
extern uint32_t shmguard_trip_count;

/* How many times the handler took a fault over: the worker compares it
 * with the count it last acted on, once a pass (inline: one load). */
static inline uint32_t shmguard_trips(void)
{
	/* Acquire, matches the handler's release: the slots' flags. */
	return __atomic_load_n(&shmguard_trip_count, __ATOMIC_ACQUIRE);
}

#endif /* FS_SHMGUARD_H */
