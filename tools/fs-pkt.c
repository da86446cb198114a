// SPDX-License-Identifier: MIT
/*
 * fs-pkt: test traffic for flipswitch's tests and demo, on veth pairs in
 * network namespaces that the caller created.
 *
 *   send   numbered frames through an AF_PACKET socket (and a pcap of them)
 *   recv   frames of one ethertype (and source) into a pcap, bounded in
 *          count and time
 *   cmp    two pcaps frame by frame: the exact bytes, optionally with the
 *          MACs swapped, an 802.1Q tag removed, or in any order
 *   count  frames in a pcap
 *
 * Frame payload: "FSPK", u32 sequence, u32 seed (big-endian), then filler
 * derived from (seed, sequence), so every frame of a run differs.
 *
 * The receiving socket is created with protocol 0 and only then bound to
 * ETH_P_ALL on one interface, so it never queues a frame from another one.
 * The kernel moves a received 802.1Q tag into metadata; recv puts it back,
 * so its pcap holds the frame as it was on the wire. The sending socket
 * stays at protocol 0: it receives nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pcapout.h"

#define ETHERTYPE_TEST	0x88b5
#define MAX_FRAME	9018		/* 9014 (MTU 9000) + an 802.1Q tag */
#define MAX_COUNT	10000000LL
#define RCVBUF		(4 << 20)

struct opts {
	const char *ifname, *pcap;
	uint8_t dst[6], src[6];
	int have_dst, have_src;
	long long count;		/* -1: not given */
	long long size, vlan, ethertype, seed, interval_us;
	long long queue;		/* -1: the kernel's choice */
	double timeout;
	int swap_mac, strip_vlan, any_order;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"NAME\n"
"    fs-pkt - send, receive and compare test frames\n"
"\n"
"SYNOPSIS\n"
"    fs-pkt send -i IFACE --dst MAC [--src MAC] [--count N] [--size BYTES]\n"
"                [--vlan VID] [--ethertype 0xNNNN] [--seed S] [--interval-us U]\n"
"                [--queue Q] [-w FILE.pcap]\n"
"    fs-pkt recv -i IFACE [--count N] [--timeout S] [--ethertype 0xNNNN]\n"
"                [--src MAC] [-w FILE.pcap]\n"
"    fs-pkt cmp A.pcap B.pcap [--swap-mac] [--strip-vlan] [--any-order]\n"
"    fs-pkt count FILE.pcap\n"
"    fs-pkt sums FILE.pcap\n"
"\n"
"DESCRIPTION\n"
"    send   Sends N frames (default 1, at most 10000000) of BYTES without FCS\n"
"           (default 128, 60..9014; --vlan adds an 802.1Q tag, 4 bytes more)\n"
"           from --src (default: IFACE's MAC), ethertype default 0x88b5. The\n"
"           payload is \"FSPK\", the sequence number 0..N-1 and the seed (u32,\n"
"           big-endian), then filler derived from both. Waits up to 1 s for a\n"
"           full IFACE, and U microseconds between frames. Prints \"sent N\".\n"
"           --queue Q sends on IFACE's tx queue Q (on a veth the frames arrive\n"
"           on the peer's rx queue Q): fs-pkt stays on the CPU it runs on and\n"
"           points IFACE's transmit packet steering there at queue Q alone\n"
"           (writes /sys/class/net/IFACE/queues/tx-*/xps_cpus; for an\n"
"           interface of the caller's own test-bed).\n"
"    recv   Keeps the frames arriving on IFACE of the ethertype (after an\n"
"           802.1Q tag, kept as it was on the wire) and from --src. Prints\n"
"           \"ready\" once listening and \"received N\" after N frames or S\n"
"           seconds (default 5), whichever comes first.\n"
"    cmp    Succeeds if B holds A's frames byte for byte, in order. With\n"
"           --swap-mac B's have their MACs swapped, with --strip-vlan A's have\n"
"           an 802.1Q tag that B's lack, with --any-order any order will do.\n"
"           Prints \"equal: N packets\" or the first difference; an empty A\n"
"           fails.\n"
"    count  Prints the number of frames in FILE.pcap.\n"
"    sums   Prints \"sum LEN CRC32\" for each frame, as flipswitch-guest rx\n"
"           --sums does inside a guest.\n"
"\n"
"    -w FILE.pcap writes every frame sent or kept, byte for byte.\n"
"\n"
"EXIT STATUS\n"
"    0 success; 1 failure, also fewer than --count frames received or a\n"
"    difference found; 2 usage error.\n");
}

