// SPDX-License-Identifier: MIT
/*
 * rtnetlink (user/nl.c) against the real kernel, in a network namespace of
 * this test's own (unshare; skipped without root):
 *
 *   - a link's MTU, kind and bridge as the kernel has them (lo, a veth,
 *     a vxlan device: a tunnel; a bridge port);
 *   - nl_start reads each port's MTU into the switch, and its thread
 *     follows a change made with ip(8) within a second (a link event),
 *     moving the switch's MTU generation on;
 *   - publish_fdb: each VM's MAC as a static entry on the port's bridge
 *     (`bridge fdb show` says "master BR static"), a VLAN VM's without
 *     its VLAN on a bridge that does not filter by VLAN; removed by nl_fdb_vm (vm del) and by nl_stop (exit);
 *   - a switch killed (SIGKILL) with its entries published: the next
 *     one's nl_start removes the entries its trail names that are still
 *     as it made them (a VM no longer configured), keeps the one it
 *     publishes again, and leaves an admin's entries, on the recorded
 *     port or for a recorded MAC moved to another port; its exit takes
 *     its own out, and the trail;
 *   - publish_fdb = "PORT": on that other port of the bridge, refused
 *     while it is not one;
 *   - publish_fdb on an interface that is no bridge port is refused with
 *     the config file and line, and how to fix it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "log.h"
#include "nl.h"
#include "switch.h"
#include "testutil.h"

#define DUM "fsnlveth0"
#define BR "fsnlbr0"

static void sh(const char *cmd)
{
	if (system(cmd))
		fail_msg("failed: %s", cmd);
}

/* Output of cmd, in buf. */
static const char *sh_out(const char *cmd, char *buf, size_t len)
{
	FILE *f = popen(cmd, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	pclose(f);
	return buf;
}

static int setup(void **state)
{
	(void)state;
	if (getuid() != 0 || unshare(CLONE_NEWNET)) {
		print_message("skip: needs root for a network namespace of its own\n");
		return -1;
	}
	sh("ip link add " DUM " type veth peer name fsnlveth1 && ip link set " DUM " up");
	return 0;
}

static void test_link_facts(void **state)
{
	struct nl_link l;

	(void)state;
	assert_int_equal(nl_link_get(if_nametoindex("lo"), &l), 0);
	assert_int_equal(l.mtu, 65536);
	assert_string_equal(l.kind, "");
	assert_int_equal(l.master, 0);
	assert_int_equal(nl_link_get(if_nametoindex(DUM), &l), 0);
	assert_int_equal(l.mtu, 1500);
	assert_string_equal(l.kind, "veth");
	assert_false(nl_kind_is_tunnel(l.kind));
	sh("ip link add fsnlvx0 type vxlan id 42 dstport 4789 dev " DUM);
	assert_int_equal(nl_link_get(if_nametoindex("fsnlvx0"), &l), 0);
	assert_string_equal(l.kind, "vxlan");
	assert_true(nl_kind_is_tunnel(l.kind));
	assert_int_equal(l.mtu, 1450); /* the underlay's, less 50 */
	sh("ip link del fsnlvx0");
	sh("ip link add " BR " type bridge && ip link set " DUM " master " BR);
	assert_int_equal(nl_link_get(if_nametoindex(DUM), &l), 0);
	assert_int_equal(l.master, if_nametoindex(BR));
	sh("ip link set " DUM " nomaster && ip link del " BR);
	assert_int_equal(nl_link_get(999999, &l), -ENODEV);
}

/* A switch of one port (DUM) and n VMs, as nl.c sees it. */
struct rig {
	struct cfg cfg;
	struct sw sw;
	struct nl nl;
};

static struct rig *rig_up(int n_vms, bool publish)
{
	struct rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	snprintf(r->cfg.file, sizeof(r->cfg.file), "fs.conf");
	r->sw.cfg = &r->cfg;
	r->sw.n_ports = 1;
	r->sw.ports[0].cfg.ifindex = if_nametoindex(DUM);
	r->sw.ports[0].cfg.line = 7;
	r->sw.ports[0].cfg.publish_fdb = publish;
	snprintf(r->sw.ports[0].cfg.name, IF_NAMESIZE, DUM);
	r->sw.vms = calloc(CFG_MAX_VMS, sizeof(*r->sw.vms));
	assert_non_null(r->sw.vms);
	for (int i = 0; i < n_vms; i++) {
		struct vmport *v = &r->sw.vms[i];

		snprintf(v->cfg.name, sizeof(v->cfg.name), "vm%d", i);
		memcpy(v->cfg.mac, (uint8_t[]){ 0x52, 0x54, 0, 0, 0x0b, (uint8_t)i }, 6);
		v->cfg.vlan = i == 1 ? 10 : 0;
		v->active = true;
	}
	r->sw.n_vms = n_vms;
	r->nl.fd = r->nl.stop_fd = -1;
	return r;
}

static void rig_down(struct rig *r)
{
	free(r->sw.vms);
	free(r);
}

static void test_mtu_followed(void **state)
{
	struct rig *r = rig_up(0, false);
	struct timespec t = { 0, 10 * 1000 * 1000 };
	uint32_t gen;
	int i;

	(void)state;
	quiet();
	assert_int_equal(nl_start(&r->nl, &r->sw), 0);
	unquiet();
	assert_int_equal(r->sw.ports[0].mtu, 1500);
	assert_string_equal(r->sw.ports[0].kind, "veth");
	assert_false(r->sw.ports[0].tunnel);
	gen = __atomic_load_n(&r->sw.mtu_gen, __ATOMIC_ACQUIRE);
	sh("ip link set " DUM " mtu 1400");
	for (i = 0; i < 100; i++) {
		if (__atomic_load_n(&r->sw.ports[0].mtu, __ATOMIC_RELAXED) == 1400)
			break;
		nanosleep(&t, NULL);
	}
	assert_int_equal(__atomic_load_n(&r->sw.ports[0].mtu, __ATOMIC_RELAXED),
			 1400);
	assert_int_not_equal(__atomic_load_n(&r->sw.mtu_gen, __ATOMIC_ACQUIRE),
			     gen);
	assert_int_equal(r->nl.changes, 1);
	/* Another link's change is not this port's. */
	sh("ip link set lo mtu 60000");
	sh("ip link set " DUM " mtu 1500");
	for (i = 0; i < 100 && r->nl.changes < 2; i++)
		nanosleep(&t, NULL);
	assert_int_equal(r->nl.changes, 2);
	assert_int_equal(r->sw.ports[0].mtu, 1500);
	quiet();
	nl_stop(&r->nl);
	unquiet();
	assert_int_equal(r->nl.fd, -1);
	rig_down(r);
}

static bool fdb_has_on(const char *mac, const char *dev)
{
	char buf[4096], want[128];

	snprintf(want, sizeof(want), "%s dev %s master " BR " static", mac,
		 dev);
	sh_out("bridge fdb show br " BR, buf, sizeof(buf));
	return strstr(buf, want) != NULL;
}

static bool fdb_has(const char *mac)
{
	return fdb_has_on(mac, DUM);
}

static void test_publish_fdb(void **state)
{
	struct rig *r = rig_up(2, true);

	(void)state;
	/* This kernel has no VLAN filtering in its bridge: one table for
	 * all VLANs, entries without one. */
	sh("ip link add " BR " type bridge && ip link set " DUM " master " BR);
	quiet();
	assert_int_equal(nl_start(&r->nl, &r->sw), 0);
	unquiet();
	assert_true(fdb_has("52:54:00:00:0b:00"));
	assert_true(fdb_has("52:54:00:00:0b:01"));
	/* vm del */
	quiet();
	assert_int_equal(nl_fdb_vm(&r->sw, 1, false), 0);
	unquiet();
	assert_false(fdb_has("52:54:00:00:0b:01"));
	r->sw.vms[1].active = false;
	/* vm add */
	r->sw.vms[1].active = true;
	quiet();
	assert_int_equal(nl_fdb_vm(&r->sw, 1, true), 0);
	unquiet();
	assert_true(fdb_has("52:54:00:00:0b:01"));
	/* exit */
	quiet();
	nl_stop(&r->nl);
	unquiet();
	assert_false(fdb_has("52:54:00:00:0b:00"));
	assert_false(fdb_has("52:54:00:00:0b:01"));
	sh("ip link set " DUM " nomaster && ip link del " BR);
	rig_down(r);
}

static void test_killed_switch_fdb_reclaimed(void **state)
{
	struct rig *r = rig_up(3, true);
	char dir[] = "/tmp/fs-nl-XXXXXX", trail[PATH_MAX + 8];
	int status;
	pid_t pid;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(r->cfg.control, sizeof(r->cfg.control), "%s/ctl.sock", dir);
	snprintf(trail, sizeof(trail), "%s.fdb", r->cfg.control);
	sh("ip link add " BR " type bridge && ip link set " DUM " master " BR
	   " && ip link set fsnlveth1 master " BR);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* A switch that publishes vm0..vm2, then is killed. */
		log_level = LOG_LVL_ERR;
		if (nl_start(&r->nl, &r->sw))
			_exit(1);
		kill(getpid(), SIGKILL);
		_exit(2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* What it published stays in the kernel, and its trail on disk. */
	assert_true(fdb_has("52:54:00:00:0b:00"));
	assert_true(fdb_has("52:54:00:00:0b:01"));
	assert_true(fdb_has("52:54:00:00:0b:02"));
	assert_true(file_exists(trail));
	/* Since then an admin moved vm2's MAC to the other port, and has a
	 * static entry of their own on the switch's port. */
	sh("bridge fdb replace 52:54:00:00:0b:02 dev fsnlveth1 master static");
	sh("bridge fdb add 52:54:00:00:0a:aa dev " DUM " master static");
	/* The next switch has vm0 only: vm1 and vm2 are gone from it. */
	r->sw.vms[1].active = false;
	r->sw.vms[2].active = false;
	quiet();
	assert_int_equal(nl_start(&r->nl, &r->sw), 0);
	unquiet();
	assert_true(fdb_has("52:54:00:00:0b:00"));
	assert_false(fdb_has("52:54:00:00:0b:01"));
	assert_true(fdb_has_on("52:54:00:00:0b:02", "fsnlveth1"));
	assert_true(fdb_has("52:54:00:00:0a:aa"));
	assert_true(file_exists(trail));
	/* Its clean exit: its own entry and the trail go, the admin's stay. */
	quiet();
	nl_stop(&r->nl);
	unquiet();
	assert_false(fdb_has("52:54:00:00:0b:00"));
	assert_true(fdb_has_on("52:54:00:00:0b:02", "fsnlveth1"));
	assert_true(fdb_has("52:54:00:00:0a:aa"));
	assert_false(file_exists(trail));
	assert_int_equal(rmdir(dir), 0);
	sh("ip link set fsnlveth1 nomaster && ip link set " DUM " nomaster && ip link del " BR);
	rig_down(r);
}

/* publish_fdb = "PORT": the entries go on another port of the bridge (an
 * EVPN speaker reads local MACs only from ports other than the VXLAN
 * device); a port not in the bridge is refused. */
static void test_publish_fdb_on_another_port(void **state)
{
	struct rig *r = rig_up(1, true);

	(void)state;
	snprintf(r->sw.ports[0].cfg.publish_fdb_on, IF_NAMESIZE, "fsnlveth1");
	sh("ip link add " BR " type bridge && ip link set " DUM " master " BR);
	quiet();
	assert_int_equal(nl_start(&r->nl, &r->sw), -EINVAL);
	nl_stop(&r->nl);
	unquiet();
	sh("ip link set fsnlveth1 master " BR);
	quiet();
	assert_int_equal(nl_start(&r->nl, &r->sw), 0);
	unquiet();
	assert_true(fdb_has_on("52:54:00:00:0b:00", "fsnlveth1"));
	assert_false(fdb_has_on("52:54:00:00:0b:00", DUM));
	quiet();
	nl_stop(&r->nl);
	unquiet();
	assert_false(fdb_has_on("52:54:00:00:0b:00", "fsnlveth1"));
	sh("ip link set fsnlveth1 nomaster && ip link set " DUM " nomaster && ip link del " BR);
	rig_down(r);
}

static void test_publish_fdb_needs_a_bridge(void **state)
{
	struct rig *r = rig_up(1, true);
	char log[1024];
	FILE *f = tmpfile();
	int saved = dup(2), err;

	(void)state;
	assert_non_null(f);
	fflush(stderr);
	dup2(fileno(f), 2);
	err = nl_start(&r->nl, &r->sw);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	assert_int_equal(err, -EINVAL);
	rewind(f);
	log[fread(log, 1, sizeof(log) - 1, f)] = '\0';
	fclose(f);
	assert_non_null(strstr(log, "fs.conf:7: interface \"" DUM "\": publish_fdb needs it to be a port of a Linux bridge (ip link set " DUM " master BRIDGE), or publish_fdb = false"));
	nl_stop(&r->nl);
	rig_down(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_link_facts),
		cmocka_unit_test(test_mtu_followed),
		cmocka_unit_test(test_publish_fdb),
		cmocka_unit_test(test_killed_switch_fdb_reclaimed),
		cmocka_unit_test(test_publish_fdb_on_another_port),
		cmocka_unit_test(test_publish_fdb_needs_a_bridge),
	};

	if (setup(NULL))
		return 0;
	log_level = LOG_LVL_WARN; /* the thread's MTU lines are expected */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
