// SPDX-License-Identifier: MIT
/*
 * Reading a libconfig tree, for config.c (config_read.h): mistakes are
 * gathered, not returned one at a time, so that --check lists every one
 * in line order; each getter checks type and range and fills in the
 * default of an absent key. libconfig 1.5 wraps an integer that does not
 * fit 32 bits before we see it, so every integer is read again as
 * written, from its line in its file, as 64 bits (int_as_written), before
 * its range is checked.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "config_read.h"

__attribute__((format(printf, 3, 4)))
int cfg_fail(struct cfg_ctx *c, const config_setting_t *s, const char *fmt, ...)
{
	int line = s ? config_setting_source_line(s) : 0;
	const char *file = c->file;
	char buf[CFG_ERR_MAX];
	struct cfg_mistake *m;
	va_list ap;
	int n;

	/* A setting from an @include file carries that file's name. */
	if (s && config_setting_source_file(s))
		file = config_setting_source_file(s);
	if (line)
		n = snprintf(buf, sizeof(buf), "%s:%d: ", file, line);
	else
		n = snprintf(buf, sizeof(buf), "%s: ", file);
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	if (s && s == c->huge) {
		size_t len = strlen(buf);

		snprintf(buf + len, sizeof(buf) - len,
			 "; the number written does not even fit in 64 bits");
	}
	if (c->n == c->cap) {
		m = realloc(c->m, (c->cap * 2 + 8) * sizeof(*m));
		if (!m) {
			c->oom = true;
			return -EINVAL;
		}
		c->m = m;
		c->cap = c->cap * 2 + 8;
	}
	m = &c->m[c->n];
	m->text = strdup(buf);
	if (!m->text) {
		c->oom = true;
		return -EINVAL;
	}
	m->line = line;
	m->seq = c->n++;
	return -EINVAL;
}

static int by_line(const void *a, const void *b)
{
	const struct cfg_mistake *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Every mistake, in line order, one a line, into err; what does not fit
 * is counted on the last line. The first is written even if cut short. */
void cfg_report_mistakes(struct cfg_ctx *c, char *err, size_t errlen)
{
	size_t len = 0;
	int i;

	if (c->n)
		qsort(c->m, c->n, sizeof(*c->m), by_line);
	for (i = 0; i < c->n; i++) {
		/* Room for the line, and for "(and N more)" if more follow. */
		size_t need = len + 1 + strlen(c->m[i].text) +
			      (i + 1 < c->n ? 24 : 0);

		if (i && need >= errlen)
			break;
		len += snprintf(err + len, errlen - len, "%s%s", i ? "\n" : "",
				c->m[i].text);
		if (len >= errlen)
			return;
	}
	if (i < c->n)
		snprintf(err + len, errlen - len, "\n(and %d more)", c->n - i);
	else if (c->oom)
		snprintf(err + len, errlen - len,
			 "\n(out of memory: there may be more)");
}

/* Joins a NULL-terminated list into buf, each word wrapped in q. */
const char *cfg_join(char *buf, size_t size, const char *const *words,
			    const char *q)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; words[i] && n < size; i++)
		n += snprintf(buf + n, size - n, "%s%s%s%s", i ? ", " : "", q,
			      words[i], q);
	return buf;
}

/* "pool" becomes "pool: ", the top level (what == "") stays bare. */
const char *cfg_sep(const char *what)
{
	return what[0] ? ": " : "";
}

const char *cfg_type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return "a group { ... }";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a floating point number";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array [ ... ]";
	case CONFIG_TYPE_LIST:
		return "a list ( ... )";
	}
	return "nothing";
}

/* what is "" for the top level, else the group ("pool", "vm \"web1\""). */
int cfg_check_keys(struct cfg_ctx *c, const config_setting_t *g,
		          const char *what, const char *const *allowed)
{
	char list[256];
	int ret = 0;

	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, i);
		const char *name = config_setting_name(s);
		int k;

		for (k = 0; allowed[k] && strcmp(allowed[k], name); k++)
			;
		if (!allowed[k])
			ret = cfg_fail(c, s, "unknown key \"%s\" %s%s (allowed: %s)",
				   name, what[0] ? "in " : "at the top level",
				   what, cfg_join(list, sizeof(list), allowed, ""));
	}
	return ret;
}

