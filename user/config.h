/* SPDX-License-Identifier: MIT */
/*
 * The daemon's configuration, read from a libconfig file.
 *
 * cfg_load() checks everything it can before the daemon touches the system:
 * unknown keys, types, ranges, MAC syntax, duplicate names, MACs, ring paths,
 * a frame size the kernel would refuse, interfaces that do not exist. It
 * reads on past a mistake and fills err with every one it found, in line
 * order, one a line, each a sentence that names file, line and fix:
 *   flipswitch.conf:12: vm "web1": mac "52:54:00:zz" is not a MAC address
 *     (six hex byte pairs separated by ':', like 52:54:00:12:34:56)
 * A syntax error stops libconfig, so it is the only one reported; the
 * message then says what was expected where (cfg_syntax_explain()).
 */
#ifndef FS_CONFIG_H
#define FS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <limits.h>
#include <net/if.h>
#include <sys/socket.h>

#define CFG_MAX_IFACES 8
#define CFG_MAX_VMS 256
/* Pools (trust domains): each is a UMEM of its own, and AF_XDP binds one
 * UMEM per (interface, queue), so there can be no more than queues. */
#define CFG_MAX_POOLS 8
/* Queues of one interface a config may name (FS_XDP_MAX_QUEUES). */
#define CFG_MAX_QUEUES 64
/* cfg_iface.queue_pool: the queue is the host's (no socket). */
#define CFG_QUEUE_HOST (-1)
#define CFG_ERR_MAX 8192

enum cfg_scrub { CFG_SCRUB_OFF, CFG_SCRUB_USED, CFG_SCRUB_FULL };
enum cfg_xdp_mode { CFG_XDP_AUTO, CFG_XDP_NATIVE, CFG_XDP_GENERIC };
enum cfg_zc { CFG_ZC_AUTO, CFG_ZC_ON, CFG_ZC_OFF };
enum cfg_steer { CFG_STEER_OFF, CFG_STEER_NTUPLE };

struct cfg_pool {
	char name[32];        /* "name" in pools = ( ... ); "default" for the
				 single pool = { ... } */
	char path[PATH_MAX];  /* "path": file on tmpfs or hugetlbfs, unique */  /* "path": file on tmpfs or hugetlbfs */
	uint32_t frames;      /* "frames": 64 .. 1048576, default 16384 */
	uint32_t frame_size;  /* "frame_size": 2048 or 4096, default 2048 */
	enum cfg_scrub scrub; /* "scrub": "off" | "used" | "full", default off */
	int line;
};

struct cfg_iface {
	char name[IF_NAMESIZE];     /* "name", must exist */
	unsigned int ifindex;
	enum cfg_xdp_mode xdp_mode; /* "xdp_mode": "auto" | "native" |
				       "generic", default auto: native, then
				       generic if the driver has no XDP */
	enum cfg_zc zerocopy;       /* "zerocopy": "auto" | "on" | "off",
				       default auto: zero-copy, then copy */
	uint32_t queues;            /* "queues": rx queues to serve, 0 (the
				       default) = all of the interface's */
	uint32_t ring_size;         /* "ring_size": AF_XDP ring entries, power of
				       two 64 .. 16384, default 2048 */
	bool publish_fdb;           /* "publish_fdb": a static entry per VM
				       whose uplink this is in the fdb of the
				       bridge this interface is a port of (for
				       an EVPN speaker): true, on this port, or
				       the name of another port of that bridge,
				       on that one; default false */
	char publish_fdb_on[IF_NAMESIZE]; /* that other port, or "" */
	/* "pools": ( { pool = "red"; queues = [0, 1]; }, ... ): the pool
	 * (index into cfg.pools) of each queue, CFG_QUEUE_HOST for a queue
	 * given to none (the host's: no socket, the XDP program passes its
	 * frames). Without it (pools_given false) every queue served is
	 * the one pool's, or the pool "default"'s. */
	bool pools_given;
	int8_t queue_pool[CFG_MAX_QUEUES];
	uint32_t busy_poll_usecs;   /* "busy_poll_usecs": the kernel's
				       preferred busy polling on this
				       interface's sockets (SO_BUSY_POLL);
				       0 .. 10000, default 0 = off */
	enum cfg_steer steer;       /* "steer": "off" (default) | "ntuple": an
				       ethtool ntuple rule per VM (steer.h) */
	int line;                   /* line in the file, for later messages */
};

