// SPDX-License-Identifier: MIT
/*
 * The fd store (user/fdstore.c): fds passed back by the service manager
 * are matched to the config's VMs by name and kind; unknown names, fds of
 * the wrong kind and a second fd of one name are closed, and what is
 * closed is removed from the store. The messages go to a NOTIFY_SOCKET
 * the test serves, as systemd would receive them: FDSTORE=1 with the fd
 * in SCM_RIGHTS, FDSTOREREMOVE=1, each with its FDNAME.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdstore.h"
#include "testutil.h"

/* Where the test puts the fds "passed back": far from the ones it makes. */
#define FIRST 400

static char sock_path[108], listen_path[108];
static int notify_fd = -1;

static bool is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* A listening unix socket at path. */
static int listener(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	unlink(path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 1), 0);
	return fd;
}

/* A connection to the listener at path (the QEMU side is kept in *qemu). */
static int connection(int lfd, const char *path, int *qemu)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	*qemu = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_equal(connect(*qemu, (struct sockaddr *)&sun, sizeof(sun)),
			 0);
	return accept(lfd, NULL, NULL);
}

/* Puts fds[] at FIRST.. as the service manager passes them. */
static void pass(const int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		assert_int_equal(dup2(fds[i], FIRST + i), FIRST + i);
		close(fds[i]);
	}
}

/* The next message to NOTIFY_SOCKET: its text into buf, the fd it
 * carries (or -1) returned; -2 if none is waiting. */
