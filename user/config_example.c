// SPDX-License-Identifier: MIT
/*
 * A first configuration for one interface: `flipswitchd --example-config
 * IFACE [--vms N]`. configs/example.conf is its output for eth1 and two
 * VMs (test_config checks that the two agree).
 *
 * The first VM shows every key with its default; the others only what
 * they must have. Quotas shrink with many VMs so that all of them can hold
 * their whole quota while the NIC's fill rings hold theirs, rather than
 * the pool growing past 16384 frames (32 MiB); at 64 frames a VM, the
 * pool grows.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "config.h"

#define EX_FRAMES 16384
/* Kept back for the NIC's fill rings and the switch. */
#define EX_RESERVE 4096

/* One setting at indent, its comment (if any) in the column after it. */
static __attribute__((format(printf, 4, 5)))
void kv(FILE *f, int indent, const char *comment, const char *fmt, ...)
{
	char set[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(set, sizeof(set), fmt, ap);
	va_end(ap);
	if (comment)
		fprintf(f, "%*s%-*s # %s\n", indent, "", 38 - indent, set, comment);
	else
		fprintf(f, "%*s%s\n", indent, "", set);
}

/* A comment's next line, in the same column. */
static void more(FILE *f, const char *comment)
{
	fprintf(f, "%39s# %s\n", "", comment);
}

int cfg_example(FILE *f, const char *iface, int n_vms)
{
	uint32_t quota = 1024, frames = EX_FRAMES;

	if (n_vms < 1 || n_vms > CFG_MAX_VMS)
		return -EINVAL;
	while (quota > 64 && (uint32_t)n_vms * quota > frames - EX_RESERVE)
		quota >>= 1;
	while ((uint32_t)n_vms * quota > frames - EX_RESERVE)
		frames <<= 1;
	fprintf(f,
		"# flipswitchd configuration, every key with its default or an example,\n"
		"# written by flipswitchd --example-config %s --vms %d: give the VMs\n"
		"# your guests' names and MACs. Syntax: libconfig\n"
		"# (https://hyperrealm.github.io/libconfig/). Check a file without\n"
		"# touching anything: flipswitchd --check -c FILE\n"
		"\n"
		"# The pool: one shared-memory file of frames, the UMEM of every AF_XDP\n"
		"# socket and the memory every guest maps. Guests of one pool can read each\n"
		"# other's frames: one pool is one trust domain.\n"
		"pool = {\n", iface, n_vms);
	kv(f, 2, "tmpfs or hugetlbfs (required)", "path = \"/dev/shm/flipswitch-pool\";");
	kv(f, 2, "64 .. 1048576", "frames = %u;", frames);
	kv(f, 2, "2048 or 4096 (AF_XDP aligned mode)", "frame_size = 2048;");
	kv(f, 2, "zero frames on reuse: \"off\" (the pool's", "scrub = \"off\";");
	more(f, "guests see it all anyway), \"used\", \"full\"");
	fprintf(f, "};\n"
		"\n"
		"# Several trust domains instead (or beside it: the pool above is the one\n"
		"# named \"default\"): a guest maps its own pool only; frames cross between\n"
		"# pools by one copy, counted. Fixed at start.\n"
		"# pools = (\n"
		"#   { name = \"red\"; path = \"/dev/shm/flipswitch-red\"; frames = 8192; frame_size = 2048; scrub = \"used\"; },\n"
		"#   { name = \"blue\"; path = \"/dev/shm/flipswitch-blue\"; frames = 8192; frame_size = 2048; scrub = \"used\"; }\n"
		"# );\n"
		"\n"
		"# NICs to attach to. Only frames for the VMs' MACs (and broadcast and\n"
		"# multicast copies) are taken; everything else reaches the host as before.\n"
		"interfaces = (\n"
		"  {\n");
	kv(f, 4, "must exist (required)", "name = \"%s\";", iface);
	kv(f, 4, "\"auto\" (native, else generic), \"native\", \"generic\"",
	   "xdp_mode = \"auto\";");
	kv(f, 4, "\"auto\" (zero-copy, else copy), \"on\", \"off\"",
	   "zerocopy = \"auto\";");
	kv(f, 4, "rx queues to serve; 0 = all of them", "queues = 0;");
	kv(f, 4, "AF_XDP ring entries, power of two 64 .. 16384",
	   "ring_size = 2048;");
	fprintf(f, "    # pools = ( { pool = \"red\"; queues = [0, 1]; }, { pool = \"blue\"; queues = [2]; } );\n"
		"    #                                # which queues are whose, instead of queues;\n"
		"    #                                # a queue in no pool is the host's\n");
	fprintf(f, "  }\n"
		");\n"
		"\n"
		"# VMs: each gets a ring region file to map (with the pool) into its guest.\n"
		"vms = (\n");
	for (int i = 1; i <= n_vms; i++) {
		bool all = i == 1;

		fprintf(f, "  {\n");
		kv(f, 4, all ? "[A-Za-z0-9_.-], up to 31 characters" : NULL,
		   "name = \"web%d\";", i);
		kv(f, 4, all ? "the guest's MAC (unicast)" : NULL,
		   "mac = \"52:54:00:00:%02x:%02x\";", i >> 8, i & 0xff);
		kv(f, 4, all ? "the VM's ring region file" : NULL,
		   "rings = \"/dev/shm/flipswitch-web%d\";", i);
		if (all || quota != 1024)
			kv(f, 4, all ? "most frames the VM may hold" : NULL,
			   "quota = %u;", quota);
		if (all) {
			kv(f, 4, "0 untagged, 1..4094 access VLAN", "vlan = 0;");
			kv(f, 4, "default: quota rounded up to a", "ring_size = %u;",
			   quota < 256 ? 256 : quota);
			more(f, "power of two, at least 256");
			kv(f, 4, "default: the first interface", "uplink = \"%s\";",
			   iface);
			fprintf(f, "    # pool = \"red\";                   # its pool (default: the only one, or \"default\")\n");
		}
		fprintf(f, "  }%s\n", i < n_vms ? "," : "");
	}
	fprintf(f, ");\n\n");
	kv(f, 0, "frames per ring operation, 1 .. 256", "batch = 64;");
	kv(f, 0, "ms a guest may go without a heartbeat before", "guest_timeout = 5000;");
	more(f, "its frames are taken back (0: never)");
	kv(f, 0, "least us between two doorbells to one sleeping",
	   "doorbell_usecs = 20;");
	more(f, "guest (interrupt moderation; 0: none)");
	kv(f, 0, "longest a heavy stream may stretch that to",
	   "doorbell_max_usecs = 160;");
	more(f, "(adaptive moderation; 0: fixed)");
	kv(f, 0, "longest nap of the worker under light load",
	   "max_sleep_usecs = 0;");
	more(f, "(OVS pmd-sleep-max; 0: it polls, never naps)");
	kv(f, 0, "with nothing to do: \"adaptive\" polls while", "idle = \"adaptive\";");
	more(f, "frames come closer than poll_usecs, else");
	more(f, "blocks; \"poll\": 256 empty passes first");
	kv(f, 0, "adaptive: longest polling after a frame (0..1000)",
	   "poll_usecs = 20;");
	kv(f, 0, "control socket (flipswitchctl)",
	   "control = \"/run/flipswitch/flipswitch.sock\";");
	fprintf(f, "# control_group = \"flipswitch\";  # owns the socket (0660); its members may\n"
		"                                 # change the switch (default: root only)\n"
		"# metrics = \"127.0.0.1:9477\";    # GET /metrics: the counters for Prometheus\n"
		"                                 # (read-only; default: off)\n");
	return ferror(f) ? -EIO : 0;
}
