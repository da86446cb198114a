// SPDX-License-Identifier: MIT
/*
 * fsn-xdp: attaches a small native XDP program to an interface, for the
 * test guest (static, no libbpf; the programs are a few instructions).
 *
 *   fsn-xdp IFACE drop   drop every frame that is not IPv4 or ARP
 *   fsn-xdp IFACE tx     send every such frame back, MACs swapped (XDP_TX)
 *   fsn-xdp IFACE redirect  XDP_REDIRECT every frame, IPv4 and ARP too,
 *                        into a cpumap (CPU 0), which hands it to the stack
 *   fsn-xdp IFACE off    detach
 *
 * IPv4 and ARP pass drop and tx, so the guest stays reachable while a
 * program is on; through redirect they reach the stack too.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define INSN(c, d, s, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), \
			    .off = (o), .imm = (i) })
#define LDX(sz, d, s, o) INSN(BPF_LDX | BPF_MEM | (sz), d, s, o, 0)
#define STX(sz, d, s, o) INSN(BPF_STX | BPF_MEM | (sz), d, s, o, 0)
#define MOV_IMM(d, i) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define MOV_REG(d, s) INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define ADD_IMM(d, i) INSN(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define JGT_REG(d, s, o) INSN(BPF_JMP | BPF_JGT | BPF_X, d, s, o, 0)
#define JEQ_IMM(d, i, o) INSN(BPF_JMP | BPF_JEQ | BPF_K, d, 0, o, i)
#define EXIT INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define CALL(f) INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)

/* r2 = data, r3 = data_end; frames shorter than a header, IPv4 and ARP
 * jump to the last two instructions (XDP_PASS). The ethertype is loaded
 * as it lies in memory: 0x0800 reads 0x0008 on a little-endian CPU. */
#define PROLOGUE(tail)						\
	LDX(BPF_W, 2, 1, 0),					\
	LDX(BPF_W, 3, 1, 4),					\
	MOV_REG(4, 2),						\
	ADD_IMM(4, 14),						\
	JGT_REG(4, 3, (tail) + 3),				\
	LDX(BPF_H, 5, 2, 12),					\
	JEQ_IMM(5, 0x0008, (tail) + 1),				\
	JEQ_IMM(5, 0x0608, (tail))

static const struct bpf_insn prog_drop[] = {
	PROLOGUE(2),
	MOV_IMM(0, XDP_DROP),
	EXIT,
	MOV_IMM(0, XDP_PASS),
	EXIT,
};

static const struct bpf_insn prog_tx[] = {
	PROLOGUE(10),
	LDX(BPF_W, 5, 2, 0),	/* destination MAC */
	LDX(BPF_H, 6, 2, 4),
	LDX(BPF_W, 7, 2, 6),	/* source MAC */
	LDX(BPF_H, 8, 2, 10),
	STX(BPF_W, 2, 7, 0),
	STX(BPF_H, 2, 8, 4),
	STX(BPF_W, 2, 5, 6),
	STX(BPF_H, 2, 6, 10),
	MOV_IMM(0, XDP_TX),
	EXIT,
	MOV_IMM(0, XDP_PASS),
	EXIT,
};

static int bpf(int cmd, union bpf_attr *a)
{
	return (int)syscall(__NR_bpf, cmd, a, sizeof(*a));
}

