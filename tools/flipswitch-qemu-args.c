// SPDX-License-Identifier: MIT
/*
 * flipswitch-qemu-args: the QEMU options that pair a guest with VM NAME of
 * a flipswitch config: the pool and the VM's ring region, each as a shared
 * memory-backend-file behind an ivshmem-plain device; or, with --doorbell,
 * the ring region as an ivshmem-doorbell device on the VM's doorbell
 * socket (the daemon hands QEMU the region and the interrupt eventfds).
 * --slot puts both in one PCI slot (functions 0 and 1), so a guest driver
 * with several ivshmem devices pairs them without asking. Sizes come from the
 * config exactly as the daemon computes them (both are powers of two: they
 * are PCI BARs), so QEMU maps the files the daemon makes. With --libvirt,
 * the same as libvirt domain XML: <shmem> devices, the doorbell one with
 * its <server>.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "pool.h"
#include "vmport.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flipswitch-qemu-args NAME -c CONFIG [--doorbell] [--slot N] [--lines | --libvirt]\n"
		"\n"
		"Prints the QEMU options that give a guest the two ivshmem devices\n"
		"of VM NAME: its own pool (never another: a pool is a trust domain)\n"
		"and its ring region (memory-backend-file, share=on). --doorbell\n"
		"makes the ring region an ivshmem-doorbell device on the VM's\n"
		"doorbell socket, with one MSI-X vector (the\n"
		"switch must be running when QEMU starts); a VM with\n"
		"sealed = true gets only that form. --slot N (1..31) puts\n"
		"the pool at PCI address N.0 and the ring region at N.1, the pair\n"
		"the guest's flipswitch_net driver prefers. --lines prints one\n"
		"argument per line, for scripts. --libvirt prints the devices as\n"
		"libvirt domain XML instead (<shmem>, for the <devices> of the\n"
		"VM's domain; libvirt maps only files in /dev/shm).\n");
}

/* s with the characters XML gives a meaning escaped, for an attribute. */
static void xml_attr(const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", stdout); break;
		case '<': fputs("&lt;", stdout); break;
		case '>': fputs("&gt;", stdout); break;
		case '\'': fputs("&apos;", stdout); break;
		case '"': fputs("&quot;", stdout); break;
		default: putchar(*s);
		}
	}
}

/* The name under /dev/shm of path, which libvirt's <shmem name=...> maps;
 * NULL if it is elsewhere. */
static const char *shm_name(const char *path)
{
	static const char dir[] = "/dev/shm/";

	if (strncmp(path, dir, sizeof(dir) - 1) ||
	    strchr(path + sizeof(dir) - 1, '/') || !path[sizeof(dir) - 1])
		return NULL;
	return path + sizeof(dir) - 1;
}

