// SPDX-License-Identifier: MIT
/*
 * fs-udpsink PORT SECONDS: a UDP receiver for the test guest (static).
 * Counts the datagrams and bytes arriving on PORT from the first one on,
 * for SECONDS (less if nothing comes for 2 s; none in 60 s is an error),
 * and prints
 *   udp PACKETS packets BYTES bytes in S s: PPS pps MBITS Mbit/s
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
	unsigned long long pkts = 0, bytes = 0;
	double secs, start = 0, last = 0, t, t0;
	static char buf[65536];
	int s, rcvbuf = 4 << 20;
	ssize_t n;

	if (argc != 3 || atoi(argv[1]) <= 0 || atof(argv[2]) <= 0) {
		fprintf(stderr, "usage: fs-udpsink PORT SECONDS\n");
		return 2;
	}
	secs = atof(argv[2]);
	sin.sin_port = htons((unsigned short)atoi(argv[1]));
	s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sin, sizeof(sin))) {
		perror("fs-udpsink");
		return 1;
	}
	setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	t0 = now();
	for (;;) {
		n = recv(s, buf, sizeof(buf), 0);
		t = now();
		if (n >= 0) {
			if (!pkts)
				start = t;
			pkts++;
			bytes += (unsigned long long)n;
			last = t;
		}
		if (pkts && t - start >= secs)
			break;
		/* The sender stopped early, or never started. */
		if ((pkts && t - last >= 2) || (!pkts && t - t0 >= 60))
			break;
	}
	t = last > start ? last - start : 1e-9;
	printf("udp %llu packets %llu bytes in %.2f s: %.0f pps %.1f Mbit/s\n",
	       pkts, bytes, t, pkts / t, bytes * 8 / t / 1e6);
	return pkts ? 0 : 1;
}
