// SPDX-License-Identifier: MIT
/*
 * The control protocol handler: every command, privileged and not, and
 * every kind of bad request (malformed JSON, wrong types, unknown command),
 * through ctl_handle_line() on a real switch core with two VMs and no NIC,
 * its worker running in a thread. Then over the socket: an oversized line,
 * and a client that sends half a line and disconnects while another is
 * being served, and every connection held by a peer that may only read
 * (root still gets in). And the files the daemon makes as root: vm add's region
 * and unix_listen's sockets replace only files of their own kind.
 * And the control thread's two ways to the switch: sw_snapshot shows what
 * the worker has, and every change (set, clear, vm add and del, a guest on
 * a doorbell) happens only when the worker takes it from the mailbox.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "doorbell.h"
#include "fsguest.h"
#include "sw_snapshot.h"

struct fx {
	struct cfg cfg;
	struct sw sw;
	struct ctl ctl;
	pthread_t worker;
	volatile int stop;
	char dir[64];
};

static struct fx *F;

static void *worker(void *arg)
{
	struct fx *f = arg;

	while (!f->stop) {
		if (!sw_poll_once(&f->sw))
			usleep(50);
	}
	return NULL;
}

static void add_vm(struct fx *f, int i, const char *name, uint8_t last)
{
	struct cfg_vm *c = &f->cfg.vms[i];

	snprintf(c->name, sizeof(c->name), "%s", name);
	memcpy(c->mac, (uint8_t[]){ 0x52, 0x54, 0, 0, 0, last }, 6);
	snprintf(c->rings, sizeof(c->rings), "%s/%s", f->dir, name);
	c->quota = 64;
	c->ring_size = 256;
	assert_int_equal(vmport_create(&f->sw.vms[i], c, i, &f->sw.pool), 0);
	assert_int_equal(fdb_add(&f->sw.fdb, c->mac, 0, i, FDB_STATIC), 0);
	f->sw.n_vms++;
}

static int setup_pool(void **state, uint32_t frames)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct sw *sw = &f->sw;
	char sock[128];

	snprintf(f->dir, sizeof(f->dir), "/tmp/fs-test-ctl-%d", getpid());
	mkdir(f->dir, 0700);
	/* A large pool lives on tmpfs, as the daemon's do. */
	if (frames > 256)
		snprintf(f->cfg.pool.path, sizeof(f->cfg.pool.path),
			 "/dev/shm/fs-test-ctl-%d-pool", getpid());
	else
		snprintf(f->cfg.pool.path, sizeof(f->cfg.pool.path), "%s/pool",
			 f->dir);
	f->cfg.pool.frames = frames;
	f->cfg.pool.frame_size = 2048;
	f->cfg.pool.scrub = CFG_SCRUB_USED;
	sw->cfg = &f->cfg;
	sw->batch = 32;
	sw->cap.nic = sw->cap.vm = -1;
	sw->mail_fd = -1;
	/* What a guest on a doorbell rings (the worker never sleeps here). */
	sw->bell_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(sw->bell_fd >= 0);
	/* As sw_init makes them: a guest that attaches has the worker use
	 * every one. */
	sw->vms = vmport_alloc(CFG_MAX_VMS);
	sw->touched = calloc(2 * CFG_MAX_VMS, sizeof(*sw->touched));
	sw->busy[0] = calloc(CFG_MAX_VMS, sizeof(*sw->busy[0]));
	sw->busy[1] = calloc(CFG_MAX_VMS, sizeof(*sw->busy[1]));
	sw->held = calloc(2 * CFG_MAX_VMS, sizeof(*sw->held));
	sw->rxbuf = calloc(sw->batch + VM_MAX_FRAMES, sizeof(*sw->rxbuf));
	sw->txbuf = calloc(sw->batch + VM_MAX_FRAMES, sizeof(*sw->txbuf));
	sw->nicbuf = calloc(sw->batch + VM_MAX_FRAMES, sizeof(*sw->nicbuf));
	sw->cap.ring = calloc(SW_CAP_SLOTS, sizeof(*sw->cap.ring));
	assert_int_equal(fdb_init(&sw->fdb, 64), 0);
	assert_int_equal(pool_create(&sw->pool, &f->cfg.pool, CFG_MAX_VMS), 0);
	sw->n_pools = 1;
	add_vm(f, 0, "web1", 1);
	add_vm(f, 1, "web2", 2);
	snprintf(sock, sizeof(sock), "%s/ctl.sock", f->dir);
	/* VMs added at run time get their doorbell next to it. */
	snprintf(f->cfg.control, sizeof(f->cfg.control), "%s", sock);
	assert_int_equal(ctl_create(&f->ctl, sw, sock, "", 0), 0);
	assert_int_equal(ctl_start(&f->ctl), 0);
	assert_int_equal(pthread_create(&f->worker, NULL, worker, f), 0);
	F = f;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_pool(state, 256);
}