/* Checks the type of s; an integer may be stored as int or int64 and a list
 * of groups may be written as an (empty) array. */
int cfg_want(struct cfg_ctx *c, const config_setting_t *s, const char *what,
		    const char *key, int type)
{
	int t = config_setting_type(s);

	if (t == type || (type == CONFIG_TYPE_INT && t == CONFIG_TYPE_INT64) ||
	    (type == CONFIG_TYPE_LIST && t == CONFIG_TYPE_ARRAY))
		return 0;
	return cfg_fail(c, s, "%s%s%s must be %s, not %s", what, cfg_sep(what), key,
		    cfg_type_name(type), cfg_type_name(t));
}

/* Finds key in g and checks its type; *out is NULL if the key is absent. */
int cfg_lookup(struct cfg_ctx *c, const config_setting_t *g, const char *what,
		      const char *key, int type, config_setting_t **out)
{
	*out = config_setting_get_member(g, key);
	return *out ? cfg_want(c, *out, what, key, type) : 0;
}

/* One "key = NUMBER" (or "key: NUMBER") at p, key at a word's start: the
 * number as libconfig's scanner reads it (decimal, or 0x hex, an L
 * suffix allowed), as 64 bits. 1 with *v; -ERANGE if it does not fit 64
 * bits, *v then the nearest that does; 0 if p holds no such thing. */
static int written_at(const char *line, const char *p, const char *key,
		      long long *v)
{
	const char *q = p + strlen(key);
	unsigned long long u;
	bool neg = false;
	char *end;

	if (p > line && (isalnum((unsigned char)p[-1]) || p[-1] == '_' ||
			 p[-1] == '-' || p[-1] == '*'))
		return 0;
	q += strspn(q, " \t");
	if (*q != '=' && *q != ':')
		return 0;
	q++;
	q += strspn(q, " \t");
	if (*q == '-' || *q == '+')
		neg = *q++ == '-';
	if (!isdigit((unsigned char)*q))
		return 0;
	errno = 0;
	if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X'))
		u = strtoull(q + 2, &end, 16);
	else
		u = strtoull(q, &end, 10);
	if (errno == ERANGE || u > (unsigned long long)LLONG_MAX + neg) {
		*v = neg ? LLONG_MIN : LLONG_MAX;
		return -ERANGE;
	}
	*v = neg ? (long long)(0 - u) : (long long)u;
	return 1;
}

/*
 * The integer setting s as written in its file, read as 64 bits: 0 with
 * *v; -ERANGE if it does not fit 64 bits, *v then the nearest value that
 * does (LLONG_MAX or LLONG_MIN: out of every range here). lib is
 * libconfig's reading of it. On its line (several settings may share one)
 * a "NAME = NUMBER" whose number wraps to lib in 32 bits, or does not fit
 * 64, is taken; else *v = lib.
 */
static int int_as_written(struct cfg_ctx *c, const config_setting_t *s,
			  long long lib, long long *v)
{
	const char *file = config_setting_source_file(s), *key, *p;
	int line = config_setting_source_line(s), ret = 0;
	bool wrapped = false;
	char *text = NULL;
	size_t cap = 0;
	FILE *f;

	*v = lib;
	key = config_setting_name(s);
	if (!key || line <= 0)
		return 0;
	f = fopen(file ? file : c->file, "r");
	if (!f)
		return 0;
	for (int i = 0; i < line; i++)
		if (getline(&text, &cap, f) < 0) {
			free(text);
			fclose(f);
			return 0;
		}
	fclose(f);
	for (p = strstr(text, key); p; p = strstr(p + 1, key)) {
		long long w;
		int r = written_at(text, p, key, &w);

		if (r == -ERANGE && !wrapped) {
			ret = -ERANGE;
			*v = w;
			wrapped = true;
		}
		if (r != 1)
			continue;
		/* One that libconfig wrapped wins over one read exactly: on
		 * a line with several, a wrap is never let through, at the
		 * worst reported for a neighbour too. */
		if (w != lib && (int32_t)w == (int32_t)lib) {
			*v = w;
			ret = 0;
			wrapped = true;
		}
	}
	free(text);
	return ret;
}

