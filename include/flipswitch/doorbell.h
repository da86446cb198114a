/* SPDX-License-Identifier: MIT */
/*
 * The ivshmem-server protocol's messages (QEMU docs/specs/ivshmem-spec.rst),
 * as flipswitchd sends them on a VM's doorbell socket and flipswitch-guest
 * --doorbell reads them on the host: each message is one 8-byte
 * little-endian signed number with at most one file descriptor
 * (SCM_RIGHTS). On connect the server sends, in order:
 *
 *   0                         protocol version
 *   ID                        the guest's peer ID
 *   -1      + region fd       the shared memory: the VM's ring region
 *   FS_DOORBELL_SWITCH_ID + eventfd   writing it rings the switch
 *   ID      + eventfd         the guest's vector 0: the switch writes it
 *
 * and later a bare peer ID when that peer goes away. libc only.
 */
#ifndef FLIPSWITCH_DOORBELL_H
#define FLIPSWITCH_DOORBELL_H

#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FS_DOORBELL_PROTOCOL 0

/* One message: value, and fd if fd >= 0. 0 or -errno. */
static inline int fs_doorbell_send(int sock, int64_t value, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	int64_t le = (int64_t)htole64((uint64_t)value);
	struct iovec iov = { &le, sizeof(le) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == sizeof(le) ? 0 : -EIO;
}

/* Receives one message; *fd is -1 if none came with it. 0, -EPIPE at end
 * of stream, or -errno. */
static inline int fs_doorbell_recv(int sock, int64_t *value, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	uint64_t le;
	struct iovec iov = { &le, sizeof(le) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	ssize_t n;

	*fd = -1;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(cm), sizeof(int));
	if (n != sizeof(le)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return n == 0 ? -EPIPE : -EIO;
	}
	*value = (int64_t)le64toh(le);
	return 0;
}

#endif /* FLIPSWITCH_DOORBELL_H */