/* Enough frames for a quota over what a VM ring may hold. */
static int setup_big(void **state)
{
	return setup_pool(state, 65536);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	ctl_destroy(&f->ctl);
	f->stop = 1;
	pthread_join(f->worker, NULL);
	for (int i = 0; i < f->sw.n_vms; i++)
		vmport_destroy(&f->sw.vms[i], &f->sw.pool);
	pool_destroy(&f->sw.pool);
	close(f->sw.bell_fd);
	fdb_fini(&f->sw.fdb);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* Sends one request as uid/gid; returns the parsed reply. */
static json_t *ask(uid_t uid, const char *req)
{
	char *line = ctl_handle_line(&F->ctl, req, strlen(req), uid, uid, -1);
	json_error_t e;
	json_t *r;

	assert_non_null(line);
	assert_true(line[strlen(line) - 1] == '\n');
	r = json_loads(line, 0, &e);
	free(line);
	assert_non_null(r);
	return r;
}

static const char *err_code(json_t *r)
{
	json_t *e = json_object_get(r, "error");

	return e ? json_string_value(json_object_get(e, "code")) : NULL;
}

static json_t *result(json_t *r)
{
	json_t *res = json_object_get(r, "result");

	if (!res)
		fail_msg("error reply: %s",
			 json_string_value(json_object_get(
				 json_object_get(r, "error"), "message")));
	return res;
}

static void test_ping_and_id(void **state)
{
	json_t *r = ask(1000, "{\"id\": [1, \"x\"], \"cmd\": \"ping\"}");

	assert_string_equal(json_string_value(json_object_get(result(r), "version")),
			    FS_CTL_VERSION);
	/* Any JSON id comes back as it was. */
	assert_true(json_equal(json_object_get(r, "id"), json_pack("[i,s]", 1, "x")));
	json_decref(r);
}

static void test_show(void **state)
{
	json_t *r = ask(1000, "{\"id\":1,\"cmd\":\"show\"}"), *res = result(r);
	json_t *vms = json_object_get(res, "vms");

	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(res, "pool"), "frames")), 256);
	assert_int_equal(json_array_size(vms), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(vms, 1), "mac")),
			    "52:54:00:00:00:02");
	assert_false(json_is_true(json_object_get(json_array_get(vms, 0),
						  "attached")));
	json_decref(r);
}

/* set changes max_sleep_usecs for the worker, and show says so; only for
 * root or the control group. */
static void test_set(void **state)
{
	json_t *r, *res;

	r = ask(1000, "{\"cmd\":\"set\",\"args\":{\"max_sleep_usecs\":50}}");
	assert_string_equal(err_code(r), FS_CTL_E_PERMISSION);
	json_decref(r);
	assert_int_equal(F->sw.max_nap_us, 0);
	r = ask(0, "{\"cmd\":\"set\",\"args\":{\"max_sleep_usecs\":50}}");
	res = json_object_get(result(r), "switch");
	assert_int_equal(json_integer_value(json_object_get(res, "max_sleep_usecs")),
			 50);
	json_decref(r);
	assert_int_equal(__atomic_load_n(&F->sw.max_nap_us, __ATOMIC_RELAXED), 50);
	r = ask(1000, "{\"cmd\":\"show\"}");
	res = json_object_get(result(r), "switch");
	assert_int_equal(json_integer_value(json_object_get(res, "max_sleep_usecs")),
			 50);
	assert_int_equal(json_integer_value(json_object_get(res, "batch")),
			 F->sw.batch);
	assert_string_equal(json_string_value(json_object_get(res, "handoff")),
			    "zerocopy");
	json_decref(r);
	r = ask(0, "{\"cmd\":\"set\",\"args\":{\"max_sleep_usecs\":0}}");
	result(r);
	json_decref(r);
	assert_int_equal(F->sw.max_nap_us, 0);

	/* idle and poll_usecs, each alone: the other stays as it was. */
	r = ask(0, "{\"cmd\":\"set\",\"args\":{\"poll_usecs\":20}}");
	result(r);
	json_decref(r);
	r = ask(0, "{\"cmd\":\"set\",\"args\":{\"idle\":\"poll\"}}");
	res = json_object_get(result(r), "switch");
	assert_string_equal(json_string_value(json_object_get(res, "idle")), "poll");
	assert_int_equal(json_integer_value(json_object_get(res, "poll_usecs")), 20);
	json_decref(r);
	assert_int_equal(F->sw.idle_mode, CFG_IDLE_POLL);
	r = ask(0, "{\"cmd\":\"set\",\"args\":{\"poll_usecs\":7}}");
	res = json_object_get(result(r), "switch");
	assert_string_equal(json_string_value(json_object_get(res, "idle")), "poll");
	assert_int_equal(json_integer_value(json_object_get(res, "poll_usecs")), 7);
	json_decref(r);
	assert_int_equal(F->sw.poll_usecs, 7);
	r = ask(0, "{\"cmd\":\"set\",\"args\":{\"idle\":\"adaptive\",\"poll_usecs\":20}}");
	result(r);
	json_decref(r);
	assert_int_equal(F->sw.idle_mode, CFG_IDLE_ADAPTIVE);
	assert_int_equal(F->sw.poll_usecs, 20);
}

static void test_stats(void **state)
{
	json_t *r = ask(1000, "{\"cmd\":\"stats\",\"args\":{\"port\":\"web2\"}}");
	json_t *ports = json_object_get(result(r), "ports");

	assert_int_equal(json_array_size(ports), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(ports, 0), "kind")), "vm");
	assert_non_null(json_object_get(json_object_get(json_array_get(ports, 0),
							"drops"), "bad_owner"));
	json_decref(r);

	r = ask(1000, "{\"cmd\":\"stats\",\"args\":{\"port\":\"nosuch\"}}");
	assert_string_equal(err_code(r), FS_CTL_E_NOT_FOUND);
	json_decref(r);
	/* Clearing is a change: not for everyone. */
	r = ask(1000, "{\"cmd\":\"stats\",\"args\":{\"clear\":true}}");
	assert_string_equal(err_code(r), FS_CTL_E_PERMISSION);
	json_decref(r);
	F->sw.vms[0].st.drops[VM_DROP_DETACHED] = 7;
	r = ask(0, "{\"cmd\":\"stats\",\"args\":{\"clear\":true}}");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
				 json_array_get(json_object_get(result(r), "ports"), 0),
				 "drops"), "detached")), 0);
	json_decref(r);
}

static void test_fdb_and_frames(void **state)
{
	json_t *r = ask(1000, "{\"cmd\":\"fdb\"}"), *res, *e;
	size_t i;

	assert_int_equal(json_array_size(json_object_get(result(r), "entries")), 2);
	/* Each MAC as the VM has it, byte for byte. */
	json_array_foreach(json_object_get(result(r), "entries"), i, e) {
		const char *port = json_string_value(json_object_get(e, "port"));

		assert_string_equal(json_string_value(json_object_get(e, "mac")),
				    !strcmp(port, "web1") ? "52:54:00:00:00:01" :
							    "52:54:00:00:00:02");
		assert_int_equal(json_integer_value(json_object_get(e, "vlan")), 0);
	}
	json_decref(r);
	r = ask(1000, "{\"cmd\":\"frames\"}");
	res = result(r);
	assert_true(json_is_true(json_object_get(res, "ok")));
	assert_int_equal(json_integer_value(json_object_get(res, "sum")), 256);
	assert_int_equal(json_integer_value(json_object_get(res, "total")), 256);
	json_decref(r);
}

