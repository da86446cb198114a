/* SPDX-License-Identifier: MIT */
/* Writing frames to a pcap file, for the command-line tools.
 * Header-only, libpcap. */
#ifndef FS_TOOLS_PCAPOUT_H
#define FS_TOOLS_PCAPOUT_H

#include <pcap/pcap.h>

#include "toolutil.h"
#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

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
