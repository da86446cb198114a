// SPDX-License-Identifier: MIT
/*
 * flipswitch-guest: the guest side of a flipswitch VM port, as a command.
 *
 *   rx    receive, give every frame back, print the count (and write a pcap)
 *   tx    send numbered frames to a MAC
 *   echo  send every received frame back with the MACs swapped, in the
 *         same frame (no copy)
 *
 * It attaches on start and detaches on exit (also on SIGINT/SIGTERM), so the
 * switch takes back every frame it held. When idle it backs off: with a
 * doorbell (--doorbell on the host, --pci --irq in a QEMU guest) it sleeps
 * until the switch rings; without, in short sleeps, since on a shared
 * machine a spinning guest starves the switch and NAPI.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "fsguest.h"
#include "fsvfio.h"
#include "toolutil.h"

#ifdef FSG_NO_PCAP
/* The static build that runs inside guests has no libpcap. */
typedef int pcap_dumper_t, pcap_t;
static inline pcap_dumper_t *pcapout_open(const char *prog, const char *path,
					  pcap_t **pd)
{
	fprintf(stderr, "%s: cannot write %s: built without pcap support\n",
		prog, path);
	return NULL;
}
static inline void pcapout_write(pcap_dumper_t *d, const void *data,
				 unsigned int len) {}
static inline void pcapout_close(pcap_dumper_t *d, pcap_t *pd) {}
#else
#include "pcapout.h"
#endif

#define IVSHMEM_VENDOR "0x1af4"
#define IVSHMEM_DEVICE "0x1110"
#define DEBUG_EXIT_PORT 0xf4

#define BATCH 64
/* A packet of several frames (ABI 1.3): the longest the tool sends or
 * puts together, and its frames at most. */
#define PKT_MAX 16384
#define FS_TOOL_MAX_FRAMES 16
#define ETHERTYPE_TEST 0x88b5
/* Longest doorbell sleep: the heartbeat goes on at least this often. */
#define IDLE_WAIT_MS 100

static volatile sig_atomic_t stop;