/* doorbell_usecs: the most; a VM's own setting absent (config.c). */
#define CFG_USECS_MAX 100000
#define CFG_USECS_INHERIT (CFG_USECS_MAX + 1)
/* A VM's flood limit: frames a second and the burst (cfg_vm). */
#define CFG_FLOOD_RATE 10000
#define CFG_FLOOD_BURST 1000
#define CFG_FLOOD_RATE_MAX 100000000
#define CFG_FLOOD_BURST_MAX 1000000
/* max_sleep_usecs: the most. */
#define CFG_MAX_SLEEP_USECS 10000
/* poll_usecs: the most, and the default. */
#define CFG_POLL_USECS_MAX 1000
#define CFG_POLL_USECS_DEF 20
/* doorbell_max_usecs: 8 x the default doorbell_usecs. */
#define CFG_DOORBELL_MAX_DEF 160

/* "idle": what the worker does once a pass finds nothing. */
enum cfg_idle {
	CFG_IDLE_ADAPTIVE, /* polls while frames come closer than poll_usecs
			      apart, else blocks at once */
	CFG_IDLE_POLL,     /* polls 256 empty passes, then blocks */
};
/* allowed_macs: the most a VM may list. The switch compares a frame's
 * source with each, for every frame of a VM that sends with one of them:
 * a handful, not a table. */
#define CFG_MAX_ALLOWED_MACS 8

struct cfg_vm {
	char name[32];           /* "name": [A-Za-z0-9_.-], 1..31 chars, unique */
	uint8_t mac[6];          /* "mac": unicast, unique per vlan */
	uint16_t vlan;           /* "vlan": 0 (untagged, default) or 1..4094 */
	char rings[PATH_MAX];    /* "rings": the VM ring region file, unique;
				    "" for a sealed VM */
	bool sealed;             /* "sealed": the region is a sealed memfd
				    (no shrinking, no growing), not a file on
				    a path, handed to QEMU only through the
				    doorbell; needs one; default false */
	uint32_t quota;          /* "quota": frames, 1 .. frames, default 1024 */
	uint32_t ring_size;      /* "ring_size": power of two 64 .. 32768,
				    default: quota rounded up to a power of
				    two, at least 256 */
	int uplink;              /* "uplink": interface name, index into
				    cfg.ifaces; default 0 (the first) */
	char doorbell[108];      /* "doorbell": ivshmem-server socket for this
				    VM's guest (interrupts both ways), or
				    "off" (stored as ""); default NAME.doorbell
				    next to the control socket */
	uint32_t doorbell_usecs; /* "doorbell_usecs": this VM's doorbell
				    moderation, 0 .. 100000; default the
				    top-level doorbell_usecs */
	uint32_t flood_rate;     /* "flood_rate": group-addressed frames a
				    second this VM may send (broadcast,
				    multicast: each a copy for every VM of
				    its network), 0 = no limit; default
				    CFG_FLOOD_RATE */
	uint32_t flood_burst;    /* "flood_burst": ... of them at once, after
				    a quiet spell; default CFG_FLOOD_BURST */
	long long doorbell_peer; /* "doorbell_peer": the user (a name or a
				    uid) whose process alone may connect to
				    the VM's doorbell (its QEMU); -1: any
				    that may open the socket (default) */
	int pool;                /* "pool": a pool's name, as index into
				    cfg.pools; default the only pool, or
				    "default" */
	/* "allowed_macs": source MACs the guest may send with besides mac
	 * (unicast, at most CFG_MAX_ALLOWED_MACS); frames with any other
	 * are dropped as spoofed. Default none. */
	uint8_t allowed_macs[CFG_MAX_ALLOWED_MACS][6];
	uint32_t n_allowed_macs;
	int line;
};