/* Interface index; 0 with a message if there is no such interface. */
static int ifindex_of(const char *ifname)
{
	int ix = (int)if_nametoindex(ifname);

	if (!ix)
		fprintf(stderr, "fs-pkt: there is no interface %s here.\n", ifname);
	return ix;
}

static uint32_t mix32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	return x ^ (x >> 16);
}

static unsigned int build(uint8_t *f, const struct opts *o, uint32_t seq)
{
	unsigned int off = 12, len = (unsigned int)o->size, i;
	uint32_t x = mix32((uint32_t)o->seed ^ mix32(seq + 0x9e3779b9u)) | 1;

	memcpy(f, o->dst, 6);
	memcpy(f + 6, o->src, 6);
	if (o->vlan) {
		f[off++] = 0x81;
		f[off++] = 0x00;
		f[off++] = (uint8_t)(o->vlan >> 8);
		f[off++] = (uint8_t)o->vlan;
		len += 4;
	}
	f[off++] = (uint8_t)(o->ethertype >> 8);
	f[off++] = (uint8_t)o->ethertype;
	memcpy(f + off, "FSPK", 4);
	for (i = 0; i < 4; i++) {	/* big-endian */
		f[off + 4 + i] = (uint8_t)(seq >> (24 - 8 * i));
		f[off + 8 + i] = (uint8_t)(o->seed >> (24 - 8 * i));
	}
	for (i = off + 12; i < len; i++) {
		x ^= x << 13;	/* xorshift32, never 0 */
		x ^= x >> 17;
		x ^= x << 5;
		f[i] = (uint8_t)x;
	}
	return len;
}

/*
 * Makes what this process sends on ifname leave on tx queue q: it stays on
 * the CPU it runs on, and transmit packet steering (XPS) maps that CPU to
 * q alone (xps_cpus of tx-q is that CPU, of every other queue none). An
 * AF_PACKET socket has no say in its queue; the kernel takes the XPS map
 * of the sending CPU. 0, or -1 with a message.
 */
static int pin_tx_queue(const char *ifname, unsigned int q)
{
	int cpu = sched_getcpu(), n = 0;
	cpu_set_t set;

	if (cpu < 0) {
		fprintf(stderr, "fs-pkt: cannot tell which CPU it runs on: %s.\n",
			strerror(errno));
		return -1;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		fprintf(stderr, "fs-pkt: cannot stay on CPU %d: %s.\n", cpu,
			strerror(errno));
		return -1;
	}
	for (;; n++) {
		char path[128], mask[48];
		FILE *f;

		snprintf(path, sizeof(path), "/sys/class/net/%s/queues/tx-%d/xps_cpus",
			 ifname, n);
		if (access(path, F_OK))
			break;
		/* A hex CPU mask (CPUs 0..127 are enough for a test-bed). */
		if (n == (int)q && cpu >= 64)
			snprintf(mask, sizeof(mask), "%llx,%016llx",
				 1ULL << (cpu - 64), 0ULL);
		else
			snprintf(mask, sizeof(mask), "%llx",
				 n == (int)q ? 1ULL << cpu : 0ULL);
		f = fopen(path, "w");
		if (!f || fputs(mask, f) < 0 || fclose(f)) {
			fprintf(stderr, "fs-pkt: cannot write %s: %s.\n", path,
				strerror(errno));
			return -1;
		}
	}
	if ((int)q >= n) {
		fprintf(stderr, "fs-pkt: %s has %d tx queue%s: no queue %u.\n",
			ifname, n, n == 1 ? "" : "s", q);
		return -1;
	}
	return 0;
}

