// SPDX-License-Identifier: MIT
/*
 * Flow steering (user/steer.c) against a fake ethtool: a NIC's ntuple
 * table as an array, answering ETHTOOL_SRXCLSRLINS at RX_CLS_LOC_ANY
 * (the first free location, written back) and ETHTOOL_SRXCLSRLDEL, and
 * refusing rules once it holds `room` of them, as a NIC whose table is
 * full (or that has none, room 0: veth) does.
 *
 *   - one rule per VM: its destination MAC matched whole, its VLAN's 12
 *     bits where it has one, to its queue; vm del removes exactly its
 *     rule, fini every one left;
 *   - a refused rule leaves nothing: the VM has no rule, and the others
 *     are removed by fini;
 *   - a switch killed with its rules in place: the next one's
 *     steer_reclaim removes each rule its trail names that is still the
 *     switch's, and only those: a rule an admin put at a recorded
 *     location since, an admin's rule elsewhere and a running switch's
 *     rules stay; the trail goes, a running switch's stays;
 *   - sw_steer_port, the start's step: a rule per VM of the port's
 *     config, each to port_steer_queue's queue; the VMs of another uplink
 *     get none; a refusal fails the start, and fini leaves the NIC's
 *     table empty.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/ethtool.h>

#include "sw_internal.h"
#include "testutil.h"

#define NIC_RULES 16

struct fake_ntuple {
	struct ethtool_rx_flow_spec rule[NIC_RULES];
	bool used[NIC_RULES];
	uint32_t room;        /* rules it takes at most */
	uint32_t n, adds, dels;
	char ifname[IF_NAMESIZE];
};

static int fake_ethtool(void *arg, const char *ifname, void *cmd)
{
	struct fake_ntuple *f = arg;
	struct ethtool_rxnfc *nfc = cmd;
	uint32_t loc;

	snprintf(f->ifname, sizeof(f->ifname), "%s", ifname);
	switch (nfc->cmd) {
	case ETHTOOL_SRXCLSRLINS:
		if (nfc->fs.location != RX_CLS_LOC_ANY)
			return -EINVAL;
		if (f->n >= f->room)
			return f->room ? -ENOSPC : -EOPNOTSUPP;
		for (loc = 0; f->used[loc]; loc++)
			;
		nfc->fs.location = loc;
		f->rule[loc] = nfc->fs;
		f->used[loc] = true;
		f->n++;
		f->adds++;
		return 0;
	case ETHTOOL_GRXCLSRULE:
		loc = nfc->fs.location;
		if (loc >= NIC_RULES || !f->used[loc])
			return -ENOENT;
		nfc->fs = f->rule[loc];
		return 0;
	case ETHTOOL_SRXCLSRLDEL:
		loc = nfc->fs.location;
		if (loc >= NIC_RULES || !f->used[loc])
			return -ENOENT;
		f->used[loc] = false;
		f->n--;
		f->dels++;
		return 0;
	}
	return -EOPNOTSUPP;
}

static const struct steer_ops fake_ops = { .ethtool = fake_ethtool };

static const uint8_t mac_a[6] = { 0x52, 0x54, 0, 0, 0, 0x0a };
static const uint8_t mac_b[6] = { 0x52, 0x54, 0, 0, 0, 0x0b };
static const uint8_t mac_c[6] = { 0x52, 0x54, 0, 0, 0, 0x0c };

