/* SPDX-License-Identifier: MIT */
/* flipswitchctl's output: the text/JSON printer, reply readers and the
 * Prometheus writer (output.c). */
#ifndef FS_CTL_OUTPUT_H
#define FS_CTL_OUTPUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

void out_set_json(bool json, bool pretty);
bool out_is_json(void);

/* One JSON object per out_begin()/out_end(), or text as it comes. */
void out_begin(void);
void out_end(void);
void out_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Each out_<type>(key, textfmt, value): JSON key, or text through textfmt
 * (nothing if textfmt is NULL). */
void out_u64(const char *key, const char *fmt, uint64_t v);
void out_double(const char *key, const char *fmt, double v);
void out_str(const char *key, const char *fmt, const char *v);
void out_bool(const char *key, const char *fmt, bool v, const char *yes,
	      const char *no);
void out_null(const char *key, const char *fmt, const char *text);
/* key is NULL inside an array. */
void out_open_object(const char *key);
void out_open_array(const char *key);
void out_close(void);
#define out_close_object out_close
#define out_close_array out_close

uint64_t j_u64(json_t *o, const char *key);
uint64_t j_val_u64(json_t *v);
const char *j_str(json_t *o, const char *key);
bool j_bool(json_t *o, const char *key);
int j_width(json_t *arr, const char *key, int min);

/* Member key of the reply object o, printed under the same key. */
void out_ju64(json_t *o, const char *key, const char *fmt);
void out_jstr(json_t *o, const char *key, const char *fmt);

#endif
