// SPDX-License-Identifier: MIT
/*
 * flipswitchctl's command line (tools/ctl/args.c) by the real command
 * table (tools/ctl/commands.c): options anywhere, before or after the
 * command and its arguments, as users type them (stats -j and -j stats
 * alike, -s after the command); --name=value, -cVALUE, bundled flags,
 * "--"; --help without a command's required options; and the lines it
 * refuses, with the usage error that gives exit status 2.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "ctl/args.h"
#include "ctl/commands.h"
#include "testutil.h"

#define MAX_WORDS 16

/* Parses line (words split at spaces) into *a; args_parse's result. */
static int parse(const char *line, struct args *a)
{
	static char buf[256];
	char *argv[MAX_WORDS] = { "flipswitchctl" }, *w;
	int argc = 1;

	snprintf(buf, sizeof(buf), "%s", line);
	for (w = strtok(buf, " "); w && argc < MAX_WORDS; w = strtok(NULL, " "))
		argv[argc++] = w;
	return args_parse(cli_cmds, cli_ncmds, argc, argv, a);
}

static const char *words(const struct args *a)
{
	static char b[40];

	snprintf(b, sizeof(b), "%s%s%s", a->cmd ? a->cmd->name : "-",
		 a->cmd && a->cmd->sub ? " " : "",
		 a->cmd && a->cmd->sub ? a->cmd->sub : "");
	return b;
}

static const struct good {
	const char *line, *cmd, *sock, *pos0;
	bool json, pretty;
} goods[] = {
	{ "stats -j", "stats", NULL, NULL, true, false },
	{ "-j stats", "stats", NULL, NULL, true, false },
	{ "stats web1 -s /tmp/x.sock -p", "stats", "/tmp/x.sock", "web1", true, true },
	{ "-s/tmp/y.sock stats --clear web2", "stats", "/tmp/y.sock", "web2", false, false },
	{ "-jp show", "show", NULL, NULL, true, true },
	{ "vm -j add web3 --mac 52:54:00:00:00:03 --rings /dev/shm/r", "vm add", NULL, "web3", true, false },
	{ "vm add --mac=52:54:00:00:00:03 --rings=/r web3 --quota=40", "vm add", NULL, "web3", false, false },
	{ "capture -w/tmp/c.pcap web1 --count 3 -j", "capture", NULL, "web1", true, false },
	{ "stats -- -j", "stats", NULL, "-j", false, false },
	{ "watch --interval 0.5 --count 2 -s /s", "watch", "/s", NULL, false, false },
	{ "help vm add", "help", NULL, "vm", false, false },
};

static void test_options_anywhere(void **state)
{
	struct args a;

	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];

		print_message("%s\n", g->line);
		assert_int_equal(parse(g->line, &a), 0);
		assert_non_null(a.cmd);
		assert_string_equal(words(&a), g->cmd);
		assert_int_equal(a.json, g->json);
		assert_int_equal(a.pretty, g->pretty);
		if (g->sock)
			assert_string_equal(a.sock, g->sock);
		else
			assert_null(a.sock);
		if (g->pos0)
			assert_string_equal(a.pos[0], g->pos0);
		else
			assert_int_equal(a.npos, 0);
	}
}

/* The values reach the handler checked and converted, wherever they
 * stood and however they were written. */
static void test_values(void **state)
{
	struct args a;
	uint64_t v = 0;

	assert_int_equal(parse("vm add --quota 40 web3 --mac 52:54:00:00:00:03 "
			       "--ring-size=512 -j --rings /r", &a), 0);
	assert_string_equal(args_str(&a, "mac"), "52:54:00:00:00:03");
	assert_string_equal(args_str(&a, "rings"), "/r");
	assert_true(args_u64(&a, "quota", &v));
	assert_int_equal(v, 40);
	assert_true(args_u64(&a, "ring-size", &v));
	assert_int_equal(v, 512);
	assert_false(args_u64(&a, "vlan", &v));
	assert_null(args_str(&a, "uplink"));

	assert_int_equal(parse("capture web1 -w /tmp/c.pcap", &a), 0);
	assert_string_equal(args_str(&a, "write"), "/tmp/c.pcap");
	assert_int_equal(parse("capture --write=/tmp/d.pcap web1", &a), 0);
	assert_string_equal(args_str(&a, "write"), "/tmp/d.pcap");

	assert_int_equal(parse("stats --prometheus", &a), 0);
	assert_true(args_flag(&a, "prometheus"));
	assert_false(args_flag(&a, "clear"));

	assert_int_equal(parse("watch --interval=0.25", &a), 0);
	assert_true(args_double(&a, "interval", 1) == 0.25);
	assert_int_equal(parse("watch", &a), 0);
	assert_true(args_double(&a, "interval", 1) == 1);
}

/* --help anywhere asks for help, even without what the command needs. */
static void test_help(void **state)
{
	struct args a;

	assert_int_equal(parse("vm add --help", &a), 0);
	assert_true(a.help);
	assert_string_equal(words(&a), "vm add");
	assert_int_equal(parse("-h capture", &a), 0);
	assert_true(a.help);
	assert_string_equal(words(&a), "capture");
	assert_int_equal(parse("vm --help", &a), 0);
	assert_true(a.help);
	assert_null(a.cmd);
	assert_int_equal(a.nwords, 1);
	assert_int_equal(parse("-h", &a), 0);
	assert_int_equal(a.nwords, 0);
}

static const char *const bads[] = {
	"stats --bogus",
	"stats -x",
	"--clear stats",			/* a command's option before it */
	"nosuch",
	"vm foo",
	"stats web1 web2",
	"show extra",
	"stats --clear=yes",
	"stats -s",				/* -s wants SOCKET */
	"vm add web3 --rings /r",		/* no --mac */
	"vm add web3 --mac 52:54:00:00:00:03 --sealed x", /* --sealed takes no value */
	"vm add --mac 52:54:00:00:00:03 --rings /r", /* no name */
	"vm add web3 --mac 52:54:00:zz --rings /r",
	"vm add web3 --mac 52:54:00:00:00:03 --rings /r --vlan 4095",
	"vm add web3 --mac 52:54:00:00:00:03 --rings /r --quota -1",
	"vm add web3 --mac 52:54:00:00:00:03 --rings /r --ring-size 65536",
	"set",					/* no setting */
	"set --max-sleep-usecs 10001",
	"set --poll-usecs 1001",
	"watch --interval 0.01",
	"watch --count",
	"capture web1",				/* no -w */
	"capture -w /tmp/c.pcap",		/* no port */
};

static void test_refused(void **state)
{
	struct args a;

	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		print_message("%s\n", bads[i]);
		quiet();
		int err = parse(bads[i], &a);
		unquiet();
		assert_int_equal(err, -E_USAGE);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options_anywhere),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