/* A cpumap of one entry, CPU 0 (every guest has it), queue of 192. */
static int cpumap_create(void)
{
	__u32 key = 0, qsize = 192;
	union bpf_attr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_CPUMAP;
	a.key_size = sizeof(key);
	a.value_size = sizeof(qsize);
	a.max_entries = 1;
	fd = bpf(BPF_MAP_CREATE, &a);
	if (fd < 0) {
		fprintf(stderr, "fsn-xdp: no cpumap: %s\n", strerror(errno));
		return -1;
	}
	memset(&a, 0, sizeof(a));
	a.map_fd = (__u32)fd;
	a.key = (unsigned long)&key;
	a.value = (unsigned long)&qsize;
	if (bpf(BPF_MAP_UPDATE_ELEM, &a)) {
		fprintf(stderr, "fsn-xdp: cpumap entry 0: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int prog_load(const struct bpf_insn *insns, unsigned int n)
{
	static char log[65536];
	union bpf_attr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_XDP;
	a.insns = (unsigned long)insns;
	a.insn_cnt = n;
	a.license = (unsigned long)"GPL";
	a.log_buf = (unsigned long)log;
	a.log_size = sizeof(log);
	a.log_level = 1;
	fd = bpf(BPF_PROG_LOAD, &a);
	if (fd < 0)
		fprintf(stderr, "fsn-xdp: the kernel refused the program: %s\n%s",
			strerror(errno), log);
	return fd;
}

/* RTM_SETLINK with IFLA_XDP { FD, FLAGS = native }; fd -1 detaches. */
static int attach(int ifindex, int fd)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
		char attrs[64];
	} req;
	struct {
		struct nlmsghdr nh;
		struct nlmsgerr err;
		char more[256];
	} ans;
	struct rtattr *xdp, *rta;
	int s, flags = XDP_FLAGS_DRV_MODE;
	ssize_t n;

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifi));
	req.nh.nlmsg_type = RTM_SETLINK;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	req.ifi.ifi_family = AF_UNSPEC;
	req.ifi.ifi_index = ifindex;
	xdp = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
	xdp->rta_type = NLA_F_NESTED | IFLA_XDP;
	xdp->rta_len = RTA_LENGTH(0);
	rta = (struct rtattr *)((char *)xdp + RTA_ALIGN(xdp->rta_len));
	rta->rta_type = IFLA_XDP_FD;
	rta->rta_len = RTA_LENGTH(sizeof(int));
	memcpy(RTA_DATA(rta), &fd, sizeof(int));
	xdp->rta_len += RTA_ALIGN(rta->rta_len);
	rta = (struct rtattr *)((char *)xdp + RTA_ALIGN(xdp->rta_len));
	rta->rta_type = IFLA_XDP_FLAGS;
	rta->rta_len = RTA_LENGTH(sizeof(int));
	memcpy(RTA_DATA(rta), &flags, sizeof(int));
	xdp->rta_len += RTA_ALIGN(rta->rta_len);
	req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + xdp->rta_len;

	s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (s < 0)
		return -errno;
	if (send(s, &req, req.nh.nlmsg_len, 0) < 0) {
		n = -errno;
		close(s);
		return (int)n;
	}
	n = recv(s, &ans, sizeof(ans), 0);
	close(s);
	if (n < (ssize_t)(sizeof(ans.nh) + sizeof(ans.err)) ||
	    ans.nh.nlmsg_type != NLMSG_ERROR)
		return -EPROTO;
	return ans.err.error;
}

int main(int argc, char **argv)
{
	int ifindex, fd = -1, rc;

	if (argc != 3) {
		fprintf(stderr, "usage: fsn-xdp IFACE drop|tx|redirect|off\n");
		return 2;
	}
	ifindex = (int)if_nametoindex(argv[1]);
	if (!ifindex) {
		fprintf(stderr, "fsn-xdp: no interface %s\n", argv[1]);
		return 1;
	}
	if (!strcmp(argv[2], "drop"))
		fd = prog_load(prog_drop, sizeof(prog_drop) / sizeof(prog_drop[0]));
	else if (!strcmp(argv[2], "tx"))
		fd = prog_load(prog_tx, sizeof(prog_tx) / sizeof(prog_tx[0]));
	else if (!strcmp(argv[2], "redirect")) {
		/* return bpf_redirect_map(&cpumap, 0, XDP_PASS); the map's
		 * fd goes in a two-instruction load the kernel resolves. */
		struct bpf_insn prog[] = {
			INSN(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, 0),
			INSN(0, 0, 0, 0, 0),
			MOV_IMM(2, 0),
			MOV_IMM(3, XDP_PASS),
			CALL(BPF_FUNC_redirect_map),
			EXIT,
		};
		int map = cpumap_create();

		if (map < 0)
			return 1;
		prog[0].imm = map;
		fd = prog_load(prog, sizeof(prog) / sizeof(prog[0]));
	} else if (strcmp(argv[2], "off")) {
		fprintf(stderr, "usage: fsn-xdp IFACE drop|tx|redirect|off\n");
		return 2;
	}
	if (fd < 0 && strcmp(argv[2], "off"))
		return 1;
	rc = attach(ifindex, fd);
	if (rc) {
		fprintf(stderr, "fsn-xdp: attaching to %s: %s\n", argv[1],
			strerror(-rc));
		return 1;
	}
	printf("fsn-xdp: %s on %s\n", argv[2], argv[1]);
	return 0;
}
