/* SPDX-License-Identifier: MIT */
/* Logging to stderr with a level prefix; the daemon stays in the foreground
 * and its supervisor (systemd, a test script) keeps the log. */
#ifndef FS_LOG_H
#define FS_LOG_H

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

extern enum log_level log_level;

void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                 \
	do {                                                           \
		if (log_level >= LOG_LVL_DEBUG)                        \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);           \
	} while (0)

#endif