struct opts {
	const char *pool, *rings, *pcap;
	long long count;     /* -1: unbounded */
	double timeout;      /* seconds */
	uint8_t dst[6], src[6];
	int have_dst, have_src;
	uint8_t tamper[6];   /* tx: a second thread rewrites sent frames */
	int have_tamper;
	unsigned int size;
	int quiet;
	int hold;            /* rx: keep every frame instead of giving it back */
	int no_chains;       /* do not ask for packets of several frames */
	int sums;            /* rx: print length and CRC-32 of every frame */
	int clean;           /* rx: count frames with bytes beyond the packet */
	int pci;             /* find the pool and rings on ivshmem BARs */
	int irq;             /* with pci: the ring device's MSI-X via VFIO */
	const char *doorbell; /* host: the VM's doorbell socket */
	long long seed;      /* scan: the fs-pkt seed to look for */
};

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flipswitch-guest --pool PATH --rings PATH COMMAND [OPTIONS]\n"
		"       flipswitch-guest --pool PATH --doorbell SOCKET COMMAND [OPTIONS]\n"
		"       flipswitch-guest --pci [--irq] COMMAND [OPTIONS]\n"
		"\n"
		"The guest side of a flipswitch VM port, over the pool file and the\n"
		"VM's ring region file, or, inside a QEMU guest (--pci), over the two\n"
		"ivshmem devices (1af4:1110) that carry them.\n"
		"\n"
		"Doorbells: --doorbell connects to the VM's doorbell socket as QEMU's\n"
		"ivshmem-doorbell does and takes the ring region from it; --pci --irq\n"
		"drives an ivshmem-doorbell ring device through VFIO (the guest needs\n"
		"an IOMMU: intel_iommu=on). Either way an idle guest sleeps until the\n"
		"switch rings, and rings the switch when it asks.\n"
		"\n"
		"Commands:\n"
		"  rx   [--count N] [--timeout S] [--pcap FILE] [--hold] [--sums] [--clean] [--no-chains]\n"
		"       receive frames and give each back; print \"received N\".\n"
		"       --hold keeps them instead (to test quotas and reclaim);\n"
		"       --sums prints \"sum LEN CRC32\" for every frame; --clean\n"
		"       checks that every byte of each frame outside its packet is\n"
		"       zero, prints \"unclean N\" and fails if some are not.\n"
		"       Exits 0 when N frames arrived (or, without --count, at the\n"
		"       timeout), 1 if the timeout came first.\n"
		"       A packet of several frames (a jumbo frame) counts and sums\n"
		"       as one; --no-chains attaches as a guest that takes none.\n"
		"  tx   --dst MAC [--src MAC] [--count N] [--size BYTES] [--pcap FILE] [--sums]\n"
		"       send N frames (default 1) of BYTES (default 128, at least 60; longer\n"
		"       than a frame holds after its headroom: a packet of several frames,\n"
		"       up to the switch's max_packet, 9014 for an MTU of 9000; the uplink takes its MTU\n"
		"       + 14, printed when the guest attaches),\n"
		"       ethertype 0x88b5, carrying \"FSPK\" and a sequence number;\n"
		"       --src defaults to the VM's MAC. --pcap writes what was sent.\n"
		"       --tamper MAC: a hostile guest's test: a second thread keeps\n"
		"       rewriting the frames already sent (while the switch and the\n"
		"       kernel hold them) with source MAC and a tag for VLAN 20,\n"
		"       where they were written and where a pushed tag would move\n"
		"       them; frames leaving with them would be the switch's bug.\n"
		"  echo [--count N] [--timeout S]\n"
		"       send every frame received back, source and destination MAC\n"
		"       swapped, in the frame it arrived in.\n"
		"  scan --seed S\n"
		"       map the whole pool file (--pool only: no rings, no attach) and\n"
		"       count the frames of fs-pkt's format with seed S (\"FSPK\", a\n"
		"       sequence number, S) anywhere in it; print \"found N\". What a\n"
		"       guest of the pool could read.\n"
		"  hostile [--timeout S]\n"
		"       for S seconds, do what a guest must not be able to hurt\n"
		"       others with: descriptors outside the pool, of frames it does\n"
		"       not own, with bad lengths and options, freed twice; ring\n"
		"       indices far ahead; every frame it gets held (its quota\n"
		"       exhausted); an attach request every few milliseconds.\n"
		"       Prints \"hostile N rounds\".\n"
		"\n"
		"  debug-exit STATUS\n"
		"       inside a QEMU guest: exit QEMU with STATUS through its\n"
		"       isa-debug-exit device (port 0xf4; QEMU exits 2*STATUS+1).\n"
		"\n"
		"  --timeout S  give up after S seconds (default 10)\n"
		"  --quiet      print only the final count\n");
}

/* Spin briefly, then sleep until the switch rings; without a doorbell,
 * in growing steps up to 200 us. */
static void backoff(struct fsg *g, unsigned int what, unsigned int *idle)
{
	struct timespec ts = { 0, 0 };

	if (++*idle < 64)
		return;
	if (g->wait_fd >= 0) {
		fsg_wait(g, what, IDLE_WAIT_MS);
		return;
	}
	ts.tv_nsec = *idle < 1024 ? 20000 : 200000;
	nanosleep(&ts, NULL);
}

/* Re-attaches if the switch restarted: the frames we held are void. */
static int keep_attached(struct fsg *g)
{
	if (fsg_superseded(g)) {
		fprintf(stderr, "flipswitch-guest: another guest attached to this VM; stopping\n");
		stop = 1;
		return -1;
	}
	if (!fsg_switch_changed(g))
		return 0;
	fprintf(stderr, "flipswitch-guest: the switch restarted or let us go; attaching again\n");
	return fsg_attach(g, 10000);
}

static void give_back(struct fsg *g, uint64_t addr)
{
	while (fsg_free(g, addr) == -EAGAIN && !stop) {
		fsg_flush(g);
		if (fsg_switch_changed(g))
			return;
	}
}

/* Whether every byte of the frame outside the packet is zero: nothing of
 * the frame's earlier packets reached this guest. */