/* Reads an integer key, def if absent; *sp is the setting or NULL. The
 * value is the one written, as 64 bits (see int_as_written). */
int cfg_get_int(struct cfg_ctx *c, const config_setting_t *g, const char *what,
		       const char *key, long long def, long long *v,
		       config_setting_t **sp)
{
	int ret;

	ret = cfg_lookup(c, g, what, key, CONFIG_TYPE_INT, sp);
	*v = def;
	if (ret || !*sp)
		return ret;
	/* Too big for 64 bits: read as the nearest that fits, which every
	 * range check refuses; cfg_fail() says what was written. */
	if (int_as_written(c, *sp, config_setting_get_int64(*sp), v))
		c->huge = *sp;
	return 0;
}

int cfg_get_u32(struct cfg_ctx *c, const config_setting_t *g, const char *what,
		       const char *key, long long def, long long min, long long max,
		       uint32_t *out)
{
	config_setting_t *s;
	long long v;
	int ret;

	ret = cfg_get_int(c, g, what, key, def, &v, &s);
	if (ret)
		return ret;
	if (v < min || v > max)
		return cfg_fail(c, s, "%s%s%s %lld is out of range (%lld .. %lld)",
			    what, cfg_sep(what), key, v, min, max);
	*out = (uint32_t)v;
	return 0;
}

/* A power of two in [min, max], for ring sizes; 0 if absent. */
int cfg_get_pow2(struct cfg_ctx *c, const config_setting_t *g, const char *what,
		        long long min, long long max, uint32_t *out)
{
	config_setting_t *s;
	long long v;
	int ret;

	ret = cfg_get_int(c, g, what, "ring_size", 0, &v, &s);
	if (ret || !s)
		return ret;
	if (v < min || v > max || (v & (v - 1)))
		return cfg_fail(c, s, "%s: ring_size %lld is not a power of two from %lld to %lld",
			    what, v, min, max);
	*out = (uint32_t)v;
	return 0;
}

/* A string key as written, NULL if absent; hint != NULL makes it required
 * and says what to add. */
int cfg_get_cstr(struct cfg_ctx *c, const config_setting_t *g, const char *what,
		        const char *key, const char *hint, const char **out)
{
	config_setting_t *s;
	int ret;

	*out = NULL;
	ret = cfg_lookup(c, g, what, key, CONFIG_TYPE_STRING, &s);
	if (ret)
		return ret;
	if (s)
		*out = config_setting_get_string(s);
	else if (hint)
		return cfg_fail(c, g, "%s%s%s is missing (add %s)", what, cfg_sep(what),
			    key, hint);
	return 0;
}

/* def == NULL makes the key required; hint then says what to add. */
int cfg_get_str(struct cfg_ctx *c, const config_setting_t *g, const char *what,
		       const char *key, char *buf, size_t size, const char *def,
		       const char *hint)
{
	config_setting_t *s = config_setting_get_member(g, key);
	const char *v;
	int ret;

	ret = cfg_get_cstr(c, g, what, key, def ? NULL : hint, &v);
	if (ret)
		return ret;
	if (!v)
		v = def;
	if (!v[0])
		return cfg_fail(c, s, "%s%s%s must not be empty", what, cfg_sep(what), key);
	if (strlen(v) >= size)
		return cfg_fail(c, s, "%s%s%s is too long (at most %zu characters)",
			    what, cfg_sep(what), key, size - 1);
	strcpy(buf, v);
	return 0;
}

int cfg_get_enum(struct cfg_ctx *c, const config_setting_t *g, const char *what,
		        const char *key, const char *const *names, int def, int *out)
{
	config_setting_t *s;
	const char *v;
	char list[64];
	int ret;

	ret = cfg_lookup(c, g, what, key, CONFIG_TYPE_STRING, &s);
	if (ret)
		return ret;
	*out = def;
	if (!s)
		return 0;
	v = config_setting_get_string(s);
	for (int i = 0; names[i]; i++) {
		if (!strcmp(v, names[i])) {
			*out = i;
			return 0;
		}
	}
	return cfg_fail(c, s, "%s%s%s \"%s\" is not one of %s", what, cfg_sep(what), key,
		    v, cfg_join(list, sizeof(list), names, "\""));
}