static void test_vm_add_del(void **state)
{
	char req[512], req5[512], bell[128];
	struct stat st;
	json_t *r;

	snprintf(req, sizeof(req),
		 "{\"cmd\":\"vm_add\",\"args\":{\"name\":\"web3\",\"mac\":\"52:54:00:00:00:03\",\"rings\":\"%s/web3\",\"quota\":32}}",
		 F->dir);
	r = ask(1000, req);
	assert_string_equal(err_code(r), FS_CTL_E_PERMISSION);
	json_decref(r);
	r = ask(0, req);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(result(r), "vm"), "name")), "web3");
	json_decref(r);
	assert_int_equal(F->sw.n_vms, 3);
	assert_int_equal(fdb_lookup(&F->sw.fdb, (uint8_t[]){ 0x52, 0x54, 0, 0, 0, 3 }, 0), 2);
	/* Its doorbell socket, next to the control socket. */
	snprintf(bell, sizeof(bell), "%s/web3.doorbell", F->dir);
	assert_int_equal(stat(bell, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	/* The same name, MAC or rings again: refused. */
	r = ask(0, req);
	assert_string_equal(err_code(r), FS_CTL_E_EXISTS);
	json_decref(r);
	r = ask(0, "{\"cmd\":\"vm_add\",\"args\":{\"name\":\"x\",\"mac\":\"52:54:00:zz:00:09\",\"rings\":\"/tmp/x\"}}");
	assert_string_equal(err_code(r), FS_CTL_E_INVALID);
	json_decref(r);
	r = ask(0, "{\"cmd\":\"vm_add\",\"args\":{\"name\":\"x\",\"mac\":\"01:00:5e:00:00:09\",\"rings\":\"/tmp/x\"}}");
	assert_string_equal(err_code(r), FS_CTL_E_INVALID);
	json_decref(r);
	r = ask(0, "{\"cmd\":\"vm_add\",\"args\":{\"name\":\"x\",\"mac\":\"52:54:00:00:00:09\"}}");
	assert_string_equal(err_code(r), FS_CTL_E_INVALID);
	json_decref(r);
	r = ask(1000, "{\"cmd\":\"vm_del\",\"args\":{\"name\":\"web3\"}}");
	assert_string_equal(err_code(r), FS_CTL_E_PERMISSION);
	json_decref(r);
	r = ask(0, "{\"cmd\":\"vm_del\",\"args\":{\"name\":\"web3\"}}");
	assert_int_equal(json_integer_value(json_object_get(result(r), "reclaimed")), 0);
	json_decref(r);
	assert_int_equal(fdb_lookup(&F->sw.fdb, (uint8_t[]){ 0x52, 0x54, 0, 0, 0, 3 }, 0), -1);
	assert_int_equal(stat(bell, &st), -1); /* removed with the VM */
	r = ask(0, "{\"cmd\":\"vm_del\",\"args\":{\"name\":\"web3\"}}");
	assert_string_equal(err_code(r), FS_CTL_E_NOT_FOUND);
	json_decref(r);
	/* allowed_macs as flipswitchctl sends --allowed-macs: one string,
	 * commas between; listed back in order; a bad one refused. */
	r = ask(0, "{\"cmd\":\"vm_add\",\"args\":{\"name\":\"x\",\"mac\":\"52:54:00:00:00:09\",\"rings\":\"/tmp/x\",\"allowed_macs\":\"52:54:00:00:0a:01,52:54:00:00:zz:02\"}}");
	assert_string_equal(err_code(r), FS_CTL_E_INVALID);
	json_decref(r);
	snprintf(req5, sizeof(req5),
		 "{\"cmd\":\"vm_add\",\"args\":{\"name\":\"web5\",\"mac\":\"52:54:00:00:00:05\",\"rings\":\"%s/web5\",\"quota\":32,\"doorbell\":\"off\",\"allowed_macs\":\"52:54:00:00:0a:01,52:54:00:00:0a:02\"}}",
		 F->dir);
	r = ask(0, req5);
	{
		json_t *m = json_object_get(json_object_get(result(r), "vm"),
					    "allowed_macs");

		assert_int_equal(json_array_size(m), 2);
		assert_string_equal(json_string_value(json_array_get(m, 1)),
				    "52:54:00:00:0a:02");
	}
	json_decref(r);
	assert_int_equal(F->sw.vms[2].cfg.n_allowed_macs, 2);
	r = ask(0, "{\"cmd\":\"vm_del\",\"args\":{\"name\":\"web5\"}}");
	result(r);
	json_decref(r);

	/* The freed slot is used again. */
	r = ask(0, req);
	result(r);
	json_decref(r);
	assert_int_equal(F->sw.n_vms, 3);
	r = ask(0, "{\"cmd\":\"vm_del\",\"args\":{\"name\":\"web3\"}}");
	json_decref(r);
	r = ask(1000, "{\"cmd\":\"frames\"}");
	assert_true(json_is_true(json_object_get(result(r), "ok")));
	json_decref(r);
}

struct bad_case {
	const char *req, *code;
};

static const struct bad_case bad[] = {
	{ "not json", FS_CTL_E_PARSE },
	{ "{\"cmd\": \"ping\"", FS_CTL_E_PARSE },
	{ "", FS_CTL_E_PARSE },
	{ "[1, 2]", FS_CTL_E_INVALID },
	{ "{\"id\": 1}", FS_CTL_E_INVALID },
	{ "{\"cmd\": 5}", FS_CTL_E_INVALID },
	{ "{\"cmd\": \"show\", \"args\": [1]}", FS_CTL_E_INVALID },
	{ "{\"cmd\": \"stats\", \"args\": {\"port\": 5}}", FS_CTL_E_INVALID },
	{ "{\"cmd\": \"stats\", \"args\": {\"clear\": \"yes\"}}", FS_CTL_E_INVALID },
	{ "{\"cmd\": \"vm_add\", \"args\": {\"name\": \"a\", \"mac\": \"52:54:00:00:00:0a\", \"rings\": \"/tmp/a\", \"quota\": \"many\"}}", FS_CTL_E_INVALID },
	{ "{\"cmd\": \"vm_add\", \"args\": {\"name\": \"a\", \"mac\": \"52:54:00:00:00:0a\", \"rings\": \"/tmp/a\", \"quota\": 100000}}", FS_CTL_E_INVALID },
	{ "{\"cmd\": \"vm_del\", \"args\": {\"name\": [\"web1\"]}}", FS_CTL_E_INVALID },
	{ "{\"cmd\": \"capture\", \"args\": {\"port\": \"web1\"}}", FS_CTL_E_INVALID },
	{ "{\"cmd\": \"set\"}", FS_CTL_E_INVALID },
	{ "{\"cmd\": \"set\", \"args\": {\"max_sleep_usecs\": 10001}}", FS_CTL_E_INVALID },
	{ "{\"cmd\": \"set\", \"args\": {\"max_sleep_usecs\": -1}}", FS_CTL_E_INVALID },
	{ "{\"cmd\": \"set\", \"args\": {\"max_sleep_usecs\": \"50\"}}", FS_CTL_E_INVALID },
	{ "{\"cmd\": \"set\", \"args\": {\"max_sleep_usecs\": 5, \"batch\": 32}}", FS_CTL_E_INVALID },
	{ "{\"cmd\": \"set\", \"args\": {\"idle\": \"spin\"}}", FS_CTL_E_INVALID },
	{ "{\"cmd\": \"set\", \"args\": {\"idle\": 1}}", FS_CTL_E_INVALID },
	{ "{\"cmd\": \"set\", \"args\": {\"poll_usecs\": 1001}}", FS_CTL_E_INVALID },
	{ "{\"cmd\": \"reboot\"}", FS_CTL_E_UNKNOWN },
	/* Quoted in the message cut to 64 bytes, inside a character: the
	 * reply had no error. */
	{ "{\"cmd\": \"a\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
	  "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\"}",
	  FS_CTL_E_UNKNOWN },
};

static void test_bad_requests(void **state)
{
	json_t *r;

	/* Every frame line repeats a capture's id: a longer one was cut
	 * there, and the lines were not JSON. */
	r = ask(0, "{\"id\": \"0123456789012345678901234567890123456789012345678901234567890123\", \"cmd\": \"capture\", \"args\": {\"port\": \"web1\"}}");
	assert_string_equal(err_code(r), FS_CTL_E_INVALID);
	assert_non_null(strstr(json_string_value(json_object_get(
		json_object_get(r, "error"), "message")), "id may be at most 63"));
	json_decref(r);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = ask(0, bad[i].req);

		print_message("  %s -> %s\n", bad[i].req, err_code(r));
		assert_non_null(err_code(r));
		assert_string_equal(err_code(r), bad[i].code);
		assert_non_null(json_string_value(json_object_get(
			json_object_get(r, "error"), "message")));
		json_decref(r);
	}
}

