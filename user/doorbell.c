// SPDX-License-Identifier: MIT
/*
 * The ivshmem-server side of doorbells (see doorbell.h): the unix sockets
 * the daemon listens on, each VM's doorbell socket, and the greeting a
 * guest gets when it connects. Served by the control thread's poll loop
 * (ctl.c), which tells the switch when a guest comes or goes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "doorbell.h"
#include "fdstore.h"
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

void doorbell_init(struct doorbell *d)
{
	memset(d, 0, sizeof(*d));
	d->listen_fd = d->conn_fd = -1;
	d->fds = (struct doorbell_fds){ -1, -1, -1 };
	d->peer_uid = -1;
}

int doorbell_open(struct doorbell *d, const char *vm, const char *path,
		  bool have_group, gid_t gid, const struct doorbell_fds *fds)
{
	char name[FDSTORE_NAME_MAX];
	struct stat st;
	int fd;

	doorbell_init(d);
	snprintf(d->vm, sizeof(d->vm), "%s", vm);
	fdstore_name(name, FDSTORE_DOORBELL, vm);
	fd = fdstore_claim(name, FDSTORE_LISTEN, path);
	/* Its file gone (someone removed it, or the runtime directory went
	 * with the service), new QEMUs could not reach it: a new one. */
	if (fd >= 0 && (lstat(path, &st) || !S_ISSOCK(st.st_mode))) {
		log_warn("vm %s: the doorbell socket passed back has lost its file %s: serving a new one",
			 vm, path);
		close(fd);
		fdstore_forget(name);
		fd = -1;
	}
	if (fd >= 0) {
		d->kept = true;
		log_info("vm %s: doorbell %s (taken back from the fd store)",
			 vm, path);
	} else {
		fd = unix_listen(path, have_group, gid, 4);
		if (fd < 0) {
			log_err("vm %s: cannot serve its doorbell %s: %s", vm,
				path, strerror(-fd));
			return fd;
		}
		d->kept = fdstore_push(name, fd) > 0;
		log_info("vm %s: doorbell %s", vm, path);
	}
	/* QEMU never connects again: its connection, if the store kept it,
	 * is the guest, whichever socket it came through. */
	fdstore_name(name, FDSTORE_PEER, vm);
	d->conn_fd = fdstore_claim(name, FDSTORE_CONN, path);
	if (d->conn_fd >= 0)
		log_info("vm %s: its guest's QEMU is still on the doorbell", vm);
	snprintf(d->path, sizeof(d->path), "%s", path);
	d->listen_fd = fd;
	d->fds = *fds;
	return 0;
}

int doorbell_pollfds(const struct doorbell *d, struct pollfd *pfd)
{
	int n = 0;

	if (d->listen_fd < 0)
		return 0;
	pfd[n++] = (struct pollfd){ .fd = d->listen_fd, .events = POLLIN };
	if (d->conn_fd >= 0)
		pfd[n++] = (struct pollfd){ .fd = d->conn_fd, .events = POLLIN };
	return n;
}

/* Sends a new connection the greeting; 0 or -errno. */
static int greet(struct doorbell *d, int fd)
{
	char path[32];
	int shm, err;

	/* The guest gets the region file open on a description of its own:
	 * the VM's would carry the switch's flock with it, and a QEMU that
	 * outlives the switch would lock the next one out ("in use by
	 * another flipswitchd"). */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", d->fds.region);
	shm = open(path, O_RDWR | O_CLOEXEC);
	if (shm < 0)
		log_warn("vm %s: cannot open its region again (%s): the guest shares the switch's lock on it",
			 d->vm, strerror(errno));
	/* Steps 1-5 of the protocol: version, the guest's ID, the shared
	 * memory, its peer (the switch) and its own vector. */
	err = fs_doorbell_send(fd, FS_DOORBELL_PROTOCOL, -1);
	if (!err)
		err = fs_doorbell_send(fd, DOORBELL_GUEST_ID, -1);
	if (!err)
		err = fs_doorbell_send(fd, -1, shm >= 0 ? shm : d->fds.region);
	if (!err)
		err = fs_doorbell_send(fd, FS_DOORBELL_SWITCH_ID, d->fds.bell);
	if (!err)
		err = fs_doorbell_send(fd, DOORBELL_GUEST_ID, d->fds.irq);
	if (shm >= 0)
		close(shm);
	return err;
}

