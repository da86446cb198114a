// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the control request parser and its handlers
 * (user/ctl.c, ctl_handle_line), as root and as an unprivileged peer, on a
 * switch with two VMs and no interface whose worker runs in a thread (the
 * handlers' changes go through its mailbox). An input's first byte picks
 * the peer, the rest is the request line. Every reply must be one line of
 * JSON with an id and either a result or an error; after every request the
 * worker's ownership audit must be exact. Anything else aborts.
 *
 * The handlers create files where a request says (vm add): inputs that
 * could name a path outside this target's scratch directory (a '/', or a
 * JSON \u escape that could spell one) are skipped, and the scratch
 * directory is the working directory, so every file made is made there.
 */
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "log.h"
#include "switch.h"

static struct cfg cfg;
static struct sw sw;
static struct ctl ctl;
static pthread_t worker;
static volatile sig_atomic_t stop, report;
static char dir[64];

static void *work(void *arg)
{
	sw_run(&sw, &stop, &report);
	return NULL;
}

static void cleanup(void)
{
	char cmd[96];

	stop = 1;
	/* Wake a sleeping worker through its mailbox. */
	sw_mail_call(&sw, SW_MAIL_CLEAR, 0, 0, NULL, NULL, 1000);
	pthread_join(worker, NULL);
	ctl_destroy(&ctl);
	sw_fini(&sw);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		fprintf(stderr, "fuzz_ctl: cannot remove %s\n", dir);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/dev/shm/fs-fuzz-ctl-%d", (int)getpid());
	mkdir(dir, 0700);
	if (chdir(dir))
		abort();
	log_level = LOG_LVL_ERR;
	snprintf(cfg.pool.path, sizeof(cfg.pool.path), "%s/pool", dir);
	cfg.pool.frames = 1024;
	cfg.pool.frame_size = 2048;
	cfg.pool.scrub = CFG_SCRUB_USED;
	cfg.batch = 32;
	cfg.guest_timeout = 5000;
	cfg.doorbell_usecs = 20;
	snprintf(cfg.control, sizeof(cfg.control), "%s/ctl.sock", dir);
	for (int i = 0; i < 2; i++) {
		struct cfg_vm *v = &cfg.vms[i];

		snprintf(v->name, sizeof(v->name), "web%d", i + 1);
		memcpy(v->mac, (uint8_t[]){ 0x52, 0x54, 0, 0, 0, (uint8_t)(i + 1) }, 6);
		snprintf(v->rings, sizeof(v->rings), "%s/web%d", dir, i + 1);
		v->quota = 64;
		v->ring_size = 64;
		v->doorbell_usecs = 20;
	}
	cfg.n_vms = 2;
	if (sw_init(&sw, &cfg) ||
	    ctl_create(&ctl, &sw, cfg.control, "", 0) ||
	    pthread_create(&worker, NULL, work, NULL))
		abort();
	atexit(cleanup);
}

static void must(int ok, const char *what, const char *reply)
{
	if (!ok) {
		fprintf(stderr, "%s: %s\n", what, reply ? reply : "(none)");
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *r;
	json_error_t e;
	int64_t res;
	char *line;
	uid_t uid;

	if (!size || memchr(data, '/', size) || memmem(data, size, "\\u", 2))
		return 0;
	if (!dir[0])
		setup();
	uid = data[0] & 1 ? 0 : 65534;
	line = ctl_handle_line(&ctl, (const char *)data + 1, size - 1, uid, uid,
			       -1);
	must(line != NULL, "no reply", NULL);
	must(strlen(line) > 0 && line[strlen(line) - 1] == '\n' &&
	     strchr(line, '\n') == line + strlen(line) - 1,
	     "not one line", line);
	r = json_loads(line, 0, &e);
	must(r && json_is_object(r), "not a JSON object", line);
	must(json_object_get(r, "id") != NULL, "no id", line);
	must(!json_object_get(r, "error") != !json_object_get(r, "result"),
	     "not one of error and result", line);
	json_decref(r);
	free(line);
	/* The audit, from the worker, between its batches. */
	if (sw_mail_call(&sw, SW_MAIL_FRAMES, 0, 0, NULL, &res, 5000) == 0)
		must(sw.snap.ok, "ownership audit", sw.snap.msg);
	return 0;
}