/* One VM rule: each case is vm_add's arguments, and the same VM as the
 * third entry of a config file beside web1 and web2; the file and vm_add
 * refuse the same VMs with the same sentence. '@' in a string is the
 * fixture's directory. */
static const char *const vm_rule[] = {
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"quota\": 32",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"quota\": 40000",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"quota\": 32768",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"quota\": 0",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"quota\": -1",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"quota\": 70000",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"ring_size\": 0",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"ring_size\": 1000",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"ring_size\": 65536, \"quota\": 40000",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"ring_size\": 64, \"quota\": 100",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"ring_size\": 512, \"quota\": 300",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"vlan\": 4095",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"vlan\": -1",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:01\", \"rings\": \"@/web3\", \"vlan\": 7",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:01\", \"rings\": \"@/web3\"",
	"\"name\": \"web3\", \"mac\": \"52:54:00:zz:00:03\", \"rings\": \"@/web3\"",
	"\"name\": \"web3\", \"mac\": \"01:00:5e:00:00:03\", \"rings\": \"@/web3\"",
	"\"name\": \"web3\", \"mac\": \"00:00:00:00:00:00\", \"rings\": \"@/web3\"",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:0A\", \"rings\": \"@/web3\"",
	"\"name\": \"web 3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\"",
	"\"name\": \"abcdefghijklmnopqrstuvwxyz012345\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\"",
	"\"name\": \"\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\"",
	"\"name\": \"web1\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\"",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web1\"",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"\"",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"/dev/shm/fs-test-ctl-%d-pool\"",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"doorbell\": \"\"",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"doorbell\": \"off\"",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"doorbell\": \"@/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"doorbell_usecs\": -1",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"doorbell_usecs\": 100001",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"doorbell_usecs\": 100000",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"allowed_macs\": [\"52:54:00:00:0a:01\", \"52:54:00:00:0a:02\"]",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"allowed_macs\": [\"52:54:00:00:0a:01\", \"52:54:00:zz:0a:02\"]",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"allowed_macs\": [\"52:54:00:00:00:03\"]",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"allowed_macs\": [\"33:33:00:00:00:01\"]",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"allowed_macs\": [\"52:54:00:00:0a:01\", \"52:54:00:00:0a:01\"]",
	"\"name\": \"web3\", \"mac\": \"52:54:00:00:00:03\", \"rings\": \"@/web3\", \"allowed_macs\": [\"52:54:00:00:0a:01\", \"52:54:00:00:0a:02\", \"52:54:00:00:0a:03\", \"52:54:00:00:0a:04\", \"52:54:00:00:0a:05\", \"52:54:00:00:0a:06\", \"52:54:00:00:0a:07\", \"52:54:00:00:0a:08\", \"52:54:00:00:0a:09\"]",
};

