/* SPDX-License-Identifier: MIT */
/*
 * Trails: what the daemon puts into the kernel that outlives it (ntuple
 * rules, steer.c; bridge FDB entries, nl.c), written down as it goes, so
 * that the next flipswitchd takes out what a killed one (SIGKILL, a
 * crash) left behind. A clean stop removes its entries and its trail.
 *
 * A trail is a small text file next to the control socket (CONTROL.steer-
 * IFNAME, CONTROL.fdb): one fixed record of TRAIL_REC bytes a VM slot,
 * one line of text padded with spaces, so a change is one pwrite() of one
 * record and a kill between two changes leaves every record whole. An
 * empty record (spaces, or the zeros of a hole) is a free slot.
 *
 * The daemon holds an flock on its trails while it runs. The kernel drops
 * the lock when the process ends, however it ends: a trail whose lock can
 * be taken is a dead daemon's, to be reclaimed; one whose lock cannot is a
 * running daemon's, left alone.
 *
 * A record is written after the kernel took the entry: a kill between the
 * two leaves that one entry unrecorded (a window of one system call).
 */
#ifndef FS_TRAIL_H
#define FS_TRAIL_H

#include <limits.h>
#include <stdint.h>

#define TRAIL_REC 64

struct trail {
	int fd; /* -1: none (no control path, or not opened) */
	char path[PATH_MAX];
};

/* Creates (or empties) the trail at path, locked; the caller reclaimed
 * what it held first. path "" is no trail (t->fd -1, 0). 0 or -errno
 * (-EBUSY: a running flipswitchd holds it), logged. */
int trail_open(struct trail *t, const char *path);
/* Slot's record is rec (at most TRAIL_REC - 1 characters), or empty (rec
 * NULL). 0 or -errno (logged); no-op without a trail. */
int trail_set(struct trail *t, uint32_t slot, const char *rec);
/* Removes the trail (its entries are out) and drops the lock. */
void trail_close(struct trail *t);

/* fn(arg, tail, rec) for each record of every dead daemon's trail whose
 * path begins with prefix (tail: the rest of its file name), each trail
 * removed once read. Returns how many records were handed to fn. */
typedef void (*trail_fn)(void *arg, const char *tail, const char *rec);
int trail_reclaim(const char *prefix, trail_fn fn, void *arg);

#endif /* FS_TRAIL_H */
