// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the config loader (user/config.c) on any file. An
 * input is the file's bytes. cfg_load_offline, the loader with the
 * interfaces' existence left out, so that a mutated file gets past them
 * to everything after. A file either loads, with every value within what
 * flipswitch.conf(5) allows, or is refused with a message; anything else
 * (a crash, a sanitizer report, a refusal without a message, a value out
 * of range accepted) aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static struct cfg cfg;
static char path[64];

static void cleanup(void)
{
	unlink(path);
}

static void must(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "accepted: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CFG_ERR_MAX];
	FILE *f;
	int rc;

	if (!path[0]) {
		snprintf(path, sizeof(path), "/dev/shm/fs-fuzz-config-%d.conf",
			 (int)getpid());
		atexit(cleanup);
	}
	f = fopen(path, "w");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f))
		abort();
	err[0] = '\0';
	rc = cfg_load_offline(&cfg, path, err, sizeof(err));
	if (rc) {
		must(rc < 0, "a positive return");
		must(err[0] != '\0', "a refusal without a message");
		must(memchr(err, '\0', sizeof(err)) != NULL, "an unterminated message");
		return 0;
	}
	must(cfg.n_vms >= 0 && cfg.n_vms <= CFG_MAX_VMS, "n_vms out of range");
	must(cfg.n_ifaces >= 1 && cfg.n_ifaces <= CFG_MAX_IFACES,
	     "n_ifaces out of range");
	must(cfg.batch >= 1 && cfg.batch <= 256, "batch out of range");
	must(cfg.doorbell_usecs <= 100000, "doorbell_usecs out of range");
	must(cfg.max_sleep_usecs <= 10000, "max_sleep_usecs out of range");
	must(cfg.pool.frames > 0, "no frames");
	must(cfg.pool.frame_size && !(cfg.pool.frame_size & (cfg.pool.frame_size - 1)),
	     "a frame size not a power of two");
	for (int i = 0; i < cfg.n_vms; i++) {
		const struct cfg_vm *v = &cfg.vms[i];

		must(v->quota > 0, "a zero quota");
		must(v->ring_size >= 64 && v->ring_size <= 32768 &&
		     !(v->ring_size & (v->ring_size - 1)),
		     "a ring size out of range");
		must(v->uplink >= 0 && v->uplink < cfg.n_ifaces,
		     "an uplink that is no interface");
		must(v->vlan < 4095, "a VLAN out of range");
		must(v->doorbell_usecs <= 100000, "a VM's doorbell_usecs out of range");
		must(memchr(v->name, '\0', sizeof(v->name)) &&
		     memchr(v->rings, '\0', sizeof(v->rings)),
		     "an unterminated string");
	}
	return 0;
}
