// SPDX-License-Identifier: MIT
/* The ivshmem-server side of doorbells; see doorbell.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "doorbell.h"
#include "flipswitch/doorbell.h"
#include "flipswitch/ring.h"
#include "log.h"

int unix_listen(const char *path, bool have_group, gid_t gid, int backlog)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t mask;
	int fd, err;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	/* Only a socket file is replaced: a path naming anything else (a
	 * mistake, or a file someone wants the daemon to remove) is left
	 * alone. */
	if (!lstat(path, &st) && !S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A socket file left by a daemon that died: nobody answers on it. */
	if (!connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		close(fd);
		return -EADDRINUSE;
	}
	close(fd);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Mode 0660 from the start, and the group set without following a
	 * link: a chmod or chown by name could be steered, by whoever can
	 * write the directory, to another file. (Files are made by one
	 * thread at a time: at start, then the control thread.) */
	mask = umask(0117);
	err = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(mask);
	if (err || (have_group && lchown(path, (uid_t)-1, gid)) ||
	    listen(fd, backlog)) {
		err = -errno;
		close(fd);
		unlink(path);
		return err;
	}
	return fd;
}

int doorbell_listen(struct doorbell *d, const char *path, bool have_group,
		    gid_t gid)
{
	int fd;

	memset(d, 0, sizeof(*d));
	d->listen_fd = d->conn_fd = -1;
	fd = unix_listen(path, have_group, gid, 4);
	if (fd < 0)
		return fd;
	strcpy(d->path, path);
	d->listen_fd = fd;
	return 0;
}

int doorbell_accept(struct doorbell *d, int shm_fd, int switch_fd,
		    int guest_fd)
{
	int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	int err;

	if (fd < 0)
		return 0;
	if (d->conn_fd >= 0) {
		/* QEMU sees the connection close during setup and fails to
		 * realize the device: better than two guests on one VM. */
		log_warn("doorbell: %s: refused a second guest (one is connected)",
			 d->path);
		d->refused++;
		close(fd);
		return 0;
	}
	/* Steps 1-5 of the protocol: version, the guest's ID, the shared
	 * memory, its peer (the switch) and its own vector. */
	err = fs_doorbell_send(fd, FS_DOORBELL_PROTOCOL, -1);
	if (!err)
		err = fs_doorbell_send(fd, DOORBELL_GUEST_ID, -1);
	if (!err)
		err = fs_doorbell_send(fd, -1, shm_fd);
	if (!err)
		err = fs_doorbell_send(fd, FS_DOORBELL_SWITCH_ID, switch_fd);
	if (!err)
		err = fs_doorbell_send(fd, DOORBELL_GUEST_ID, guest_fd);
	if (err) {
		log_warn("doorbell: %s: cannot greet the guest: %s", d->path,
			 strerror(-err));
		d->refused++;
		close(fd);
		return 0;
	}
	d->conn_fd = fd;
	d->connects++;
	return 1;
}

int doorbell_check(struct doorbell *d)
{
	char buf[64];
	ssize_t n = recv(d->conn_fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return 0;
	close(d->conn_fd);
	d->conn_fd = -1;
	return 1;
}

void doorbell_close(struct doorbell *d)
{
	if (d->conn_fd >= 0)
		close(d->conn_fd);
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		unlink(d->path);
	}
	d->conn_fd = d->listen_fd = -1;
}
