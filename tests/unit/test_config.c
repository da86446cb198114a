// SPDX-License-Identifier: MIT
/*
 * cfg_load() and cfg_parse_mac(). Every case writes its text to a temp file
 * and loads it; error cases check the return code, the "FILE:LINE: " prefix
 * and a distinctive part of the message. "lo" is the interface that exists
 * everywhere, "fsnosuch0" the one that exists nowhere.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "config.h"

/* Line 1 and 2 of most cases. */
#define POOL "pool = { path = \"/dev/shm/fs-test-pool\"; };\n"
#define LO "interfaces = ( { name = \"lo\"; } );\n"
#define VM(name, mac, rings, extra)                                          \
	"{ name = \"" name "\"; mac = \"" mac "\"; rings = \"" rings "\";" \
	extra " }"
/* A config whose line 3 holds one VM with web1's name, MAC and rings. */
#define ONE_VM(extra) POOL LO "vms = ( " VM("web1", "52:54:00:00:00:01", \
					    "/dev/shm/r1", extra) " );\n"
/* Two pools on line 1; lo's queue 0 red's on line 2. */
#define POOLS "pools = ( { name = \"red\"; path = \"/dev/shm/fs-test-red\"; }, " \
	"{ name = \"blue\"; path = \"/dev/shm/fs-test-blue\"; frames = 1024; } );\n"
#define LO_RED "interfaces = ( { name = \"lo\"; pools = ( { pool = \"red\"; queues = [0]; } ); } );\n"
#define ONE_MAC(mac) POOL LO "vms = ( " VM("web1", mac, "/dev/shm/r1", "") " );\n"

struct err_case {
	const char *name;
	const char *text;
	int line;		/* 0: the message has no line, only "FILE: " */
	const char *msg;	/* must occur in the message */
};

