/* SPDX-License-Identifier: MIT */
/* Control protocol constants shared by flipswitchd and its clients; the
 * protocol itself is docs/control.md. */
#ifndef FLIPSWITCH_CTL_H
#define FLIPSWITCH_CTL_H

#define FS_CTL_DEFAULT_SOCKET "/run/flipswitch/flipswitch.sock"
#define FS_CTL_MAX_LINE 65536  /* bytes in one request line, newline included */
#define FS_CTL_VERSION "0.1"

/* Error codes (the "code" member of an error reply). */
#define FS_CTL_E_PARSE "parse"
#define FS_CTL_E_INVALID "invalid"
#define FS_CTL_E_UNKNOWN "unknown_command"
#define FS_CTL_E_TOO_LARGE "too_large"
#define FS_CTL_E_PERMISSION "permission"
#define FS_CTL_E_NOT_FOUND "not_found"
#define FS_CTL_E_EXISTS "exists"
#define FS_CTL_E_INTERNAL "internal"

#endif