struct cfg {
	char file[PATH_MAX];
	/* "pools" = ( { name = ...; ... }, ... ) and/or the single "pool" =
	 * { ... } (named "default", first). pool is pools[0]: a cfg built
	 * in code (tests, benchmarks) may fill only it and leave n_pools 0,
	 * which means one pool. */
	union {
		struct cfg_pool pool;
		struct cfg_pool pools[CFG_MAX_POOLS];
	};
	int n_pools;
	struct cfg_iface ifaces[CFG_MAX_IFACES];
	int n_ifaces;            /* at least 1 */
	struct cfg_vm vms[CFG_MAX_VMS];
	int n_vms;
	uint32_t batch;          /* "batch": frames per ring operation,
				    1 .. 256, default 64 */
	int handoff_copy;        /* "handoff": "zerocopy" (default) or "copy":
				    copy each frame into a frame lent to the
				    destination VM, the two-step baseline
				    the benchmark compares against */
	uint32_t guest_timeout;  /* "guest_timeout": ms without a guest
				    heartbeat before its frames are taken
				    back; 0 = never; default 5000 */
	uint32_t doorbell_usecs; /* "doorbell_usecs": least time between two
				    doorbells rung to one guest while frames
				    keep coming (interrupt moderation);
				    0 .. 100000, 0 = ring every time;
				    default 20 */
	uint32_t doorbell_max_usecs; /* "doorbell_max_usecs": the longest
				    a heavy stream may lengthen that
				    interval to (adaptive moderation,
				    sw_idle.c); not below a VM's
				    doorbell_usecs, so 0 keeps it fixed;
				    0 .. 100000, default 160 */
	uint32_t max_sleep_usecs; /* "max_sleep_usecs": the longest nap of
				     the worker under light load (OVS's
				     pmd-sleep-max); 0 .. 10000, default
				     0 = it never naps while traffic flows */
	enum cfg_idle idle;      /* "idle": "adaptive" (default) | "poll" */
	uint32_t poll_usecs;     /* "poll_usecs": under "adaptive", the
				    longest the worker polls after its last
				    frame before it blocks; 0 .. 1000, 0 =
				    block at once; default 20 */
	char control[PATH_MAX];  /* "control": control socket path, default
				    /run/flipswitch/flipswitch.sock */
	char control_group[64];  /* "control_group": group that owns the
				    socket and may change the switch; "" =
				    root only */
	char metrics[64];        /* "metrics": ADDRESS:PORT where GET /metrics
				    serves the counters over HTTP; "" (the
				    default) = off */
	unsigned int control_gid;
};

/* A VM as given, to the config file or to `vm add`, before any check:
 * strings as written (NULL: absent), integers as written (has_*: given at
 * all). cfg_vm_check() is the one place that says what a VM may be. */
struct cfg_vm_spec {
	const char *name, *mac, *rings;
	const char *doorbell;    /* NULL: the default socket; "off": none */
	const char *doorbell_peer; /* NULL: anyone who may connect */
	const char *pool;        /* NULL: the default pool (cfg_pool_default) */
	const char *const *allowed_macs; /* n_allowed_macs strings */
	int n_allowed_macs;      /* as given: may exceed the most */
	long long quota, vlan, ring_size, doorbell_usecs, flood_rate,
		flood_burst;
	bool has_quota, has_vlan, has_ring_size, has_doorbell_usecs,
		has_flood_rate, has_flood_burst;
	bool sealed;             /* "sealed": then rings must be NULL */
};

/* Called once for each mistake: key is the setting at fault ("quota"),
 * msg a whole sentence that starts with the VM's name and says the fix. */
typedef void cfg_vm_report_fn(void *arg, const char *key, const char *msg);

