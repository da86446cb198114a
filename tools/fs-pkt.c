// SPDX-License-Identifier: MIT
/*
 * fs-pkt: test traffic for flipswitch's tests and demo, on veth pairs in
 * network namespaces that the caller created.
 *
 *   send   numbered frames through an AF_PACKET socket (and a pcap of them)
 *   recv   frames of one ethertype (and source) into a pcap, bounded in
 *          count and time
 *   cmp    two pcaps frame by frame: the exact bytes, optionally with the
 *          MACs swapped or an 802.1Q tag removed
 *   count  frames in a pcap
 *
 * Frame payload: "FSPK", u32 sequence, u32 seed (big-endian), then filler
 * derived from (seed, sequence), so every frame of a run differs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "pcapout.h"

#define MAX_FRAME 1518
#define MAX_COUNT 10000000LL

struct opts {
	const char *ifname, *pcap;
	uint8_t dst[6], src[6];
	int have_dst, have_src;
	long long count;
	unsigned int size, vlan, ethertype, seed, interval_us;
	double timeout;
	int swap_mac, any_order, strip_vlan;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fs-pkt send -i IFACE --dst MAC [--src MAC] [--count N] [--size BYTES]\n"
		"                   [--vlan VID] [--ethertype 0xNNNN] [--seed S] [--interval-us U]\n"
		"                   [-w FILE]\n"
		"       fs-pkt recv -i IFACE [--count N] [--timeout S] [--ethertype 0xNNNN]\n"
		"                   [--src MAC] [-w FILE]\n"
		"       fs-pkt cmp A.pcap B.pcap [--swap-mac] [--strip-vlan] [--any-order]\n"
		"       fs-pkt count FILE\n"
		"\n"
		"send   N frames (default 1) of BYTES (default 128, 60..1514, without FCS;\n"
		"       +4 with --vlan) from IFACE's MAC or --src, ethertype 0x88b5, each\n"
		"       with \"FSPK\", its sequence number and seed; -w writes them to a pcap.\n"
		"recv   frames of the ethertype (default 0x88b5; after a VLAN tag, which is\n"
		"       put back as it was on the wire) and --src; prints \"ready\" once\n"
		"       listening and \"received N\" at the end. Stops at N frames or after\n"
		"       --timeout seconds (default 5); exits 1 if --count was not reached.\n"
		"cmp    exits 0 if B holds A's frames byte for byte, in order (--any-order:\n"
		"       as a multiset); --swap-mac expects B's MACs swapped; --strip-vlan\n"
		"       expects A's frames with their 802.1Q tag and B's without.\n");
}

static int packet_socket(const char *ifname, int *ifindex)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL) };
	int fd;

	*ifindex = (int)if_nametoindex(ifname);
	if (!*ifindex) {
		fprintf(stderr, "fs-pkt: no interface %s here\n", ifname);
		return -1;
	}
	sll.sll_ifindex = *ifindex;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		fprintf(stderr, "fs-pkt: cannot open a packet socket on %s: %s\n",
			ifname, strerror(errno));
		return -1;
	}
	return fd;
}

static unsigned int build(uint8_t *f, const struct opts *o, uint32_t seq)
{
	unsigned int off = 12, i, len = o->size;
	uint32_t x = o->seed * 2654435761u ^ seq * 40503u ^ 0x9e3779b9u;

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
	off += 4;
	for (i = 0; i < 4; i++)
		f[off + i] = (uint8_t)(seq >> (24 - 8 * i));
	for (i = 0; i < 4; i++)
		f[off + 4 + i] = (uint8_t)(o->seed >> (24 - 8 * i));
	for (i = off + 8; i < len; i++) {
		x ^= x << 13; /* xorshift32 */
		x ^= x >> 17;
		x ^= x << 5;
		f[i] = (uint8_t)x;
	}
	return len;
}