static const struct err_case err_cases[] = {
	{ "syntax error", POOL LO "vms = ( { name = ; } );\n", 3,
	  "syntax error: expected a value for \"name\" (a number, a \"string\", true or false, { a group }, ( a list ) or [ an array ]), found ';'" },
	{ "syntax: a MAC without quotes", POOL LO "vms = ( { name = \"web1\";\n mac = 52:54:00:00:00:01; } );\n", 4,
	  "syntax error: expected ';' or the next setting after the value of \"mac\", found ':' (text with ':' in it, like a MAC address, needs double quotes)" },
	{ "syntax: a name without quotes", POOL "interfaces = ( { name = eth1; } );\n", 2,
	  "syntax error: expected a value for \"name\" (a number, a \"string\", true or false, { a group }, ( a list ) or [ an array ]), found eth1 (text needs double quotes, like \"eth1\")" },
	{ "syntax: a path without quotes", POOL "interfaces = ( { name = \"lo\"; } );\nvms = ( { rings = /dev/shm/r1; } );\n", 3,
	  "found '/' (text needs double quotes" },
	{ "syntax: single quotes", POOL "interfaces = ( { name = 'lo'; } );\n", 2,
	  "found ''' (a string takes double quotes, not single ones)" },
	{ "syntax: a string not closed", POOL "interfaces = ( { name = \"lo; } );\n", 2,
	  "found a string that is not closed (a string needs its closing \")" },
	{ "syntax: list elements without a comma", POOL LO "vms = (\n"
	  VM("web1", "52:54:00:00:00:01", "/dev/shm/r1", "") "\n"
	  VM("web2", "52:54:00:00:00:02", "/dev/shm/r2", "") "\n);\n", 5,
	  "syntax error: expected ',' or ')' after an element of the list of \"vms\" (opened on line 3), found '{' (elements are separated by commas)" },
	{ "syntax: a comma after the last element", POOL "interfaces = ( { name = \"lo\"; }, );\n", 2,
	  "syntax error: expected another element after ',' in the list of \"interfaces\", found ')' (no comma after the last element)" },
	{ "syntax: a group not closed", "pool = { path = \"/x\";\n" LO, 1,
	  "syntax error: the group { of \"pool\" opened here is not closed (expected '}' before the end of the file)" },
	{ "syntax: a '}' too many", POOL "};\n" LO, 2, "syntax error: found '}' with no group open" },
	{ "syntax: '=' missing", POOL "interfaces ( { name = \"lo\"; } );\n", 2,
	  "syntax error: expected '=' after the name \"interfaces\", found '('" },
	{ "duplicate key", "pool = { path = \"/x\";\n path = \"/y\"; };\n" LO, 2,
	  "duplicate setting name (a key may be set once in a group: remove one)" },
	{ "unknown top-level key", POOL LO "foo = 1;\n", 3,
	  "unknown key \"foo\" at the top level (allowed: pool, pools, interfaces, vms, batch, guest_timeout, doorbell_usecs, doorbell_max_usecs, max_sleep_usecs, idle, poll_usecs, handoff, control, control_group, metrics)" },
	{ "unknown pool key", "pool = {\n path = \"/x\";\n bogus = 1;\n};\n" LO, 3,
	  "unknown key \"bogus\" in pool (allowed: path, frames, frame_size, scrub)" },
	{ "unknown interface key", POOL "interfaces = (\n { name = \"lo\";\n  mtu = 1500; }\n);\n", 4,
	  "unknown key \"mtu\" in interface \"lo\" (allowed: name, xdp_mode, zerocopy, queues, ring_size, publish_fdb, busy_poll_usecs, pools, steer)" },
	{ "publish_fdb a number", POOL "interfaces = (\n { name = \"lo\";\n  publish_fdb = 1; }\n);\n", 4,
	  "interface \"lo\": publish_fdb must be true, false or the name of another port of its bridge, not an integer" },
	{ "publish_fdb a missing port", POOL "interfaces = (\n { name = \"lo\";\n  publish_fdb = \"nosuch0\"; }\n);\n", 4,
	  "interface \"lo\": publish_fdb names \"nosuch0\", which does not exist (ip link show lists the interfaces)" },
	{ "unknown vm key", POOL LO "vms = (\n { name = \"web1\"; mac = \"52:54:00:00:00:01\";\n  rings = \"/dev/shm/r1\"; foo = 1; }\n);\n", 5,
	  "unknown key \"foo\" in vm \"web1\" (allowed: name, mac, vlan, rings, quota, ring_size, uplink, doorbell, doorbell_usecs, flood_rate, flood_burst, doorbell_peer, pool, allowed_macs, sealed)" },
	{ "frames is a string", "pool = { path = \"/x\";\n frames = \"abc\"; };\n" LO, 2,
	  "pool: frames must be an integer, not a string" },
	{ "frames is a float", "pool = { path = \"/x\"; frames = 1.5; };\n" LO, 1,
	  "pool: frames must be an integer, not a floating point number" },
	{ "pool is not a group", "pool = 5;\n" LO, 1, "pool must be a group" },
	{ "path is not a string", "pool = { path = 5; };\n" LO, 1, "pool: path must be a string" },
	{ "interfaces is a group", POOL "interfaces = { name = \"lo\"; };\n", 2,
	  "interfaces must be a list" },
	{ "interface is a string", POOL "interfaces = ( \"lo\" );\n", 2,
	  "interfaces: interface 1 must be a group" },
	{ "vm is a string", POOL LO "vms = ( \"web1\" );\n", 3, "vms: vm 1 must be a group" },
	{ "zerocopy is a boolean", POOL "interfaces = ( { name = \"lo\"; zerocopy = true; } );\n", 2,
	  "interface \"lo\": zerocopy must be a string, not a boolean" },
	{ "control is an integer", POOL LO "control = 5;\n", 3, "control must be a string" },
	{ "control is empty", POOL LO "control = \"\";\n", 3, "control must not be empty" },

	{ "mac with zz", ONE_MAC("52:54:00:zz:00:01"), 3,
	  "vm \"web1\": mac \"52:54:00:zz:00:01\" is not a MAC address (six hex byte pairs" },
	{ "mac too short", ONE_MAC("52:54:00:00:01"), 3, "mac \"52:54:00:00:01\" is not a MAC address" },
	{ "mac trailing junk", ONE_MAC("52:54:00:00:00:01x"), 3, "is not a MAC address" },
	{ "mac trailing colon", ONE_MAC("52:54:00:00:00:01:"), 3, "is not a MAC address" },
	{ "mac with dashes", ONE_MAC("52-54-00-00-00-01"), 3, "is not a MAC address" },
	{ "mac single digits", ONE_MAC("2:54:00:00:00:01"), 3, "is not a MAC address" },
	{ "mac empty", ONE_MAC(""), 3, "vm \"web1\": mac \"\" is not a MAC address" },
	{ "mac multicast", ONE_MAC("01:00:5e:00:00:01"), 3,
	  "vm \"web1\": mac 01:00:5e:00:00:01 is a multicast address (a VM needs a unicast one" },
	{ "mac broadcast", ONE_MAC("FF:FF:FF:FF:FF:FF"), 3, "is a multicast address" },
	{ "mac zero", ONE_MAC("00:00:00:00:00:00"), 3, "vm \"web1\": mac 00:00:00:00:00:00 is all zeros" },
	{ "mac missing", POOL LO "vms = ( { name = \"web1\"; rings = \"/dev/shm/r1\"; } );\n", 3,
	  "vm \"web1\": mac is missing (add the guest's MAC: mac = " },

	{ "duplicate mac", POOL LO "vms = (\n"
	  VM("web1", "52:54:00:00:00:01", "/dev/shm/r1", "") ",\n"
	  VM("web2", "52:54:00:00:00:01", "/dev/shm/r2", "") "\n);\n", 5,
	  "vm \"web2\": mac 52:54:00:00:00:01 on vlan 0 is already vm \"web1\"'s (line 4; give each VM on a vlan its own MAC)" },
	{ "duplicate mac, same vlan 7", POOL LO "vms = (\n"
	  VM("web1", "52:54:00:00:00:01", "/dev/shm/r1", " vlan = 7;") ",\n"
	  VM("web2", "52:54:00:00:00:01", "/dev/shm/r2", " vlan = 7;") "\n);\n", 5,
	  "on vlan 7 is already vm \"web1\"'s (line 4;" },
	{ "duplicate mac, other case", POOL LO "vms = (\n"
	  VM("web1", "52:54:00:00:00:0a", "/dev/shm/r1", "") ",\n"
	  VM("web2", "52:54:00:00:00:0A", "/dev/shm/r2", "") "\n);\n", 5,
	  "mac 52:54:00:00:00:0a on vlan 0 is already vm \"web1\"'s" },
	{ "duplicate name", POOL LO "vms = (\n"
	  VM("web1", "52:54:00:00:00:01", "/dev/shm/r1", "") ",\n"
	  VM("web1", "52:54:00:00:00:02", "/dev/shm/r2", "") "\n);\n", 5,
	  "vm \"web1\": the name is taken already (line 4; give each VM its own name)" },
	{ "duplicate rings", POOL LO "vms = (\n"
	  VM("web1", "52:54:00:00:00:01", "/dev/shm/r1", "") ",\n"
	  VM("web2", "52:54:00:00:00:02", "/dev/shm/r1", "") "\n);\n", 5,
	  "vm \"web2\": rings \"/dev/shm/r1\" are already vm \"web1\"'s (line 4; give each VM its own file)" },
	{ "rings is the pool", POOL LO "vms = ( "
	  VM("web1", "52:54:00:00:00:01", "/dev/shm/fs-test-pool", "") " );\n", 3,
	  "vm \"web1\": rings \"/dev/shm/fs-test-pool\" is the pool's path (give the VM a file of its own)" },
	{ "rings missing", POOL LO "vms = ( { name = \"web1\"; mac = \"52:54:00:00:00:01\"; } );\n", 3,
	  "vm \"web1\": rings is missing" },
	{ "sealed with rings", ONE_VM(" sealed = true;"), 3,
	  "vm \"web1\": rings \"/dev/shm/r1\" is not used by a sealed VM (its region is a sealed memfd, handed to QEMU only on its doorbell): leave rings out, or drop sealed = true" },
	{ "sealed without a doorbell", POOL LO "vms = ( { name = \"web1\"; mac = \"52:54:00:00:00:01\";\n doorbell = \"off\";\n sealed = true; } );\n", 5,
	  "vm \"web1\": sealed = true needs a doorbell, the only way its region reaches QEMU (leave doorbell out for the default socket, give it a socket path, or drop sealed)" },
	{ "sealed not a bool", POOL LO "vms = ( { name = \"web1\"; mac = \"52:54:00:00:00:01\"; rings = \"/dev/shm/r1\";\n sealed = 1; } );\n", 4,
	  "vm \"web1\": sealed must be true or false, not an integer" },
	{ "vm name missing", POOL LO "vms = (\n { mac = \"52:54:00:00:00:01\"; } );\n", 4,
	  "vm 1: name is missing" },
	{ "vm name with a space", POOL LO "vms = ( " VM("web 1", "52:54:00:00:00:01", "/r", "") " );\n", 3,
	  "vm \"web 1\": name has a ' ' (use only A-Z a-z 0-9 _ . -)" },
	{ "vm name too long", POOL LO "vms = ( " VM("abcdefghijklmnopqrstuvwxyz012345", "52:54:00:00:00:01", "/r", "") " );\n", 3,
	  "vm \"abcdefghijklmnopqrstuvwxyz012345\": name is too long (at most 31 characters)" },
	{ "vlan 4095", ONE_VM(" vlan = 4095;"), 3, "vm \"web1\": vlan 4095 is out of range (0 .. 4094)" },
	{ "vlan -1", ONE_VM(" vlan = -1;"), 3, "vm \"web1\": vlan -1 is out of range" },

	{ "frame_size 3000", "pool = { path = \"/x\";\n frame_size = 3000; };\n" LO, 2,
	  "pool: frame_size 3000 is refused by the kernel's AF_XDP (aligned mode needs 2048 or 4096)" },
	{ "frame_size 8192", "pool = { path = \"/x\";\n frame_size = 8192; };\n" LO, 2,
	  "pool: frame_size 8192 is refused by the kernel's AF_XDP" },
	{ "frame_size 1024", "pool = { path = \"/x\";\n frame_size = 1024; };\n" LO, 2,
	  "frame_size 1024 is refused" },
	{ "frames 63", "pool = { path = \"/x\"; frames = 63; };\n" LO, 1,
	  "pool: frames 63 is out of range (64 .. 1048576)" },
	{ "frames 1048577", "pool = { path = \"/x\"; frames = 1048577; };\n" LO, 1,
	  "pool: frames 1048577 is out of range" },
	/* libconfig 1.5 wraps an unsuffixed 5000000000 to 32 bits before we
	 * see it; with the L suffix it is an int64 and range-checked. */
	{ "frames 5000000000L", "pool = { path = \"/x\"; frames = 5000000000L; };\n" LO, 1,
	  "pool: frames 5000000000 is out of range" },
	{ "frames -1", "pool = { path = \"/x\"; frames = -1; };\n" LO, 1, "pool: frames -1 is out of range" },
	{ "bad scrub", "pool = { path = \"/x\";\n\n scrub = \"some\"; };\n" LO, 3,
	  "pool: scrub \"some\" is not one of \"off\", \"used\", \"full\"" },
	{ "pool path missing", "pool = { frames = 1024; };\n" LO, 1,
	  "pool: path is missing (add a file on tmpfs or hugetlbfs: path = " },
	{ "pool path empty", "pool = { path = \"\"; };\n" LO, 1, "pool: path must not be empty" },
	{ "pool missing", LO, 0, "pool is missing (add pool = " },

	{ "interface missing", POOL "interfaces = (\n { name = \"fsnosuch0\"; }\n);\n", 3,
	  "interface \"fsnosuch0\" does not exist (ip link show lists the interfaces)" },
	{ "interface name too long", POOL "interfaces = ( { name = \"abcdefghijklmnop\"; } );\n", 2,
	  "interface 1: name is too long (at most 15 characters)" },
	{ "interface name missing", POOL "interfaces = (\n { xdp_mode = \"auto\"; }\n);\n", 3,
	  "interface 1: name is missing" },
	{ "duplicate interface", POOL "interfaces = (\n { name = \"lo\"; },\n { name = \"lo\"; }\n);\n", 4,
	  "interface \"lo\" is listed twice (also on line 3;" },
	{ "bad xdp_mode", POOL "interfaces = ( { name = \"lo\";\n xdp_mode = \"fast\"; } );\n", 3,
	  "interface \"lo\": xdp_mode \"fast\" is not one of \"auto\", \"native\", \"generic\"" },
	{ "bad zerocopy", POOL "interfaces = ( { name = \"lo\"; zerocopy = \"yes\"; } );\n", 2,
	  "interface \"lo\": zerocopy \"yes\" is not one of \"auto\", \"on\", \"off\"" },
	{ "bad steer", POOL "interfaces = ( { name = \"lo\";\n steer = \"flow\"; } );\n", 3,
	  "interface \"lo\": steer \"flow\" is not one of \"off\", \"ntuple\"" },
	{ "queues 65", POOL "interfaces = ( { name = \"lo\"; queues = 65; } );\n", 2,
	  "interface \"lo\": queues 65 is out of range (0 .. 64)" },
	{ "interface ring_size 1000", POOL "interfaces = ( { name = \"lo\"; ring_size = 1000; } );\n", 2,
	  "interface \"lo\": ring_size 1000 is not a power of two from 64 to 16384" },
	{ "busy_poll_usecs 10001", POOL "interfaces = ( { name = \"lo\"; busy_poll_usecs = 10001; } );\n", 2,
	  "interface \"lo\": busy_poll_usecs 10001 is out of range (0 .. 10000)" },
	{ "interface ring_size 32768", POOL "interfaces = ( { name = \"lo\"; ring_size = 32768; } );\n", 2,
	  "ring_size 32768 is not a power of two from 64 to 16384" },
	{ "interfaces absent", POOL, 0, "interfaces is missing (add interfaces = " },
	{ "interfaces empty", POOL "interfaces = ();\n", 2, "interfaces is empty" },
	{ "too many interfaces", POOL "interfaces = (\n"
	  "{name=\"lo\";},{name=\"lo\";},{name=\"lo\";},{name=\"lo\";},{name=\"lo\";},"
	  "{name=\"lo\";},{name=\"lo\";},{name=\"lo\";},{name=\"lo\";});\n", 2,
	  "interfaces has 9 entries, more than 8" },

	{ "quota above frames", "pool = { path = \"/x\"; frames = 1024; };\n" LO
	  "vms = ( " VM("web1", "52:54:00:00:00:01", "/r", " quota = 2048;") " );\n", 3,
	  "vm \"web1\": quota 2048 is out of range (1 .. 1024, the pool's frames)" },
	{ "quota 0", ONE_VM(" quota = 0;"), 3, "vm \"web1\": quota 0 is out of range (1 .. 16384, the pool's frames)" },
	{ "quota too big for a ring", "pool = { path = \"/x\"; frames = 65536; };\n" LO
	  "vms = ( " VM("web1", "52:54:00:00:00:01", "/r", " quota = 40000;") " );\n", 3,
	  "vm \"web1\": quota 40000 needs a ring larger than 32768 entries" },
	{ "handoff bogus", POOL LO "handoff = \"bogus\";\n", 3, "handoff" },
	{ "doorbell empty", ONE_VM(" doorbell = \"\";"), 3,
	  "vm \"web1\": doorbell \"\" must be a socket path of 1 to 107 characters, or \"off\"" },
	{ "doorbell too long", ONE_VM(" doorbell = \"/run/" "0123456789012345678901234567890123456789"
	  "0123456789012345678901234567890123456789012345678901234567890123456789\";"), 3,
	  "must be a socket path of 1 to 107 characters" },
	{ "doorbell shared", POOL LO "vms = ( " VM("web1", "52:54:00:00:00:01", "/r1", " doorbell = \"/run/b\";")
	  ", " VM("web2", "52:54:00:00:00:02", "/r2", " doorbell = \"/run/b\";") " );\n", 3,
	  "vm \"web2\": doorbell \"/run/b\" is already vm \"web1\"'s" },
	{ "default doorbell too long", "control = \"/run/" "0123456789012345678901234567890123456789"
	  "012345678901234567890123456789012345678901234567890123456789/c.sock\";\n" POOL LO
	  "vms = ( " VM("web1", "52:54:00:00:00:01", "/r1", "") " );\n", 4,
	  "vm \"web1\": its doorbell socket next to" },
	{ "vm ring_size 1000", ONE_VM(" quota = 100; ring_size = 1000;"), 3,
	  "vm \"web1\": ring_size 1000 is not a power of two from 64 to 32768" },
	{ "vm ring_size 65536", ONE_VM(" ring_size = 65536;"), 3,
	  "vm \"web1\": ring_size 65536 is not a power of two" },
	{ "vm ring_size 32", ONE_VM(" quota = 16; ring_size = 32;"), 3,
	  "vm \"web1\": ring_size 32 is not a power of two" },
	{ "ring_size below quota", ONE_VM(" ring_size = 512;"), 3,
	  "vm \"web1\": ring_size 512 is smaller than quota 1024 (a ring must be able to hold every frame the VM may hold" },
	{ "uplink not configured", ONE_VM(" uplink = \"fsnosuch0\";"), 3,
	  "vm \"web1\": uplink \"fsnosuch0\" is not one of the configured interfaces (lo)" },
	{ "uplink is an integer", ONE_VM(" uplink = 0;"), 3, "vm \"web1\": uplink must be a string" },
	{ "allowed_macs not a MAC", POOL LO "vms = ( " VM("web1", "52:54:00:00:00:01", "/dev/shm/r1", "\n allowed_macs = [ \"52:54:00:00:00:02\", \"52:54:zz\" ];") " );\n", 4,
	  "vm \"web1\": allowed_macs entry 2 \"52:54:zz\" is not a MAC address (six hex byte pairs" },
	{ "allowed_macs multicast", ONE_VM(" allowed_macs = [ \"01:00:5e:00:00:01\" ];"), 3,
	  "vm \"web1\": allowed_macs entry 1 01:00:5e:00:00:01 is not a unicast address" },
	{ "allowed_macs twice", ONE_VM(" allowed_macs = [ \"52:54:00:00:00:02\", \"52:54:00:00:00:02\" ];"), 3,
	  "vm \"web1\": allowed_macs lists 52:54:00:00:00:02 twice (list each MAC once)" },
	{ "allowed_macs own", ONE_VM(" allowed_macs = [ \"52:54:00:00:00:01\" ];"), 3,
	  "vm \"web1\": allowed_macs lists 52:54:00:00:00:01, the VM's own mac" },
	{ "allowed_macs too many", ONE_VM(" allowed_macs = [ \"52:54:00:00:01:01\", \"52:54:00:00:01:02\", \"52:54:00:00:01:03\", \"52:54:00:00:01:04\", \"52:54:00:00:01:05\", \"52:54:00:00:01:06\", \"52:54:00:00:01:07\", \"52:54:00:00:01:08\", \"52:54:00:00:01:09\" ];"), 3,
	  "vm \"web1\": allowed_macs has 9 MACs, more than 8 (list only the source MACs the guest sends with)" },
	{ "allowed_macs a number", ONE_VM(" allowed_macs = [ 5 ];"), 3,
	  "vm \"web1\": allowed_macs entry 1 must be a string, like \"52:54:00:12:34:56\"" },
	{ "allowed_macs a string", ONE_VM(" allowed_macs = \"52:54:00:00:00:02\";"), 3,
	  "vm \"web1\": allowed_macs must be a list ( ... ), not a string" },

	{ "batch 0", POOL LO "batch = 0;\n", 3, "batch 0 is out of range (1 .. 256)" },
	{ "batch 257", POOL LO "batch = 257;\n", 3, "batch 257 is out of range (1 .. 256)" },
	{ "doorbell_usecs 100001", POOL LO "doorbell_usecs = 100001;\n", 3,
	  "doorbell_usecs 100001 is out of range (0 .. 100000)" },
	{ "vm doorbell_usecs -1", ONE_VM(" doorbell_usecs = -1;"), 3,
	  "vm \"web1\": doorbell_usecs -1 is out of range (0 .. 100000)" },
	{ "max_sleep_usecs 10001", POOL LO "max_sleep_usecs = 10001;\n", 3,
	  "max_sleep_usecs 10001 is out of range (0 .. 10000)" },

	/* Pools: line 1 defines red and blue (lo has one rx queue). */
	{ "queue in two pools", POOLS "interfaces = ( { name = \"lo\"; pools = (\n"
	  "  { pool = \"red\"; queues = [0]; },\n  { pool = \"blue\"; queues = [0]; } ); } );\n", 4,
	  "interface \"lo\": queue 0 is in two pools, \"red\" (line 3) and \"blue\"" },
	{ "queue past the count", POOLS "interfaces = ( { name = \"lo\"; pools = (\n"
	  "  { pool = \"red\"; queues = [0,\n 1]; } ); } );\n", 4,
	  "interface \"lo\": pool \"red\": queue 1 is past the interface's 1 queue (0 .. 0;" },
	{ "interface names an unknown pool", POOLS "interfaces = ( { name = \"lo\"; pools = (\n"
	  "  { pool = \"green\"; queues = [0]; } ); } );\n", 3,
	  "interface \"lo\": pool \"green\" is not defined (the pools: \"red\", \"blue\")" },
	{ "vm names an unknown pool", POOLS LO_RED "vms = (\n"
	  VM("web1", "52:54:00:00:00:01", "/r1", " pool = \"green\";") " );\n", 4,
	  "vm \"web1\": pool \"green\" is not defined (the pools: \"red\", \"blue\")" },
	{ "vm names no pool of several", POOLS LO_RED "vms = (\n"
	  VM("web1", "52:54:00:00:00:01", "/r1", "") " );\n", 4,
	  "vm \"web1\": pool is missing (there are several pools and none is \"default\": add pool = \"red\";)" },
	{ "interface without pools, several", POOLS LO, 2,
	  "interface \"lo\": whose are its queues?" },
	{ "queues and pools", POOLS "interfaces = ( { name = \"lo\"; queues = 1; pools = (\n"
	  "  { pool = \"red\"; queues = [0]; } ); } );\n", 2,
	  "interface \"lo\": queues and pools both say which queues to serve" },
	{ "pool defined twice", "pools = ( { name = \"red\"; path = \"/x\"; },\n"
	  " { name = \"red\"; path = \"/y\"; } );\n" LO_RED, 2,
	  "pool \"red\" is defined twice (also on line 1;" },
	{ "pools share a file", "pools = ( { name = \"red\"; path = \"/x\"; },\n"
	  " { name = \"blue\"; path = \"/x\"; } );\n" LO_RED, 2,
	  "pool \"blue\": path \"/x\" is already pool \"red\"'s (line 1;" },
	{ "pool without a name", "pools = ( { path = \"/x\"; } );\n" LO, 1,
	  "pool 1: name is missing" },
	{ "pool frame_size", "pools = ( { name = \"red\"; path = \"/x\";\n frame_size = 1000; } );\n" LO, 2,
	  "pool \"red\": frame_size 1000 is refused" },
	{ "queue -1", POOLS "interfaces = ( { name = \"lo\"; pools = (\n"
	  "  { pool = \"red\"; queues = [-1]; } ); } );\n", 3,
	  "interface \"lo\": pool \"red\": queue -1 is out of range (0 .. 63)" },
	{ "max_sleep_usecs a string", POOL LO "max_sleep_usecs = \"50\";\n", 3,
	  "max_sleep_usecs must be an integer, not a string" },
	{ "metrics without a port", POOL LO "metrics = \"127.0.0.1\";\n", 3,
	  "metrics \"127.0.0.1\" is not an address and port to listen on (like \"127.0.0.1:9477\" or \"[::1]:9477\")" },
	{ "metrics port 0", POOL LO "metrics = \"127.0.0.1:0\";\n", 3, "metrics \"127.0.0.1:0\" is not an address" },
	{ "metrics port 65536", POOL LO "metrics = \"127.0.0.1:65536\";\n", 3, "is not an address and port" },
	{ "metrics a host name", POOL LO "metrics = \"localhost:9477\";\n", 3, "is not an address and port" },
	{ "metrics IPv6 without brackets", POOL LO "metrics = \"::1:9477\";\n", 3, "is not an address and port" },
	{ "metrics empty", POOL LO "metrics = \"\";\n", 3, "metrics must not be empty" },
	{ "metrics an integer", POOL LO "metrics = 9477;\n", 3, "metrics must be a string, not an integer" },
	/* Every integer option at 2^32 (libconfig 1.5 wraps it to 0) and at
	 * 2^63 (too big for 64 bits): refused with its range. */
#define BIG(T, k, line, pre, post)                                         \
	{ k " 2^32", T(k, BIG32), line, pre BIG32 post },                     \
	{ k " 2^63", T(k, BIG63), line, pre I64MAX post "; " TOO_BIG }
#define BIG32 "4294967296"
#define BIG63 "9223372036854775808"
#define I64MAX "9223372036854775807"
#define TOO_BIG "the number written does not even fit in 64 bits"
#define T_POOL(k, v) "pool = { path = \"/dev/shm/fs-test-pool\"; " k " = " v "; };\n" LO
#define T_IFACE(k, v) POOL "interfaces = ( { name = \"lo\"; " k " = " v "; } );\n"
#define T_VM(k, v) ONE_VM(" " k " = " v ";")
#define T_TOP(k, v) POOL LO k " = " v ";\n"
	BIG(T_POOL, "frames", 1, "pool: frames ", " is out of range (64 .. 1048576)"),
	BIG(T_POOL, "frame_size", 1, "pool: frame_size ", " is refused by the kernel's AF_XDP (aligned mode needs 2048 or 4096)"),
	BIG(T_IFACE, "queues", 2, "interface \"lo\": queues ", " is out of range (0 .. 64)"),
	BIG(T_IFACE, "ring_size", 2, "interface \"lo\": ring_size ", " is not a power of two from 64 to 16384"),
	BIG(T_IFACE, "busy_poll_usecs", 2, "interface \"lo\": busy_poll_usecs ", " is out of range (0 .. 10000)"),
	BIG(T_VM, "vlan", 3, "vm \"web1\": vlan ", " is out of range (0 .. 4094)"),
	BIG(T_VM, "quota", 3, "vm \"web1\": quota ", " is out of range (1 .. 16384, the pool's frames)"),
	BIG(T_VM, "ring_size", 3, "vm \"web1\": ring_size ", " is not a power of two from 64 to 32768"),
	BIG(T_VM, "flood_rate", 3, "vm \"web1\": flood_rate ", " is out of range (0 .. 100000000 frames a second, 0: no limit)"),
	BIG(T_VM, "flood_burst", 3, "vm \"web1\": flood_burst ", " is out of range (1 .. 1000000 frames)"),
	BIG(T_VM, "doorbell_usecs", 3, "vm \"web1\": doorbell_usecs ", " is out of range (0 .. 100000)"),
	BIG(T_TOP, "batch", 3, "batch ", " is out of range (1 .. 256)"),
	BIG(T_TOP, "guest_timeout", 3, "guest_timeout ", " is out of range (0 .. 600000)"),
	BIG(T_TOP, "doorbell_usecs", 3, "doorbell_usecs ", " is out of range (0 .. 100000)"),
	BIG(T_TOP, "max_sleep_usecs", 3, "max_sleep_usecs ", " is out of range (0 .. 10000)"),
	BIG(T_TOP, "poll_usecs", 3, "poll_usecs ", " is out of range (0 .. 1000)"),
	{ "doorbell_peer not a user", ONE_VM(" doorbell_peer = \"no-such-user-fs\";"), 3,
	  "vm \"web1\": doorbell_peer \"no-such-user-fs\" is not a user of this machine" },
	/* Below 2^32 it wraps to a value in range: caught all the same. */
	{ "batch 2^32 + 64", POOL LO "batch = 4294967360;\n", 3,
	  "batch 4294967360 is out of range (1 .. 256)" },
	{ "two VMs on one line, the second's quota 2^32", POOL LO
	  "vms = ( " VM("web1", "52:54:00:00:00:01", "/dev/shm/r1", " quota = 1;")
	  ", " VM("web2", "52:54:00:00:00:02", "/dev/shm/r2", " quota = 4294967296;") " );\n", 3,
	  "vm \"web2\": quota 4294967296 is out of range" },
#undef BIG
#undef T_POOL
#undef T_IFACE
#undef T_VM
#undef T_TOP
	{ "idle spin", POOL LO "idle = \"spin\";\n", 3,
	  "idle \"spin\" is not one of \"adaptive\", \"poll\"" },
	{ "poll_usecs 1001", POOL LO "poll_usecs = 1001;\n", 3,
	  "poll_usecs 1001 is out of range (0 .. 1000)" },
};

