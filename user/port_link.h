/* SPDX-License-Identifier: MIT */
/*
 * A NIC port's interface settings (port_link.c), for port.c.
 */
#ifndef FS_PORT_LINK_H
#define FS_PORT_LINK_H

#include <stdbool.h>
#include <stdint.h>

struct port;

/* The interface's rx queues as ethtool reports them; 1 if it cannot. */
uint32_t port_rx_queue_count(const char *ifname);

/* Rx VLAN stripping (C- and S-tags) off (*was gets which were on) or back
 * on (those in *was). 0, or -errno: -EOPNOTSUPP if one that is on cannot
 * be turned off. */
int port_vlan_strip_set(const char *ifname, bool on, uint8_t *was);

/* The NAPI knobs of preferred busy polling, by index. */
extern const char *const port_napi_knobs[2];

/* Reads (into *was, unless NULL) and writes knob i of ifname; 0 or
 * -errno. */
int port_napi_knob(const char *ifname, int i, int val, int *was);

/* Sets both knobs for pt's busy polling, recording what they were; 0 or
 * -errno after a log line that names the config line to change. */
int port_napi_set(struct port *pt);

#endif /* FS_PORT_LINK_H */
