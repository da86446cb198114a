// SPDX-License-Identifier: MIT
/*
 * systemd's file-descriptor store (see fdstore.h), through libsystemd:
 * sd_listen_fds_with_names to take the fds back, sd_pid_notify_with_fds
 * and sd_notify to push and remove them.
 *
 * Invariants: an entry of the table is either claimed (its fd is the
 * claimer's) or still the table's to close; a name is in the table at most
 * once (a second fd of the same name is closed as it is taken, and the
 * name is stored again with the one kept at fdstore_release, since
 * FDSTOREREMOVE removes every fd of a name).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "fdstore.h"
#include "log.h"

struct fdstore_ent {
	char name[FDSTORE_NAME_MAX];
	int fd;
	bool claimed;
	bool twice; /* the name came with more fds: store it again */
};

static struct fdstore_ent table[FDSTORE_MAX];
static int n_table;

void fdstore_name(char *buf, const char *role, const char *vm)
{
	if (vm)
		snprintf(buf, FDSTORE_NAME_MAX, "%s@%s", role, vm);
	else
		snprintf(buf, FDSTORE_NAME_MAX, "%s", role);
}

static struct fdstore_ent *find(const char *name)
{
	for (int i = 0; i < n_table; i++)
		if (!strcmp(table[i].name, name))
			return &table[i];
	return NULL;
}

int fdstore_take_fds(int n, int first, char **names)
{
	int kept = 0;

	for (int i = 0; i < n; i++) {
		int fd = first + i;
		/* "stored" is what systemd names an fd pushed without a name:
		 * none of the daemon's, so nobody claims it. */
		const char *name = names && names[i] ? names[i] : "stored";
		struct fdstore_ent *e = find(name);

		if (e || n_table == FDSTORE_MAX ||
		    strlen(name) >= FDSTORE_NAME_MAX) {
			log_warn("fdstore: fd %d \"%s\": %s: closed", fd, name,
				 e ? "a second fd of that name" :
				 n_table == FDSTORE_MAX ? "too many fds passed" :
							  "name too long");
			if (e)
				e->twice = true;
			close(fd);
			continue;
		}
		e = &table[n_table++];
		snprintf(e->name, sizeof(e->name), "%s", name);
		e->fd = fd;
		e->claimed = false;
		e->twice = false;
		kept++;
	}
	return kept;
}

int fdstore_take(void)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names), kept;

	if (n < 0) {
		log_warn("fdstore: cannot take the fds passed (LISTEN_FDS): %s",
			 strerror(-n));
		return 0;
	}
	kept = fdstore_take_fds(n, SD_LISTEN_FDS_START, names);
	if (n)
		log_info("fdstore: %d fd%s passed back by the service manager",
			 n, n == 1 ? "" : "s");
	for (int i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
	return kept;
}

/* Whether fd is of kind; why not in *why. */
static bool kind_ok(int fd, enum fdstore_kind kind, const char *path,
		    const char **why)
{
	char link[64], target[64];
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);
	int type = 0, listening = 0;
	socklen_t ilen = sizeof(int);
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = '\0';
	if (kind == FDSTORE_EVENTFD) {
		*why = "not an eventfd";
		return !strcmp(target, "anon_inode:[eventfd]");
	}
	if (kind == FDSTORE_MEMFD) {
		int seals = fcntl(fd, F_GET_SEALS);

		*why = "not a memfd";
		if (strncmp(target, "/memfd:", 7) || seals < 0)
			return false;
		*why = "a memfd without the seals F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL";
		return (seals & FDSTORE_SEALS) == FDSTORE_SEALS;
	}
	*why = "not a unix stream socket";
	if (getsockname(fd, (struct sockaddr *)&sun, &len) ||
	    sun.sun_family != AF_UNIX ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ilen) ||
	    type != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ilen))
		return false;
	if (kind == FDSTORE_CONN && listening) {
		*why = "a listening socket, not a connection";
		return false;
	}
	if (kind == FDSTORE_LISTEN && !listening) {
		*why = "not listening";
		return false;
	}
	/* An accepted connection has its listener's address. */
	*why = "bound to another path";
	return !path || (len > offsetof(struct sockaddr_un, sun_path) &&
			 !strncmp(sun.sun_path, path, sizeof(sun.sun_path)));
}

int fdstore_claim(const char *name, enum fdstore_kind kind, const char *path)
{
	struct fdstore_ent *e = find(name);
	const char *why;

	if (!e || e->claimed)
		return -1;
	if (!kind_ok(e->fd, kind, path, &why)) {
		log_warn("fdstore: fd %d \"%s\" is %s: not taken", e->fd, name,
			 why);
		return -1;
	}
	e->claimed = true;
	return e->fd;
}

int fdstore_release(void)
{
	int closed = 0;

	for (int i = 0; i < n_table; i++) {
		struct fdstore_ent *e = &table[i];

		if (e->twice || !e->claimed)
			fdstore_forget(e->name);
		if (e->claimed) {
			if (e->twice)
				fdstore_push(e->name, e->fd);
			continue;
		}
		log_info("fdstore: fd %d \"%s\" is nobody's in this config: closed",
			 e->fd, e->name);
		close(e->fd);
		closed++;
	}
	n_table = 0;
	return closed;
}

bool fdstore_on(void)
{
	const char *s = getenv("NOTIFY_SOCKET");

	return s && s[0];
}

int fdstore_push(const char *name, int fd)
{
	char msg[32 + FDSTORE_NAME_MAX];
	int rc;

	if (!fdstore_on())
		return 0;
	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	rc = sd_pid_notify_with_fds(0, 0, msg, &fd, 1);
	if (rc < 0)
		log_warn("fdstore: cannot store \"%s\": %s (it will not outlive the daemon)",
			 name, strerror(-rc));
	return rc < 0 ? rc : rc > 0;
}

void fdstore_forget(const char *name)
{
	char msg[32 + FDSTORE_NAME_MAX];
	int rc;

	if (!fdstore_on())
		return;
	snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", name);
	rc = sd_notify(0, msg);
	if (rc < 0)
		log_warn("fdstore: cannot remove \"%s\": %s", name,
			 strerror(-rc));
}

void fdstore_forget_vm(const char *vm)
{
	static const char *const roles[] = { FDSTORE_IRQ, FDSTORE_BELL,
					     FDSTORE_DOORBELL, FDSTORE_PEER,
					     FDSTORE_REGION };
	char name[FDSTORE_NAME_MAX];

	for (unsigned int i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		fdstore_name(name, roles[i], vm);
		fdstore_forget(name);
	}
}