/* Writes text to a new temp file; its name goes to path. */
static void write_tmp(char path[64], const char *text)
{
	size_t len = strlen(text);
	int fd;

	strcpy(path, "/tmp/fs-test-config-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static int load_text(const char *text, struct cfg *cfg, char path[64],
		     char *err, size_t errlen)
{
	int ret;

	write_tmp(path, text);
	ret = cfg_load(cfg, path, err, errlen);
	unlink(path);
	return ret;
}

static void test_error(void **state)
{
	const struct err_case *tc = *state;
	struct cfg *cfg = calloc(1, sizeof(*cfg));
	char path[64], err[CFG_ERR_MAX], prefix[96];

	assert_non_null(cfg);
	assert_int_equal(load_text(tc->text, cfg, path, err, sizeof(err)), -EINVAL);
	if (tc->line)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, tc->line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", path);
	if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, tc->msg))
		fail_msg("got:  %s\nwant: %s...%s", err, prefix, tc->msg);
	/* One mistake, one message: none follows from another. */
	if (strchr(err, '\n'))
		fail_msg("more than one message:\n%s", err);
	free(cfg);
}

static void test_full(void **state)
{
	static const char text[] =
		"pool = { path = \"/dev/shm/p\"; frames = 8192; frame_size = 4096; scrub = \"full\"; };\n"
		"interfaces = ( { name = \"lo\"; xdp_mode = \"generic\"; zerocopy = \"off\";\n"
		"                 queues = 2; ring_size = 512; busy_poll_usecs = 50; steer = \"ntuple\"; } );\n"
		"vms = (\n"
		"  { name = \"web-1.a_b\"; mac = \"52:54:00:AB:cd:0F\"; vlan = 4094;\n"
		"    rings = \"/dev/shm/r1\"; quota = 1000; ring_size = 4096; uplink = \"lo\"; },\n"
		"  { name = \"db\"; mac = \"52:54:00:00:00:02\"; rings = \"/dev/shm/r2\"; quota = 300;\n"
		"    allowed_macs = [ \"52:54:00:00:01:01\", \"52:54:00:00:01:02\" ]; }\n"
		");\n"
		"batch = 32;\n"
		"doorbell_usecs = 0;\n"
		"max_sleep_usecs = 50;\n"
		"idle = \"poll\";\n"
		"poll_usecs = 0;\n"
		"control = \"/tmp/fs.sock\";\n";
	static const uint8_t mac1[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0x0f };
	static const uint8_t mac2[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x02 };
	struct cfg *cfg = calloc(1, sizeof(*cfg));
	char path[64], err[CFG_ERR_MAX];
	int ret;

	assert_non_null(cfg);
	ret = load_text(text, cfg, path, err, sizeof(err));
	if (ret)
		fail_msg("%s", err);
	assert_string_equal(cfg->file, path);
	assert_string_equal(cfg->pool.path, "/dev/shm/p");
	assert_int_equal(cfg->pool.frames, 8192);
	assert_int_equal(cfg->pool.frame_size, 4096);
	assert_int_equal(cfg->pool.scrub, CFG_SCRUB_FULL);

	assert_int_equal(cfg->n_ifaces, 1);
	assert_string_equal(cfg->ifaces[0].name, "lo");
	assert_int_equal(cfg->ifaces[0].ifindex, if_nametoindex("lo"));
	assert_int_equal(cfg->ifaces[0].xdp_mode, CFG_XDP_GENERIC);
	assert_int_equal(cfg->ifaces[0].zerocopy, CFG_ZC_OFF);
	assert_int_equal(cfg->ifaces[0].steer, CFG_STEER_NTUPLE);
	assert_int_equal(cfg->ifaces[0].queues, 2);
	assert_int_equal(cfg->ifaces[0].ring_size, 512);
	assert_int_equal(cfg->ifaces[0].busy_poll_usecs, 50);
	assert_int_equal(cfg->ifaces[0].line, 2);

	assert_int_equal(cfg->n_vms, 2);
	assert_string_equal(cfg->vms[0].name, "web-1.a_b");
	assert_memory_equal(cfg->vms[0].mac, mac1, 6);
	assert_int_equal(cfg->vms[0].vlan, 4094);
	assert_string_equal(cfg->vms[0].rings, "/dev/shm/r1");
	assert_int_equal(cfg->vms[0].quota, 1000);
	assert_int_equal(cfg->vms[0].ring_size, 4096);
	assert_int_equal(cfg->vms[0].uplink, 0);
	assert_int_equal(cfg->vms[0].line, 5);

	assert_string_equal(cfg->vms[1].name, "db");
	assert_memory_equal(cfg->vms[1].mac, mac2, 6);
	assert_int_equal(cfg->vms[1].vlan, 0);
	assert_string_equal(cfg->vms[1].rings, "/dev/shm/r2");
	assert_int_equal(cfg->vms[1].quota, 300);
	assert_int_equal(cfg->vms[1].n_allowed_macs, 2);
	assert_memory_equal(cfg->vms[1].allowed_macs[1],
			    ((uint8_t[]){ 0x52, 0x54, 0, 0, 1, 2 }), 6);
	assert_int_equal(cfg->vms[0].n_allowed_macs, 0);
	assert_int_equal(cfg->vms[1].ring_size, 512);	/* 300 rounded up */
	assert_int_equal(cfg->vms[1].line, 7);

	assert_int_equal(cfg->batch, 32);
	assert_int_equal(cfg->doorbell_usecs, 0);
	assert_int_equal(cfg->max_sleep_usecs, 50);
	assert_int_equal(cfg->idle, CFG_IDLE_POLL);
	assert_int_equal(cfg->poll_usecs, 0);
	assert_string_equal(cfg->control, "/tmp/fs.sock");
	free(cfg);
}

