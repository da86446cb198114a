// SPDX-License-Identifier: MIT
/*
 * flipswitchctl's output: the printer every command prints through, the
 * readers of the daemon's replies, and the Prometheus text exposition.
 *
 * The printer (out_*) is in the spirit of iproute2's print_uint(PRINT_ANY,
 * ...): each call names a JSON key and a text format, and either adds the
 * value to the JSON object being built (-j) or prints it as text. Text and
 * JSON thus come from the same calls and cannot disagree, and the JSON keys
 * are ours, not whatever the daemon happened to send. Only --prometheus
 * has a writer of its own (user/prom.c's prom_write, which flipswitchd's
 * metrics endpoint serves too), since its format groups samples by
 * metric rather than by port.
 *
 * The readers (j_*) never fail: a member that is missing or of another
 * type reads as 0, "" or false, so an older daemon's reply still prints.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

/* ---- the printer ------------------------------------------------------ */

#define OUT_DEPTH 16

static struct {
	bool json, pretty;
	json_t *stack[OUT_DEPTH];
	int depth;
} out;

void out_set_json(bool json, bool pretty)
{
	out.json = json || pretty;
	out.pretty = pretty;
}

bool out_is_json(void)
{
	return out.json;
}

static void out_add(const char *key, json_t *v)
{
	json_t *parent = out.stack[out.depth - 1];

	if (json_is_array(parent))
		json_array_append_new(parent, v);
	else
		json_object_set_new(parent, key, v);
}

/* Text only: headers, separators, newlines. */
void out_text(const char *fmt, ...)
{
	va_list ap;

	if (out.json)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

/* Each out_<type>(key, textfmt, value): JSON key, or text through textfmt
 * (nothing if textfmt is NULL). */
void out_u64(const char *key, const char *fmt, uint64_t v)
{
	if (out.json)
		out_add(key, json_integer((json_int_t)v));
	else if (fmt)
		printf(fmt, v);
}

void out_double(const char *key, const char *fmt, double v)
{
	if (out.json)
		out_add(key, json_real(v));
	else if (fmt)
		printf(fmt, v);
}

void out_str(const char *key, const char *fmt, const char *v)
{
	if (out.json)
		out_add(key, json_string(v));
	else if (fmt)
		printf(fmt, v);
}

/* Text prints yes or no through fmt. */
void out_bool(const char *key, const char *fmt, bool v,
		     const char *yes, const char *no)
{
	if (out.json)
		out_add(key, json_boolean(v));
	else if (fmt)
		printf(fmt, v ? yes : no);
}

/* A JSON null; text prints text through fmt. */
void out_null(const char *key, const char *fmt, const char *text)
{
	if (out.json)
		out_add(key, json_null());
	else if (fmt)
		printf(fmt, text);
}

static void out_push(const char *key, json_t *c)
{
	if (!out.json) {
		json_decref(c);
		return;
	}
	if (out.depth == OUT_DEPTH)
		abort();
	out_add(key, json_incref(c));
	out.stack[out.depth++] = c;
	json_decref(c);
}

void out_open_object(const char *key)
{
	out_push(key, json_object());
}

void out_open_array(const char *key)
{
	out_push(key, json_array());
}

void out_close(void)
{
	if (out.json && out.depth > 1)
		out.depth--;
}

void out_begin(void)
{
	if (!out.json)
		return;
	out.stack[0] = json_object();
	out.depth = 1;
}

/* Prints the JSON object built since out_begin (one per line). */
void out_end(void)
{
	char *s;

	if (!out.json) {
		fflush(stdout);
		return;
	}
	s = json_dumps(out.stack[0], JSON_PRESERVE_ORDER |
		       (out.pretty ? JSON_INDENT(2) : JSON_COMPACT));
	if (s)
		printf("%s\n", s);
	free(s);
	fflush(stdout);
	json_decref(out.stack[0]);
	out.stack[0] = NULL;
	out.depth = 0;
}

/* ---- reading replies -------------------------------------------------- */

uint64_t j_val_u64(json_t *v)
{
	if (json_is_integer(v))
		return json_integer_value(v) < 0 ? 0 : (uint64_t)json_integer_value(v);
	if (json_is_real(v))
		return json_real_value(v) < 0 ? 0 : (uint64_t)json_real_value(v);
	return 0;
}

uint64_t j_u64(json_t *o, const char *key)
{
	return j_val_u64(json_object_get(o, key));
}

const char *j_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

bool j_bool(json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

/* The widest string member `key` of the objects in arr, at least min. */
int j_width(json_t *arr, const char *key, int min)
{
	size_t i;
	json_t *e;
	int w = min;

	json_array_foreach(arr, i, e) {
		int n = (int)strlen(j_str(e, key));

		if (n > w)
			w = n;
	}
	return w;
}

void out_ju64(json_t *o, const char *key, const char *fmt)
{
	out_u64(key, fmt, j_u64(o, key));
}

void out_jstr(json_t *o, const char *key, const char *fmt)
{
	out_str(key, fmt, j_str(o, key));
}