/* Accepts a pending connection and greets it: whether a guest is now
 * connected (a refusal or failure is counted). */
static bool accept_guest(struct doorbell *d)
{
	int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	char name[FDSTORE_NAME_MAX];
	int err;

	if (fd < 0)
		return false;
	/* Not the VM's QEMU (doorbell_peer): refused before it is told
	 * anything, and before it could take the VM's one connection. */
	if (d->peer_uid >= 0) {
		struct ucred cr = { .pid = 0, .uid = (uid_t)-1 };
		socklen_t len = sizeof(cr);

		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) ||
		    (long long)cr.uid != d->peer_uid) {
			log_warn("doorbell: %s: refused pid %d (uid %d): vm %s's doorbell_peer is uid %lld; the VM stays free for it",
				 d->path, (int)cr.pid, (int)cr.uid, d->vm,
				 d->peer_uid);
			d->refused++;
			close(fd);
			return false;
		}
	}
	if (d->conn_fd >= 0) {
		/* QEMU sees the connection close during setup and fails to
		 * realize the device: better than two guests on one VM. */
		log_warn("doorbell: %s: refused a second guest (one is connected)",
			 d->path);
		d->refused++;
		close(fd);
		return false;
	}
	err = greet(d, fd);
	if (err) {
		log_warn("doorbell: %s: cannot greet the guest: %s", d->path,
			 strerror(-err));
		d->refused++;
		close(fd);
		return false;
	}
	d->conn_fd = fd;
	d->connects++;
	log_info("vm %s: a guest connected to the doorbell", d->vm);
	/* Stored before anything else happens: a switch killed now leaves
	 * the guest paired with the next. */
	fdstore_name(name, FDSTORE_PEER, d->vm);
	fdstore_push(name, fd);
	return true;
}

/* The guest's connection is readable: whether it hung up (closed here). */
static bool guest_left(struct doorbell *d)
{
	char buf[64], name[FDSTORE_NAME_MAX];
	ssize_t n = recv(d->conn_fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return false;
	/* The store's copy would keep the connection open for nobody. */
	fdstore_name(name, FDSTORE_PEER, d->vm);
	fdstore_forget(name);
	close(d->conn_fd);
	d->conn_fd = -1;
	log_info("vm %s: the guest left the doorbell", d->vm);
	return true;
}

enum doorbell_ev doorbell_event(struct doorbell *d, int fd)
{
	if (fd < 0)
		return DOORBELL_EV_NONE;
	if (fd == d->listen_fd)
		return accept_guest(d) ? DOORBELL_EV_CONNECTED : DOORBELL_EV_NONE;
	if (fd == d->conn_fd)
		return guest_left(d) ? DOORBELL_EV_LEFT : DOORBELL_EV_NONE;
	return DOORBELL_EV_NONE;
}

void doorbell_close(struct doorbell *d)
{
	char name[FDSTORE_NAME_MAX];

	if (d->listen_fd >= 0) {
		fdstore_name(name, FDSTORE_PEER, d->vm);
		fdstore_forget(name);
		fdstore_name(name, FDSTORE_DOORBELL, d->vm);
		fdstore_forget(name);
	}
	d->kept = false;
	doorbell_leave(d);
}

void doorbell_leave(struct doorbell *d)
{
	if (d->conn_fd >= 0)
		close(d->conn_fd);
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		if (!d->kept)
			unlink(d->path);
	}
	d->conn_fd = d->listen_fd = -1;
}