static int frame_clean(const struct fsg *g, uint64_t addr, uint32_t len)
{
	uint64_t base = addr & ~(uint64_t)(g->frame_size - 1);
	const uint8_t *f = fsg_data(g, base);
	uint32_t off = (uint32_t)(addr - base);

	for (uint32_t i = 0; i < g->frame_size; i++)
		if (f[i] && (i < off || i >= off + len))
			return 0;
	return 1;
}

/* The bytes of packet d[0..m) (frames in a row), into buf (PKT_MAX):
 * its length. */
static uint32_t packet_bytes(const struct fsg *g, const struct fs_desc *d,
			     uint32_t m, uint8_t *buf)
{
	uint32_t len = 0;

	for (uint32_t j = 0; j < m && len + d[j].len <= PKT_MAX; j++) {
		memcpy(buf + len, fsg_data(g, d[j].addr), d[j].len);
		len += d[j].len;
	}
	return len;
}

static int cmd_rx(struct fsg *g, const struct opts *o, int echo)
{
	struct fs_desc d[BATCH];
	static uint8_t pkt[PKT_MAX];
	long long got = 0;
	double deadline = tool_now() + o->timeout;
	pcap_dumper_t *pd = NULL;
	pcap_t *p = NULL;
	unsigned int idle = 0;
	volatile uint8_t sink = 0;
	long long unclean = 0;

	if (o->pcap && !(pd = pcapout_open("flipswitch-guest", o->pcap, &p)))
		return 1;
	while (!stop && (o->count < 0 || got < o->count) && tool_now() < deadline) {
		uint32_t n = fsg_rx(g, d, BATCH), i, m, j;

		if (!n) {
			if (keep_attached(g))
				break;
			backoff(g, FSG_WAIT_RX, &idle);
			continue;
		}
		idle = 0;
		/* A packet at a time: m frames from d[i] on. */
		for (i = 0; i < n; i += m) {
			uint8_t *f = fsg_data(g, d[i].addr), tmp[6];
			uint32_t len = d[i].len;
			const uint8_t *all = f;

			for (m = 1; i + m < n &&
				    (d[i + m - 1].options & FS_DESC_MORE);
			     m++)
				;
			if (m > 1) {
				len = packet_bytes(g, &d[i], m, pkt);
				all = pkt;
			}
			sink ^= f[0]; /* a real receiver reads the header */
			for (j = 0; o->clean && j < m; j++)
				unclean += !frame_clean(g, d[i + j].addr,
							d[i + j].len);
			if (o->sums)
				printf("sum %u %08x\n", len, tool_crc32(all, len));
			if (pd)
				pcapout_write(pd, all, len);
			if (echo && d[i].len >= FS_ETH_HLEN) {
				memcpy(tmp, f, 6);
				memcpy(f, f + 6, 6);
				memcpy(f + 6, tmp, 6);
				while (fsg_tx_packet(g, &d[i], m) == -EAGAIN &&
				       !stop && !fsg_switch_changed(g))
					fsg_flush(g);
			} else if (!o->hold) {
				for (j = 0; j < m; j++)
					give_back(g, d[i + j].addr);
			}
			got++;
		}
		fsg_flush(g);
	}
	pcapout_close(pd, p);
	printf("%s %lld\n", echo ? "echoed" : "received", got);
	if (o->clean)
		printf("unclean %lld\n", unclean);
	(void)sink;
	return (o->count >= 0 && got < o->count) || unclean ? 1 : 0;
}

