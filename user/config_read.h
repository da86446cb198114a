/* SPDX-License-Identifier: MIT */
/*
 * Reading a libconfig tree for config.c: the list of mistakes found so far
 * (every one reported, in line order, by cfg_report_mistakes), the check
 * for keys nobody knows, and one getter per kind of value, each checking
 * type and range and filling in the default of an absent key. Private to
 * the config module.
 */
#ifndef FS_CONFIG_READ_H
#define FS_CONFIG_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libconfig.h>

#include "config.h"

/* One mistake, "FILE:LINE: sentence"; seq keeps the order of finding
 * among mistakes on one line. */
struct cfg_mistake {
	int line;
	int seq;
	char *text;
};

struct cfg_ctx {
	const char *file;
	const struct cfg *cfg;
	bool offline;  /* the interfaces may live elsewhere (another netns) */
	struct cfg_mistake *m;
	int n, cap;
	bool oom;
	/* Each VM's group, for messages about it after it was read. */
	const config_setting_t *vm_g[CFG_MAX_VMS];
	/* The integer setting written too big for 64 bits (get_int). */
	const config_setting_t *huge;
};

__attribute__((format(printf, 3, 4)))
int cfg_fail(struct cfg_ctx *c, const config_setting_t *s, const char *fmt, ...);
void cfg_report_mistakes(struct cfg_ctx *c, char *err, size_t errlen);
const char *cfg_join(char *buf, size_t size, const char *const *words,
			    const char *q);
const char *cfg_sep(const char *what);
const char *cfg_type_name(int type);
int cfg_check_keys(struct cfg_ctx *c, const config_setting_t *g,
		          const char *what, const char *const *allowed);
int cfg_want(struct cfg_ctx *c, const config_setting_t *s, const char *what,
		    const char *key, int type);
int cfg_lookup(struct cfg_ctx *c, const config_setting_t *g, const char *what,
		      const char *key, int type, config_setting_t **out);
int cfg_get_int(struct cfg_ctx *c, const config_setting_t *g, const char *what,
		       const char *key, long long def, long long *v,
		       config_setting_t **sp);
int cfg_get_u32(struct cfg_ctx *c, const config_setting_t *g, const char *what,
		       const char *key, long long def, long long min, long long max,
		       uint32_t *out);
int cfg_get_pow2(struct cfg_ctx *c, const config_setting_t *g, const char *what,
		        long long min, long long max, uint32_t *out);
int cfg_get_cstr(struct cfg_ctx *c, const config_setting_t *g, const char *what,
		        const char *key, const char *hint, const char **out);
int cfg_get_str(struct cfg_ctx *c, const config_setting_t *g, const char *what,
		       const char *key, char *buf, size_t size, const char *def,
		       const char *hint);
int cfg_get_enum(struct cfg_ctx *c, const config_setting_t *g, const char *what,
		        const char *key, const char *const *names, int def, int *out);

#endif /* FS_CONFIG_READ_H */
