/* SPDX-License-Identifier: MIT */
/* Small helpers the command-line tools share: MAC parsing, a monotonic
 * clock, CRC-32. Header-only, libc only (the guest tool is built static). */
#ifndef FS_TOOLS_TOOLUTIL_H
#define FS_TOOLS_TOOLUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* AF_XDP multi-buffer (Linux 6.6) for the bench tools, whose uapi headers
 * (Debian 12's) are older than the kernels they run on; the kernel's ABI
 * values. Include after <linux/if_xdp.h>. */
#ifndef XDP_USE_SG
#define XDP_USE_SG (1 << 4)
#endif
#ifndef XDP_PKT_CONTD
#define XDP_PKT_CONTD (1 << 0)
#endif

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

/* CRC-32 (IEEE 802.3, as zlib's crc32()), bitwise: the tools checksum a
 * few thousand test frames, not a line rate. */
static inline uint32_t tool_crc32(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t c = 0xffffffffu;

	while (len--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c >> 1 ^ (0xedb88320u & -(c & 1));
	}
	return ~c;
}

#endif
