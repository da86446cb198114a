// SPDX-License-Identifier: MIT
/*
 * The settings of a NIC port's interface that the switch changes while it
 * runs and puts back at exit (port_link.h): rx VLAN stripping off, and the
 * NAPI settings of preferred busy polling; and the interface's rx queue
 * count, through ethtool.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "log.h"
#include "port.h"
#include "port_link.h"

/* An ethtool request on ifname through fd: the ioctl's result (>= 0),
 * or -errno. */
static int ethtool(int fd, const char *ifname, void *data)
{
	struct ifreq ifr = { 0 };
	int r;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = data;
	r = ioctl(fd, SIOCETHTOOL, &ifr);
	return r < 0 ? -errno : r;
}

uint32_t port_rx_queue_count(const char *ifname)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	uint32_t n = 1;
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return n;
	/* Drivers report separate rx channels (veth) or combined ones (most
	 * NICs); one that reports neither has a single queue. */
	if (ethtool(fd, ifname, &ch) == 0)
		n = ch.rx_count > ch.combined_count ? ch.rx_count :
						      ch.combined_count;
	close(fd);
	return n ? n : 1;
}

/* Rx VLAN stripping, C-tags and S-tags (ethtool's rx-vlan-offload and
 * rx-vlan-stag-hw-parse). A NIC that strips a tag leaves it in metadata
 * the XDP program does not read: a frame tagged for VLAN X would be taken
 * for an untagged one, and reach a VM with vlan = 0 (or, for a VM with
 * vlan = X, go to the host). So it is off while the switch runs, and back
 * on at exit if it was on. */
static const char *const vlan_strip_names[] = { "rx-vlan-hw-parse",
						"rx-vlan-stag-hw-parse" };

/* The bit numbers of vlan_strip_names[] among ifname's features (-1: the
 * driver has no such feature); returns the feature count, or -errno. */
static int vlan_strip_bits(int fd, const char *ifname, int bit[2])
{
	struct {
		struct ethtool_sset_info hdr;
		uint32_t len;
	} info = { .hdr = { .cmd = ETHTOOL_GSSET_INFO,
			    .sset_mask = 1ULL << ETH_SS_FEATURES } };
	struct ethtool_gstrings *gs;
	uint32_t n;
	int err;

	err = ethtool(fd, ifname, &info);
	if (err)
		return err;
	n = info.hdr.sset_mask ? info.len : 0;
	gs = calloc(1, sizeof(*gs) + (size_t)n * ETH_GSTRING_LEN);
	if (!gs)
		return -ENOMEM;
	gs->cmd = ETHTOOL_GSTRINGS;
	gs->string_set = ETH_SS_FEATURES;
	gs->len = n;
	err = n ? ethtool(fd, ifname, gs) : 0;
	bit[0] = bit[1] = -1;
	for (uint32_t i = 0; !err && i < n; i++)
		for (int k = 0; k < 2; k++)
			if (!strncmp((char *)gs->data + i * ETH_GSTRING_LEN,
				     vlan_strip_names[k], ETH_GSTRING_LEN))
				bit[k] = (int)i;
	free(gs);
	return err ? err : (int)n;
}

/* Turns the stripping off (on = false; *was gets which were on) or back
 * on (on = true: those in *was). 0, or -errno: -EOPNOTSUPP if one that is
 * on cannot be turned off. */