/* Checks sp against cfg's pool and fills v with what passed (but for
 * uplink, which the caller resolves, and the doorbell defaults,
 * cfg_vm_finish()). name and mac are required: one that is NULL is
 * left to the caller to report missing. rings is reported here: required
 * unless sealed, refused if sealed. 0, or -EINVAL after one report
 * per mistake. */
int cfg_vm_check(const struct cfg_vm_spec *sp, const struct cfg *cfg,
		 struct cfg_vm *v, cfg_vm_report_fn *report, void *arg);

/* Once cfg's control socket and doorbell_usecs are known: v's default
 * doorbell socket, "off", and an inherited doorbell_usecs. 0, or -EINVAL
 * after a report. */
int cfg_vm_finish(struct cfg_vm *v, const struct cfg *cfg,
		  cfg_vm_report_fn *report, void *arg);

/* Whether v may live beside o: a name, a (MAC, vlan), a ring file or a
 * doorbell socket of its own. oline is o's line in a file, for the
 * message, or 0. 0, or -EEXIST after a report. */
int cfg_vm_conflict(const struct cfg_vm *v, const struct cfg_vm *o, int oline,
		    cfg_vm_report_fn *report, void *arg);

/* libconfig said "syntax error" at *line of file: reads the file again
 * to say what was expected where, and moves *line to the token at fault.
 * 0 with why filled, or -errno (then libconfig's words are all there is). */
int cfg_syntax_explain(const char *file, int *line, char *why, size_t size);

/* 0 on success; -EINVAL with err filled with every mistake in the file,
 * one a line in line order (what does not fit in errlen is counted on the
 * last line), -errno (err filled) if the file cannot be read. cfg is
 * zeroed first. */
int cfg_load(struct cfg *cfg, const char *path, char *err, size_t errlen);

/* The same, for tools that only need the file's contents (pool, VMs) and
 * may run where the interfaces are not (another network namespace): an
 * interface that does not exist here is not an error (ifindex 0). */
int cfg_load_offline(struct cfg *cfg, const char *path, char *err,
		     size_t errlen);

/* Writes a commented first configuration for interface iface and n_vms
 * VMs (1 .. CFG_MAX_VMS) to f, one cfg_load() accepts where iface exists.
 * 0, -EINVAL for n_vms out of range, or -EIO. */
int cfg_example(FILE *f, const char *iface, int n_vms);
/* The pools of cfg: n_pools, or 1 for a cfg built in code. */
static inline int cfg_n_pools(const struct cfg *cfg)
{
	return cfg->n_pools ? cfg->n_pools : 1;
}

/* The pool named name, or -1. */
int cfg_pool_find(const struct cfg *cfg, const char *name);

/* The pool of a VM or an interface that names none: the only pool, or
 * the one named "default"; -1 if there are several and none is. */
int cfg_pool_default(const struct cfg *cfg);

/* The pools' names, quoted, for messages: "red", "blue". */
const char *cfg_pool_names(const struct cfg *cfg, char *buf, size_t size);

/* Parses a listening address, "127.0.0.1:9477" or "[::1]:9477" (numeric
 * addresses only: no name lookup at start). 0 or -EINVAL. */
int cfg_parse_listen(const char *s, struct sockaddr_storage *ss,
		     socklen_t *len);

/* Parses "52:54:00:12:34:56" (case-insensitive hex). 0 or -EINVAL. */
int cfg_parse_mac(const char *s, uint8_t mac[6]);

const char *cfg_scrub_name(enum cfg_scrub s);
const char *cfg_idle_name(enum cfg_idle m);
/* m's value for name, or -EINVAL. */
int cfg_idle_parse(const char *name);

/* The default doorbell socket of VM name: name.doorbell in the control
 * socket's directory. 0, or -ENAMETOOLONG (a unix socket path is at most
 * 107 bytes). */
int cfg_doorbell_default(const char *control, const char *name, char *out,
			 size_t size);

#endif /* FS_CONFIG_H */
