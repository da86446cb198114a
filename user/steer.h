/* SPDX-License-Identifier: MIT */
/*
 * Flow steering (steer = "ntuple" on an interface): one ethtool ntuple
 * rule per VM on that uplink, its destination MAC (and VLAN, where it has
 * one) to the queue its frames should arrive on (port_steer_queue), so
 * that the NIC itself sorts the VMs' traffic onto the switch's queues and
 * the host's traffic stays off them.
 *
 * Rules go in through ETHTOOL_SRXCLSRLINS at location RX_CLS_LOC_ANY (the
 * driver picks, and says where) and come out through ETHTOOL_SRXCLSRLDEL:
 * one per VM, removed with the VM (vm del) and at exit, all of them. A
 * rule the NIC refuses is the caller's error: at start the daemon stops
 * before anything is attached, at vm add the VM is refused. veth has no
 * ntuple filters: steering is for real NICs.
 *
 * Each rule is written down in a trail (trail.h), CONTROL.steer-IFNAME
 * next to the control socket: its location and what it says. A daemon
 * killed before it could remove its rules leaves the trail, and the next
 * one removes each rule it names (steer_reclaim) that is still, at that
 * location, the rule recorded: same flow type, destination MAC, VLAN and
 * queue. An admin's rule is never at a location the record names while
 * the switch's rule is there; one put at that location since says
 * something else, and is left. (A rule of its own with exactly the same
 * match and queue would do exactly what the switch's did.)
 *
 * The ioctl goes through an ops table (steer_sys_ops, or a test's), so
 * the rules' life is tested without a NIC. Owner: sw_init and sw_fini,
 * and between them the control thread (vm add, vm del); never the
 * worker, whose frames it does not touch.
 */
#ifndef FS_STEER_H
#define FS_STEER_H

#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>

#include "config.h"
#include "trail.h"

#define STEER_NONE UINT32_MAX

struct steer_ops {
	/* The ethtool request cmd (a struct ethtool_rxnfc) on ifname: 0 or
	 * -errno; the driver may write into it (the rule's location). */
	int (*ethtool)(void *arg, const char *ifname, void *cmd);
};

/* SIOCETHTOOL on a socket of its own. */
extern const struct steer_ops steer_sys_ops;
/* The ops the switch steers through: steer_sys_ops, or a test's. */
extern const struct steer_ops *steer_default_ops;

struct steer {
	char ifname[IF_NAMESIZE];
	const struct steer_ops *ops;
	void *arg;
	uint32_t loc[CFG_MAX_VMS]; /* VM slot's rule location, or STEER_NONE */
	uint32_t n_rules;
	struct trail trail; /* CONTROL.steer-IFNAME */
};

/* Ready to steer on ifname, its rules recorded next to the control
 * socket control ("": not recorded). 0 or -errno (logged). */
int steer_init(struct steer *s, const char *ifname,
	       const struct steer_ops *ops, void *arg, const char *control);
/* Steers (mac, vlan) to queue for VM slot vm. 0, or -errno with the
 * reason logged (no rule left behind). */
int steer_vm_add(struct steer *s, int vm, const uint8_t mac[6], uint16_t vlan,
		 uint32_t queue);
/* Removes VM slot vm's rule, if it has one. 0 or -errno (logged). */
int steer_vm_del(struct steer *s, int vm);
/* Removes every rule, and the trail. */
void steer_fini(struct steer *s);
/* Removes the rules a flipswitchd with control socket control left when
 * it was killed, on whichever interface they are; steer_init's trails
 * are empty before. Returns how many were removed. */
int steer_reclaim(const char *control, const struct steer_ops *ops,
		  void *arg);

#endif /* FS_STEER_H */