/* text with '@' replaced by dir and %d by our pid. */
static void expand(char *out, size_t size, const char *text, const char *dir)
{
	char fmt[1024];
	size_t n = 0;

	for (; *text && n + strlen(dir) + 1 < sizeof(fmt); text++)
		n += *text == '@' ? (size_t)sprintf(fmt + n, "%s", dir) :
				    (size_t)sprintf(fmt + n, "%c", *text);
	fmt[n] = '\0';
	snprintf(out, size, fmt, getpid());
}

/* The case as the third VM of a config file like the fixture's; 0 if the
 * file loads, else its message without "FILE:LINE: " and "line N; ". */
static int rule_config(const json_t *args, char *msg, size_t size)
{
	char path[64], err[CFG_ERR_MAX], *p, *q;
	const char *key;
	struct cfg cfg;
	json_t *val;
	FILE *fp;
	int fd, ret;

	snprintf(path, sizeof(path), "/tmp/fs-test-ctl-rule-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fprintf(fp, "pool = { path = \"%s\"; frames = %u; };\n"
		"interfaces = ( { name = \"lo\"; } );\ncontrol = \"%s\";\nvms = (\n",
		F->cfg.pool.path, F->cfg.pool.frames, F->cfg.control);
	for (int i = 0; i < 2; i++)
		fprintf(fp, "{ name = \"%s\"; mac = \"52:54:00:00:00:0%d\"; rings = \"%s\"; quota = %u; ring_size = %u; doorbell = \"off\"; },\n",
			F->cfg.vms[i].name, i + 1, F->cfg.vms[i].rings,
			F->cfg.vms[i].quota, F->cfg.vms[i].ring_size);
	fprintf(fp, "{");
	json_object_foreach((json_t *)args, key, val) {
		size_t k;
		json_t *e;

		if (json_is_string(val))
			fprintf(fp, " %s = \"%s\";", key, json_string_value(val));
		else if (json_is_array(val)) {
			fprintf(fp, " %s = [", key);
			json_array_foreach(val, k, e)
				fprintf(fp, "%s \"%s\"", k ? "," : "",
					json_string_value(e));
			fprintf(fp, " ];");
		} else
			fprintf(fp, " %s = %lld;", key,
				(long long)json_integer_value(val));
	}
	fprintf(fp, " }\n);\n");
	fclose(fp);
	ret = cfg_load_offline(&cfg, path, err, sizeof(err));
	unlink(path);
	if (!ret)
		return 0;
	p = strstr(err, ": vm \"");
	snprintf(msg, size, "%s", p ? p + 2 : err);
	/* vm_add knows no lines. */
	if ((q = strstr(msg, "line ")) && strchr(q, ';'))
		memmove(q, strchr(q, ';') + 2, strlen(strchr(q, ';') + 2) + 1);
	return ret;
}

static void test_vm_rule_is_one(void **state)
{
	char text[1024], req[1200], msg[CFG_ERR_MAX];
	const char *ctl_msg;
	json_error_t e;
	json_t *root, *args, *r;
	int cfg_ret;

	for (size_t i = 0; i < sizeof(vm_rule) / sizeof(vm_rule[0]); i++) {
		expand(text, sizeof(text), vm_rule[i], F->dir);
		snprintf(req, sizeof(req), "{\"cmd\":\"vm_add\",\"args\":{%s}}", text);
		root = json_loads(req, 0, &e);
		args = json_object_get(root, "args");
		assert_non_null(args);
		cfg_ret = rule_config(args, msg, sizeof(msg));
		r = ask(0, req);
		ctl_msg = json_string_value(json_object_get(
			json_object_get(r, "error"), "message"));
		print_message("  {%s}\n    config: %s\n    vm_add: %s\n", text,
			      cfg_ret ? msg : "ok", ctl_msg ? ctl_msg : "ok");
		assert_int_equal(!!cfg_ret, !!err_code(r));
		if (ctl_msg)
			assert_int_equal(strncmp(msg, ctl_msg, strlen(ctl_msg)), 0);
		json_decref(r);
		json_decref(root);
		if (cfg_ret)
			continue;
		r = ask(0, "{\"cmd\":\"vm_del\",\"args\":{\"name\":\"web3\"}}");
		result(r);
		json_decref(r);
	}
}

static int connect_ctl(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", F->ctl.path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

static size_t read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len && read(fd, buf + n, 1) == 1 && buf[n] != '\n')
		n++;
	buf[n] = '\0';
	return n;
}

static void test_socket_oversized_and_half_line(void **state)
{
	static char big[FS_CTL_MAX_LINE + 100];
	char line[512];
	int a, b;

	/* A client sends half a request and vanishes: nothing breaks. */
	a = connect_ctl();
	assert_int_equal(write(a, "{\"cmd\":\"pi", 10), 10);
	close(a);

	/* A client holding a half line does not block another. */
	a = connect_ctl();
	assert_int_equal(write(a, "{\"cmd\":", 7), 7);
	b = connect_ctl();
	assert_int_equal(write(b, "{\"id\":2,\"cmd\":\"ping\"}\n", 22), 22);
	read_line(b, line, sizeof(line));
	assert_non_null(strstr(line, "\"version\""));
	close(b);
	close(a);

	/* A line longer than the limit: too_large, then the daemon hangs up. */
	memset(big, ' ', sizeof(big));
	a = connect_ctl();
	assert_int_equal(write(a, big, sizeof(big)), (ssize_t)sizeof(big));
	read_line(a, line, sizeof(line));
	assert_non_null(strstr(line, "\"too_large\""));
	/* Closed: EOF, or a reset since the rest of the line went unread. */
	assert_true(read(a, line, 1) <= 0);
	close(a);

	/* And the daemon still answers. */
	b = connect_ctl();
	assert_int_equal(write(b, "{\"cmd\":\"frames\"}\n", 17), 17);
	read_line(b, line, sizeof(line));
	assert_non_null(strstr(line, "\"ok\":true"));
	close(b);
}

