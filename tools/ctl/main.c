// SPDX-License-Identifier: MIT
/*
 * flipswitchctl: the command-line client of flipswitchd's control socket
 * (the protocol is docs/control.md). This file only parses the command
 * line (args.c, by the table in commands.c), runs the command and maps its
 * result to the exit status: 0, 1 (the daemon or the connection failed,
 * or frames found a leak) or 2 (usage).
 */
#include <signal.h>
#include <stdio.h>

#include "flipswitch/ctl.h"
#include "commands.h"
#include "output.h"

int main(int argc, char **argv)
{
	struct ctx x = { .sock = FS_CTL_DEFAULT_SOCKET, .conn = { .fd = -1 } };
	struct args a;
	int err;

	signal(SIGPIPE, SIG_IGN);
	if (args_parse(cli_cmds, cli_ncmds, argc, argv, &a))
		return 2;
	if (a.help) {
		if (a.cmd)
			args_cmd_help(stdout, a.cmd);
		else if (a.nwords)
			cli_help_for(stdout, a.words[0]);
		else
			cli_usage(stdout);
		return 0;
	}
	if (!a.nwords) {
		cli_usage(stderr);
		return 2;
	}
	if (!a.cmd) {	/* "vm" alone */
		args_no_sub(cli_cmds, cli_ncmds, a.words[0], NULL);
		return 2;
	}
	if (a.sock)
		x.sock = a.sock;
	out_set_json(a.json, a.pretty);
	err = a.cmd->fn(&x, &a);
	conn_close(&x.conn);
	if (err == -E_USAGE)
		return 2;
	return err ? 1 : 0;
}