static void test_defaults(void **state)
{
	struct cfg *cfg = calloc(1, sizeof(*cfg));
	char path[64], err[CFG_ERR_MAX];
	int ret;

	assert_non_null(cfg);
	ret = load_text(POOL LO, cfg, path, err, sizeof(err));
	if (ret)
		fail_msg("%s", err);
	assert_int_equal(cfg->pool.frames, 16384);
	assert_int_equal(cfg->pool.frame_size, 2048);
	assert_int_equal(cfg->pool.scrub, CFG_SCRUB_OFF);
	assert_int_equal(cfg->n_ifaces, 1);
	assert_int_equal(cfg->ifaces[0].xdp_mode, CFG_XDP_AUTO);
	assert_int_equal(cfg->ifaces[0].zerocopy, CFG_ZC_AUTO);
	assert_int_equal(cfg->ifaces[0].steer, CFG_STEER_OFF);
	assert_int_equal(cfg->ifaces[0].queues, 0);
	assert_int_equal(cfg->ifaces[0].busy_poll_usecs, 0);
	assert_int_equal(cfg->ifaces[0].ring_size, 2048);
	assert_int_equal(cfg->n_vms, 0);
	assert_int_equal(cfg->batch, 64);
	assert_int_equal(cfg->doorbell_usecs, 20);
	assert_int_equal(cfg->max_sleep_usecs, 0);
	assert_int_equal(cfg->idle, CFG_IDLE_ADAPTIVE);
	assert_int_equal(cfg->poll_usecs, 20);
	assert_int_equal(cfg->handoff_copy, 0);
	assert_string_equal(cfg->control, "/run/flipswitch/flipswitch.sock");

	ret = load_text(ONE_VM(""), cfg, path, err, sizeof(err));
	if (ret)
		fail_msg("%s", err);
	assert_int_equal(cfg->n_vms, 1);
	assert_int_equal(cfg->vms[0].vlan, 0);
	assert_int_equal(cfg->vms[0].quota, 1024);
	assert_int_equal(cfg->vms[0].ring_size, 1024);
	assert_int_equal(cfg->vms[0].uplink, 0);
	assert_string_equal(cfg->vms[0].doorbell, "/run/flipswitch/web1.doorbell");
	assert_int_equal(cfg->vms[0].doorbell_usecs, 20);

	assert_false(cfg->vms[0].sealed);

	/* sealed: no rings, the default doorbell. */
	ret = load_text(POOL LO "vms = ( { name = \"web1\"; mac = \"52:54:00:00:00:01\"; sealed = true; } );\n",
			cfg, path, err, sizeof(err));
	if (ret)
		fail_msg("%s", err);
	assert_true(cfg->vms[0].sealed);
	assert_string_equal(cfg->vms[0].rings, "");
	assert_string_equal(cfg->vms[0].doorbell, "/run/flipswitch/web1.doorbell");

	/* A VM's doorbell_usecs: its own, or the top-level one. */
	ret = load_text(ONE_VM(" doorbell_usecs = 0;"), cfg, path, err, sizeof(err));
	if (ret)
		fail_msg("%s", err);
	assert_int_equal(cfg->vms[0].doorbell_usecs, 0);
	ret = load_text("doorbell_usecs = 50;\n" ONE_VM(""), cfg, path, err,
			sizeof(err));
	if (ret)
		fail_msg("%s", err);
	assert_int_equal(cfg->vms[0].doorbell_usecs, 50);
	ret = load_text("doorbell_usecs = 50;\n" ONE_VM(" doorbell_usecs = 100000;"),
			cfg, path, err, sizeof(err));
	if (ret)
		fail_msg("%s", err);
	assert_int_equal(cfg->vms[0].doorbell_usecs, 100000);

	ret = load_text(ONE_VM(" doorbell = \"off\";"), cfg, path, err, sizeof(err));
	if (ret)
		fail_msg("%s", err);
	assert_string_equal(cfg->vms[0].doorbell, "");
	ret = load_text("control = \"ctl.sock\";\n" ONE_VM(" doorbell = \"/tmp/b1\";"),
			cfg, path, err, sizeof(err));
	if (ret)
		fail_msg("%s", err);
	assert_string_equal(cfg->vms[0].doorbell, "/tmp/b1");
	free(cfg);
}

