// SPDX-License-Identifier: MIT
/*
 * What a syntax error in a config file means.
 *
 * libconfig 1.5 stops at a syntax error with the words "syntax error" and
 * a line, nothing more. cfg_syntax_explain() then reads the file again
 * with a scanner and a recursive-descent parser of libconfig's grammar
 *
 *   file    := setting*
 *   setting := NAME ('=' | ':') value (';' | ',')?
 *   value   := scalar | '[' (scalar (',' scalar)*)? ']'
 *            | '(' (value (',' value)*)? ')' | '{' setting* '}'
 *   scalar  := number | boolean | STRING+
 *
 * and says, at the first token where the grammar fails, what it expected
 * and what it found, with a hint for the mistakes people make (text
 * without quotes, single quotes, a missing or extra comma, a group left
 * open). Only the syntax is judged here; libconfig remains the parser.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"

/* Nesting deeper than this is refused as a mistake of its own. */
#define SYN_MAX_DEPTH 64

enum tok {
	T_EOF, T_NAME, T_NUMBER, T_BOOL, T_STRING, T_OPEN_STRING, T_INCLUDE,
	T_PUNCT, T_OTHER,
};

struct syn {
	const char *p, *end;
	int line;
	/* The current token. */
	enum tok t;
	char ch;            /* T_PUNCT and T_OTHER: the character */
	char text[48];      /* T_NAME, T_NUMBER, T_BOOL: the word */
	int tline;
	int depth;
	char *why;
	size_t size;
	int at;             /* the line the message is about */
	bool failed;
};

static void skip_space(struct syn *s)
{
	while (s->p < s->end) {
		if (*s->p == '\n') {
			s->line++;
			s->p++;
		} else if (isspace((unsigned char)*s->p)) {
			s->p++;
		} else if (*s->p == '#' ||
			   (*s->p == '/' && s->p + 1 < s->end && s->p[1] == '/')) {
			while (s->p < s->end && *s->p != '\n')
				s->p++;
		} else if (*s->p == '/' && s->p + 1 < s->end && s->p[1] == '*') {
			for (s->p += 2; s->p < s->end; s->p++) {
				if (*s->p == '\n')
					s->line++;
				if (*s->p == '*' && s->p + 1 < s->end &&
				    s->p[1] == '/') {
					s->p += 2;
					break;
				}
			}
		} else {
			return;
		}
	}
}

static void word(struct syn *s, const char *from, enum tok t)
{
	size_t n = (size_t)(s->p - from);

	if (n >= sizeof(s->text))
		n = sizeof(s->text) - 1;
	memcpy(s->text, from, n);
	s->text[n] = '\0';
	s->t = t;
}

/* A number as libconfig's scanner takes it: decimal, hex, float, with an
 * optional L or LL; sign included. */
static void number(struct syn *s)
{
	const char *from = s->p;

	if (*s->p == '-' || *s->p == '+')
		s->p++;
	if (s->p + 1 < s->end && s->p[0] == '0' && (s->p[1] | 0x20) == 'x') {
		for (s->p += 2; s->p < s->end && isxdigit((unsigned char)*s->p);)
			s->p++;
	} else {
		while (s->p < s->end && (isdigit((unsigned char)*s->p) ||
					 *s->p == '.'))
			s->p++;
		if (s->p < s->end && (*s->p | 0x20) == 'e') {
			s->p++;
			if (s->p < s->end && (*s->p == '-' || *s->p == '+'))
				s->p++;
			while (s->p < s->end && isdigit((unsigned char)*s->p))
				s->p++;
		}
	}
	while (s->p < s->end && *s->p == 'L')
		s->p++;
	word(s, from, T_NUMBER);
}