static int cmd_send(const struct opts *o0)
{
	struct opts o = *o0;
	uint8_t f[MAX_FRAME];
	pcap_dumper_t *d = NULL;
	pcap_t *pd = NULL;
	long long i;
	int fd, ifindex;

	if (!o.ifname || !o.have_dst) {
		fprintf(stderr, "fs-pkt: send needs -i IFACE and --dst MAC\n");
		return 2;
	}
	if (o.size < 60 || o.size > 1514 || o.count < 1 || o.count > MAX_COUNT) {
		fprintf(stderr, "fs-pkt: --size must be 60..1514 and --count 1..%lld\n",
			MAX_COUNT);
		return 2;
	}
	fd = packet_socket(o.ifname, &ifindex);
	if (fd < 0)
		return 1;
	if (!o.have_src) {
		struct ifreq ifr = { 0 };

		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", o.ifname);
		if (ioctl(fd, SIOCGIFHWADDR, &ifr)) {
			fprintf(stderr, "fs-pkt: no MAC for %s: %s\n", o.ifname,
				strerror(errno));
			return 1;
		}
		memcpy(o.src, ifr.ifr_hwaddr.sa_data, 6);
	}
	if (o.pcap && !(d = pcapout_open("fs-pkt", o.pcap, &pd)))
		return 1;
	for (i = 0; i < o.count; i++) {
		unsigned int len = build(f, &o, (uint32_t)i);
		double give_up = 0;

		/* A full veth queue is not an error: wait, within reason. */
		while (send(fd, f, len, 0) < 0) {
			if (errno != ENOBUFS && errno != EAGAIN) {
				fprintf(stderr, "fs-pkt: send on %s: %s\n",
					o.ifname, strerror(errno));
				return 1;
			}
			if (!give_up)
				give_up = tool_now() + 1;
			else if (tool_now() > give_up) {
				fprintf(stderr, "fs-pkt: %s stayed full for 1 s\n",
					o.ifname);
				return 1;
			}
			usleep(50);
		}
		if (d)
			pcapout_write(d, f, len);
		if (o.interval_us)
			usleep(o.interval_us);
	}
	pcapout_close(d, pd);
	printf("sent %lld\n", o.count);
	close(fd);
	return 0;
}

static int cmd_recv(const struct opts *o)
{
	uint8_t buf[MAX_FRAME + 4], out[MAX_FRAME + 8];
	long long got = 0, want = o->count;
	double deadline = tool_now() + o->timeout;
	pcap_dumper_t *d = NULL;
	pcap_t *pd = NULL;
	int fd, ifindex, one = 1;

	if (!o->ifname) {
		fprintf(stderr, "fs-pkt: recv needs -i IFACE\n");
		return 2;
	}
	fd = packet_socket(o->ifname, &ifindex);
	if (fd < 0)
		return 1;
	setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one));
	setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	if (o->pcap && !(d = pcapout_open("fs-pkt", o->pcap, &pd)))
		return 1;
	printf("ready\n");
	fflush(stdout);
	while ((want <= 0 || got < want) && tool_now() < deadline) {
		union {
			struct cmsghdr align;
			char b[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
		} ctl;
		struct sockaddr_ll from;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr m = { .msg_name = &from, .msg_namelen = sizeof(from),
				    .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = ctl.b,
				    .msg_controllen = sizeof(ctl.b) };
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct cmsghdr *cm;
		unsigned int len, etype;
		ssize_t n;

		if (poll(&p, 1, 50) <= 0)
			continue;
		n = recvmsg(fd, &m, MSG_DONTWAIT);
		if (n < 14 || from.sll_pkttype == PACKET_OUTGOING)
			continue;
		len = (unsigned int)n;
		memcpy(out, buf, 12);
		unsigned int off = 12;

		/* The stack moved the 802.1Q tag into metadata: put it back. */
		for (cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
			struct tpacket_auxdata aux;

			if (cm->cmsg_level != SOL_PACKET ||
			    cm->cmsg_type != PACKET_AUXDATA)
				continue;
			memcpy(&aux, CMSG_DATA(cm), sizeof(aux));
			if (!(aux.tp_status & TP_STATUS_VLAN_VALID))
				continue;
			out[off++] = 0x81;
			out[off++] = 0x00;
			out[off++] = (uint8_t)(aux.tp_vlan_tci >> 8);
			out[off++] = (uint8_t)aux.tp_vlan_tci;
		}
		memcpy(out + off, buf + 12, len - 12);
		len += off - 12;
		etype = (unsigned int)out[12] << 8 | out[13];
		if (etype == 0x8100 && len >= 18)
			etype = (unsigned int)out[16] << 8 | out[17];
		if (etype != o->ethertype ||
		    (o->have_src && memcmp(out + 6, o->src, 6)))
			continue;
		if (d)
			pcapout_write(d, out, len);
		got++;
	}
	pcapout_close(d, pd);
	printf("received %lld\n", got);
	close(fd);
	return want > 0 && got < want ? 1 : 0;
}

struct frames {
	uint8_t **data;
	unsigned int *len;
	size_t n;
};

static int load(const char *path, struct frames *fr)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *p = pcap_open_offline(path, err);
	size_t cap = 0;

	if (!p) {
		fprintf(stderr, "fs-pkt: %s\n", err);
		return -1;
	}
	memset(fr, 0, sizeof(*fr));
	while (pcap_next_ex(p, &h, &data) == 1) {
		if (fr->n == cap) {
			cap = cap ? 2 * cap : 256;
			fr->data = realloc(fr->data, cap * sizeof(*fr->data));
			fr->len = realloc(fr->len, cap * sizeof(*fr->len));
			if (!fr->data || !fr->len)
				return -1;
		}
		fr->len[fr->n] = h->caplen;
		fr->data[fr->n] = malloc(h->caplen ? h->caplen : 1);
		memcpy(fr->data[fr->n], data, h->caplen);
		fr->n++;
	}
	pcap_close(p);
	return 0;
}