/* Anyone may ask for the frame audit, and each audit walks the whole pool
 * in the worker's loop: the worker audits at most every 100 ms, a request
 * sooner is answered with the last audit (with the worker stopped here,
 * it was not answered at all). */
static void test_frames_audit_at_most_every_100ms(void **state)
{
	json_t *r;

	(void)state;
	usleep(150000); /* no audit of an earlier test's to answer with */
	r = ask(1000, "{\"cmd\":\"frames\"}");
	assert_true(json_is_true(json_object_get(result(r), "ok")));
	json_decref(r);
	F->stop = 1;
	pthread_join(F->worker, NULL);
	r = ask(1000, "{\"cmd\":\"frames\"}");
	F->stop = 0;
	assert_int_equal(pthread_create(&F->worker, NULL, worker, F), 0);
	assert_null(err_code(r));
	assert_true(json_is_true(json_object_get(result(r), "ok")));
	assert_int_equal(json_integer_value(json_object_get(result(r), "sum")),
			 json_integer_value(json_object_get(result(r), "total")));
	json_decref(r);
}

/* Every connection taken by a peer that may only read (here 32 held by
 * "nobody", never reading): root still gets in, in the place of one of
 * them (it was accepted and closed at once). */
static void test_root_gets_in_when_full(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int ready[2], fds[CTL_MAX_CLIENTS], a;
	char line[512], c;
	pid_t pid;

	(void)state;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", F->ctl.path);
	assert_int_equal(chmod(F->dir, 0755), 0);
	assert_int_equal(chmod(F->ctl.path, 0666), 0);
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		if (setgid(65534) || setuid(65534))
			_exit(1);
		for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
			fds[i] = socket(AF_UNIX, SOCK_STREAM, 0);
			if (connect(fds[i], (struct sockaddr *)&sun,
				    sizeof(sun)))
				_exit(2);
		}
		if (write(ready[1], "r", 1) != 1)
			_exit(3);
		pause();
		_exit(0);
	}
	close(ready[1]); /* the child gone before it is ready: EOF, no wait */
	line[0] = '\0';
	signal(SIGPIPE, SIG_IGN); /* a connection closed at once: EPIPE */
	if (read(ready[0], &c, 1) == 1) {
		usleep(100000); /* the daemon has accepted them all */
		a = connect_ctl();
		if (write(a, "{\"cmd\":\"ping\"}\n", 15) == 15)
			read_line(a, line, sizeof(line));
		close(a);
	}
	/* The child goes before any assertion can leave it behind. */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(ready[0]);
	chmod(F->ctl.path, 0660);
	chmod(F->dir, 0700);
	assert_non_null(strstr(line, "\"version\""));
}

/* A file of someone's at F->dir/precious, holding "keep", mode 0600. */
static void precious_make(char *file, size_t len)
{
	int f;

	snprintf(file, len, "%s/precious", F->dir);
	f = open(file, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	assert_true(f >= 0);
	assert_int_equal(write(f, "keep", 4), 4);
	close(f);
}

/* ... and still so. */
static void precious_intact(const char *file)
{
	struct stat st;
	char buf[8];
	int f;

	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_size, 4);
	assert_int_equal(st.st_mode & 0777, 0600);
	f = open(file, O_RDONLY);
	assert_true(f >= 0);
	assert_int_equal(read(f, buf, sizeof(buf)), 4);
	close(f);
	assert_memory_equal(buf, "keep", 4);
}

/* vm add runs as root with a path from the socket: it makes a new region
 * file or takes over a region an earlier switch left, but neither follows
 * a link nor overwrites another file (it truncated and overwrote
 * whatever the path named). */
