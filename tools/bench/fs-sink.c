// SPDX-License-Identifier: MIT
/*
 * fs-sink: the benchmark's receivers. Each counts frames until SIGINT or
 * SIGTERM (or --seconds), reading the first cache line of every frame as a
 * real receiver would, and prints "received N". N counts packets: a jumbo
 * frame that arrives as several buffers (an AF_XDP multi-buffer packet,
 * XDP_PKT_CONTD; a chain on a VM's rings, FS_DESC_MORE) counts once.
 *
 *   xdp -i IFACE --mac MAC     a bare AF_XDP receiver: flipswitch's own XDP
 *                              program redirects MAC into a socket on queue
 *                              0, and every frame goes straight back to the
 *                              fill ring (the "rxdrop" ceiling of any
 *                              AF_XDP switch on this interface)
 *   drop -i IFACE              attaches a program that drops every frame
 *                              (XDP_DROP) and waits: what the sender costs
 *                              with no receiver behind the driver, the
 *                              CPU-per-packet cases' baseline (it counts
 *                              nothing itself: the driver's xdp_drops do)
 *   tap --name TAP             reads a tap device, one read() a frame, as
 *                              QEMU's tap backend does
 *   vms --pool P RINGS...      the guest side of many VM ports at once
 *                              (one process for 1..256 VMs): receives on
 *                              every ring and gives each frame back; with
 *                              --latency, one-way latency of fs-gen --stamp
 *                              frames, as p50/p99/p99.9 in microseconds;
 *                              with --doorbell the arguments are doorbell
 *                              sockets, and one VM sleeps until rung;
 *                              --spin never sleeps (busy polling)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/if_xdp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>

#include "flipswitch.skel.h"
#include "flipswitch/xdp_shared.h"
#include "fsguest.h"
#include "toolutil.h"


#define NFRAMES 4096
#define FSIZE 2048
#define RING 2048
#define BATCH 64
#define MAX_VMS 256
#define MAX_LAT (1 << 20)

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }
static volatile uint8_t sink;

static int run_xdp(const char *ifname, const uint8_t *mac)
{
	struct xsk_ring_prod fq;
	struct xsk_ring_cons cq, rx;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct flipswitch_bpf *skel;
	struct fs_mac_key k = { 0 };
	struct fs_mac_val v = { 0 };
	unsigned long long got = 0;
	unsigned int ifindex = if_nametoindex(ifname);
	uint32_t idx = 0, q = 0;
	void *buf;
	int err, fd;

	if (!ifindex) {
		fprintf(stderr, "fs-sink: no interface %s\n", ifname);
		return 1;
	}
	buf = mmap(NULL, (size_t)NFRAMES * FSIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	struct xsk_umem_config uc = { .fill_size = RING, .comp_size = RING,
				      .frame_size = FSIZE };
	err = xsk_umem__create(&umem, buf, (uint64_t)NFRAMES * FSIZE, &fq, &cq, &uc);
	struct xsk_socket_config xc = {
		.rx_size = RING, .tx_size = RING,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.xdp_flags = XDP_FLAGS_DRV_MODE,
		/* Jumbo frames arrive as packets of several buffers. */
		.bind_flags = XDP_USE_NEED_WAKEUP | XDP_COPY | XDP_USE_SG,
	};
	if (!err)
		err = xsk_socket__create(&xsk, ifname, 0, umem, &rx, NULL, &xc);
	if (err) {
		fprintf(stderr, "fs-sink: AF_XDP socket on %s: %s\n", ifname,
			strerror(-err));
		return 1;
	}
	fd = xsk_socket__fd(xsk);
	skel = flipswitch_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "fs-sink: cannot load the XDP program\n");
		return 1;
	}
	memcpy(k.mac, mac, 6);
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.xsks_map), &q, &fd, 0) ||
	    bpf_map_update_elem(bpf_map__fd(skel->maps.mac_map), &k, &v, 0) ||
	    bpf_xdp_attach((int)ifindex, bpf_program__fd(skel->progs.flipswitch_xdp),
			   XDP_FLAGS_DRV_MODE, NULL)) {
		fprintf(stderr, "fs-sink: cannot attach the XDP program: %s\n",
			strerror(errno));
		return 1;
	}
	/* The whole ring of frames on the fill ring. */
	xsk_ring_prod__reserve(&fq, RING, &idx);
	for (uint32_t i = 0; i < RING; i++)
		*xsk_ring_prod__fill_addr(&fq, idx + i) = (uint64_t)i * FSIZE;
	xsk_ring_prod__submit(&fq, RING);
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		uint32_t n = xsk_ring_cons__peek(&rx, BATCH, &idx), fidx;

		if (!n) {
			if (xsk_ring_prod__needs_wakeup(&fq))
				recvfrom(fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
			continue;
		}
		while (xsk_ring_prod__reserve(&fq, n, &fidx) != n)
			;
		for (uint32_t i = 0; i < n; i++) {
			const struct xdp_desc *d = xsk_ring_cons__rx_desc(&rx, idx + i);

			sink ^= *((uint8_t *)buf + d->addr);
			*xsk_ring_prod__fill_addr(&fq, fidx + i) =
				xsk_umem__extract_addr(d->addr);
			got += !(d->options & XDP_PKT_CONTD);
		}
		xsk_ring_prod__submit(&fq, n);
		xsk_ring_cons__release(&rx, n);
	}
	bpf_xdp_detach((int)ifindex, XDP_FLAGS_DRV_MODE, NULL);
	printf("received %llu\n", got);
	xsk_socket__delete(xsk);
	xsk_umem__delete(umem);
	flipswitch_bpf__destroy(skel);
	return 0;
}

