// SPDX-License-Identifier: MIT
/*
 * flipswitchctl's client side (tools/ctl/client.c) against a fake daemon
 * on a real unix socket in a thread: a request goes out as one JSON line
 * with its id and command, a result comes back as the caller's object,
 * each error code of docs/control.md maps to its -errno and its message
 * is said, and a reply that is not JSON, or none at all, is an error.
 * socket() and connect() failures are reached by -Wl,--wrap= mocks
 * (WRAP_test_ctl_client in the Makefile): each failure gets its -errno
 * and the sentence a user needs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl/client.h"

/* ---- the mocks: errno to fail with, 0 to call the real one ------------ */

static int fail_socket, fail_connect;

int __real_socket(int domain, int type, int protocol);
int __wrap_socket(int domain, int type, int protocol)
{
	if (fail_socket) {
		errno = fail_socket;
		return -1;
	}
	return __real_socket(domain, type, protocol);
}

int __real_connect(int fd, const struct sockaddr *sa, socklen_t len);
int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (fail_connect) {
		errno = fail_connect;
		return -1;
	}
	return __real_connect(fd, sa, len);
}

/* ---- a fake daemon: one connection, one request line, one reply ------- */

struct fake {
	char path[108];
	int lfd;
	const char *reply;	/* written as is; NULL: close without a word */
	char req[1024];		/* the request line received */
	pthread_t thread;
};

static void *serve(void *arg)
{
	struct fake *f = arg;
	size_t n = 0;
	int fd = accept(f->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	while (n < sizeof(f->req) - 1 && !memchr(f->req, '\n', n)) {
		ssize_t r = read(fd, f->req + n, sizeof(f->req) - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
	}
	f->req[n] = '\0';
	if (f->reply && write(fd, f->reply, strlen(f->reply)) < 0)
		perror("fake daemon: write");
	close(fd);
	return NULL;
}

static void fake_start(struct fake *f, const char *reply)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "/tmp/fsctl-test-%d.sock", getpid());
	unlink(f->path);
	strcpy(sa.sun_path, f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 1), 0);
	f->reply = reply;
	assert_int_equal(pthread_create(&f->thread, NULL, serve, f), 0);
}

static void fake_stop(struct fake *f)
{
	pthread_join(f->thread, NULL);
	close(f->lfd);
	unlink(f->path);
}

/* ---- stderr into a buffer, to check what the user is told ------------- */

static char said[1024];
static int saved_fd = -1;
static FILE *said_file;

static void listen_stderr(void)
{
	fflush(stderr);
	said_file = tmpfile();
	saved_fd = dup(2);
	dup2(fileno(said_file), 2);
}

static const char *heard(void)
{
	size_t n;

	fflush(stderr);
	dup2(saved_fd, 2);
	close(saved_fd);
	rewind(said_file);
	n = fread(said, 1, sizeof(said) - 1, said_file);
	said[n] = '\0';
	fclose(said_file);
	return said;
}

/* One request "ping" to a fake daemon answering reply. */
static int ask(struct fake *f, const char *reply, json_t **res)
{
	struct conn c;
	int err;

	fake_start(f, reply);
	listen_stderr();
	err = conn_open(&c, f->path);
	if (!err)
		err = conn_request(&c, "ping", NULL, res);
	heard();
	conn_close(&c);
	fake_stop(f);
	return err;
}

static void test_request_and_result(void **state)
{
	struct fake f;
	json_t *res = NULL, *req;

	assert_int_equal(ask(&f, "{\"id\": 1, \"result\": {\"version\": \"0.1\"}}\n",
			     &res), 0);
	assert_string_equal(json_string_value(json_object_get(res, "version")),
			    "0.1");
	json_decref(res);
	/* One line, the command and an id. */
	assert_non_null(strchr(f.req, '\n'));
	assert_ptr_equal(strchr(f.req, '\n'), f.req + strlen(f.req) - 1);
	req = json_loads(f.req, 0, NULL);
	assert_non_null(req);
	assert_string_equal(json_string_value(json_object_get(req, "cmd")), "ping");
	assert_int_equal(json_integer_value(json_object_get(req, "id")), 1);
	assert_true(json_is_object(json_object_get(req, "args")));
	json_decref(req);
}

static const struct {
	const char *code;
	int err;
} codes[] = {
	{ "not_found", -ENOENT },
	{ "permission", -EPERM },
	{ "exists", -EEXIST },
	{ "invalid", -EPROTO },
	{ "internal", -EPROTO },
};

static void test_error_codes(void **state)
{
	char reply[256];
	struct fake f;
	json_t *res = NULL;

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		snprintf(reply, sizeof(reply), "{\"id\": 1, \"error\": {\"code\": "
			 "\"%s\", \"message\": \"told %s\"}}\n", codes[i].code,
			 codes[i].code);
		assert_int_equal(ask(&f, reply, &res), codes[i].err);
		snprintf(reply, sizeof(reply), "flipswitchctl: told %s\n",
			 codes[i].code);
		assert_string_equal(said, reply);
	}
}

static void test_bad_replies(void **state)
{
	struct fake f;
	json_t *res = NULL;

	assert_int_equal(ask(&f, "hello\n", &res), -EPROTO);
	assert_non_null(strstr(said, "not a JSON object"));
	assert_int_equal(ask(&f, "{\"id\": 1}\n", &res), -EPROTO);
	assert_non_null(strstr(said, "has no result"));
	assert_int_equal(ask(&f, NULL, &res), -ECONNRESET);
	assert_non_null(strstr(said, "closed the connection"));
}

/*
 * conn_open(path) with socket() or connect() failing with sock_err or
 * conn_err: it returns -want, says a sentence containing phrase, and
 * leaves no descriptor that conn_close would close (stdin, once).
 */
static void open_fails(const char *path, int sock_err, int conn_err,
		       int want, const char *phrase)
{
	struct conn c;

	if (fcntl(0, F_GETFD) < 0)	/* stdin open, to see it stay so */
		assert_int_equal(open("/dev/null", O_RDONLY), 0);
	fail_socket = sock_err;
	fail_connect = conn_err;
	listen_stderr();
	assert_int_equal(conn_open(&c, path), -want);
	heard();
	fail_socket = fail_connect = 0;
	assert_non_null(strstr(said, phrase));
	assert_int_equal(c.fd, -1);
	conn_close(&c);
	assert_true(fcntl(0, F_GETFD) >= 0);
}

static void test_socket_fails(void **state)
{
	open_fails("/tmp/nowhere.sock", EMFILE, 0, EMFILE,
		   "cannot create a unix socket");
}

/* EACCES names who may connect; anything else asks whether the daemon
 * runs and names -s. */
static void test_connect_fails(void **state)
{
	open_fails("/tmp/nowhere.sock", 0, EACCES, EACCES,
		   "root or the control group may connect");
	open_fails("/tmp/nowhere.sock", 0, ECONNREFUSED, ECONNREFUSED,
		   "is it running? -s SOCKET");
}

static void test_path_too_long(void **state)
{
	char path[200];

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	open_fails(path, 0, 0, ENAMETOOLONG, "too long for a unix socket");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_and_result),
		cmocka_unit_test(test_error_codes),
		cmocka_unit_test(test_bad_replies),
		cmocka_unit_test(test_socket_fails),
		cmocka_unit_test(test_connect_fails),
		cmocka_unit_test(test_path_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
