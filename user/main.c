// SPDX-License-Identifier: MIT
/*
 * flipswitchd: reads the config, sets up the pool, the VM ports and the NIC
 * ports, attaches the XDP programs, logs "ready", and switches until SIGINT
 * or SIGTERM. SIGUSR1 logs the counters and the frame ownership audit.
 * Everything it created is removed on the way out, but what systemd's fd
 * store keeps for the next daemon (fdstore.h).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <net/if.h>
#include <bpf/libbpf.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "ctl.h"
#include "fdstore.h"
#include "log.h"
#include "metrics.h"
#include "nl.h"
#include "switch.h"

static volatile sig_atomic_t stop, report;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		report = 1;
	else
		stop = 1;
}

static int libbpf_log(enum libbpf_print_level lvl, const char *fmt,
		      va_list ap)
{
	if (lvl == LIBBPF_DEBUG && log_level < LOG_LVL_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flipswitchd -c FILE [-v] [--check]\n"
		"       flipswitchd --example-config IFACE [--vms N]\n"
		"\n"
		"Zero-copy switch between a NIC's AF_XDP sockets and VM rings.\n"
		"\n"
		"  -c, --config FILE  the configuration (libconfig syntax)\n"
		"      --check        check the configuration and exit\n"
		"      --example-config IFACE  print a first configuration for the\n"
		"                     interface IFACE and N VMs (--vms, default 2)\n"
		"  -v, --verbose      debug logging\n"
		"  -h, --help         this text\n"
		"\n"
		"Runs in the foreground and logs to stderr; logs a line with\n"
		"\"ready\" once frames flow. SIGUSR1 logs counters and the frame\n"
		"ownership audit; SIGINT or SIGTERM stop it.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'C' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "example-config", required_argument, NULL, 'E' },
		{ "vms", required_argument, NULL, 'N' },
		{ 0 },
	};
	const char *file = NULL, *example = NULL;
	int n_vms = 2;
	char *end;
	struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
	struct sigaction sa = { .sa_handler = on_signal };
	char err[CFG_ERR_MAX];
	static struct cfg cfg;
	static struct sw sw;
	static struct ctl ctl = { .listen_fd = -1, .stop_fd = -1 };
	static struct nl nl = { .fd = -1, .stop_fd = -1 };
	static struct metrics metrics = { .fd = -1 };
	bool check = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			file = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'E':
			example = optarg;
			break;
		case 'N':
			n_vms = (int)strtol(optarg, &end, 10);
			if (*end || n_vms < 1 || n_vms > CFG_MAX_VMS) {
				fprintf(stderr, "flipswitchd: --vms %s: give a number from 1 to %d\n",
					optarg, CFG_MAX_VMS);
				return 2;
			}
			break;
		case 'v':
			log_level = LOG_LVL_DEBUG;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (example && optind == argc) {
		/* What it prints must pass --check here. */
		if (!if_nametoindex(example)) {
			fprintf(stderr, "flipswitchd: interface \"%s\" does not exist (ip link show lists the interfaces)\n",
				example);
			return 1;
		}
		return cfg_example(stdout, example, n_vms) ? 1 : 0;
	}
	if (!file || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (cfg_load(&cfg, file, err, sizeof(err))) {
		/* Every mistake, one a line. */
		for (char *l = strtok(err, "\n"); l; l = strtok(NULL, "\n"))
			fprintf(stderr, "flipswitchd: %s\n", l);
		return 1;
	}
	if (check) {
		printf("%s: ok\n", file);
		return 0;
	}

	libbpf_set_print(libbpf_log);
	/* UMEM pages are pinned; with CAP_IPC_LOCK the limit does not apply,
	 * without it this raises what it can. */
	setrlimit(RLIMIT_MEMLOCK, &unlimited);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* What an earlier daemon left in systemd's fd store (fdstore.h):
	 * sw_init and ctl_create claim the doorbells' fds by name, and what
	 * no VM of this config claims is closed. */
	fdstore_take();
	rc = sw_init(&sw, &cfg);
	if (!rc)
		rc = ctl_create(&ctl, &sw, cfg.control, cfg.control_group,
				cfg.control_gid);
	/* Only a switch that is set up knows which fds are nobody's: one
	 * that failed (an interface missing, say) leaves the store as it
	 * is for the next try, its copies closing as it exits. */
	if (!rc)
		fdstore_release();
	if (!rc && cfg.metrics[0]) {
		rc = metrics_create(&metrics, cfg.metrics, &ctl);
		ctl.metrics = rc ? NULL : &metrics;
	}
	if (!rc)
		rc = nl_start(&nl, &sw);
	if (!rc)
		rc = sw_start(&sw);
	if (!rc)
		rc = ctl_start(&ctl);
	if (rc) {
		log_err("setting up failed (%s); nothing is left attached",
			strerror(-rc));
		ctl_destroy(&ctl);
		nl_stop(&nl);
		metrics_destroy(&metrics);
		sw_fini(&sw);
		return 1;
	}
	log_info("ready: %d interface%s, %d vm%s, pool %s",
		 sw.n_ports, sw.n_ports == 1 ? "" : "s", sw.n_vms,
		 sw.n_vms == 1 ? "" : "s", cfg.pool.path);
	/* Type=notify: systemd waits for this (no-op without NOTIFY_SOCKET). */
	sd_notify(0, "READY=1");
	sw_run(&sw, &stop, &report);
	log_info("stopping");
	ctl_destroy(&ctl);
	nl_stop(&nl);
	metrics_destroy(&metrics);
	sw_fini(&sw);
	return sw.pool_lost ? 1 : 0;
}