static int cmd_send(struct opts *o)
{
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_halen = 6 };
	uint8_t f[MAX_FRAME];
	pcap_dumper_t *d = NULL;
	pcap_t *pd = NULL;
	long long i;
	int fd, ret = 0;

	to.sll_ifindex = ifindex_of(o->ifname);
	if (!to.sll_ifindex)
		return 1;
	if (o->queue >= 0 && pin_tx_queue(o->ifname, (unsigned int)o->queue))
		return 1;
	to.sll_protocol = htons(o->vlan ? ETH_P_8021Q : (uint16_t)o->ethertype);
	memcpy(to.sll_addr, o->dst, 6);
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "fs-pkt: cannot open a packet socket: %s.\n",
			strerror(errno));
		return 1;
	}
	if (!o->have_src) {
		struct ifreq ifr = { 0 };

		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", o->ifname);
		if (ioctl(fd, SIOCGIFHWADDR, &ifr) ||
		    ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
			fprintf(stderr, "fs-pkt: %s has no Ethernet MAC address; give --src.\n",
				o->ifname);
			close(fd);
			return 1;
		}
		memcpy(o->src, ifr.ifr_hwaddr.sa_data, 6);
	}
	if (o->pcap && !(d = pcapout_open("fs-pkt", o->pcap, &pd))) {
		close(fd);
		return 1;
	}
	for (i = 0; i < o->count && !stop; i++) {
		unsigned int len = build(f, o, (uint32_t)i);
		double give_up = 0;
		ssize_t n;

		/* A full queue is not an error: wait for it, within reason. */
		while ((n = sendto(fd, f, len, 0, (struct sockaddr *)&to,
				   sizeof(to))) < 0 && !stop) {
			if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR)
				break;
			if (!give_up)
				give_up = tool_now() + 1;
			else if (tool_now() > give_up)
				break;
			usleep(50);
		}
		if (n != (ssize_t)len) {
			if (n < 0 && (errno == ENOBUFS || errno == EAGAIN))
				fprintf(stderr, "fs-pkt: %s stayed full for 1 s at frame %lld.\n",
					o->ifname, i);
			else if (!stop)
				fprintf(stderr, "fs-pkt: cannot send frame %lld on %s: %s.\n",
					i, o->ifname, n < 0 ? strerror(errno) : "short send");
			ret = 1;
			break;
		}
		if (d)
			pcapout_write(d, f, len);
		if (o->interval_us && i + 1 < o->count)
			usleep((useconds_t)o->interval_us);
	}
	pcapout_close(d, pd);
	close(fd);
	printf("sent %lld\n", i);
	return ret || i < o->count;
}

/* Reads one frame into out as it was on the wire: -1 if none is waiting,
 * 0 to skip it, else its length. */
static int recv_frame(int fd, uint8_t *out, size_t outsz)
{
	static uint8_t buf[65536];
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
	} ctl;
	struct sockaddr_ll from;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr m = { .msg_name = &from, .msg_namelen = sizeof(from),
			    .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
	struct cmsghdr *cm;
	unsigned int off = 12;
	ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT | MSG_TRUNC);

	if (n < 0)
		return -1;
	if (n < 14 || (size_t)n > sizeof(buf) || (size_t)n + 4 > outsz ||
	    from.sll_pkttype == PACKET_OUTGOING)
		return 0;
	memcpy(out, buf, 12);
	for (cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
		struct tpacket_auxdata aux;
		uint16_t tpid = ETH_P_8021Q;

		if (cm->cmsg_level != SOL_PACKET || cm->cmsg_type != PACKET_AUXDATA)
			continue;
		memcpy(&aux, CMSG_DATA(cm), sizeof(aux));
		if (!(aux.tp_status & TP_STATUS_VLAN_VALID))
			continue;
		if (aux.tp_status & TP_STATUS_VLAN_TPID_VALID)
			tpid = aux.tp_vlan_tpid;
		out[off++] = (uint8_t)(tpid >> 8);
		out[off++] = (uint8_t)tpid;
		out[off++] = (uint8_t)(aux.tp_vlan_tci >> 8);
		out[off++] = (uint8_t)aux.tp_vlan_tci;
		break;
	}
	memcpy(out + off, buf + 12, (size_t)n - 12);
	return (int)n + (int)off - 12;
}