static void test_vm_add_leaves_other_files(void **state)
{
	char file[128], link_path[128], req[512];
	int f, n_vms = F->sw.n_vms;
	json_t *r;

	(void)state;
	precious_make(file, sizeof(file));
	snprintf(link_path, sizeof(link_path), "%s/web4", F->dir);
	assert_int_equal(symlink(file, link_path), 0);
	for (int i = 0; i < 2; i++) {
		snprintf(req, sizeof(req),
			 "{\"cmd\":\"vm_add\",\"args\":{\"name\":\"web4\",\"mac\":\"52:54:00:00:00:04\",\"rings\":\"%s\",\"quota\":32,\"doorbell\":\"off\"}}",
			 i ? file : link_path);
		r = ask(0, req);
		assert_string_equal(err_code(r), FS_CTL_E_INTERNAL);
		json_decref(r);
		assert_int_equal(F->sw.n_vms, n_vms);
		precious_intact(file);
	}
	unlink(link_path);
	unlink(file);
	/* A file of zeros of the region's size, as a QEMU started before
	 * the switch makes it: taken over. */
	f = open(file, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	assert_true(f >= 0);
	assert_int_equal(ftruncate(f, (off_t)vmport_region_size(256)), 0);
	close(f);
	snprintf(req, sizeof(req),
		 "{\"cmd\":\"vm_add\",\"args\":{\"name\":\"web4\",\"mac\":\"52:54:00:00:00:04\",\"rings\":\"%s\",\"quota\":32,\"doorbell\":\"off\"}}",
		 file);
	r = ask(0, req);
	assert_null(err_code(r));
	json_decref(r);
	r = ask(0, "{\"cmd\":\"vm_del\",\"args\":{\"name\":\"web4\"}}");
	assert_null(err_code(r));
	json_decref(r);
	unlink(file);
}

/* unix_listen, which makes the control and doorbell sockets as root: a
 * socket file left behind is replaced; a regular file or a link at the
 * path is refused and left as it was (it was unlinked, and a chmod by
 * name followed a link); the socket is mode 0660. */
static void test_listen_replaces_only_sockets(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char path[128], file[128];
	struct stat st;
	int fd, f;

	(void)state;
	snprintf(path, sizeof(path), "%s/l.sock", F->dir);
	precious_make(file, sizeof(file));

	/* A regular file, then a link to one: refused, untouched. */
	assert_int_equal(link(file, path), 0);
	assert_int_equal(unix_listen(path, false, 0, 1), -EEXIST);
	unlink(path);
	assert_int_equal(symlink(file, path), 0);
	assert_int_equal(unix_listen(path, false, 0, 1), -EEXIST);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	unlink(path);
	precious_intact(file);
	unlink(file);

	/* A socket file nobody serves: replaced, mode 0660. */
	strcpy(sun.sun_path, path);
	f = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(f, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(f);
	fd = unix_listen(path, false, 0, 1);
	assert_true(fd >= 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
	/* Served now: a second one is refused. */
	assert_int_equal(unix_listen(path, false, 0, 1), -EADDRINUSE);
	close(fd);
	unlink(path);
}

static void worker_stop(void)
{
	F->stop = 1;
	pthread_join(F->worker, NULL);
}

static void worker_start(void)
{
	F->stop = 0;
	assert_int_equal(pthread_create(&F->worker, NULL, worker, F), 0);
}

/* fdb lists each VM's MAC as configured (it printed them byte-reversed). */
static void test_fdb_macs(void **state)
{
	json_t *r = ask(1000, "{\"cmd\":\"fdb\"}");
	json_t *e = json_object_get(result(r), "entries");
	int seen = 0;

	(void)state;
	for (size_t i = 0; i < json_array_size(e); i++) {
		const char *mac = json_string_value(
			json_object_get(json_array_get(e, i), "mac"));
		const char *port = json_string_value(
			json_object_get(json_array_get(e, i), "port"));

		if (!strcmp(port, "web1")) {
			assert_string_equal(mac, "52:54:00:00:00:01");
			seen |= 1;
		} else if (!strcmp(port, "web2")) {
			assert_string_equal(mac, "52:54:00:00:00:02");
			seen |= 2;
		}
	}
	assert_int_equal(seen, 3);
	json_decref(r);
}

/* A guest attaches to web2 and the worker lends it frames; with the worker
 * then stopped, the snapshot says what the worker's state says. */
static void test_snapshot_reflects_worker_state(void **state)
{
	struct sw_snap *s = malloc(sizeof(*s));
	struct sw *sw = &F->sw;
	const struct vmport *v = &sw->vms[1];
	struct fsg g;
	char e[256];
	json_t *r;

	(void)state;
	assert_non_null(s);
	assert_int_equal(fsg_open(&g, F->cfg.pool.path, v->cfg.rings, e,
				  sizeof(e)), 0);
	assert_int_equal(fsg_attach(&g, 2000), 0);
	r = ask(0, "{\"cmd\":\"set\",\"args\":{\"max_sleep_usecs\":70}}");
	result(r);
	json_decref(r);
	r = ask(1000, "{\"cmd\":\"frames\"}");
	result(r);
	json_decref(r);
	worker_stop();
	sw->vms[1].st.rx_packets = 11;
	sw->vms[1].st.tx_bytes = 22;
	sw->vms[1].st.drops[VM_BAD_LEN] = 3;
	sw->copies = 5;
	sw->drops[SW_DROP_HAIRPIN] = 4;
	sw_snapshot(sw, s);

	/* Earlier tests added and deleted web3 and web4 in slot 2. */
	assert_int_equal(s->n_vms, sw->n_vms);
	assert_int_equal(s->n_vms, 3);
	assert_false(s->vm[2].active);
	assert_true(s->vm[1].active);
	assert_true(s->vm[1].attached);
	assert_true(s->vm[1].held > 0);
	assert_int_equal(s->vm[1].held, sw->pool.count[v->owner]);
	assert_int_equal(s->n_free, sw->pool.n_free);
	assert_false(s->vm[0].attached);
	assert_int_equal(s->vm[0].held, 0);
	assert_string_equal(s->vm[1].cfg.name, "web2");
	assert_int_equal(s->vm[1].region_fd, v->fd);
	assert_int_equal(s->vm[1].irq_fd, v->irq_fd);
	assert_memory_equal(&s->vm[1].st, &v->st, sizeof(v->st));
	assert_int_equal(s->vm[1].st.drops[VM_BAD_LEN], 3);
	assert_int_equal(s->copies, 5);
	assert_int_equal(s->drops[SW_DROP_HAIRPIN], 4);
	assert_int_equal(s->max_sleep_usecs, 70);
	assert_int_equal(s->frames, 256);
	assert_string_equal(s->pool_path, F->cfg.pool.path);
	/* The audit taken before the guest's frames moved on: its sum. */
	assert_true(s->audit.ok);
	assert_int_equal((uint64_t)s->audit.pool[0].fill +
				 s->audit.pool[0].tx + s->audit.pool[0].sw +
				 s->audit.vm[0] + s->audit.vm[1],
			 256);
	assert_int_equal(s->n_pools, 1);
	assert_string_equal(s->pools[0].name, "default");
	assert_int_equal(s->vm[1].pool, 0);
	assert_int_equal(s->n_fdb, 2);
	for (uint32_t i = 0; i < s->n_fdb; i++) {
		uint8_t want[6] = { 0x52, 0x54, 0, 0, 0,
				    (uint8_t)(s->fdb[i].vm + 1) };

		assert_memory_equal(s->fdb[i].mac, want, 6);
		assert_int_equal(s->fdb[i].vlan, 0);
	}

	sw->vms[1].st.rx_packets = sw->vms[1].st.tx_bytes = 0;
	sw->vms[1].st.drops[VM_BAD_LEN] = 0;
	sw->copies = sw->drops[SW_DROP_HAIRPIN] = 0;
	worker_start();
	assert_int_equal(fsg_detach(&g, 2000), 0);
	fsg_close(&g);
	r = ask(0, "{\"cmd\":\"set\",\"args\":{\"max_sleep_usecs\":0}}");
	result(r);
	json_decref(r);
	free(s);
}

/* Waits up to 2 s for *word to be want. */
static bool wait_word(const uint32_t *word, uint32_t want)
{
	for (int i = 0; i < 200; i++) {
		if (__atomic_load_n(word, __ATOMIC_ACQUIRE) == want)
			return true;
		usleep(10000);
	}
	return false;
}

/* One request over the socket, served by the control thread as the
 * daemon serves it (as root: privileged); the parsed reply. */
static json_t *ask_sock(const char *req)
{
	static char line[1 << 16];
	int fd = connect_ctl();
	json_error_t e;
	json_t *r;

	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	assert_int_equal(write(fd, "\n", 1), 1);
	read_line(fd, line, sizeof(line));
	close(fd);
	r = json_loads(line, 0, &e);
	assert_non_null(r);
	return r;
}

/* Every change is a request the worker takes: with the worker not
 * taking any, none happens, each request gives up after the control's
 * wait with a clear error, and the switch is as it was. */
static void test_changes_wait_for_the_worker(void **state)
{
	char req[512], bell[128], e[256];
	struct stat st;
	struct fsg g;
	json_t *r;

	(void)state;
	/* Over the socket: the control thread, serving web3's doorbell in
	 * its loop, makes every request (the mailbox has one caller). */
	/* web3, with a doorbell, while the worker runs. */
	snprintf(req, sizeof(req),
		 "{\"cmd\":\"vm_add\",\"args\":{\"name\":\"web3\",\"mac\":\"52:54:00:00:00:03\",\"rings\":\"%s/web3\",\"quota\":32}}",
		 F->dir);
	r = ask_sock(req);
	result(r);
	json_decref(r);
	snprintf(bell, sizeof(bell), "%s/web3.doorbell", F->dir);

	worker_stop();
	F->ctl.mail_ms = 100;
	r = ask_sock("{\"cmd\":\"set\",\"args\":{\"max_sleep_usecs\":50}}");
	assert_string_equal(err_code(r), FS_CTL_E_INTERNAL);
	json_decref(r);
	assert_int_equal(F->sw.max_nap_us, 0);

	F->sw.vms[0].st.drops[VM_DROP_DETACHED] = 7;
	r = ask_sock("{\"cmd\":\"stats\",\"args\":{\"clear\":true}}");
	assert_string_equal(err_code(r), FS_CTL_E_INTERNAL);
	json_decref(r);
	assert_int_equal(F->sw.vms[0].st.drops[VM_DROP_DETACHED], 7);
	F->sw.vms[0].st.drops[VM_DROP_DETACHED] = 0;

	r = ask_sock("{\"cmd\":\"vm_del\",\"args\":{\"name\":\"web3\"}}");
	assert_string_equal(err_code(r), FS_CTL_E_INTERNAL);
	json_decref(r);
	assert_true(F->sw.vms[2].active);
	assert_non_null(F->sw.vms[2].region);
	assert_int_equal(fdb_lookup(&F->sw.fdb, (uint8_t[]){ 0x52, 0x54, 0, 0, 0, 3 }, 0), 2);
	assert_int_equal(stat(bell, &st), 0); /* still served */

	snprintf(req, sizeof(req),
		 "{\"cmd\":\"vm_add\",\"args\":{\"name\":\"web4\",\"mac\":\"52:54:00:00:00:04\",\"rings\":\"%s/web4\",\"quota\":32,\"doorbell\":\"off\"}}",
		 F->dir);
	r = ask_sock(req);
	assert_string_equal(err_code(r), FS_CTL_E_INTERNAL);
	json_decref(r);
	assert_int_equal(F->sw.n_vms, 3);
	snprintf(req, sizeof(req), "%s/web4", F->dir);
	assert_int_equal(stat(req, &st), -1); /* its region, unmade */

	/* A guest comes to web3's doorbell: it is greeted, but the switch
	 * rings it only once the worker is told, and it is told once it
	 * takes requests again. */
	assert_int_equal(fsg_open_doorbell(&g, F->cfg.pool.path, bell, e,
					   sizeof(e)), 0);
	usleep(300000); /* the control thread asked, and gave up */
	assert_int_equal(F->sw.vms[2].hdr->switch_doorbell, 0);
	assert_int_equal(F->sw.vms[2].db_live, 0);
	worker_start();
	assert_true(wait_word(&F->sw.vms[2].hdr->switch_doorbell, 1));
	assert_int_equal(F->sw.vms[2].db_live, 1);
	r = ask_sock("{\"cmd\":\"show\"}");
	assert_true(json_is_true(json_object_get(
		json_array_get(json_object_get(result(r), "vms"), 2),
		"doorbell_connected")));
	json_decref(r);
	/* It leaves: the worker is told. */
	fsg_close(&g);
	assert_true(wait_word(&F->sw.vms[2].hdr->switch_doorbell, 0));

	F->ctl.mail_ms = CTL_MAIL_TIMEOUT_MS;
	r = ask_sock("{\"cmd\":\"vm_del\",\"args\":{\"name\":\"web3\"}}");
	result(r);
	json_decref(r);
	assert_false(F->sw.vms[2].active);
	assert_null(F->sw.vms[2].region); /* handed over and unmapped */
	assert_int_equal(stat(bell, &st), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping_and_id),
		cmocka_unit_test(test_show),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_fdb_and_frames),
		cmocka_unit_test(test_vm_add_del),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_socket_oversized_and_half_line),
		cmocka_unit_test(test_frames_audit_at_most_every_100ms),
		cmocka_unit_test(test_root_gets_in_when_full),
		cmocka_unit_test(test_vm_add_leaves_other_files),
		cmocka_unit_test(test_listen_replaces_only_sockets),
		cmocka_unit_test(test_fdb_macs),
		cmocka_unit_test(test_snapshot_reflects_worker_state),
		cmocka_unit_test(test_changes_wait_for_the_worker),
	};

	const struct CMUnitTest big_pool[] = {
		cmocka_unit_test(test_vm_rule_is_one),
	};

	return cmocka_run_group_tests(tests, setup, teardown) +
	       cmocka_run_group_tests_name("big pool", big_pool, setup_big,
					   teardown);
}
