// SPDX-License-Identifier: MIT
/*
 * The XDP program without a NIC: bpf_prog_test_run_opts on crafted frames,
 * one case per verdict, then the exact per-verdict packet and byte counts.
 *
 * A redirect needs a real AF_XDP socket in the XSKMAP, so the test moves
 * into a network namespace of its own (root) and binds a copy-mode socket
 * to that namespace's loopback. Nothing is attached to any interface.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>

#include "flipswitch.skel.h"
#include "flipswitch/xdp_shared.h"

#define UMEM_FRAMES 64
#define UMEM_FRAME 4096

static const uint8_t VM_MAC[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t VM10_MAC[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x0a };

struct env {
	struct flipswitch_bpf *skel;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fq, tx;
	struct xsk_ring_cons cq, rx;
	void *area;
	uint64_t expect_pkts[FS_XDP_NR_VERDICTS];
	uint64_t expect_bytes[FS_XDP_NR_VERDICTS];
};

static int lo_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd = socket(AF_INET, SOCK_DGRAM, 0), rc;

	if (fd < 0)
		return -1;
	rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	rc = rc ? rc : ioctl(fd, SIOCSIFFLAGS, &ifr);
	close(fd);
	return rc;
}

static int setup(void **state)
{
	static struct env e;
	struct xsk_socket_config xc = {
		.rx_size = 64,
		.tx_size = 64,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_COPY,
	};
	struct fs_mac_key k0 = { .vlan = 0 }, k10 = { .vlan = 10 };
	struct fs_mac_val v = { .vm = 0 };
	uint32_t q = 0;
	int fd, err;

	if (geteuid() != 0) {
		print_message("skip: loading XDP programs needs root\n");
		return -1;
	}
	if (unshare(CLONE_NEWNET) || lo_up()) {
		print_message("cannot make a private network namespace: %s\n",
			      strerror(errno));
		return -1;
	}
	e.skel = flipswitch_bpf__open_and_load();
	if (!e.skel) {
		print_message("cannot load the program: %s\n", strerror(errno));
		return -1;
	}
	e.area = mmap(NULL, UMEM_FRAMES * UMEM_FRAME, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (e.area == MAP_FAILED)
		return -1;
	err = xsk_umem__create(&e.umem, e.area, UMEM_FRAMES * UMEM_FRAME,
			       &e.fq, &e.cq, NULL);
	if (!err)
		err = xsk_socket__create(&e.xsk, "lo", 0, e.umem, &e.rx, &e.tx,
					 &xc);
	if (err) {
		print_message("cannot create an AF_XDP socket on lo: %s\n",
			      strerror(-err));
		return -1;
	}
	fd = xsk_socket__fd(e.xsk);
	memcpy(k0.mac, VM_MAC, 6);
	memcpy(k10.mac, VM10_MAC, 6);
	if (bpf_map_update_elem(bpf_map__fd(e.skel->maps.xsks_map), &q, &fd, 0) ||
	    bpf_map_update_elem(bpf_map__fd(e.skel->maps.mac_map), &k0, &v, 0) ||
	    bpf_map_update_elem(bpf_map__fd(e.skel->maps.mac_map), &k10, &v, 0))
		return -1;
	*state = &e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	xsk_socket__delete(e->xsk);
	xsk_umem__delete(e->umem);
	munmap(e->area, UMEM_FRAMES * UMEM_FRAME);
	flipswitch_bpf__destroy(e->skel);
	return 0;
}

/* Builds a frame: dst, a fixed src, optional 802.1Q tag, ethertype, zero
 * payload up to len bytes. Returns len. */
static size_t frame(uint8_t *f, const uint8_t dst[6], int vlan, size_t len)
{
	static const uint8_t src[6] = { 0x02, 0, 0, 0, 0, 0x99 };
	size_t off = 12;

	memset(f, 0, len);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	if (vlan >= 0) {
		f[off++] = 0x81;
		f[off++] = 0x00;
		f[off++] = (uint8_t)(vlan >> 8);
		f[off++] = (uint8_t)vlan;
	}
	f[off++] = 0x08;
	f[off] = 0x00;
	return len;
}

static void run(struct env *e, const uint8_t *f, size_t len, uint32_t want_ret,
		enum fs_xdp_verdict v)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f, .data_size_in = len,
		    .repeat = 1);
	int err = bpf_prog_test_run_opts(
		bpf_program__fd(e->skel->progs.flipswitch_xdp), &o);

	assert_int_equal(err, 0);
	assert_int_equal(o.retval, want_ret);
	e->expect_pkts[v]++;
	e->expect_bytes[v] += len;
}

