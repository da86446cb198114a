// SPDX-License-Identifier: MIT
/*
 * The XDP program without a NIC: bpf_prog_test_run_opts on crafted frames,
 * one case per verdict, then the exact per-verdict packet and byte counts.
 *
 * A redirect needs a real AF_XDP socket in the XSKMAP, so the test moves
 * into a network namespace of its own (root) and binds a copy-mode socket
 * to that namespace's loopback; a veth with two rx queues, also private,
 * gives an rx queue 1 with no socket. Nothing is attached to any interface,
 * and without BPF_F_TEST_XDP_LIVE_FRAMES test_run only reports XDP_REDIRECT,
 * it redirects nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>

#include "flipswitch.skel.h"
#include "flipswitch/xdp_shared.h"

#define UMEM_FRAMES 64
#define UMEM_FRAME 4096
#define UMEM_SIZE (UMEM_FRAMES * UMEM_FRAME)
#define VETH "fs-q0" /* two rx queues, in the private namespace only */

static const uint8_t VM_MAC[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t VM10_MAC[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x0a };
static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t MC4[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
static const uint8_t MC6[6] = { 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t OTHER[6] = { 0x52, 0x54, 0x00, 0x99, 0x99, 0x99 };

struct env {
	struct flipswitch_bpf *skel; /* NULL: not root, every test skips */
	struct xsk_socket *xsk;      /* NULL: no socket, redirects skip */
	struct xsk_umem *umem;
	struct xsk_ring_prod fq, tx;
	struct xsk_ring_cons cq, rx;
	void *area;
	int prog_fd, xsks_fd, mac_fd, xsk_fd;
	unsigned int veth; /* ifindex, 0 if it could not be made */
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

static int xsk_open(struct env *e)
{
	const struct xsk_socket_config xc = {
		.rx_size = XSK_RING_CONS__DEFAULT_NUM_DESCS,
		.tx_size = XSK_RING_PROD__DEFAULT_NUM_DESCS,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_COPY,
	};
	int err;

	e->area = mmap(NULL, UMEM_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (e->area == MAP_FAILED) {
		e->area = NULL;
		return -errno;
	}
	err = xsk_umem__create(&e->umem, e->area, UMEM_SIZE, &e->fq, &e->cq,
			       NULL);
	if (!err)
		err = xsk_socket__create(&e->xsk, "lo", 0, e->umem, &e->rx,
					 &e->tx, &xc);
	if (err) {
		e->xsk = NULL;
		return err;
	}
	e->xsk_fd = xsk_socket__fd(e->xsk);
	return 0;
}

static int setup(void **state)
{
	static struct env e;
	struct fs_mac_key k0 = { .vlan = 0 }, k10 = { .vlan = 10 };
	struct fs_mac_val v = { .vm = 0 };
	uint32_t q0 = 0;
	int err;

	*state = &e;
	if (geteuid() != 0) {
		print_message("skip: loading XDP programs needs root\n");
		return 0;
	}
	/* Everything below stays in this namespace, gone when we exit. */
	if (unshare(CLONE_NEWNET) || lo_up()) {
		print_message("no private network namespace: %s\n",
			      strerror(errno));
		return -1;
	}
	e.skel = flipswitch_bpf__open_and_load();
	if (!e.skel) {
		print_message("cannot load the program: %s\n", strerror(errno));
		return -1;
	}
	e.prog_fd = bpf_program__fd(e.skel->progs.flipswitch_xdp);
	e.xsks_fd = bpf_map__fd(e.skel->maps.xsks_map);
	e.mac_fd = bpf_map__fd(e.skel->maps.mac_map);

	memcpy(k0.mac, VM_MAC, 6);
	memcpy(k10.mac, VM10_MAC, 6);
	if (bpf_map_update_elem(e.mac_fd, &k0, &v, BPF_NOEXIST) ||
	    bpf_map_update_elem(e.mac_fd, &k10, &v, BPF_NOEXIST))
		return -1;

	err = xsk_open(&e);
	if (err)
		print_message("skip redirects: no AF_XDP socket on lo: %s\n",
			      strerror(-err));
	else if (bpf_map_update_elem(e.xsks_fd, &q0, &e.xsk_fd, 0))
		return -1;

	if (system("ip link add " VETH " numrxqueues 2 type veth peer name fs-q1"
		   " 2>/dev/null") == 0)
		e.veth = if_nametoindex(VETH);
	if (!e.veth)
		print_message("no two-queue veth: the rx queue 1 case is left "
			      "out (queue 0 without its socket stays)\n");
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	if (e->xsk)
		xsk_socket__delete(e->xsk);
	if (e->umem)
		xsk_umem__delete(e->umem);
	if (e->area)
		munmap(e->area, UMEM_SIZE);
	flipswitch_bpf__destroy(e->skel);
	return 0;
}

static struct env *env_of(void **state)
{
	struct env *e = *state;

	if (!e->skel)
		skip();
	return e;
}

/* A frame to dst from a fixed source, with an 802.1Q tag if tci >= 0,
 * an IPv4 ethertype and zero payload, in f[FRAME_MAX]. */
#define FRAME_MAX 1600
/* A frame to dst from src, tagged tci (802.1Q, unless the case says
 * another tag's ethertype or a tag inside it); -1: untagged. */
static const uint8_t *frame_tags(uint8_t *f, const uint8_t dst[6], int tci,
				 uint16_t tpid, uint16_t inner)
{
	static const uint8_t src[6] = { 0x02, 0, 0, 0, 0, 0x99 };
	uint8_t *p = f + 12;

	memset(f, 0, FRAME_MAX);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	if (tci >= 0) {
		*p++ = (uint8_t)(tpid >> 8);
		*p++ = (uint8_t)tpid;
		*p++ = (uint8_t)(tci >> 8);
		*p++ = (uint8_t)tci;
	}
	if (inner) {
		*p++ = (uint8_t)(inner >> 8);
		*p++ = (uint8_t)inner;
		*p++ = 0;
		*p++ = 10;
	}
	*p++ = 0x08;
	*p = 0x00;
	return f;
}

static const uint8_t *frame(uint8_t *f, const uint8_t dst[6], int tci)
{
	return frame_tags(f, dst, tci, 0x8100, 0);
}

/* Runs the program once on the first len bytes of f, as received on rx
 * queue `queue` of ifindex (0: the namespace's lo). test_run wants at least
 * ETH_HLEN bytes, so a shorter frame is given as a len-byte linear part
 * (ctx data_end) plus a fragment the program does not see. */
static int run(struct env *e, const uint8_t *f, uint32_t len,
	       unsigned int ifindex, uint32_t queue, uint32_t *retval)
{
	struct xdp_md md = { .data_end = len, .ingress_ifindex = ifindex,
			     .rx_queue_index = queue };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f,
		    .data_size_in = len < ETH_HLEN ? ETH_HLEN : len,
		    .ctx_in = &md, .ctx_size_in = sizeof(md), .repeat = 1);
	int err = bpf_prog_test_run_opts(e->prog_fd, &o);

	*retval = o.retval;
	return err ? -errno : 0;
}

static void expect(struct env *e, const uint8_t *f, uint32_t len,
		   unsigned int ifindex, uint32_t queue, uint32_t want,
		   enum fs_xdp_verdict v)
{
	uint32_t ret;

	assert_int_equal(run(e, f, len, ifindex, queue, &ret), 0);
	assert_int_equal(ret, want);
	e->expect_pkts[v]++;
	e->expect_bytes[v] += len;
}

struct frame_case {
	const char *what;
	const uint8_t *dst;
	int tci; /* -1: untagged */
	uint32_t len;
	enum fs_xdp_verdict verdict;
	uint16_t tpid;  /* the tag's ethertype; 0: 802.1Q */
	uint16_t inner; /* a second tag's, inside it; 0: none */
};

/* mac_map holds {VM_MAC, 0} and {VM10_MAC, 10}. */
static const struct frame_case cases[] = {
	{ "unicast to a VM, untagged", VM_MAC, -1, 60, FS_XDP_REDIRECT, 0, 0 },
	{ "unicast to a VM, 1514 bytes", VM_MAC, -1, 1514, FS_XDP_REDIRECT, 0, 0 },
	{ "VLAN 10 VM, tagged 10", VM10_MAC, 10, 64, FS_XDP_REDIRECT, 0, 0 },
	{ "VLAN 10 VM, PCP/DEI bits set", VM10_MAC, 0xf00a, 64, FS_XDP_REDIRECT, 0, 0 },
	{ "VM MAC on a VLAN it is not on", VM_MAC, 10, 64, FS_XDP_PASS_OTHER, 0, 0 },
	{ "VLAN 10 VM, untagged", VM10_MAC, -1, 60, FS_XDP_PASS_OTHER, 0, 0 },
	{ "unknown unicast", OTHER, -1, 60, FS_XDP_PASS_OTHER, 0, 0 },
	{ "broadcast", BCAST, -1, 60, FS_XDP_PASS_MCAST, 0, 0 },
	{ "broadcast, tagged", BCAST, 10, 64, FS_XDP_PASS_MCAST, 0, 0 },
	{ "IPv4 multicast", MC4, -1, 60, FS_XDP_PASS_MCAST, 0, 0 },
	{ "IPv6 multicast", MC6, -1, 60, FS_XDP_PASS_MCAST, 0, 0 },
	{ "802.1Q tag cut short", VM_MAC, 10, 16, FS_XDP_PASS_MALFORMED, 0, 0 },
	/* Another network's tags: the frame went to the untagged VM with
	 * them, or to the VLAN 10 one with a tag inside its own. */
	{ "S-tag (802.1ad) to the untagged VM", VM_MAC, 10, 64,
	  FS_XDP_PASS_OTHER, 0x88a8, 0 },
	{ "0x9100 tag to the untagged VM", VM_MAC, 10, 64, FS_XDP_PASS_OTHER,
	  0x9100, 0 },
	{ "priority tag with a tag inside, to the untagged VM", VM_MAC, 0, 68,
	  FS_XDP_PASS_OTHER, 0, 0x8100 },
	{ "tagged 10 with an S-tag inside, to the VLAN 10 VM", VM10_MAC, 10,
	  68, FS_XDP_PASS_OTHER, 0, 0x88a8 },
};

static void run_cases(struct env *e, int redirects)
{
	uint8_t f[FRAME_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct frame_case *c = &cases[i];

		if ((c->verdict == FS_XDP_REDIRECT) != redirects)
			continue;
		print_message("  %s\n", c->what);
		expect(e, frame_tags(f, c->dst, c->tci,
				     c->tpid ? c->tpid : 0x8100, c->inner),
		       c->len, 0, 0, redirects ? XDP_REDIRECT : XDP_PASS,
		       c->verdict);
	}
}

static void test_pass(void **state)
{
	run_cases(env_of(state), 0);
}

static void test_redirect(void **state)
{
	struct env *e = env_of(state);

	if (!e->xsk)
		skip();
	run_cases(e, 1);
}

/* The packets and bytes counted under verdict v so far, on every CPU. */
static void counted(struct env *e, uint32_t v, uint64_t *pkts,
		    uint64_t *bytes)
{
	int ncpu = libbpf_num_possible_cpus();
	struct fs_xdp_counter *per;

	assert_true(ncpu > 0);
	per = calloc((size_t)ncpu, sizeof(*per));
	assert_non_null(per);
	assert_int_equal(bpf_map_lookup_elem(
				 bpf_map__fd(e->skel->maps.counters), &v, per),
			 0);
	*pkts = *bytes = 0;
	for (int c = 0; c < ncpu; c++) {
		*pkts += per[c].packets;
		*bytes += per[c].bytes;
	}
	free(per);
}

/* Shorter than an Ethernet header: the kernel (6.18) takes a 10-byte linear
 * part; older ones refuse anything under ETH_HLEN. The counters count the
 * frame's length as bpf_xdp_get_buff_len() gives it, which for so short a
 * frame is ETH_HLEN on 6.18's test_run: either is the frame's. */
static void test_short_frame(void **state)
{
	struct env *e = env_of(state);
	uint8_t f[FRAME_MAX];
	uint64_t pkts, before, got;
	uint32_t ret;
	int err;

	counted(e, FS_XDP_PASS_MALFORMED, &pkts, &before);
	err = run(e, frame(f, VM_MAC, -1), 10, 0, 0, &ret);

	if (err == -EINVAL) {
		print_message("skip: this kernel's test_run refuses frames "
			      "under %d bytes\n", ETH_HLEN);
		skip();
	}
	assert_int_equal(err, 0);
	assert_int_equal(ret, XDP_PASS);
	counted(e, FS_XDP_PASS_MALFORMED, &pkts, &got);
	got -= before;
	assert_true(got == 10 || got == ETH_HLEN);
	e->expect_pkts[FS_XDP_PASS_MALFORMED]++;
	e->expect_bytes[FS_XDP_PASS_MALFORMED] += got;
}

/* A VM's frame on a queue with no socket goes to the stack. */
static void test_no_socket(void **state)
{
	struct env *e = env_of(state);
	uint8_t f[FRAME_MAX];
	uint32_t q0 = 0, q1 = 1;

	frame(f, VM_MAC, -1);
	if (e->veth) {
		print_message("  rx queue 1, socket on queue 0 only\n");
		expect(e, f, 60, e->veth, 1, XDP_PASS, FS_XDP_PASS_NOSOCK);
		if (e->xsk) {
			print_message("  rx queue 1, with a socket\n");
			assert_int_equal(bpf_map_update_elem(e->xsks_fd, &q1,
							     &e->xsk_fd, 0), 0);
			expect(e, f, 60, e->veth, 1, XDP_REDIRECT,
			       FS_XDP_REDIRECT);
			assert_int_equal(bpf_map_delete_elem(e->xsks_fd, &q1), 0);
		}
	}
	print_message("  rx queue 0, its socket removed\n");
	if (e->xsk)
		assert_int_equal(bpf_map_delete_elem(e->xsks_fd, &q0), 0);
	expect(e, f, 60, 0, 0, XDP_PASS, FS_XDP_PASS_NOSOCK);
	if (e->xsk) {
		print_message("  rx queue 0, its socket back\n");
		assert_int_equal(bpf_map_update_elem(e->xsks_fd, &q0,
						     &e->xsk_fd, 0), 0);
		expect(e, f, 60, 0, 0, XDP_REDIRECT, FS_XDP_REDIRECT);
	}
}

/* Runs last: the counters match every run above, exactly. */
static void test_counters(void **state)
{
	struct env *e = env_of(state);

	for (uint32_t v = 0; v < FS_XDP_NR_VERDICTS; v++) {
		uint64_t pkts, bytes;

		counted(e, v, &pkts, &bytes);
		print_message("  verdict %u: %llu packets, %llu bytes\n", v,
			      (unsigned long long)pkts,
			      (unsigned long long)bytes);
		assert_int_equal(pkts, e->expect_pkts[v]);
		assert_int_equal(bytes, e->expect_bytes[v]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pass),
		cmocka_unit_test(test_redirect),
		cmocka_unit_test(test_short_frame),
		cmocka_unit_test(test_no_socket),
		cmocka_unit_test(test_counters),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