static int next_msg(char *buf, size_t size)
{
	union {
		char c[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { buf, size - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.c,
			     .msg_controllen = sizeof(ctl) };
	struct cmsghdr *c;
	ssize_t n = recvmsg(notify_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	int fd = -1;

	if (n < 0)
		return -2;
	buf[n] = '\0';
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	return fd;
}

/* The next message is text, with no fd. */
static void expect_msg(const char *text)
{
	char buf[256];

	assert_int_equal(next_msg(buf, sizeof(buf)), -1);
	assert_string_equal(buf, text);
}

static int setup(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	(void)state;
	snprintf(sock_path, sizeof(sock_path), "/tmp/fs-fdstore-%d.notify",
		 getpid());
	snprintf(listen_path, sizeof(listen_path), "/tmp/fs-fdstore-%d.doorbell",
		 getpid());
	unlink(sock_path);
	notify_fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	assert_int_equal(bind(notify_fd, (struct sockaddr *)&sun, sizeof(sun)),
			 0);
	setenv("NOTIFY_SOCKET", sock_path, 1);
	return 0;
}

static int teardown(void **state)
{
	char buf[256];
	int fd;

	(void)state;
	/* Drain what a case left, closing the fds it carried. */
	while ((fd = next_msg(buf, sizeof(buf))) != -2)
		if (fd >= 0)
			close(fd);
	close(notify_fd);
	unlink(sock_path);
	unlink(listen_path);
	unsetenv("NOTIFY_SOCKET");
	return 0;
}

/* The fds a restarted daemon gets back, matched to a config with vm web1
 * only: web1's four are claimed by kind, the bell too; gone's irq (a VM
 * no longer in the config), an unnamed fd, a second irq@web1 and a
 * socket passed as web1's peer but listening are closed, and each closed
 * name is removed from the store; the duplicated name is stored again
 * with the fd kept. */
static void test_match_to_vms(void **state)
{
	int lfd = listener(listen_path), qemu, conn = connection(lfd, listen_path, &qemu);
	int other = listener("/tmp/fs-fdstore-other.doorbell");
	int fds[] = { eventfd(0, 0), eventfd(0, 0), lfd, conn, eventfd(0, 0),
		      eventfd(0, 0), eventfd(0, 0), other };
	char *names[] = { "bell@web1", "irq@web1", "doorbell@web1", "peer@web1",
			  "irq@gone", "stored", "irq@web1", "peer@web2", NULL };
	char buf[256];
	int got;

	(void)state;
	pass(fds, 8);
	quiet();
	assert_int_equal(fdstore_take_fds(8, FIRST, names), 7);
	unquiet();
	/* The second irq@web1 is closed as it is taken. */
	assert_false(is_open(FIRST + 6));

	assert_int_equal(fdstore_claim("bell@web1", FDSTORE_EVENTFD, NULL), FIRST);
	assert_int_equal(fdstore_claim("irq@web1", FDSTORE_EVENTFD, NULL),
			 FIRST + 1);
	/* Claimed once only. */
	assert_int_equal(fdstore_claim("irq@web1", FDSTORE_EVENTFD, NULL), -1);
	quiet();
	/* A socket bound elsewhere is not web1's doorbell... */
	assert_int_equal(fdstore_claim("doorbell@web1", FDSTORE_LISTEN,
				       "/tmp/fs-fdstore-elsewhere"), -1);
	unquiet();
	/* ...the one at its path is. */
	assert_int_equal(fdstore_claim("doorbell@web1", FDSTORE_LISTEN,
				       listen_path), FIRST + 2);
	quiet();
	/* A connection accepted on another socket is not web1's peer. */
	assert_int_equal(fdstore_claim("peer@web1", FDSTORE_CONN,
				       "/tmp/fs-fdstore-elsewhere"), -1);
	unquiet();
	assert_int_equal(fdstore_claim("peer@web1", FDSTORE_CONN, listen_path),
			 FIRST + 3);
	quiet();
	/* A listening socket is not a connection, nor an eventfd. */
	assert_int_equal(fdstore_claim("peer@web2", FDSTORE_CONN, NULL), -1);
	assert_int_equal(fdstore_claim("peer@web2", FDSTORE_EVENTFD, NULL), -1);
	unquiet();
	/* Nobody asks for a name that was not passed. */
	assert_int_equal(fdstore_claim("irq@web3", FDSTORE_EVENTFD, NULL), -1);

	quiet();
	assert_int_equal(fdstore_release(), 3);
	unquiet();
	for (int i = 0; i < 4; i++)
		assert_true(is_open(FIRST + i));
	assert_false(is_open(FIRST + 4));
	assert_false(is_open(FIRST + 5));
	assert_false(is_open(FIRST + 7));

	/* What the store was told, in order. */
	expect_msg("FDSTOREREMOVE=1\nFDNAME=irq@web1");
	got = next_msg(buf, sizeof(buf));
	assert_string_equal(buf, "FDSTORE=1\nFDNAME=irq@web1");
	assert_true(got >= 0);
	close(got);
	expect_msg("FDSTOREREMOVE=1\nFDNAME=irq@gone");
	expect_msg("FDSTOREREMOVE=1\nFDNAME=stored");
	expect_msg("FDSTOREREMOVE=1\nFDNAME=peer@web2");
	assert_int_equal(next_msg(buf, sizeof(buf)), -2);

	/* The table is empty: nothing more to claim or close. */
	assert_int_equal(fdstore_claim("bell@web1", FDSTORE_EVENTFD, NULL), -1);
	assert_int_equal(fdstore_release(), 0);
	for (int i = 0; i < 4; i++)
		close(FIRST + i);
	close(qemu);
	unlink("/tmp/fs-fdstore-other.doorbell");
}

/* A memfd of the given seals (-1: none allowed). */
static int memfd(int seals)
{
	int fd = memfd_create("t", MFD_CLOEXEC |
				   (seals >= 0 ? MFD_ALLOW_SEALING : 0));

	assert_true(fd >= 0);
	if (seals > 0)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

/* A sealed region is claimed only as a memfd sealed against shrinking,
 * growing and further seals: one that could still be cut short (or
 * sealed for writing under its guest), or not a memfd, is not taken. */
static void test_memfd_kind(void **state)
{
	int fds[] = { memfd(FDSTORE_SEALS), memfd(-1),
		      memfd(F_SEAL_SHRINK | F_SEAL_GROW), eventfd(0, 0),
		      memfd(FDSTORE_SEALS | F_SEAL_WRITE) };
	char *names[] = { "region@web1", "region@web2", "region@web3",
			  "region@web4", "region@web5", NULL };
	char buf[256];

	(void)state;
	pass(fds, 5);
	assert_int_equal(fdstore_take_fds(5, FIRST, names), 5);
	assert_int_equal(fdstore_claim("region@web1", FDSTORE_MEMFD, NULL),
			 FIRST);
	quiet();
	assert_int_equal(fdstore_claim("region@web2", FDSTORE_MEMFD, NULL), -1);
	assert_int_equal(fdstore_claim("region@web3", FDSTORE_MEMFD, NULL), -1);
	assert_int_equal(fdstore_claim("region@web4", FDSTORE_MEMFD, NULL), -1);
	unquiet();
	/* More seals than those (a write seal too) still cannot be cut. */
	assert_int_equal(fdstore_claim("region@web5", FDSTORE_MEMFD, NULL),
			 FIRST + 4);
	quiet();
	assert_int_equal(fdstore_release(), 3);
	unquiet();
	assert_true(is_open(FIRST));
	for (int i = 1; i < 4; i++)
		assert_false(is_open(FIRST + i));
	expect_msg("FDSTOREREMOVE=1\nFDNAME=region@web2");
	expect_msg("FDSTOREREMOVE=1\nFDNAME=region@web3");
	expect_msg("FDSTOREREMOVE=1\nFDNAME=region@web4");
	assert_int_equal(next_msg(buf, sizeof(buf)), -2);
	close(FIRST);
	close(FIRST + 4);
}

/* Pushing sends the fd itself (the store's copy is the same eventfd: a
 * write through one is read through the other) under ROLE@VM; forgetting
 * a VM removes its three names. */
static void test_push_and_forget(void **state)
{
	char name[FDSTORE_NAME_MAX], buf[256];
	int fd = eventfd(0, EFD_NONBLOCK), got;
	uint64_t one = 1, v = 0;

	(void)state;
	assert_true(fdstore_on());
	fdstore_name(name, FDSTORE_IRQ, "web1");
	assert_string_equal(name, "irq@web1");
	assert_int_equal(fdstore_push(name, fd), 1);
	got = next_msg(buf, sizeof(buf));
	assert_string_equal(buf, "FDSTORE=1\nFDNAME=irq@web1");
	assert_true(got >= 0 && got != fd);
	assert_int_equal(write(got, &one, sizeof(one)), sizeof(one));
	assert_int_equal(read(fd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 1);
	close(got);

	fdstore_forget_vm("web1");
	expect_msg("FDSTOREREMOVE=1\nFDNAME=irq@web1");
	expect_msg("FDSTOREREMOVE=1\nFDNAME=bell@web1");
	expect_msg("FDSTOREREMOVE=1\nFDNAME=doorbell@web1");
	expect_msg("FDSTOREREMOVE=1\nFDNAME=peer@web1");
	expect_msg("FDSTOREREMOVE=1\nFDNAME=region@web1");
	assert_int_equal(next_msg(buf, sizeof(buf)), -2);

	/* Without systemd nothing is sent and nothing fails. */
	unsetenv("NOTIFY_SOCKET");
	assert_false(fdstore_on());
	assert_int_equal(fdstore_push(name, fd), 0);
	fdstore_forget(name);
	assert_int_equal(next_msg(buf, sizeof(buf)), -2);
	setenv("NOTIFY_SOCKET", sock_path, 1);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_match_to_vms, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_memfd_kind, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_push_and_forget, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