/* The rule at loc steers mac (vlan: 0 for none) to queue. */
static void assert_rule(const struct fake_ntuple *f, uint32_t loc,
			const uint8_t mac[6], uint16_t vlan, uint32_t queue)
{
	const struct ethtool_rx_flow_spec *r = &f->rule[loc];
	static const uint8_t all[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	assert_true(f->used[loc]);
	assert_int_equal(r->flow_type, ETHER_FLOW | (vlan ? FLOW_EXT : 0));
	assert_memory_equal(r->h_u.ether_spec.h_dest, mac, 6);
	assert_memory_equal(r->m_u.ether_spec.h_dest, all, 6);
	/* Nothing but the destination (and the VLAN) is matched. */
	assert_int_equal(r->m_u.ether_spec.h_proto, 0);
	if (vlan) {
		assert_int_equal(ntohs(r->h_ext.vlan_tci), vlan);
		assert_int_equal(ntohs(r->m_ext.vlan_tci), 0x0fff);
	}
	assert_int_equal(r->ring_cookie, queue);
}

static void test_rule_per_vm(void **state)
{
	struct fake_ntuple f = { .room = NIC_RULES };
	struct steer s;

	(void)state;
	quiet();
	assert_int_equal(steer_init(&s, "nic0", &fake_ops, &f, ""), 0);
	assert_int_equal(steer_vm_add(&s, 0, mac_a, 0, 0), 0);
	assert_int_equal(steer_vm_add(&s, 5, mac_b, 10, 3), 0);
	assert_int_equal(steer_vm_add(&s, 7, mac_c, 4094, 1), 0);
	/* One rule a VM: a second is refused before the NIC is asked. */
	assert_int_equal(steer_vm_add(&s, 5, mac_b, 10, 3), -EEXIST);
	unquiet();
	assert_string_equal(f.ifname, "nic0");
	assert_int_equal(f.n, 3);
	assert_rule(&f, s.loc[0], mac_a, 0, 0);
	assert_rule(&f, s.loc[5], mac_b, 10, 3);
	assert_rule(&f, s.loc[7], mac_c, 4094, 1);
	/* vm del: exactly its rule, once. */
	assert_int_equal(steer_vm_del(&s, 5), 0);
	assert_int_equal(s.loc[5], STEER_NONE);
	assert_int_equal(f.n, 2);
	assert_int_equal(steer_vm_del(&s, 5), 0);
	assert_int_equal(f.dels, 1);
	assert_rule(&f, s.loc[0], mac_a, 0, 0);
	assert_rule(&f, s.loc[7], mac_c, 4094, 1);
	/* A VM added again gets a rule again. */
	assert_int_equal(steer_vm_add(&s, 5, mac_b, 0, 2), 0);
	assert_rule(&f, s.loc[5], mac_b, 0, 2);
	/* Exit: every rule removed. */
	steer_fini(&s);
	assert_int_equal(f.n, 0);
	assert_int_equal(f.dels, 4);
	assert_int_equal(s.n_rules, 0);
}

static void test_refused_rule_leaves_nothing(void **state)
{
	struct fake_ntuple f = { .room = 2 }, none = { .room = 0 };
	struct steer s, t;

	(void)state;
	quiet();
	assert_int_equal(steer_init(&s, "nic0", &fake_ops, &f, ""), 0);
	assert_int_equal(steer_vm_add(&s, 0, mac_a, 0, 0), 0);
	assert_int_equal(steer_vm_add(&s, 1, mac_b, 0, 1), 0);
	assert_int_equal(steer_vm_add(&s, 2, mac_c, 0, 2), -ENOSPC);
	assert_int_equal(s.loc[2], STEER_NONE);
	assert_int_equal(s.n_rules, 2);
	/* Its vm del asks the NIC nothing. */
	assert_int_equal(steer_vm_del(&s, 2), 0);
	assert_int_equal(f.dels, 0);
	steer_fini(&s);
	assert_int_equal(f.n, 0);
	/* A NIC with no ntuple filters at all (veth). */
	assert_int_equal(steer_init(&t, "veth0", &fake_ops, &none, ""), 0);
	assert_int_equal(steer_vm_add(&t, 0, mac_a, 0, 0), -EOPNOTSUPP);
	steer_fini(&t);
	unquiet();
	assert_int_equal(none.adds + none.dels, 0);
}

static bool exists(const char *dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return file_exists(path);
}

static void test_killed_switch_rules_reclaimed(void **state)
{
	static const uint8_t mac_d[6] = { 0x52, 0x54, 0, 0, 0, 0x0d };
	struct fake_ntuple f = { .room = NIC_RULES };
	struct ethtool_rxnfc ins = { .cmd = ETHTOOL_SRXCLSRLINS };
	struct steer s, live;
	char dir[] = "/tmp/fs-steer-XXXXXX", control[64];
	uint32_t a, b, c;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(control, sizeof(control), "%s/ctl.sock", dir);
	quiet();
	assert_int_equal(steer_init(&s, "nic0", &fake_ops, &f, control), 0);
	assert_true(exists(dir, "ctl.sock.steer-nic0"));
	assert_int_equal(steer_vm_add(&s, 0, mac_a, 0, 0), 0);
	assert_int_equal(steer_vm_add(&s, 5, mac_b, 10, 3), 0);
	assert_int_equal(steer_vm_add(&s, 6, mac_d, 0, 1), 0);
	assert_int_equal(steer_vm_add(&s, 7, mac_c, 0, 1), 0);
	assert_int_equal(steer_vm_del(&s, 7), 0); /* vm del: out of the trail */
	/* A running switch with the same control socket, on nic1. */
	assert_int_equal(steer_init(&live, "nic1", &fake_ops, &f, control), 0);
	assert_int_equal(steer_vm_add(&live, 2, mac_c, 0, 2), 0);
	/* Killed: nothing removed; the kernel drops its lock. */
	a = s.loc[0];
	b = s.loc[5];
	c = s.loc[6];
	close(s.trail.fd);
	/* Since then an admin replaced the rule at c by one of their own
	 * (to another queue), and put another where vm 7's was. */
	f.rule[c].ring_cookie = 9;
	ins.fs.flow_type = ETHER_FLOW;
	ins.fs.location = RX_CLS_LOC_ANY;
	assert_int_equal(fake_ethtool(&f, "nic0", &ins), 0);
	assert_int_equal(f.n, 5);
	/* The next switch. */
	assert_int_equal(steer_reclaim(control, &fake_ops, &f), 2);
	unquiet();
	assert_false(f.used[a]);
	assert_false(f.used[b]);
	assert_true(f.used[c]);
	assert_int_equal(f.rule[c].ring_cookie, 9);
	assert_true(f.used[ins.fs.location]);
	assert_rule(&f, live.loc[2], mac_c, 0, 2);
	assert_int_equal(f.n, 3);
	assert_false(exists(dir, "ctl.sock.steer-nic0"));
	assert_true(exists(dir, "ctl.sock.steer-nic1"));
	/* A second look finds nothing more to take. */
	quiet();
	assert_int_equal(steer_reclaim(control, &fake_ops, &f), 0);
	/* The running switch's clean stop: its rule and its trail go. */
	steer_fini(&live);
	unquiet();
	assert_int_equal(f.n, 2);
	assert_false(exists(dir, "ctl.sock.steer-nic1"));
	assert_int_equal(rmdir(dir), 0);
}

/* The switch steers through steer_default_ops with arg NULL: the fake's
 * table is start_nic then. */
static struct fake_ntuple *start_nic;

static int fake_sys(void *arg, const char *ifname, void *cmd)
{
	(void)arg;
	return fake_ethtool(start_nic, ifname, cmd);
}

static const struct steer_ops start_ops = { .ethtool = fake_sys };

/* The start's step on a switch of one port of 4 queues: VMs 0..2 on it
 * (VM 1 on VLAN 20), VM 3 on another uplink; the NIC takes room rules. */
static void steer_start(uint32_t room, int want_err, uint32_t want_rules)
{
	struct sw *sw = calloc(1, sizeof(*sw));
	struct cfg *cfg = calloc(1, sizeof(*cfg));
	struct fake_ntuple f = { .room = room };
	const struct steer_ops *saved = steer_default_ops;

	assert_non_null(sw);
	assert_non_null(cfg);
	start_nic = &f;
	cfg->n_ifaces = 2;
	snprintf(cfg->ifaces[0].name, sizeof(cfg->ifaces[0].name), "nic0");
	cfg->ifaces[0].steer = CFG_STEER_NTUPLE;
	cfg->n_vms = 4;
	for (int v = 0; v < 4; v++) {
		memcpy(cfg->vms[v].mac, mac_a, 6);
		cfg->vms[v].mac[5] = (uint8_t)v;
		cfg->vms[v].vlan = v == 1 ? 20 : 0;
		cfg->vms[v].uplink = v == 3;
	}
	sw->cfg = cfg;
	sw->n_ports = 1;
	for (uint32_t v = 0; v < CFG_MAX_VMS; v++)
		sw->ports[0].txq_of_vm[v] = (uint8_t)(v % 4);
	steer_default_ops = &start_ops;
	quiet();
	assert_int_equal(sw_steer_port(sw, 0), want_err);
	unquiet();
	assert_int_equal(f.n, want_rules);
	for (uint32_t v = 0; v < want_rules; v++)
		assert_rule(&f, sw->steer[0].loc[v], cfg->vms[v].mac,
			    cfg->vms[v].vlan, port_steer_queue(&sw->ports[0], v));
	assert_int_equal(sw->steer[0].loc[3], STEER_NONE);
	/* sw_fini's first step: nothing is left on the NIC. */
	steer_fini(&sw->steer[0]);
	assert_int_equal(f.n, 0);
	steer_default_ops = saved;
	free(cfg);
	free(sw);
}

static void test_start_steers_each_vm(void **state)
{
	(void)state;
	steer_start(NIC_RULES, 0, 3);
}

static void test_start_refused(void **state)
{
	(void)state;
	steer_start(2, -ENOSPC, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_per_vm),
		cmocka_unit_test(test_refused_rule_leaves_nothing),
		cmocka_unit_test(test_killed_switch_rules_reclaimed),
		cmocka_unit_test(test_start_steers_each_vm),
		cmocka_unit_test(test_start_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