int port_vlan_strip_set(const char *ifname, bool on, uint8_t *was)
{
	struct ethtool_gfeatures *gf = NULL;
	struct ethtool_sfeatures *sf = NULL;
	int fd, n, bit[2], err;
	uint32_t blocks;
	uint8_t want = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	n = vlan_strip_bits(fd, ifname, bit);
	if (n == -EOPNOTSUPP || n == -EINVAL)
		n = 0; /* no feature list: nothing the switch can turn off */
	err = n < 0 ? n : 0;
	blocks = n > 0 ? ((uint32_t)n + 31) / 32 : 0;
	if (!err && blocks) {
		gf = calloc(1, sizeof(*gf) + blocks * sizeof(gf->features[0]));
		sf = calloc(1, sizeof(*sf) + blocks * sizeof(sf->features[0]));
		if (!gf || !sf)
			err = -ENOMEM;
	}
	if (!err && blocks) {
		gf->cmd = ETHTOOL_GFEATURES;
		gf->size = blocks;
		err = ethtool(fd, ifname, gf);
	}
	if (!on && was)
		*was = 0;
	for (int k = 0; !err && blocks && k < 2; k++) {
		uint32_t b, m, active;

		if (bit[k] < 0)
			continue;
		b = (uint32_t)bit[k] / 32;
		m = 1u << (bit[k] % 32);
		active = gf->features[b].active & m;
		if (on ? !(*was & (1u << k)) || active : !active)
			continue;
		if (!on && !(gf->features[b].available & m)) {
			err = -EOPNOTSUPP; /* fixed on */
			break;
		}
		sf->features[b].valid |= m;
		if (on)
			sf->features[b].requested |= m;
		want |= (uint8_t)(1u << k);
	}
	if (!err && want) {
		sf->cmd = ETHTOOL_SFEATURES;
		sf->size = blocks;
		err = ethtool(fd, ifname, sf);
		if (err >= 0) {
			err = 0; /* the ETHTOOL_F_* flags: checked below */
			if (!on && was)
				*was = want; /* to put back, whatever the check says */
		}
		gf->cmd = ETHTOOL_GFEATURES;
		gf->size = blocks;
		if (!err)
			err = ethtool(fd, ifname, gf);
		for (int k = 0; !err && k < 2; k++)
			if ((want & (1u << k)) &&
			    !!(gf->features[bit[k] / 32].active &
			       (1u << (bit[k] % 32))) != on)
				err = -EOPNOTSUPP;
	}
	free(gf);
	free(sf);
	close(fd);
	return err;
}

/* The interface's NAPI settings for preferred busy polling (the kernel's
 * Documentation/networking/napi.rst): the interrupts of a queue whose
 * NAPI found work stay off for napi_defer_hard_irqs polls, and
 * gro_flush_timeout (ns) is how long the kernel waits for the worker's
 * next busy poll before it takes the queue back (the worker blocks after
 * up to poll_usecs of nothing). */
const char *const port_napi_knobs[2] = { "napi_defer_hard_irqs",
					   "gro_flush_timeout" };
static const int napi_values[2] = { 2, 200000 };

/* Reads (was: old value, or NULL) and writes a knob; 0 or -errno. */
int port_napi_knob(const char *ifname, int i, int val, int *was)
{
	char path[96];
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname,
		 port_napi_knobs[i]);
	if (was) {
		f = fopen(path, "r");
		if (!f)
			return -errno;
		if (fscanf(f, "%d", was) != 1)
			err = -EIO;
		fclose(f);
		if (err)
			return err;
	}
	f = fopen(path, "w");
	if (!f)
		return -errno;
	if (fprintf(f, "%d\n", val) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

int port_napi_set(struct port *pt)
{
	for (int i = 0; i < 2; i++) {
		int err = port_napi_knob(pt->cfg.name, i, napi_values[i],
				    &pt->napi_was[i]);

		if (err) {
			log_err("%s: cannot set /sys/class/net/%s/%s to %d for busy polling: %s; set busy_poll_usecs = 0 on %s (line %d)",
				pt->cfg.name, pt->cfg.name, port_napi_knobs[i],
				napi_values[i], strerror(-err), pt->cfg.name,
				pt->cfg.line);
			return err;
		}
		pt->napi_saved |= 1u << i;
	}
	pt->busy_poll = true;
	log_info("%s: preferred busy polling, %u us (napi_defer_hard_irqs %d, gro_flush_timeout %d ns while the switch runs)",
		 pt->cfg.name, pt->cfg.busy_poll_usecs, napi_values[0],
		 napi_values[1]);
	return 0;
}