/* The default VM ring is the quota rounded up to a power of two, >= 256. */
static void test_default_ring_size(void **state)
{
	static const struct { const char *text; uint32_t ring; } cases[] = {
		{ ONE_VM(" quota = 1;"), 256 },
		{ ONE_VM(" quota = 256;"), 256 },
		{ ONE_VM(" quota = 257;"), 512 },
		{ ONE_VM(" quota = 3000;"), 4096 },
		{ ONE_VM(" quota = 16384;"), 16384 },
		{ "pool = { path = \"/x\"; frames = 65536; };\n" LO "vms = ( "
		  VM("web1", "52:54:00:00:00:01", "/r", " quota = 32768;") " );\n", 32768 },
	};
	struct cfg *cfg = calloc(1, sizeof(*cfg));
	char path[64], err[CFG_ERR_MAX];

	assert_non_null(cfg);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (load_text(cases[i].text, cfg, path, err, sizeof(err)))
			fail_msg("case %zu: %s", i, err);
		assert_int_equal(cfg->vms[0].ring_size, cases[i].ring);
	}
	free(cfg);
}

/* Configs that must load, each checked for one thing. */
static void test_valid_variants(void **state)
{
	struct cfg *cfg = calloc(1, sizeof(*cfg));
	char path[64], err[CFG_ERR_MAX];

	assert_non_null(cfg);

	/* One MAC may be used once per vlan. */
	if (load_text(POOL LO "vms = (\n"
		      VM("web1", "52:54:00:00:00:01", "/dev/shm/r1", "") ",\n"
		      VM("web2", "52:54:00:00:00:01", "/dev/shm/r2", " vlan = 5;") "\n);\n",
		      cfg, path, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(cfg->n_vms, 2);
	assert_int_equal(cfg->vms[1].vlan, 5);

	/* libconfig's "key: value" form, an empty vms list and a hex int. */
	if (load_text("pool: { path: \"/x\"; frames: 0x1000; };\n"
		      "interfaces: ( { name: \"lo\"; } );\nvms: ();\n",
		      cfg, path, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(cfg->pool.frames, 4096);
	assert_int_equal(cfg->n_vms, 0);

	/* An empty array is an empty list too. */
	if (load_text(POOL LO "vms = [];\n", cfg, path, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(cfg->n_vms, 0);

	/* Explicit values at the edges of their ranges. */
	if (load_text("pool = { path = \"/x\"; frames = 64; scrub = \"off\"; };\n"
		      "interfaces = ( { name = \"lo\"; ring_size = 16384; queues = 64;"
		      " xdp_mode = \"native\"; zerocopy = \"on\"; } );\n"
		      "vms = ( " VM("w", "02:00:00:00:00:01", "/r", " quota = 64; ring_size = 64; vlan = 1;") " );\n"
		      "batch = 256;\n",
		      cfg, path, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(cfg->pool.scrub, CFG_SCRUB_OFF);
	assert_int_equal(cfg->ifaces[0].xdp_mode, CFG_XDP_NATIVE);
	assert_int_equal(cfg->ifaces[0].zerocopy, CFG_ZC_ON);
	assert_int_equal(cfg->vms[0].ring_size, 64);
	assert_int_equal(cfg->batch, 256);
	free(cfg);
}

/* Several pools: the default pool beside named ones, queues per pool, the
 * host's queues, each VM's pool. */
static void test_pools(void **state)
{
	struct cfg *cfg = malloc(sizeof(*cfg));
	char path[64], err[CFG_ERR_MAX];

	(void)state;
	assert_non_null(cfg);
	if (load_text("pool = { path = \"/dev/shm/d\"; };\n"
		      "pools = ( { name = \"red\"; path = \"/dev/shm/r\"; frames = 512;\n"
		      "  frame_size = 4096; scrub = \"full\"; } );\n"
		      "interfaces = ( { name = \"lo\"; pools = ( { pool = \"red\"; queues = [0]; } ); } );\n"
		      "vms = ( " VM("a", "02:00:00:00:00:01", "/ra", " pool = \"red\"; quota = 512;") ",\n"
		      VM("b", "02:00:00:00:00:02", "/rb", "") " );\n",
		      cfg, path, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(cfg->n_pools, 2);
	assert_string_equal(cfg->pools[0].name, "default");
	assert_string_equal(cfg->pools[0].path, "/dev/shm/d");
	assert_string_equal(cfg->pools[1].name, "red");
	assert_int_equal(cfg->pools[1].frames, 512);
	assert_int_equal(cfg->pools[1].frame_size, 4096);
	assert_int_equal(cfg->pools[1].scrub, CFG_SCRUB_FULL);
	assert_true(cfg->ifaces[0].pools_given);
	assert_int_equal(cfg->ifaces[0].queue_pool[0], 1);
	assert_int_equal(cfg->ifaces[0].queue_pool[1], CFG_QUEUE_HOST);
	assert_int_equal(cfg->vms[0].pool, 1);
	assert_int_equal(cfg->vms[0].quota, 512);
	assert_int_equal(cfg->vms[1].pool, 0); /* "default" */
	assert_int_equal(cfg_pool_find(cfg, "red"), 1);
	assert_int_equal(cfg_pool_find(cfg, "blue"), -1);

	/* The single pool form: "default", every queue its own. */
	if (load_text(POOL LO, cfg, path, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(cfg->n_pools, 1);
	assert_string_equal(cfg->pools[0].name, "default");
	assert_false(cfg->ifaces[0].pools_given);
	assert_int_equal(cfg->ifaces[0].queue_pool[0], 0);
	assert_int_equal(cfg->ifaces[0].queue_pool[63], 0);

	/* Offline (another netns): queue numbers are not checked against an
	 * interface that is not here. */
	write_tmp(path, POOLS "interfaces = ( { name = \"fsnosuch0\"; pools = (\n"
		  "  { pool = \"red\"; queues = [0, 1]; }, { pool = \"blue\"; queues = [2, 3]; } ); } );\n"
		  "vms = ( " VM("b1", "02:00:00:00:00:03", "/rb1", " pool = \"blue\";") " );\n");
	if (cfg_load_offline(cfg, path, err, sizeof(err)))
		fail_msg("%s", err);
	unlink(path);
	assert_int_equal(cfg->ifaces[0].queue_pool[3], 1);
	assert_int_equal(cfg->vms[0].pool, 1);
	free(cfg);
}

static void test_unreadable(void **state)
{
	struct cfg *cfg = calloc(1, sizeof(*cfg));
	const char *path = "/tmp/fs-test-config-does-not-exist";
	char err[CFG_ERR_MAX];

	assert_non_null(cfg);
	unlink(path);
	assert_int_equal(cfg_load(cfg, path, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "/tmp/fs-test-config-does-not-exist: No such file or directory");
	free(cfg);
}

/* Every mistake in one run, in line order, though found in another. */
static void test_every_mistake(void **state)
{
	static const char text[] =
		"batch = 0;\n"
		"pool = { path = \"/dev/shm/p\"; frames = 10; };\n"
		"interfaces = ( { name = \"lo\"; queues = 65; } );\n"
		"vms = (\n"
		" { name = \"web1\"; mac = \"52:54:00:zz:00:01\"; rings = \"/dev/shm/r1\"; ring_size = 1000; },\n"
		" { name = \"web2\"; mac = \"52:54:00:00:00:02\"; rings = \"/dev/shm/r1\"; vlan = 5000; }\n"
		");\n"
		"handoff = \"fast\";\n";
	struct cfg *cfg = calloc(1, sizeof(*cfg));
	char path[64], err[CFG_ERR_MAX], want[2048];

	assert_non_null(cfg);
	assert_int_equal(load_text(text, cfg, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want),
		 "%1$s:1: batch 0 is out of range (1 .. 256)\n"
		 "%1$s:2: pool: frames 10 is out of range (64 .. 1048576)\n"
		 "%1$s:3: interface \"lo\": queues 65 is out of range (0 .. 64)\n"
		 "%1$s:5: vm \"web1\": mac \"52:54:00:zz:00:01\" is not a MAC address (six hex byte pairs separated by ':', like 52:54:00:12:34:56)\n"
		 "%1$s:5: vm \"web1\": ring_size 1000 is not a power of two from 64 to 32768\n"
		 "%1$s:6: vm \"web2\": vlan 5000 is out of range (0 .. 4094)\n"
		 "%1$s:6: vm \"web2\": rings \"/dev/shm/r1\" are already vm \"web1\"'s (line 5; give each VM its own file)\n"
		 "%1$s:8: handoff \"fast\" is not one of \"zerocopy\", \"copy\"",
		 path);
	assert_string_equal(err, want);
	/* What does not fit is counted. */
	assert_int_equal(load_text(text, cfg, path, err, 200), -EINVAL);
	assert_non_null(strstr(err, ":1: batch 0 is out of range (1 .. 256)\n"));
	assert_non_null(strstr(err, "\n(and 6 more)"));
	free(cfg);
}

/* --example-config: what it writes loads, for one VM to the most, and
 * configs/example.conf is what it writes for eth1 and two VMs (the unit
 * tests run from the top of the tree). */
static void test_example(void **state)
{
	static const int n[] = { 1, 2, 13, CFG_MAX_VMS };
	struct cfg *cfg = calloc(1, sizeof(*cfg));
	char path[64], err[CFG_ERR_MAX], *text, *file;
	size_t len, flen;
	FILE *f;

	assert_non_null(cfg);
	for (size_t i = 0; i < sizeof(n) / sizeof(n[0]); i++) {
		f = open_memstream(&text, &len);
		assert_int_equal(cfg_example(f, "lo", n[i]), 0);
		fclose(f);
		if (load_text(text, cfg, path, err, sizeof(err)))
			fail_msg("--vms %d: %s", n[i], err);
		assert_int_equal(cfg->n_vms, n[i]);
		assert_string_equal(cfg->ifaces[0].name, "lo");
		/* Every VM can hold its quota with frames to spare for the NIC. */
		assert_true((uint64_t)cfg->vms[0].quota * n[i] + 4096 <= cfg->pool.frames);
		free(text);
	}
	assert_int_equal(cfg_example(stdout, "lo", 0), -EINVAL);
	assert_int_equal(cfg_example(stdout, "lo", CFG_MAX_VMS + 1), -EINVAL);

	f = open_memstream(&text, &len);
	assert_int_equal(cfg_example(f, "eth1", 2), 0);
	fclose(f);
	f = fopen("configs/example.conf", "r");
	assert_non_null(f);
	file = calloc(1, 1 << 16);
	flen = fread(file, 1, (1 << 16) - 1, f);
	fclose(f);
	if (flen != len || memcmp(file, text, len))
		fail_msg("configs/example.conf is not flipswitchd --example-config eth1's output:\n%s",
			 text);
	free(file);
	free(text);
	free(cfg);
}

/* metrics: off unless set; IPv4 and IPv6 listening addresses. */
static void test_metrics(void **state)
{
	static const struct {
		const char *s;
		int family, port;
	} ok[] = {
		{ "127.0.0.1:9477", AF_INET, 9477 },
		{ "0.0.0.0:1", AF_INET, 1 },
		{ "[::1]:9477", AF_INET6, 9477 },
		{ "[::]:65535", AF_INET6, 65535 },
	};
	struct cfg *cfg = calloc(1, sizeof(*cfg));
	char path[64], err[CFG_ERR_MAX];
	struct sockaddr_storage ss;
	socklen_t len;

	assert_non_null(cfg);
	assert_int_equal(load_text(POOL LO, cfg, path, err, sizeof(err)), 0);
	assert_string_equal(cfg->metrics, "");
	assert_int_equal(load_text(POOL LO "metrics = \"127.0.0.1:9477\";\n", cfg,
				   path, err, sizeof(err)), 0);
	assert_string_equal(cfg->metrics, "127.0.0.1:9477");
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(cfg_parse_listen(ok[i].s, &ss, &len), 0);
		assert_int_equal(ss.ss_family, ok[i].family);
		assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port),
				 ok[i].port);
		assert_int_equal(len, ok[i].family == AF_INET ?
					      sizeof(struct sockaddr_in) :
					      sizeof(struct sockaddr_in6));
	}
	free(cfg);
}

/* A short err buffer gets a truncated, terminated message. */
static void test_short_err(void **state)
{
	struct cfg *cfg = calloc(1, sizeof(*cfg));
	char path[64], err[24];

	assert_non_null(cfg);
	memset(err, 'x', sizeof(err));
	assert_int_equal(load_text(POOL LO "batch = 0;\n", cfg, path, err, 16), -EINVAL);
	assert_int_equal(strlen(err), 15);
	assert_int_equal(err[16], 'x');
	free(cfg);
}

static void test_parse_mac(void **state)
{
	static const struct {
		const char *s;
		int ret;
		uint8_t mac[6];
	} cases[] = {
		{ "52:54:00:12:34:56", 0, { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 } },
		{ "aA:bB:cC:dD:eE:fF", 0, { 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff } },
		{ "00:00:00:00:00:00", 0, { 0 } },
		{ "52:54:00:zz:00:01", -EINVAL, { 0 } },
		{ "52:54:00:00:01", -EINVAL, { 0 } },
		{ "52:54:00:00:00:01x", -EINVAL, { 0 } },
		{ "52:54:00:00:00:01:", -EINVAL, { 0 } },
		{ "52:54:00:00:00:1", -EINVAL, { 0 } },
		{ "52-54-00-00-00-01", -EINVAL, { 0 } },
		{ "5254.0000.0001", -EINVAL, { 0 } },
		{ " 52:54:00:00:00:01", -EINVAL, { 0 } },
		{ "0x52:54:00:00:00:01", -EINVAL, { 0 } },
		{ "", -EINVAL, { 0 } },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t mac[6] = { 1, 2, 3, 4, 5, 6 };
		static const uint8_t untouched[6] = { 1, 2, 3, 4, 5, 6 };

		assert_int_equal(cfg_parse_mac(cases[i].s, mac), cases[i].ret);
		assert_memory_equal(mac, cases[i].ret ? untouched : cases[i].mac, 6);
	}
}

static void test_idle_names(void **state)
{
	(void)state;
	assert_string_equal(cfg_idle_name(CFG_IDLE_ADAPTIVE), "adaptive");
	assert_string_equal(cfg_idle_name(CFG_IDLE_POLL), "poll");
	assert_int_equal(cfg_idle_parse("adaptive"), CFG_IDLE_ADAPTIVE);
	assert_int_equal(cfg_idle_parse("poll"), CFG_IDLE_POLL);
	assert_int_equal(cfg_idle_parse("Poll"), -EINVAL);
}

static void test_scrub_name(void **state)
{
	assert_string_equal(cfg_scrub_name(CFG_SCRUB_OFF), "off");
	assert_string_equal(cfg_scrub_name(CFG_SCRUB_USED), "used");
	assert_string_equal(cfg_scrub_name(CFG_SCRUB_FULL), "full");
}

#define N_ERR (sizeof(err_cases) / sizeof(err_cases[0]))

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_default_ring_size),
		cmocka_unit_test(test_valid_variants),
		cmocka_unit_test(test_pools),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_short_err),
		cmocka_unit_test(test_every_mistake),
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_parse_mac),
		cmocka_unit_test(test_scrub_name),
		cmocka_unit_test(test_idle_names),
	};
	enum { N_FIXED = sizeof(fixed) / sizeof(fixed[0]) };
	struct CMUnitTest tests[N_FIXED + N_ERR];

	memcpy(tests, fixed, sizeof(fixed));
	for (size_t i = 0; i < N_ERR; i++)
		tests[N_FIXED + i] = (struct CMUnitTest) {
			.name = err_cases[i].name,
			.test_func = test_error,
			.initial_state = (void *)&err_cases[i],
		};
	return _cmocka_run_group_tests("config", tests, N_FIXED + N_ERR, NULL, NULL);
}