static void transform(struct frames *a, const struct opts *o)
{
	for (size_t i = 0; i < a->n; i++) {
		uint8_t *d = a->data[i], t[6];

		if (o->strip_vlan && a->len[i] >= 18 && d[12] == 0x81 &&
		    d[13] == 0x00) {
			memmove(d + 12, d + 16, a->len[i] - 16);
			a->len[i] -= 4;
		}
		if (o->swap_mac && a->len[i] >= 12) {
			memcpy(t, d, 6);
			memcpy(d, d + 6, 6);
			memcpy(d + 6, t, 6);
		}
	}
}

static const struct frames *sort_ctx;

static int by_bytes(const void *x, const void *y)
{
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	unsigned int li = sort_ctx->len[i], lj = sort_ctx->len[j];
	int c = memcmp(sort_ctx->data[i], sort_ctx->data[j], li < lj ? li : lj);

	return c ? c : (li > lj) - (li < lj);
}

static size_t *order(const struct frames *f, int sorted)
{
	size_t *ix = malloc((f->n + 1) * sizeof(*ix));

	for (size_t i = 0; i < f->n; i++)
		ix[i] = i;
	if (sorted) {
		sort_ctx = f;
		qsort(ix, f->n, sizeof(*ix), by_bytes);
	}
	return ix;
}

static int cmd_cmp(const char *pa, const char *pb, const struct opts *o)
{
	struct frames a, b;
	size_t *ia, *ib;

	if (load(pa, &a) || load(pb, &b))
		return 1;
	transform(&a, o);
	if (!a.n) {
		/* Two empty captures prove nothing: a test expects frames. */
		printf("differ: %s holds no packet\n", pa);
		return 1;
	}
	if (a.n != b.n) {
		printf("differ: %s has %zu packets, %s has %zu\n", pa, a.n, pb,
		       b.n);
		return 1;
	}
	ia = order(&a, o->any_order);
	ib = order(&b, o->any_order);
	for (size_t k = 0; k < a.n; k++) {
		const uint8_t *x = a.data[ia[k]], *y = b.data[ib[k]];
		unsigned int lx = a.len[ia[k]], ly = b.len[ib[k]];

		if (lx != ly) {
			printf("differ: packet %zu is %u bytes in %s, %u in %s\n",
			       k, lx, pa, ly, pb);
			return 1;
		}
		for (unsigned int i = 0; i < lx; i++) {
			if (x[i] != y[i]) {
				printf("differ: packet %zu byte %u: 0x%02x in %s, 0x%02x in %s\n",
				       k, i, x[i], pa, y[i], pb);
				return 1;
			}
		}
	}
	printf("equal: %zu packets\n", a.n);
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
		{ "timeout", required_argument, NULL, 't' },
		{ "swap-mac", no_argument, NULL, 'x' },
		{ "strip-vlan", no_argument, NULL, 'v' },
		{ "any-order", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct opts o = { .count = -1, .size = 128, .ethertype = 0x88b5,
			  .timeout = 5 };
	const char *cmd;
	int c;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "i:w:h", lo, NULL)) != -1) {
		switch (c) {
		case 'i': o.ifname = optarg; break;
		case 'w': o.pcap = optarg; break;
		case 'd':
		case 's':
			if (tool_parse_mac(optarg, c == 'd' ? o.dst : o.src)) {
				fprintf(stderr, "fs-pkt: %s is not a MAC address (like 52:54:00:12:34:56)\n",
					optarg);
				return 2;
			}
			*(c == 'd' ? &o.have_dst : &o.have_src) = 1;
			break;
		case 'n': o.count = atoll(optarg); break;
		case 'S': o.size = (unsigned int)atoi(optarg); break;
		case 'V': o.vlan = (unsigned int)atoi(optarg) & 0xfff; break;
		case 'E': o.ethertype = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'e': o.seed = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'I': o.interval_us = (unsigned int)atoi(optarg); break;
		case 't': o.timeout = atof(optarg); break;
		case 'x': o.swap_mac = 1; break;
		case 'v': o.strip_vlan = 1; break;
		case 'a': o.any_order = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!strcmp(cmd, "send")) {
		if (o.count < 0)
			o.count = 1;
		return optind == argc ? cmd_send(&o) : 2;
	}
	if (!strcmp(cmd, "recv"))
		return optind == argc ? cmd_recv(&o) : 2;
	if (!strcmp(cmd, "cmp") && argc - optind == 2)
		return cmd_cmp(argv[optind], argv[optind + 1], &o);
	if (!strcmp(cmd, "count") && argc - optind == 1) {
		struct frames f;

		if (load(argv[optind], &f))
			return 1;
		printf("%zu\n", f.n);
		return 0;
	}
	usage(stderr);
	return 2;
}
