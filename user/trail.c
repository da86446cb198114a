// SPDX-License-Identifier: MIT
/*
 * Trails of what outlives the daemon in the kernel; see trail.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "trail.h"

int trail_open(struct trail *t, const char *path)
{
	char dir[PATH_MAX], *slash;
	int err;

	t->fd = -1;
	snprintf(t->path, sizeof(t->path), "%s", path);
	if (!path[0])
		return 0;
	/* The control socket's directory, made here when the trail comes
	 * first (ctl_create makes it too). */
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755);
	}
	t->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (t->fd < 0) {
		err = -errno;
		log_err("cannot keep a record of what the switch puts into the kernel in %s: %s",
			path, strerror(-err));
		return err;
	}
	if (flock(t->fd, LOCK_EX | LOCK_NB)) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		log_err("%s: %s", path, err == -EBUSY ?
			"another flipswitchd with this control socket is running" :
			strerror(-err));
		goto out_fd;
	}
	/* Locked: whatever is in it was reclaimed. */
	if (ftruncate(t->fd, 0)) {
		err = -errno;
		log_err("%s: %s", path, strerror(-err));
		goto out_fd;
	}
	return 0;

out_fd:
	close(t->fd);
	t->fd = -1;
	return err;
}

int trail_set(struct trail *t, uint32_t slot, const char *rec)
{
	char buf[TRAIL_REC];
	int n = 0;

	if (t->fd < 0)
		return 0;
	if (rec)
		n = snprintf(buf, sizeof(buf), "%s", rec);
	if (n < 0 || n >= TRAIL_REC)
		return -EINVAL;
	memset(buf + n, ' ', TRAIL_REC - 1 - (size_t)n);
	buf[TRAIL_REC - 1] = '\n';
	errno = 0;
	if (pwrite(t->fd, buf, TRAIL_REC, (off_t)slot * TRAIL_REC) != TRAIL_REC) {
		int err = errno ? -errno : -EIO; /* 0: written in part */

		log_warn("%s: cannot record slot %u: %s (a crash would leave its entry in the kernel)",
			 t->path, slot, strerror(-err));
		return err;
	}
	return 0;
}

void trail_close(struct trail *t)
{
	if (t->fd < 0)
		return;
	/* Unlinked while still locked: no reclaimer reads it half-gone. */
	unlink(t->path);
	close(t->fd);
	t->fd = -1;
}

/* One dead daemon's trail at path (open, locked): its records to fn. */
static int reclaim_file(int fd, const char *path, const char *tail,
			trail_fn fn, void *arg)
{
	char rec[TRAIL_REC + 1];
	int n = 0;

	for (off_t off = 0;; off += TRAIL_REC) {
		ssize_t got = pread(fd, rec, TRAIL_REC, off);
		size_t len;

		if (got <= 0)
			break;
		rec[got] = '\0';
		len = strcspn(rec, "\n");
		rec[len] = '\0';
		while (len && rec[len - 1] == ' ')
			rec[--len] = '\0';
		if (!len)
			continue; /* a free slot, or a hole */
		log_info("%s: left by a flipswitchd that did not stop: %s",
			 path, rec);
		fn(arg, tail, rec);
		n++;
	}
	return n;
}

int trail_reclaim(const char *prefix, trail_fn fn, void *arg)
{
	char dir[PATH_MAX], path[PATH_MAX];
	const char *base;
	struct dirent *e;
	size_t blen;
	DIR *d;
	int n = 0;

	if (!prefix[0])
		return 0;
	snprintf(dir, sizeof(dir), "%s", prefix);
	base = strrchr(prefix, '/');
	if (base) {
		dir[base - prefix + (base == prefix)] = '\0';
		base++;
	} else {
		snprintf(dir, sizeof(dir), ".");
		base = prefix;
	}
	blen = strlen(base);
	d = opendir(dir);
	if (!d)
		return 0; /* no directory: no trail */
	while ((e = readdir(d))) {
		struct stat st;
		int fd;

		if (strncmp(e->d_name, base, blen))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >=
		    (int)sizeof(path))
			continue;
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
			close(fd);
			continue;
		}
		if (flock(fd, LOCK_EX | LOCK_NB)) {
			/* A running flipswitchd's: its entries are its own. */
			close(fd);
			continue;
		}
		n += reclaim_file(fd, path, e->d_name + blen, fn, arg);
		unlink(path);
		close(fd);
	}
	closedir(d);
	return n;
}