static unsigned int fill_frame(uint8_t *f, const struct opts *o,
			       const uint8_t *src, uint32_t seq)
{
	unsigned int i;

	memcpy(f, o->dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = ETHERTYPE_TEST >> 8;
	f[13] = ETHERTYPE_TEST & 0xff;
	memcpy(f + 14, "FSPK", 4);
	f[18] = seq >> 24;
	f[19] = seq >> 16;
	f[20] = seq >> 8;
	f[21] = seq;
	for (i = 22; i < o->size; i++)
		f[i] = (uint8_t)(seq * 31 + i * 7);
	return o->size;
}

/* --tamper: the addresses of the last TAMPER_SLOTS frames sent, and the
 * thread that rewrites them. A hostile guest's test tool: the frames
 * are no longer its own. Frames are handed to it once published (after
 * the flush that shows them to the switch), and it rests a little after
 * each round: the switch reads some frames before they are rewritten
 * (those leave, and are rewritten while queued for the wire) and some
 * after (those it drops), on a quiet machine as on a busy one. */
#define TAMPER_SLOTS 256
struct tamper {
	struct fsg *g;
	const uint8_t *mac;
	uint64_t addr[TAMPER_SLOTS];
	uint32_t n;          /* addresses written (release) */
	int stop;
};

static void *tamper_run(void *arg)
{
	struct tamper *t = arg;

	for (uint32_t round = 0; !__atomic_load_n(&t->stop, __ATOMIC_RELAXED);
	     round++) {
		uint32_t n = __atomic_load_n(&t->n, __ATOMIC_ACQUIRE);

		for (uint32_t i = n > TAMPER_SLOTS ? n - TAMPER_SLOTS : 0; i < n; i++) {
			volatile uint8_t *f = fsg_data(t->g, __atomic_load_n(
				&t->addr[i % TAMPER_SLOTS], __ATOMIC_RELAXED));
			/* As written (source, then a tag for VLAN 20), or
			 * as a tag pushed in place would have moved them (the
			 * MACs 4 bytes back, the tag after them). */
			uint32_t at = round & 1 ? 6 : 2;

			for (int k = 0; k < 6; k++)
				f[at + k] = t->mac[k];
			f[at + 6] = 0x81;
			f[at + 7] = 0x00;
			f[at + 8] = 0x00;
			f[at + 9] = 20;
		}
		if (round & 1)
			usleep(50);
	}
	return NULL;
}

static int cmd_tx(struct fsg *g, const struct opts *o)
{
	const uint8_t *src = o->have_src ? o->src : g->hdr->mac;
	long long count = o->count < 0 ? 1 : o->count, sent = 0;
	double deadline = tool_now() + o->timeout;
	pcap_dumper_t *pd = NULL;
	pcap_t *p = NULL;
	struct fs_desc d[BATCH];
	unsigned int idle = 0;
	static struct tamper tm;
	pthread_t th;

	if (o->pcap && !(pd = pcapout_open("flipswitch-guest", o->pcap, &p)))
		return 1;
	tm.g = g;
	tm.mac = o->tamper;
	if (o->have_tamper && pthread_create(&th, NULL, tamper_run, &tm)) {
		fprintf(stderr, "flipswitch-guest: cannot start the tamper thread\n");
		return 1;
	}
	/* Frames a packet of o->size bytes takes: the first after the
	 * headroom, the others whole (main checked it against max_frames). */
	uint32_t first = g->frame_size - g->headroom, nf = 1, have = 0;
	uint64_t base[FS_TOOL_MAX_FRAMES];
	static uint8_t pkt[PKT_MAX];

	if (o->size > first)
		nf += (o->size - first + g->frame_size - 1) / g->frame_size;
	while (!stop && sent < count && tool_now() < deadline) {
		uint32_t n, i;
		uint64_t b = have < nf ? fsg_alloc(g) : UINT64_MAX;

		if (b != UINT64_MAX)
			base[have++] = b;
		/* Frames that arrive meanwhile go straight back. */
		n = fsg_rx(g, d, BATCH);
		for (i = 0; i < n; i++)
			give_back(g, d[i].addr);
		if (have < nf) {
			if (b != UINT64_MAX)
				continue;
			fsg_flush(g);
			if (keep_attached(g))
				break;
			backoff(g, FSG_WAIT_RX | FSG_WAIT_ALLOC, &idle);
			continue;
		}
		idle = 0;
		have = 0;
		uint8_t *f = fsg_data(g, base[0] + g->headroom);
		unsigned int len = fill_frame(nf > 1 ? pkt : f, o, src,
					      (uint32_t)sent);

		if (nf > 1) {
			/* A packet of several frames: its bytes scattered
			 * over them, the first after the headroom, sent as
			 * one. */
			struct fs_desc c[FS_TOOL_MAX_FRAMES];
			uint32_t at = 0;

			for (i = 0; i < nf; i++) {
				uint32_t off = i ? 0 : g->headroom;
				uint32_t room = g->frame_size - off;

				c[i].addr = base[i] + off;
				c[i].len = len - at < room ? len - at : room;
				memcpy(fsg_data(g, c[i].addr), pkt + at,
				       c[i].len);
				at += c[i].len;
			}
			f = pkt;
			if (pd)
				pcapout_write(pd, f, len);
			if (o->sums)
				printf("sum %u %08x\n", len, tool_crc32(f, len));
			while (fsg_tx_packet(g, c, nf) == -EAGAIN && !stop)
				fsg_flush(g);
		} else {
			if (pd)
				pcapout_write(pd, f, len);
			if (o->sums)
				printf("sum %u %08x\n", len, tool_crc32(f, len));
			while (fsg_tx(g, base[0] + g->headroom, len) == -EAGAIN &&
			       !stop)
				fsg_flush(g);
		}
		__atomic_store_n(&tm.addr[sent % TAMPER_SLOTS],
				 base[0] + g->headroom, __ATOMIC_RELAXED);
		if (++sent % BATCH == 0) {
			fsg_flush(g);
			__atomic_store_n(&tm.n, (uint32_t)sent, __ATOMIC_RELEASE);
		}
	}
	fsg_flush(g);
	__atomic_store_n(&tm.n, (uint32_t)sent, __ATOMIC_RELEASE);
	if (o->have_tamper) {
		/* Frames in flight a little longer, still rewritten. */
		usleep(200000);
		__atomic_store_n(&tm.stop, 1, __ATOMIC_RELAXED);
		pthread_join(th, NULL);
	}
	pcapout_close(pd, p);
	printf("sent %lld\n", sent);
	return sent < count ? 1 : 0;
}

/* Frames of fs-pkt's format with o->seed anywhere in the pool file, read
 * through a mapping of all of it, as a guest of the pool maps it. */
static int cmd_scan(const struct opts *o)
{
	const uint32_t seed = (uint32_t)o->seed;
	const uint8_t want[4] = { seed >> 24, seed >> 16, seed >> 8, seed };
	const uint8_t *m, *p, *end;
	long long found = 0;
	struct stat st;
	int fd;

	fd = open(o->pool, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || st.st_size < 12) {
		fprintf(stderr, "flipswitch-guest: cannot open %s: %s\n", o->pool,
			strerror(errno));
		return 1;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		fprintf(stderr, "flipswitch-guest: cannot map %s: %s\n", o->pool,
			strerror(errno));
		return 1;
	}
	end = m + st.st_size - 12;
	for (p = m; p <= end && (p = memchr(p, 'F', (size_t)(end - p) + 1));
	     p++)
		if (!memcmp(p, "FSPK", 4) && !memcmp(p + 8, want, 4))
			found++;
	munmap((void *)m, (size_t)st.st_size);
	printf("found %lld\n", found);
	return 0;
}

/* A guest that tries what it must not be able to hurt anyone with but
 * itself: each round posts bad descriptors on its tx and free rings, frees
 * what it does not own and what it freed, keeps every frame it is given
 * (its quota runs out), sometimes moves a producer index far ahead, and
 * asks to attach again every few rounds. The switch must count and skip it
 * all, and other VMs, other pools above all, must not notice. */
static int cmd_hostile(struct fsg *g, const struct opts *o)
{
	double deadline = tool_now() + o->timeout;
	uint64_t frames = g->pool_size / g->frame_size, held = UINT64_MAX;
	struct fs_desc d[BATCH];
	long long rounds = 0;
	uint32_t r = 12345;

	while (!stop && tool_now() < deadline) {
		uint64_t a = fsg_alloc(g);
		uint32_t n = fsg_rx(g, d, BATCH);

		if (n)
			held = d[0].addr;
		else if (a != UINT64_MAX)
			held = a;
		r = r * 1103515245u + 12345u;
		/* Outside the pool; another frame, likely not ours; a length
		 * past the frame and one under a header; options set. */
		fsg_tx(g, g->pool_size + (r & 0xffff), 64);
		fsg_tx(g, (uint64_t)(r % frames) * g->frame_size, 64);
		if (held != UINT64_MAX) {
			fsg_tx(g, held, g->frame_size + 1);
			fsg_tx(g, held, 3);
		}
		if (held != UINT64_MAX && !(rounds % 16)) {
			/* Most frames stay held; this one goes back, and
			 * then again. */
			fsg_free(g, held);
			fsg_free(g, held);
			held = UINT64_MAX;
		}
		fsg_free(g, UINT64_MAX - (r & 0xfff));
		fsg_free(g, (uint64_t)((r >> 8) % frames) * g->frame_size);
		fsg_flush(g);
		if (!(rounds % 7)) {
			/* A producer index far ahead of what was posted. */
			__atomic_store_n(g->tx.producer,
					 g->tx.cached_prod + (1u << 30),
					 __ATOMIC_RELEASE);
		}
		if (!(rounds % 25) || fsg_switch_changed(g) || fsg_superseded(g))
			fsg_attach(g, 1000); /* resets the rings */
		rounds++;
		usleep(200);
	}
	printf("hostile %lld rounds\n", rounds);
	return 0;
}

/* Finds the two ivshmem devices, enables them, and tells the ring region
 * (it starts with the flipswitch magic) from the pool. */
static int pci_find(char *pool, char *rings, char *ring_bdf, size_t len,
		    int last_try)
{
	static const char base[] = "/sys/bus/pci/devices";
	char path[512], id[16];
	int found = 0;
	DIR *d = opendir(base);
	struct dirent *e;

	if (!d) {
		fprintf(stderr, "flipswitch-guest: cannot list %s: %s\n", base,
			strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		uint64_t magic = 0;
		FILE *f;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/vendor", base, e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (!fgets(id, sizeof(id), f) || strncmp(id, IVSHMEM_VENDOR, 6)) {
			fclose(f);
			continue;
		}
		fclose(f);
		snprintf(path, sizeof(path), "%s/%s/device", base, e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (!fgets(id, sizeof(id), f) || strncmp(id, IVSHMEM_DEVICE, 6)) {
			fclose(f);
			continue;
		}
		fclose(f);
		/* No driver binds ivshmem: turn on its memory decoding so the
		 * BAR reads as the shared file. */
		snprintf(path, sizeof(path), "%s/%s/enable", base, e->d_name);
		if ((f = fopen(path, "w"))) {
			fputs("1", f);
			fclose(f);
		}
		snprintf(path, sizeof(path), "%s/%s/resource2", base, e->d_name);
		fd = open(path, O_RDONLY);
		if (fd >= 0) {
			void *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);

			if (m != MAP_FAILED) {
				memcpy(&magic, m, sizeof(magic));
				munmap(m, 4096);
			}
			close(fd);
		}
		snprintf(magic == FS_REGION_MAGIC ? rings : pool, len, "%s", path);
		if (magic == FS_REGION_MAGIC)
			snprintf(ring_bdf, len, "%s", e->d_name);
		found |= magic == FS_REGION_MAGIC ? 2 : 1;
	}
	closedir(d);
	if (found != 3 && !last_try)
		return -1;
	if (found != 3) {
		pool[0] = '\0';
		fprintf(stderr, "flipswitch-guest: need two ivshmem devices (1af4:1110), the pool and a flipswitch ring region; found%s%s%s\n",
			found & 1 ? " a pool" : "", found & 2 ? " a ring region" : "",
			found ? "" : " neither");
		return 0;
	}
	return 0;
}

/* QEMU's isa-debug-exit: writing v to its port exits QEMU with status
 * v * 2 + 1. Returns only if that failed. */
static int debug_exit(int rc)
{
	if (ioperm(DEBUG_EXIT_PORT, 1, 1)) {
		fprintf(stderr, "flipswitch-guest: debug-exit: %s\n",
			strerror(errno));
		return 1;
	}
	fflush(NULL);
	outb((unsigned char)rc, DEBUG_EXIT_PORT);
	fprintf(stderr, "flipswitch-guest: debug-exit: no isa-debug-exit device at 0x%x\n",
		DEBUG_EXIT_PORT);
	return 1;
}

static const struct option lopts[] = {
	{ "pool", required_argument, NULL, 'P' },
	{ "rings", required_argument, NULL, 'R' },
	{ "count", required_argument, NULL, 'n' },
	{ "timeout", required_argument, NULL, 't' },
	{ "pcap", required_argument, NULL, 'w' },
	{ "dst", required_argument, NULL, 'd' },
	{ "src", required_argument, NULL, 's' },
	{ "tamper", required_argument, NULL, 'T' },
	{ "size", required_argument, NULL, 'S' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "hold", no_argument, NULL, 'H' },
	{ "no-chains", no_argument, NULL, 'N' },
	{ "sums", no_argument, NULL, 'U' },
	{ "clean", no_argument, NULL, 'C' },
	{ "pci", no_argument, NULL, 'I' },
	{ "irq", no_argument, NULL, 'Q' },
	{ "doorbell", required_argument, NULL, 'D' },
	{ "seed", required_argument, NULL, 'e' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/* Parses options up to the first non-option word. 0, or an exit code. */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	int c;

	while ((c = getopt_long(argc, argv, "+h", lopts, NULL)) != -1) {
		switch (c) {
		case 'P':
			o->pool = optarg;
			break;
		case 'R':
			o->rings = optarg;
			break;
		case 'n':
			o->count = atoll(optarg);
			break;
		case 't':
			o->timeout = atof(optarg);
			break;
		case 'w':
			o->pcap = optarg;
			break;
		case 'd':
		case 's':
			if (tool_parse_mac(optarg, c == 'd' ? o->dst : o->src)) {
				fprintf(stderr, "flipswitch-guest: %s is not a MAC address (like 52:54:00:12:34:56)\n",
					optarg);
				return 2;
			}
			*(c == 'd' ? &o->have_dst : &o->have_src) = 1;
			break;
		case 'T':
			if (tool_parse_mac(optarg, o->tamper)) {
				fprintf(stderr, "flipswitch-guest: %s is not a MAC address (like 52:54:00:12:34:56)\n",
					optarg);
				return 2;
			}
			o->have_tamper = 1;
			break;
		case 'S':
			o->size = (unsigned int)atoi(optarg);
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'H':
			o->hold = 1;
			break;
		case 'N':
			o->no_chains = 1;
			break;
		case 'C':
			o->clean = 1;
			break;
		case 'U':
			o->sums = 1;
			break;
		case 'I':
			o->pci = 1;
			break;
		case 'Q':
			o->irq = 1;
			break;
		case 'D':
			o->doorbell = optarg;
			break;
		case 'e':
			o->seed = strtoll(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static char pci_pool[512], pci_rings[512], pci_bdf[512];
	struct fsvfio vf = { .container = -1, .group = -1, .device = -1,
			     .irq_fd = -1, .bar2 = MAP_FAILED };
	struct opts o = { .count = -1, .timeout = 10, .size = 128 };
	struct sigaction sa = { .sa_handler = on_signal };
	const char *cmd = NULL;
	char err[256];
	struct fsg g;
	int rc;

	/* Options before the command, the command, options after it. */
	rc = parse_opts(argc, argv, &o);
	if (rc)
		return rc;
	if (optind < argc) {
		int first = optind;

		cmd = argv[first];
		optind = 1;
		rc = parse_opts(argc - first, argv + first, &o);
		if (rc)
			return rc;
		optind += first;
	}
	if (cmd && !strcmp(cmd, "debug-exit"))
		return optind + 1 == argc ? debug_exit(atoi(argv[optind])) : 2;

	if (o.pci) {
		/* A guest may boot before the switch: the ring region gets
		 * its magic when the switch starts. */
		double until = tool_now() + o.timeout;

		while (pci_find(pci_pool, pci_rings, pci_bdf, sizeof(pci_pool),
				tool_now() >= until))
			usleep(100000);
		if (!pci_pool[0])
			return 1;
		o.pool = pci_pool;
		o.rings = pci_rings;
	}
	if (cmd && !strcmp(cmd, "scan") && o.pool && optind == argc)
		return cmd_scan(&o);
	if (!o.pool || !(o.rings || o.doorbell) || !cmd || optind != argc ||
	    (o.irq && !o.pci)) {
		usage(stderr);
		return 2;
	}
	if (strcmp(cmd, "rx") && strcmp(cmd, "tx") && strcmp(cmd, "echo") &&
	    strcmp(cmd, "hostile")) {
		fprintf(stderr, "flipswitch-guest: unknown command \"%s\" (rx, tx, echo, scan or hostile)\n", cmd);
		return 2;
	}
	/* Longer than 1514 if the frame has room: the uplink's MTU says
	 * what the wire takes (a longer one is dropped, too_big). */
	if (!strcmp(cmd, "tx") && (!o.have_dst || o.size < 60)) {
		fprintf(stderr, "flipswitch-guest: tx needs --dst MAC and a --size of at least 60\n");
		return 2;
	}
	if (o.irq) {
		rc = fsvfio_open(&vf, pci_bdf, err, sizeof(err));
		if (!rc)
			rc = fsg_open_mem(&g, o.pool, vf.bar2, vf.bar2_size, err,
					  sizeof(err));
		if (!rc) {
			fsg_set_doorbell(&g, vf.irq_fd, vf.device, vf.doorbell_off);
			vf.irq_fd = -1; /* g closes it */
		}
	}
	for (double until = tool_now() + o.timeout; !o.irq;) {
		if (o.doorbell && !o.pci)
			rc = fsg_open_doorbell(&g, o.pool, o.doorbell, err,
					       sizeof(err));
		else
			rc = fsg_open(&g, o.pool, o.rings, err, sizeof(err));
		if (rc != -EAGAIN || tool_now() >= until)
			break;
		usleep(100000); /* the switch is not up yet */
	}
	if (rc) {
		fprintf(stderr, "flipswitch-guest: %s\n", err);
		return 1;
	}
	if (o.size > g.frame_size - g.headroom &&
	    (o.size > fsg_max_packet(&g) || o.size > PKT_MAX ||
	     1 + (o.size - (g.frame_size - g.headroom) + g.frame_size - 1) /
			     g.frame_size > fsg_max_frames(&g))) {
		fprintf(stderr, "flipswitch-guest: --size %u does not fit a %u-byte frame after %u bytes of headroom, and the switch takes packets of several frames up to %u bytes (ABI %u.%u)\n",
			o.size, g.frame_size, g.headroom, fsg_max_packet(&g),
			g.hdr->abi_major, g.hdr->abi_minor);
		return 2;
	}
	/* Packets of several frames: asked for unless --no-chains (an
	 * older guest's part, for tests). */
	g.chains = !o.no_chains;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (fsg_attach(&g, (int)(o.timeout * 1000))) {
		fprintf(stderr, "flipswitch-guest: the switch did not answer on %s: is flipswitchd running with this VM?\n",
			o.rings);
		return 1;
	}
	if (!o.quiet && o.pci)
		fprintf(stderr, "flipswitch-guest: pool %s, rings %s%s\n", o.pool,
			o.rings, o.irq ? ", doorbell through VFIO" : "");
	if (!o.quiet)
		fprintf(stderr, "flipswitch-guest: attached to vm %.*s (%02x:%02x:%02x:%02x:%02x:%02x), generation %u, uplink mtu %u\n",
			FS_NAME_MAX, g.hdr->name, g.hdr->mac[0], g.hdr->mac[1],
			g.hdr->mac[2], g.hdr->mac[3], g.hdr->mac[4],
			g.hdr->mac[5], g.gen, fsg_uplink_mtu(&g));
	if (!strcmp(cmd, "tx"))
		rc = cmd_tx(&g, &o);
	else if (!strcmp(cmd, "hostile"))
		rc = cmd_hostile(&g, &o);
	else
		rc = cmd_rx(&g, &o, !strcmp(cmd, "echo"));
	fflush(stdout);
	if (!fsg_superseded(&g) && fsg_detach(&g, 5000))
		fprintf(stderr, "flipswitch-guest: the switch did not confirm the detach\n");
	if (g.wait_fd >= 0 && !o.quiet)
		fprintf(stderr, "flipswitch-guest: doorbell: rang the switch %llu times, slept %llu times, woken by the switch %llu times\n",
			(unsigned long long)g.rings, (unsigned long long)g.waits,
			(unsigned long long)g.wakeups);
	fsg_close(&g);
	fsvfio_close(&vf);
	return rc;
}
