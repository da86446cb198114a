// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

enum log_level log_level = LOG_LVL_INFO;

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *const pfx[] = { "error: ", "warning: ", "", "debug: " };
	va_list ap;

	if (lvl > log_level)
		return;
	/* One write per line, so lines of concurrent writers do not mix. */
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "flipswitchd: %s", pfx[lvl]);

	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - n - 1 > 0 ? sizeof(buf) - n - 1 : 0, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	fwrite(buf, 1, n, stderr);
	fflush(stderr);
}