static int cmd_recv(const struct opts *o)
{
	static uint8_t f[65536 + 4];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL) };
	long long got = 0;
	double deadline;
	pcap_dumper_t *d = NULL;
	pcap_t *pd = NULL;
	int fd, one = 1, rcvbuf = RCVBUF;

	sll.sll_ifindex = ifindex_of(o->ifname);
	if (!sll.sll_ifindex)
		return 1;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		fprintf(stderr, "fs-pkt: cannot listen on %s: %s.\n", o->ifname,
			strerror(errno));
		return 1;
	}
	/* Best effort: the check on sll_pkttype does the same. */
	setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (o->pcap && !(d = pcapout_open("fs-pkt", o->pcap, &pd))) {
		close(fd);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	deadline = tool_now() + o->timeout;
	while ((o->count < 0 || got < o->count) && !stop) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		double left = deadline - tool_now();
		int len, burst = 256;	/* then look at the clock again */

		if (left <= 0)
			break;
		if (poll(&p, 1, left > 0.1 ? 100 : (int)(left * 1000) + 1) <= 0) {
			if (d)
				pcap_dump_flush(d);	/* idle: readable so far */
			continue;
		}
		while ((o->count < 0 || got < o->count) && burst-- &&
		       (len = recv_frame(fd, f, sizeof(f))) >= 0) {
			unsigned int et;

			if (len == 0)
				continue;
			et = (unsigned int)f[12] << 8 | f[13];
			if ((et == ETH_P_8021Q || et == ETH_P_8021AD) && len >= 18)
				et = (unsigned int)f[16] << 8 | f[17];
			if (et != o->ethertype ||
			    (o->have_src && memcmp(f + 6, o->src, 6)))
				continue;
			if (d)
				pcapout_write(d, f, (unsigned int)len);
			got++;
		}
	}
	pcapout_close(d, pd);
	close(fd);
	printf("received %lld\n", got);
	return o->count >= 0 && got < o->count;
}

struct frame {
	size_t ix;			/* position in its file */
	unsigned int len;
	uint8_t b[];
};

struct frames {
	struct frame **f;
	size_t n;
};

static int load(const char *path, struct frames *fr)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *p = pcap_open_offline(path, err);
	size_t cap = 0;
	int r;

	memset(fr, 0, sizeof(*fr));
	if (!p) {
		fprintf(stderr, "fs-pkt: cannot read %s: %s.\n", path, err);
		return -1;
	}
	while ((r = pcap_next_ex(p, &h, &data)) == 1) {
		struct frame *f;

		if (fr->n == cap) {
			void *n = realloc(fr->f, (cap = cap ? 2 * cap : 256) *
					  sizeof(*fr->f));

			if (!n)
				break;
			fr->f = n;
		}
		f = malloc(sizeof(*f) + h->caplen);
		if (!f)
			break;
		f->ix = fr->n;
		f->len = h->caplen;
		memcpy(f->b, data, h->caplen);
		fr->f[fr->n++] = f;
	}
	if (r == 1)
		fprintf(stderr, "fs-pkt: out of memory reading %s.\n", path);
	else if (r == PCAP_ERROR)
		fprintf(stderr, "fs-pkt: %s is damaged: %s.\n", path, pcap_geterr(p));
	pcap_close(p);
	return r == PCAP_ERROR_BREAK ? 0 : -1;
}

static void release(struct frames *fr)
{
	while (fr->n)
		free(fr->f[--fr->n]);
	free(fr->f);
}

static void transform(struct frames *a, const struct opts *o)
{
	for (size_t i = 0; i < a->n; i++) {
		struct frame *f = a->f[i];
		uint8_t t[6];

		if (o->strip_vlan && f->len >= 18 && f->b[12] == 0x81 &&
		    f->b[13] == 0x00) {
			memmove(f->b + 12, f->b + 16, f->len - 16);
			f->len -= 4;
		}
		if (o->swap_mac && f->len >= 12) {
			memcpy(t, f->b, 6);
			memcpy(f->b, f->b + 6, 6);
			memcpy(f->b + 6, t, 6);
		}
	}
}