static void next(struct syn *s)
{
	const char *from;

	skip_space(s);
	s->tline = s->line;
	if (s->p >= s->end) {
		s->t = T_EOF;
		return;
	}
	from = s->p;
	if (*s->p == '"') {
		/* A string may span lines; the message wants where it began. */
		for (s->p++; s->p < s->end && *s->p != '"'; s->p++) {
			if (*s->p == '\\' && s->p + 1 < s->end)
				s->p++;
			if (*s->p == '\n')
				s->line++;
		}
		s->t = s->p < s->end ? T_STRING : T_OPEN_STRING;
		s->p += s->p < s->end;
		return;
	}
	if (isdigit((unsigned char)*s->p) || *s->p == '.' ||
	    ((*s->p == '-' || *s->p == '+') && s->p + 1 < s->end &&
	     (isdigit((unsigned char)s->p[1]) || s->p[1] == '.'))) {
		number(s);
		return;
	}
	if (isalpha((unsigned char)*s->p) || *s->p == '*') {
		while (s->p < s->end && (isalnum((unsigned char)*s->p) ||
					 (*s->p && strchr("-_*", *s->p))))
			s->p++;
		word(s, from, T_NAME);
		if (!strcasecmp(s->text, "true") || !strcasecmp(s->text, "false"))
			s->t = T_BOOL;
		return;
	}
	if (*s->p == '@' && s->end - s->p >= 8 && !memcmp(s->p, "@include", 8)) {
		s->p += 8;
		s->t = T_INCLUDE;
		return;
	}
	s->ch = *s->p++;
	s->t = s->ch && strchr("=:;,{}()[]", s->ch) ? T_PUNCT : T_OTHER;
}

static bool is(const struct syn *s, char ch)
{
	return s->t == T_PUNCT && s->ch == ch;
}

/* The current token, for "found ...". */
static const char *found(const struct syn *s, char *buf, size_t size)
{
	switch (s->t) {
	case T_EOF:
		return "the end of the file";
	case T_STRING:
		return "a string";
	case T_OPEN_STRING:
		return "a string that is not closed";
	case T_INCLUDE:
		return "@include";
	case T_PUNCT:
	case T_OTHER:
		snprintf(buf, size, "'%c'", s->ch);
		return buf;
	default:
		snprintf(buf, size, "%s", s->text);
		return buf;
	}
}

/* The first mistake only: the parse stops there. */
static __attribute__((format(printf, 3, 4)))
void syn_fail(struct syn *s, int line, const char *fmt, ...)
{
	va_list ap;

	if (s->failed)
		return;
	s->failed = true;
	s->at = line;
	va_start(ap, fmt);
	vsnprintf(s->why, s->size, fmt, ap);
	va_end(ap);
}

/* Why the current token cannot be a value, as a hint. */
static const char *value_hint(const struct syn *s)
{
	if (s->t == T_NAME)
		return " (text needs double quotes, like \"eth1\")";
	if (s->t == T_OTHER && s->ch == '\'')
		return " (a string takes double quotes, not single ones)";
	if (s->t == T_OPEN_STRING)
		return " (a string needs its closing \")";
	if (s->t == T_OTHER)
		return " (text needs double quotes, like \"/dev/shm/x\")";
	return "";
}

static void value(struct syn *s, const char *of);

static void scalar_tail(struct syn *s)
{
	if (s->t == T_STRING) {
		/* Adjacent strings are one. */
		while (s->t == T_STRING)
			next(s);
		return;
	}
	next(s);
}

static bool is_scalar(const struct syn *s)
{
	return s->t == T_NUMBER || s->t == T_BOOL || s->t == T_STRING;
}

/* Elements of a list '(' or an array '[' up to close, separated by commas. */
static void elements(struct syn *s, char close, const char *of, int open_line)
{
	const char *kind = close == ')' ? "list" : "array";
	char f[64];

	next(s);
	if (is(s, close)) {
		next(s);
		return;
	}
	for (;;) {
		if (close == ']' && !is_scalar(s) && !s->failed) {
			syn_fail(s, s->tline, "expected a number, a string or true/false in the array of %s, found %s%s%s",
				 of, found(s, f, sizeof(f)), value_hint(s),
				 s->t == T_PUNCT && strchr("[({", s->ch) ?
					 " (an array holds only scalars; use a list ( ... ) for more)" : "");
			return;
		}
		if (close == ']')
			scalar_tail(s);
		else
			value(s, of);
		if (s->failed)
			return;
		if (is(s, close)) {
			next(s);
			return;
		}
		if (!is(s, ',')) {
			if (s->t == T_EOF)
				syn_fail(s, open_line, "the %s of %s opened here is not closed (expected '%c' before the end of the file)",
					 kind, of, close);
			else
				syn_fail(s, s->tline, "expected ',' or '%c' after an element of the %s of %s (opened on line %d), found %s%s",
					 close, kind, of, open_line,
					 found(s, f, sizeof(f)),
					 is(s, '{') || is(s, '(') || is_scalar(s) ?
						 " (elements are separated by commas)" : "");
			return;
		}
		next(s);
		if (is(s, close)) {
			syn_fail(s, s->tline, "expected another element after ',' in the %s of %s, found '%c' (no comma after the last element)",
				 kind, of, close);
			return;
		}
	}
}

