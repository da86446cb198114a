// SPDX-License-Identifier: MIT
/*
 * fs-gen: the benchmark's traffic generator. An AF_XDP transmitter (a
 * TX-only socket, no XDP program) that sends fixed-size UDP frames to a set
 * of destination MACs, round robin, at full speed or at a given rate, for
 * a given time or count, and says what it sent:
 *
 *   sent N frames in S s
 *   sent N frames in S s, B bursts, K skipped      (with --pace)
 *
 * Frames are built once into a UMEM of their own and sent again and again;
 * with --stamp each carries the CLOCK_MONOTONIC time it was queued (ns, at
 * UDP payload offset 0), for one-way latency measured by the receiver on
 * the same host. --size counts the Ethernet FCS, as 64-byte frames do: the
 * buffer is size - 4 bytes.
 *
 * --rate alone spins while the next frame is less than 20 us away, which
 * keeps the generator's CPU busy and hides there whatever the receiving
 * side costs on it (veth runs the receiver's NAPI on the sender's CPU).
 * --pace US sends in bursts instead: it wakes every US microseconds (an
 * absolute timer, so oversleeping makes the next burst larger rather than
 * the rate lower), sends every frame due by then and sleeps again, as a NIC
 * moderating its interrupts hands frames over, and leaves its CPU idle in
 * between for the CPU-per-packet cases to count. Woken more than 1 ms late
 * it skips what it owes beyond 1 ms (counted), so that a stall does not
 * turn into a burst of thousands that floods the receiver's rings.
 *
 * --tap NAME writes the same frames into a tap device instead, one
 * write() a frame, as QEMU's tap backend does for a guest's transmit:
 * the sending VM of the Linux-bridge baseline.
 *
 * Frames longer than a UMEM chunk (--size up to 9018: an MTU of 9000)
 * span k consecutive chunks, a slot, and go out as one packet of k
 * descriptors (AF_XDP multi-buffer: XDP_USE_SG, XDP_PKT_CONTD on all but
 * the last); the kernel completes each descriptor, and a slot is free
 * again once all k are back.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>

#include "../toolutil.h"

#define NFRAMES 4096
#define FSIZE 2048
#define RING 2048
#define BATCH 64
#define MAX_DST 1024
#define MAX_SIZE 9018
/* With --pace, at most this many seconds of frames are owed (and at least
 * 64 frames): after a longer stall the rest is skipped and counted. */
#define PACE_OWED 0.001

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }

static uint16_t csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Ethernet + IPv4 + UDP, 198.18.0.1:9 -> 198.18.0.2:9 (RFC 2544 space). */
static void build(uint8_t *f, unsigned int len, const uint8_t *dst,
		  const uint8_t *src, uint32_t seq)
{
	unsigned int ip_len = len - 14, udp_len = ip_len - 20;
	uint16_t c;

	memset(f, 0, len);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = ip_len >> 8;
	f[17] = ip_len & 0xff;
	f[22] = 64;
	f[23] = 17;
	memcpy(f + 26, (uint8_t[]){ 198, 18, 0, 1, 198, 18, 0, 2 }, 8);
	c = csum(f + 14, 20);
	f[24] = c >> 8;
	f[25] = c & 0xff;
	f[35] = 9;
	f[37] = 9;
	f[38] = udp_len >> 8;
	f[39] = udp_len & 0xff;
	memcpy(f + 50, &seq, 4); /* after a stamp's 8 bytes */
}

/* --tap: the frames of buf's nslots slots of slot bytes, round robin,
 * written into tap name. */
static int tap_send(const char *name, const uint8_t *buf, unsigned int len,
		    size_t slot, unsigned int nslots, double seconds,
		    unsigned long long count, double rate)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	unsigned long long sent = 0;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	double t0, now;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr)) {
		fprintf(stderr, "fs-gen: tap %s: %s\n", name, strerror(errno));
		return 1;
	}
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	t0 = now = tool_now();
	while (!stop && now - t0 < seconds && (!count || sent < count)) {
		if (rate > 0 && (now - t0) * rate < (double)sent) {
			now = tool_now();
			continue;
		}
		/* A full tap queue drops (as a guest's transmit would be
		 * dropped): counted as sent, like the AF_XDP path's. */
		if (write(fd, buf + (size_t)(sent % nslots) * slot, len) < 0 &&
		    errno != EAGAIN && errno != ENOBUFS) {
			fprintf(stderr, "fs-gen: tap %s: %s\n", name, strerror(errno));
			break;
		}
		sent++;
		if (!(sent & 63))
			now = tool_now();
	}
	now = tool_now();
	printf("sent %llu frames in %.6f s\n", sent, now - t0);
	close(fd);
	return 0;
}