static int by_bytes(const void *x, const void *y)
{
	const struct frame *a = *(struct frame *const *)x;
	const struct frame *b = *(struct frame *const *)y;
	int c = memcmp(a->b, b->b, a->len < b->len ? a->len : b->len);

	return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int cmd_cmp(const char *pa, const char *pb, const struct opts *o)
{
	struct frames a, b = { 0 };
	int ret = 1;

	if (load(pa, &a) || load(pb, &b))
		goto out;
	transform(&a, o);
	if (!a.n) {
		/* Two empty captures prove nothing: a test expects frames. */
		printf("differ: %s holds no packet\n", pa);
		goto out;
	}
	if (a.n != b.n) {
		printf("differ: %s has %zu packets, %s has %zu\n", pa, a.n, pb, b.n);
		goto out;
	}
	if (o->any_order) {
		qsort(a.f, a.n, sizeof(*a.f), by_bytes);
		qsort(b.f, b.n, sizeof(*b.f), by_bytes);
	}
	for (size_t k = 0; k < a.n; k++) {
		const struct frame *x = a.f[k], *y = b.f[k];
		unsigned int i, min = x->len < y->len ? x->len : y->len;

		for (i = 0; i < min && x->b[i] == y->b[i]; i++)
			;
		if (i == min && x->len == y->len)
			continue;
		if (o->any_order)
			printf("differ: packet %zu of %s has no equal in %s (nearest: packet %zu),",
			       x->ix, pa, pb, y->ix);
		else
			printf("differ: packet %zu", k);
		if (i < min)
			printf(" byte %u: 0x%02x in %s, 0x%02x in %s\n", i, x->b[i],
			       pa, y->b[i], pb);
		else
			printf(" is %u bytes in %s, %u in %s\n", x->len, pa, y->len, pb);
		goto out;
	}
	printf("equal: %zu packets\n", a.n);
	ret = 0;
out:
	release(&a);
	release(&b);
	return ret;
}

/* An integer in [lo, hi], or a message and -1. */
static int num(const char *opt, const char *s, int base, long long lo,
	       long long hi, long long *v)
{
	char *end;

	errno = 0;
	*v = strtoll(s, &end, base);
	if (errno || end == s || *end || *v < lo || *v > hi) {
		fprintf(stderr, "fs-pkt: %s wants a number from %lld to %lld, not \"%s\".\n",
			opt, lo, hi, s);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dst", required_argument, NULL, 'd' },
		{ "src", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 'S' },
		{ "vlan", required_argument, NULL, 'V' },
		{ "ethertype", required_argument, NULL, 'E' },
		{ "seed", required_argument, NULL, 'e' },
		{ "interval-us", required_argument, NULL, 'I' },
		{ "queue", required_argument, NULL, 'q' },
		{ "timeout", required_argument, NULL, 't' },
		{ "swap-mac", no_argument, NULL, 'x' },
		{ "strip-vlan", no_argument, NULL, 'v' },
		{ "any-order", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const struct { const char *name, *opts, *needs; int nargs; } cmds[] = {
		{ "send", "iwdsnSVEeIqh", "-i IFACE and --dst MAC", 0 },
		{ "recv", "iwnEtsh", "-i IFACE", 0 },
		{ "cmp", "xvah", "two pcap files", 2 },
		{ "count", "h", "one pcap file", 1 },
		{ "sums", "h", "one pcap file", 1 },
	};
	struct opts o = { .count = -1, .size = 128, .ethertype = ETHERTYPE_TEST,
			  .timeout = 5, .queue = -1 };
	struct sigaction sa = { .sa_handler = on_signal };
	const char *cmd = argc > 1 ? argv[1] : "";
	int c, k, bad = 0, ci = -1;

	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	for (k = 0; k < (int)(sizeof(cmds) / sizeof(cmds[0])); k++)
		if (!strcmp(cmd, cmds[k].name))
			ci = k;
	if (ci < 0) {
		fprintf(stderr, "fs-pkt: \"%s\" is not a command: send, recv, cmp, count or sums.\n"
			"Try 'fs-pkt --help'.\n", cmd);
		return 2;
	}
	optind = 2;
	opterr = 0;
	while (!bad && (c = getopt_long(argc, argv, ":i:w:h", lo, NULL)) != -1) {
		char name[32], *end;

		if (c == '?' || c == ':') {
			fprintf(stderr, "fs-pkt: %s %s.\n", argv[optind - 1],
				c == ':' ? "needs a value" : "is not an option");
			bad = 1;
			break;
		}
		if (!strchr(cmds[ci].opts, c)) {
			snprintf(name, sizeof(name), "-%c", c);
			for (k = 0; lo[k].name; k++)
				if (lo[k].val == c)
					snprintf(name, sizeof(name), "--%s", lo[k].name);
			fprintf(stderr, "fs-pkt: %s is not an option of %s.\n", name, cmd);
			bad = 1;
			break;
		}
		switch (c) {
		case 'i': o.ifname = optarg; break;
		case 'w': o.pcap = optarg; break;
		case 'd':
		case 's':
			if (tool_parse_mac(optarg, c == 'd' ? o.dst : o.src)) {
				fprintf(stderr, "fs-pkt: \"%s\" is not a MAC address (like 52:54:00:12:34:56).\n",
					optarg);
				bad = 1;
			}
			*(c == 'd' ? &o.have_dst : &o.have_src) = 1;
			break;
		case 'n': bad = num("--count", optarg, 10, 1, MAX_COUNT, &o.count); break;
		case 'S': bad = num("--size", optarg, 10, 60, MAX_FRAME - 4, &o.size); break;
		case 'V': bad = num("--vlan", optarg, 10, 1, 4094, &o.vlan); break;
		case 'E': bad = num("--ethertype", optarg, 16, 0x600, 0xffff, &o.ethertype); break;
		case 'e': bad = num("--seed", optarg, 0, 0, UINT32_MAX, &o.seed); break;
		case 'I': bad = num("--interval-us", optarg, 10, 0, 10000000, &o.interval_us); break;
		case 'q': bad = num("--queue", optarg, 10, 0, 1023, &o.queue); break;
		case 't':
			o.timeout = strtod(optarg, &end);
			if (end == optarg || *end || !(o.timeout > 0 && o.timeout <= 86400)) {
				fprintf(stderr, "fs-pkt: --timeout wants seconds, more than 0 and at most 86400, not \"%s\".\n",
					optarg);
				bad = 1;
			}
			break;
		case 'x': o.swap_mac = 1; break;
		case 'v': o.strip_vlan = 1; break;
		case 'a': o.any_order = 1; break;
		case 'h': usage(stdout); return 0;
		}
	}
	if (bad) {
		fprintf(stderr, "Try 'fs-pkt --help'.\n");
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (argc - optind != cmds[ci].nargs || (ci <= 1 && !o.ifname) ||
	    (ci == 0 && !o.have_dst)) {
		fprintf(stderr, "fs-pkt: %s needs %s, and nothing else.\n"
			"Try 'fs-pkt --help'.\n", cmd, cmds[ci].needs);
		return 2;
	}
	switch (ci) {
	case 0:
		if (o.count < 0)
			o.count = 1;
		return cmd_send(&o);
	case 1:
		return cmd_recv(&o);
	case 2:
		return cmd_cmp(argv[optind], argv[optind + 1], &o);
	default: {
		struct frames f;
		int ret = load(argv[optind], &f);

		for (size_t i = 0; !ret && ci == 4 && i < f.n; i++)
			printf("sum %u %08x\n", f.f[i]->len,
			       tool_crc32(f.f[i]->b, f.f[i]->len));
		if (!ret && ci == 3)
			printf("%zu\n", f.n);
		release(&f);
		return !!ret;
	}
	}
}