static void settings(struct syn *s, int open_line, const char *of);

static void value(struct syn *s, const char *of)
{
	int line = s->tline;
	char f[64];

	if (is_scalar(s)) {
		scalar_tail(s);
		return;
	}
	if (s->t == T_PUNCT && strchr("[({", s->ch)) {
		if (++s->depth > SYN_MAX_DEPTH) {
			syn_fail(s, line, "%s nests deeper than %d levels",
				 of, SYN_MAX_DEPTH);
			return;
		}
		if (s->ch == '{') {
			next(s);
			settings(s, line, of);
		} else {
			elements(s, s->ch == '(' ? ')' : ']', of, line);
		}
		s->depth--;
		return;
	}
	syn_fail(s, s->tline, "expected a value for %s (a number, a \"string\", true or false, { a group }, ( a list ) or [ an array ]), found %s%s",
		 of, found(s, f, sizeof(f)), value_hint(s));
}

/* Settings up to '}' (open_line > 0) or the end of the file. */
static void settings(struct syn *s, int open_line, const char *of)
{
	char name[64], f[64];
	bool after_value = false;
	int line;

	while (!s->failed) {
		if (s->t == T_EOF) {
			if (open_line)
				syn_fail(s, open_line, "the group { of %s opened here is not closed (expected '}' before the end of the file)",
					 of);
			return;
		}
		if (open_line && is(s, '}')) {
			next(s);
			return;
		}
		if (s->t == T_INCLUDE) {
			next(s);
			if (s->t != T_STRING)
				syn_fail(s, s->tline, "expected a file name in double quotes after @include, found %s",
					 found(s, f, sizeof(f)));
			next(s);
			after_value = false;
			continue;
		}
		if (s->t != T_NAME) {
			if (is(s, '}') && !open_line)
				syn_fail(s, s->tline, "found '}' with no group open (one '}' too many?)");
			else if (after_value)
				syn_fail(s, s->tline, "expected ';' or the next setting after the value of %s, found %s%s",
					 name, found(s, f, sizeof(f)),
					 is(s, ':') ?
						 " (text with ':' in it, like a MAC address, needs double quotes)" : "");
			else
				syn_fail(s, s->tline, "expected a setting name (a letter, then letters, digits, '-', '_'), found %s%s",
					 found(s, f, sizeof(f)),
					 s->t == T_BOOL ? " (true and false are values, not names)" :
					 is(s, ';') || is(s, ',') ? " (one ends a setting)" : "");
			return;
		}
		snprintf(name, sizeof(name), "\"%s\"", s->text);
		line = s->tline;
		next(s);
		if (!is(s, '=') && !is(s, ':')) {
			syn_fail(s, s->t == T_EOF ? line : s->tline,
				 "expected '=' after the name %s, found %s",
				 name, found(s, f, sizeof(f)));
			return;
		}
		next(s);
		value(s, name);
		after_value = true;
		if (is(s, ';') || is(s, ',')) {
			next(s);
			after_value = false;
		}
	}
}

int cfg_syntax_explain(const char *file, int *line, char *why, size_t size)
{
	struct syn s = { .line = 1, .why = why, .size = size };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int ret;

	f = fopen(file, "r");
	if (!f)
		return -errno;
	/* A config file is small; a few MB is more than any. */
	buf = malloc(4u << 20);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	len = fread(buf, 1, 4u << 20, f);
	ret = ferror(f) ? -EIO : 0;
	fclose(f);
	if (!ret) {
		s.p = buf;
		s.end = buf + len;
		next(&s);
		settings(&s, 0, "the file");
		/* No mistake found: libconfig's own words are all we have. */
		ret = s.failed ? 0 : -ENOENT;
	}
	free(buf);
	if (!ret)
		*line = s.at;
	return ret;
}