static int run_drop(const char *ifname)
{
	/* r0 = XDP_DROP; exit. Two instructions need no object file. */
	const struct bpf_insn prog[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0,
		  .imm = XDP_DROP },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	unsigned int ifindex = if_nametoindex(ifname);
	int fd;

	if (!ifindex) {
		fprintf(stderr, "fs-sink: no interface %s\n", ifname);
		return 1;
	}
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "fs_sink_drop", "GPL", prog, 2, NULL);
	if (fd < 0 || bpf_xdp_attach((int)ifindex, fd, XDP_FLAGS_DRV_MODE, NULL)) {
		fprintf(stderr, "fs-sink: cannot attach an XDP_DROP program to %s: %s\n",
			ifname, strerror(errno));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop)
		pause();
	bpf_xdp_detach((int)ifindex, XDP_FLAGS_DRV_MODE, NULL);
	close(fd);
	return 0;
}

static int run_tap(const char *name)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	unsigned long long got = 0;
	static uint8_t frame[65536];
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr)) {
		fprintf(stderr, "fs-sink: tap %s: %s\n", name, strerror(errno));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, frame, sizeof(frame));
		if (n > 0) {
			sink ^= frame[0];
			got++;
		}
	}
	printf("received %llu\n", got);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int run_vms(const char *pool, char **rings, int n, int latency,
		   int doorbell, int spin)
{
	static struct fsg g[MAX_VMS];
	static uint64_t lat[MAX_LAT];
	unsigned long long got = 0;
	unsigned int nlat = 0, idle = 0;
	struct fs_desc d[BATCH];
	char err[256];

	for (int i = 0; i < n; i++) {
		int rc = doorbell ? fsg_open_doorbell(&g[i], pool, rings[i], err, sizeof(err))
				  : fsg_open(&g[i], pool, rings[i], err, sizeof(err));

		g[i].chains = 1; /* jumbo frames arrive as chains */
		if (rc || fsg_attach(&g[i], 5000)) {
			fprintf(stderr, "fs-sink: %s: %s\n", rings[i],
				rc ? err : "the switch did not answer");
			return 1;
		}
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		unsigned int k = 0;

		for (int i = 0; i < n; i++) {
			uint32_t m = fsg_rx(&g[i], d, BATCH);
			bool first = true; /* d[j] starts a packet */

			for (uint32_t j = 0; j < m; j++) {
				uint8_t *f = fsg_data(&g[i], d[j].addr);
				bool more = d[j].options & FS_DESC_MORE;

				sink ^= f[0];
				k += !more;
				if (latency && first && nlat < MAX_LAT && d[j].len >= 50) {
					struct timespec ts;
					uint64_t sent, now;

					memcpy(&sent, f + 42, 8);
					clock_gettime(CLOCK_MONOTONIC, &ts);
					now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
					lat[nlat++] = now - sent;
				}
				while (fsg_free(&g[i], d[j].addr) == -EAGAIN)
					fsg_flush(&g[i]);
				first = !more;
			}
			if (m)
				fsg_flush(&g[i]);
		}
		got += k;
		if (k) {
			idle = 0;
		} else if (!spin && ++idle > 64) {
			/* Back off as flipswitch-guest does: one VM on a
			 * doorbell sleeps until rung, else 20 us naps. */
			struct timespec ts = { 0, 20000 };

			if (doorbell && n == 1)
				fsg_wait(&g[0], FSG_WAIT_RX, 100);
			else
				nanosleep(&ts, NULL);
		}
	}
	printf("received %llu\n", got);
	if (latency && nlat) {
		qsort(lat, nlat, sizeof(lat[0]), cmp_u64);
		printf("latency_us p50 %.1f p99 %.1f p999 %.1f n %u\n",
		       lat[nlat / 2] / 1e3, lat[(uint64_t)nlat * 99 / 100] / 1e3,
		       lat[(uint64_t)nlat * 999 / 1000] / 1e3, nlat);
	}
	for (int i = 0; i < n; i++) {
		fsg_detach(&g[i], 2000);
		fsg_close(&g[i]);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "mac", required_argument, NULL, 'm' },
		{ "name", required_argument, NULL, 'n' },
		{ "pool", required_argument, NULL, 'P' },
		{ "seconds", required_argument, NULL, 't' },
		{ "latency", no_argument, NULL, 'L' },
		{ "doorbell", no_argument, NULL, 'D' },
		{ "spin", no_argument, NULL, 'B' },
		{ 0 },
	};
	const char *ifname = NULL, *name = NULL, *pool = NULL, *mode;
	int c, latency = 0, doorbell = 0, spin = 0;
	double seconds = 0;
	uint8_t mac[6] = { 0 };

	if (argc < 2) {
		fprintf(stderr, "usage: fs-sink xdp -i IFACE --mac MAC | drop -i IFACE | tap --name TAP |\n"
				"       vms --pool POOL [--latency] [--doorbell] [--spin] RINGS|SOCKETS...\n"
				"       [--seconds S]\n");
		return 2;
	}
	mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "i:", lo, NULL)) != -1) {
		switch (c) {
		case 'i': ifname = optarg; break;
		case 'm':
			if (tool_parse_mac(optarg, mac))
				return 2;
			break;
		case 'n': name = optarg; break;
		case 'P': pool = optarg; break;
		case 't': seconds = atof(optarg); break;
		case 'L': latency = 1; break;
		case 'D': doorbell = 1; break;
		case 'B': spin = 1; break;
		default: return 2;
		}
	}
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	if (seconds > 0) {
		signal(SIGALRM, on_sig);
		alarm((unsigned int)(seconds + 0.999));
	}
	if (!strcmp(mode, "xdp") && ifname)
		return run_xdp(ifname, mac);
	if (!strcmp(mode, "tap") && name)
		return run_tap(name);
	if (!strcmp(mode, "drop") && ifname)
		return run_drop(ifname);
	if (!strcmp(mode, "vms") && pool && optind < argc && argc - optind <= MAX_VMS)
		return run_vms(pool, argv + optind, argc - optind, latency, doorbell,
			       spin);
	fprintf(stderr, "fs-sink: bad arguments (fs-sink with none for usage)\n");
	return 2;
}