static int libvirt(const struct cfg *cfg, const struct cfg_vm *v, int bell)
{
	/* The VM's own pool, and no other: a pool is a trust domain. */
	const struct cfg_pool *pl = &cfg->pools[v->pool];
	const char *pool = shm_name(pl->path), *rings = shm_name(v->rings);

	if (!pool || (!bell && !rings)) {
		fprintf(stderr, "flipswitch-qemu-args: libvirt's <shmem> maps only files in /dev/shm, and %s is not: pass it with <qemu:commandline> (docs/guests.md)\n",
			!pool ? pl->path : v->rings);
		return 1;
	}
	printf("<!-- flipswitch VM %s: the pool and its rings, in the domain's <devices> -->\n",
	       v->name);
	printf("<shmem name='");
	xml_attr(pool);
	printf("'>\n  <model type='ivshmem-plain'/>\n  <size unit='B'>%llu</size>\n</shmem>\n",
	       (unsigned long long)pool_file_size(pl->frames,
						  pl->frame_size));
	if (bell) {
		/* The region comes from the daemon's doorbell socket. */
		printf("<shmem name='flipswitch-%s-doorbell'>\n  <model type='ivshmem-doorbell'/>\n  <server path='",
		       v->name);
		xml_attr(v->doorbell);
		printf("'/>\n  <msi vectors='1' ioeventfd='on'/>\n</shmem>\n");
		return 0;
	}
	printf("<shmem name='");
	xml_attr(rings);
	printf("'>\n  <model type='ivshmem-plain'/>\n  <size unit='B'>%llu</size>\n</shmem>\n",
	       (unsigned long long)vmport_region_size(v->ring_size));
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "lines", no_argument, NULL, 'l' },
		{ "doorbell", no_argument, NULL, 'd' },
		{ "slot", required_argument, NULL, 's' },
		{ "libvirt", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct cfg cfg;
	const struct cfg_pool *pool;
	const char *file = NULL, *name;
	char err[CFG_ERR_MAX], arg[4][PATH_MAX + 128], at[2][48] = { "", "" };
	int c, lines = 0, bell = 0, xml = 0, i, slot = 0;
	char *end;

	while ((c = getopt_long(argc, argv, "c:h", lo, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 'l': lines = 1; break;
		case 'd': bell = 1; break;
		case 's':
			slot = (int)strtol(optarg, &end, 0);
			if (*end || slot < 1 || slot > 31) {
				fprintf(stderr, "flipswitch-qemu-args: --slot %s: a PCI slot is 1 to 31\n",
					optarg);
				return 2;
			}
			snprintf(at[0], sizeof(at[0]), ",addr=0x%x.0,multifunction=on", slot);
			snprintf(at[1], sizeof(at[1]), ",addr=0x%x.1", slot);
			break;
		case 'L': xml = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!file || optind + 1 != argc || (lines && xml)) {
		usage(stderr);
		return 2;
	}
	name = argv[optind];
	if (cfg_load_offline(&cfg, file, err, sizeof(err))) {
		for (char *l = strtok(err, "\n"); l; l = strtok(NULL, "\n"))
			fprintf(stderr, "flipswitch-qemu-args: %s\n", l);
		return 1;
	}
	for (i = 0; i < cfg.n_vms && strcmp(cfg.vms[i].name, name); i++)
		;
	if (i == cfg.n_vms) {
		fprintf(stderr, "flipswitch-qemu-args: %s has no vm \"%s\"\n",
			file, name);
		return 1;
	}
	if (bell && !cfg.vms[i].doorbell[0]) {
		fprintf(stderr, "flipswitch-qemu-args: vm \"%s\" has doorbell = \"off\" in %s\n",
			name, file);
		return 1;
	}
	/* A sealed region has no path: only the doorbell hands it out. */
	if (cfg.vms[i].sealed)
		bell = 1;
	if (xml)
		return libvirt(&cfg, &cfg.vms[i], bell);
	/* The VM's own pool, and no other: a pool is a trust domain. */
	pool = &cfg.pools[cfg.vms[i].pool];
	if (strchr(pool->path, ',') || strchr(cfg.vms[i].rings, ',') ||
	    strchr(cfg.vms[i].doorbell, ',')) {
		/* QEMU's option syntax would split the path there. */
		fprintf(stderr, "flipswitch-qemu-args: QEMU cannot take a path with a comma: rename %s\n",
			strchr(pool->path, ',') ? pool->path : cfg.vms[i].rings);
		return 1;
	}
	snprintf(arg[0], sizeof(arg[0]),
		 "memory-backend-file,id=fs-pool,mem-path=%s,size=%llu,share=on",
		 pool->path,
		 (unsigned long long)pool_file_size(pool->frames,
						    pool->frame_size));
	snprintf(arg[1], sizeof(arg[1]), "ivshmem-plain,memdev=fs-pool%s", at[0]);
	snprintf(arg[2], sizeof(arg[2]),
		 "memory-backend-file,id=fs-rings,mem-path=%s,size=%llu,share=on",
		 cfg.vms[i].rings,
		 (unsigned long long)vmport_region_size(cfg.vms[i].ring_size));
	snprintf(arg[3], sizeof(arg[3]), "ivshmem-plain,memdev=fs-rings%s", at[1]);
	if (bell) {
		snprintf(arg[2], sizeof(arg[2]),
			 "socket,id=fs-bell,path=%s", cfg.vms[i].doorbell);
		snprintf(arg[3], sizeof(arg[3]),
			 "ivshmem-doorbell,chardev=fs-bell,vectors=1%s", at[1]);
	}
	for (int k = 0; k < 4; k++)
		printf(lines ? "%s\n%s\n" : "%s %s%s",
		       k % 2 ? "-device" : bell && k == 2 ? "-chardev" : "-object",
		       arg[k], lines ? "" : (k == 3 ? "\n" : " "));
	return 0;
}