struct frame_case {
	const char *what;
	const uint8_t *dst;
	int vlan;        /* -1: untagged */
	size_t len;
	uint32_t ret;
	enum fs_xdp_verdict verdict;
};

static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t MC4[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
static const uint8_t MC6[6] = { 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t OTHER[6] = { 0x52, 0x54, 0x00, 0x99, 0x99, 0x99 };

static const struct frame_case cases[] = {
	{ "unicast to a VM, untagged", VM_MAC, -1, 60, XDP_REDIRECT, FS_XDP_REDIRECT },
	{ "unicast to a VM, 1500 bytes", VM_MAC, -1, 1514, XDP_REDIRECT, FS_XDP_REDIRECT },
	{ "VM MAC with a VLAN it is not on", VM_MAC, 10, 64, XDP_PASS, FS_XDP_PASS_OTHER },
	{ "VLAN 10 VM, tagged 10", VM10_MAC, 10, 64, XDP_REDIRECT, FS_XDP_REDIRECT },
	{ "VLAN 10 VM, untagged", VM10_MAC, -1, 64, XDP_PASS, FS_XDP_PASS_OTHER },
	{ "VLAN 10 VM, priority bits set", VM10_MAC, 0xe00a, 64, XDP_REDIRECT, FS_XDP_REDIRECT },
	{ "broadcast", BCAST, -1, 60, XDP_PASS, FS_XDP_PASS_MCAST },
	{ "broadcast, tagged", BCAST, 10, 64, XDP_PASS, FS_XDP_PASS_MCAST },
	{ "IPv4 multicast", MC4, -1, 60, XDP_PASS, FS_XDP_PASS_MCAST },
	{ "IPv6 multicast", MC6, -1, 60, XDP_PASS, FS_XDP_PASS_MCAST },
	{ "unknown unicast", OTHER, -1, 60, XDP_PASS, FS_XDP_PASS_OTHER },
	/* test_run refuses frames under 14 bytes (EINVAL), so a short
	 * Ethernet header cannot be fed in; a cut tag takes the same path. */
	{ "tag cut short", VM_MAC, 10, 16, XDP_PASS, FS_XDP_PASS_MALFORMED },
};

static void test_verdicts(void **state)
{
	struct env *e = *state;
	uint8_t f[1600];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct frame_case *c = &cases[i];
		uint8_t full[1600];
		size_t n = c->len < 18 ? 18 : c->len;

		print_message("  %s\n", c->what);
		/* Build whole, then cut: a truncated frame keeps its start. */
		frame(full, c->dst, c->vlan, n);
		memcpy(f, full, c->len);
		run(e, f, c->len, c->ret, c->verdict);
	}
}

/* With no socket on the queue, a VM's frame goes to the stack. */
static void test_no_socket(void **state)
{
	struct env *e = *state;
	uint32_t q = 0;
	uint8_t f[64];
	int fd = xsk_socket__fd(e->xsk);

	assert_int_equal(bpf_map_delete_elem(
				 bpf_map__fd(e->skel->maps.xsks_map), &q), 0);
	run(e, f, frame(f, VM_MAC, -1, 64), XDP_PASS, FS_XDP_PASS_NOSOCK);
	assert_int_equal(bpf_map_update_elem(
				 bpf_map__fd(e->skel->maps.xsks_map), &q, &fd, 0), 0);
	run(e, f, frame(f, VM_MAC, -1, 64), XDP_REDIRECT, FS_XDP_REDIRECT);
}

/* Runs last: the counters match every run above, exactly. */
static void test_counters(void **state)
{
	struct env *e = *state;
	int ncpu = libbpf_num_possible_cpus();
	struct fs_xdp_counter *per = calloc((size_t)ncpu, sizeof(*per));

	assert_non_null(per);
	for (uint32_t v = 0; v < FS_XDP_NR_VERDICTS; v++) {
		uint64_t pkts = 0, bytes = 0;

		assert_int_equal(bpf_map_lookup_elem(
					 bpf_map__fd(e->skel->maps.counters),
					 &v, per), 0);
		for (int c = 0; c < ncpu; c++) {
			pkts += per[c].packets;
			bytes += per[c].bytes;
		}
		print_message("  verdict %u: %llu packets, %llu bytes\n", v,
			      (unsigned long long)pkts,
			      (unsigned long long)bytes);
		assert_int_equal(pkts, e->expect_pkts[v]);
		assert_int_equal(bytes, e->expect_bytes[v]);
	}
	free(per);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_no_socket),
		cmocka_unit_test(test_counters),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
