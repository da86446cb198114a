/* SPDX-License-Identifier: MIT */
/* Small helpers the command-line tools share: MAC parsing, a monotonic
 * clock, and writing frames to a pcap file. Header-only, libc + libpcap. */
#ifndef FS_TOOLS_PCAPOUT_H
#define FS_TOOLS_PCAPOUT_H

#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

/* "52:54:00:12:34:56", nothing after it. 0 or -1. */
static inline int tool_parse_mac(const char *s, uint8_t m[6])
{
	unsigned int b[6];
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &end) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		m[i] = (uint8_t)b[i];
	return 0;
}

static inline double tool_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Opens an Ethernet pcap for writing; NULL with a message on stderr. */
static inline pcap_dumper_t *pcapout_open(const char *prog, const char *path,
					  pcap_t **pd)
{
	pcap_dumper_t *d;

	*pd = pcap_open_dead(DLT_EN10MB, 65535);
	d = pcap_dump_open(*pd, path);
	if (!d)
		fprintf(stderr, "%s: cannot write %s: %s\n", prog, path,
			pcap_geterr(*pd));
	return d;
}

static inline void pcapout_write(pcap_dumper_t *d, const void *data,
				 unsigned int len)
{
	struct pcap_pkthdr h = { .caplen = len, .len = len };

	gettimeofday(&h.ts, NULL);
	pcap_dump((u_char *)d, &h, data);
}

static inline void pcapout_close(pcap_dumper_t *d, pcap_t *pd)
{
	if (d) {
		pcap_dump_close(d);
		pcap_close(pd);
	}
}

#endif
