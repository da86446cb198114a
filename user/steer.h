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
};

void steer_init(struct steer *s, const char *ifname,
		const struct steer_ops *ops, void *arg);
/* Steers (mac, vlan) to queue for VM slot vm. 0, or -errno with the
 * reason logged (no rule left behind). */
int steer_vm_add(struct steer *s, int vm, const uint8_t mac[6], uint16_t vlan,
		 uint32_t queue);
/* Removes VM slot vm's rule, if it has one. 0 or -errno (logged). */
int steer_vm_del(struct steer *s, int vm);
/* Removes every rule. */
void steer_fini(struct steer *s);

#endif /* FS_STEER_H */