static void usage(FILE *o)
{
	fprintf(o,
		"usage: fs-gen -i IFACE --dst MAC[,MAC...] [--dst-count N] [--src MAC]\n"
		"              [--size B] [--seconds S] [--count N] [--rate PPS] [--stamp]\n"
		"              [--pace US] [--zerocopy] [--queue Q]\n"
		"       fs-gen --tap NAME --dst MAC ... (the same options but --zerocopy)\n"
		"\n"
		"Sends UDP frames of B bytes (default 64, counting the FCS; 64..9018) from\n"
		"an AF_XDP socket on queue Q (default 0) of IFACE, to the MACs given,\n"
		"round robin\n"
		"(--dst-count N: N MACs counting up from the first one's last two bytes),\n"
		"for S seconds (default 2) or N frames, at full speed or PPS frames/s.\n"
		"With --rate, --pace US sends what is due in a burst every US microseconds\n"
		"(1..100000) and sleeps in between instead of spinning.\n"
		"Prints \"sent N frames in S s\" (with --pace, \", B bursts, K skipped\").\n"
		"--tap writes them into tap NAME instead (one write() a frame, as QEMU does).\n"
		"On a veth, a frame sent on tx queue Q arrives on the peer's rx queue Q\n"
		"(an AF_XDP socket transmits on its own queue). A frame longer than 2048\n"
		"bytes goes out as one packet of several descriptors (XDP_USE_SG): the\n"
		"interface's MTU must take it.\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dst", required_argument, NULL, 'd' },
		{ "dst-count", required_argument, NULL, 'D' },
		{ "src", required_argument, NULL, 's' },
		{ "size", required_argument, NULL, 'S' },
		{ "seconds", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "stamp", no_argument, NULL, 'T' },
		{ "pace", required_argument, NULL, 'p' },
		{ "zerocopy", no_argument, NULL, 'z' },
		{ "tap", required_argument, NULL, 'P' },
		{ "queue", required_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static uint8_t dst[MAX_DST][6];
	uint8_t src[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	const char *ifname = NULL, *tap = NULL;
	unsigned int ndst = 0, dcount = 0, size = 64, len, zc = 0, stamp = 0;
	unsigned int queue = 0;
	double seconds = 2, rate = 0, pace = 0, t0, now = 0, burst = 0;
	unsigned long long count = 0, sent = 0, done = 0, wakes = 0, skipped = 0;
	struct xsk_ring_prod tx, fq;
	struct xsk_ring_cons cq;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	uint64_t freel[NFRAMES];
	uint8_t back[NFRAMES]; /* descriptors of a slot completed so far */
	unsigned int nfree = 0, k, nslots;
	size_t slot;
	void *buf;
	int c, err, fd;

	while ((c = getopt_long(argc, argv, "i:h", lo, NULL)) != -1) {
		switch (c) {
		case 'i': ifname = optarg; break;
		case 'd':
			for (char *tok = strtok(optarg, ","); tok && ndst < MAX_DST;
			     tok = strtok(NULL, ","))
				if (tool_parse_mac(tok, dst[ndst++])) {
					fprintf(stderr, "fs-gen: %s is not a MAC\n", tok);
					return 2;
				}
			break;
		case 'D': dcount = (unsigned int)atoi(optarg); break;
		case 's':
			if (tool_parse_mac(optarg, src))
				return 2;
			break;
		case 'S': size = (unsigned int)atoi(optarg); break;
		case 't': seconds = atof(optarg); break;
		case 'n': count = strtoull(optarg, NULL, 0); break;
		case 'r': rate = atof(optarg); break;
		case 'T': stamp = 1; break;
		case 'p': pace = atof(optarg) / 1e6; break;
		case 'z': zc = 1; break;
		case 'P': tap = optarg; break;
		case 'q': queue = (unsigned int)atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!!ifname == !!tap || !ndst || size < 64 || size > MAX_SIZE || dcount > MAX_DST ||
	    seconds <= 0 || seconds > 86400 || pace < 0 || pace > 0.1 ||
	    (pace > 0 && rate <= 0)) {
		usage(stderr);
		return 2;
	}
	for (unsigned int i = 1; i < dcount; i++) {
		unsigned int v = (dst[0][4] << 8 | dst[0][5]) + i;

		memcpy(dst[i], dst[0], 4);
		dst[i][4] = (v >> 8) & 0xff;
		dst[i][5] = v & 0xff;
	}
	if (dcount > ndst)
		ndst = dcount;
	len = size - 4;
	k = (len + FSIZE - 1) / FSIZE;
	slot = (size_t)k * FSIZE;
	nslots = NFRAMES / k;

	buf = mmap(NULL, (size_t)NFRAMES * FSIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf == MAP_FAILED)
		return 1;
	for (unsigned int i = 0; i < nslots; i++) {
		build((uint8_t *)buf + i * slot, len, dst[i % ndst], src, i);
		freel[nfree++] = i * slot;
		back[i] = 0;
	}
	if (tap)
		return tap_send(tap, buf, len, slot, nslots, seconds, count, rate);
	struct xsk_umem_config uc = { .fill_size = RING, .comp_size = RING,
				      .frame_size = FSIZE };
	err = xsk_umem__create(&umem, buf, (uint64_t)NFRAMES * FSIZE, &fq, &cq, &uc);
	if (err) {
		fprintf(stderr, "fs-gen: UMEM: %s\n", strerror(-err));
		return 1;
	}
	struct xsk_socket_config xc = {
		.rx_size = RING, .tx_size = RING,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_USE_NEED_WAKEUP | (zc ? XDP_ZEROCOPY : XDP_COPY) |
			      (k > 1 ? XDP_USE_SG : 0),
	};
	err = xsk_socket__create(&xsk, ifname, queue, umem, NULL, &tx, &xc);
	if (err) {
		fprintf(stderr, "fs-gen: AF_XDP socket on %s queue %u: %s\n", ifname,
			queue, strerror(-err));
		return 1;
	}
	fd = xsk_socket__fd(xsk);
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);

	t0 = tool_now();
	while (!stop) {
		uint32_t idx = 0, n, want = BATCH;

		/* Completions give slots back, once all k descriptors are. */
		n = xsk_ring_cons__peek(&cq, RING, &idx);
		for (uint32_t i = 0; i < n; i++) {
			uint64_t a = *xsk_ring_cons__comp_addr(&cq, idx + i);
			unsigned int sl = (unsigned int)(a / slot);

			if (sl < nslots && ++back[sl] == k) {
				back[sl] = 0;
				freel[nfree++] = sl * slot;
				done++;
			}
		}
		xsk_ring_cons__release(&cq, n);

		now = tool_now();
		if (now - t0 >= seconds || (count && sent >= count))
			break;
		if (rate > 0) {
			double due = (now - t0) * rate - (double)(sent + skipped);

			if (pace > 0 && due > 64 && due > rate * PACE_OWED) {
				/* Woken far too late (a CPU taken by other
				 * work): the frames owed beyond the bound are
				 * not sent, so that no burst is larger than a
				 * stall of PACE_OWED would make it. */
				skipped += (unsigned long long)(due - rate * PACE_OWED);
				due = (now - t0) * rate - (double)(sent + skipped);
			}
			if (due < 1 && pace > 0) {
				/* The burst is out: the next one a pace after
				 * this one began, or when a frame is due if
				 * that is later (rates below 1 / pace). */
				double next = burst + pace, first = t0 + (sent + skipped + 1) / rate;
				struct timespec ts;

				if (xsk_ring_prod__needs_wakeup(&tx))
					sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
				if (next < first)
					next = first;
				ts.tv_sec = (time_t)next;
				ts.tv_nsec = (long)((next - (double)ts.tv_sec) * 1e9);
				clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
				burst = tool_now();
				wakes++;
				continue;
			}
			if (due < 1) {
				/* Light rates: sleep until the next frame is
				 * due, rather than spin on a shared core. */
				struct timespec ts = { 0, (long)((1 - due) / rate * 1e9) };

				if (xsk_ring_prod__needs_wakeup(&tx))
					sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
				if (ts.tv_nsec > 20000)
					nanosleep(&ts, NULL);
				continue;
			}
			if (due < want)
				want = (uint32_t)due;
		}
		if (count && count - sent < want)
			want = (uint32_t)(count - sent);
		if (want > nfree)
			want = nfree;
		/* All or nothing: packets go whole. */
		n = want ? xsk_ring_prod__reserve(&tx, want * k, &idx) / k : 0;
		for (uint32_t i = 0; i < n; i++) {
			uint64_t a = freel[--nfree];
			struct xdp_desc *d;

			for (uint32_t j = 0; j < k; j++) {
				d = xsk_ring_prod__tx_desc(&tx, idx + i * k + j);
				d->addr = a + (uint64_t)j * FSIZE;
				d->len = j + 1 < k ? FSIZE : len - (k - 1) * FSIZE;
				d->options = j + 1 < k ? XDP_PKT_CONTD : 0;
			}
			d = xsk_ring_prod__tx_desc(&tx, idx + i * k);
			if (stamp) {
				struct timespec ts;
				uint64_t ns;

				clock_gettime(CLOCK_MONOTONIC, &ts);
				ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
				memcpy((uint8_t *)buf + d->addr + 42, &ns, 8);
			}
		}
		xsk_ring_prod__submit(&tx, n * k);
		sent += n;
		if (xsk_ring_prod__needs_wakeup(&tx) || !n)
			sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
	}
	now = tool_now();
	if (pace > 0)
		printf("sent %llu frames in %.6f s, %llu bursts, %llu skipped\n", sent,
		       now - t0, wakes + 1, skipped);
	else
		printf("sent %llu frames in %.6f s\n", sent, now - t0);
	xsk_socket__delete(xsk);
	xsk_umem__delete(umem);
	return 0;
}
