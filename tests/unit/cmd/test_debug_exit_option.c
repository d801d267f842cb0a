/* --debug-exit PORT[,iosize=1|2|4], on the command line and in a --config file: the port and
 * the number of ports it claims (QEMU's iobase and iosize), and every mistake refused with a
 * usage error (exit status 2) that names the option. */
#include "cmd/commands.h"
#include "run_args_harness.h"
#include "vmm/vm.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

Test(debug_exit_option, port_alone_is_one_port)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--debug-exit", "0xf4"), RUN_ARGS_OK, "%s", err);
	cr_assert(c.has_debug_exit);
	cr_assert_eq(c.debug_exit_port, 0xf4);
	cr_assert_eq(c.debug_exit_iosize, 1);
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--kernel", "k"), RUN_ARGS_OK, "%s", err);
	cr_assert_not(c.has_debug_exit);
	cr_assert_eq(c.debug_exit_iosize, 1);
	config_free(&c);
}

Test(debug_exit_option, iosize_of_1_2_or_4)
{
	static char *const values[] = {"0xf4,iosize=1", "0xf4,iosize=2", "0xf4,iosize=4"};
	static const unsigned sizes[] = {1, 2, 4};
	for (int i = 0; i < 3; i++) {
		struct vm_config c;
		char err[512];
		cr_assert_eq(PARSE(&c, err, "--debug-exit", values[i]), RUN_ARGS_OK, "%s", err);
		cr_assert_eq(c.debug_exit_port, 0xf4);
		cr_assert_eq(c.debug_exit_iosize, sizes[i], "%s", values[i]);
		config_free(&c);
	}
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--debug-exit=1281,iosize=2"), RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.debug_exit_port, 0x501);
	cr_assert_eq(c.debug_exit_iosize, 2);
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--debug-exit", "0xfffc,iosize=4"), RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.debug_exit_iosize, 4, "0xfffc..0xffff is the last fit");
	config_free(&c);
}

Test(debug_exit_option, the_last_one_given_wins_whole)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--debug-exit", "0xf4,iosize=4", "--debug-exit", "0x501"),
		     RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.debug_exit_port, 0x501);
	cr_assert_eq(c.debug_exit_iosize, 1, "iosize is back to 1, not left at 4");
	config_free(&c);
}

/* Each is refused with a message naming --debug-exit and the part that is wrong, and leaves
 * the configuration as it was. */
Test(debug_exit_option, mistakes_are_refused)
{
	static const struct {
		char *value;
		const char *says;
	} bad[] = {
	    {"0xf4,iosize=3", "iosize '3'"},
	    {"0xf4,iosize=", "iosize ''"},
	    {"0xf4,iosize=8", "iosize '8'"},
	    {"0xf4,iosize=04", "iosize '04'"},
	    {"0xf4,size=4", "unknown property 'size'"},
	    {"0xf4,iosize", "'iosize' is not key=value"},
	    {"0xf4,", "'' is not key=value"},
	    {"0x10000", "'0x10000' is not an I/O port"},
	    {"-1", "'-1' is not an I/O port"},
	    {"", "'' is not an I/O port"},
	    {",iosize=4", "'' is not an I/O port"},
	    {"port", "'port' is not an I/O port"},
	    {"0xffff,iosize=2", "run past"},
	    {"0xfffd,iosize=4", "run past"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vm_config c;
		char err[512];
		cr_assert_eq(PARSE(&c, err, "--debug-exit", bad[i].value), RUN_ARGS_ERROR,
			     "'%s' accepted", bad[i].value);
		cr_assert(strstr(err, "--debug-exit"), "'%s': %s", bad[i].value, err);
		cr_assert(strstr(err, bad[i].says), "'%s': %s", bad[i].value, err);
		cr_assert_not(c.has_debug_exit, "'%s'", bad[i].value);
		config_free(&c);
	}
}

Test(debug_exit_option, a_mistake_is_a_usage_error)
{
	char *argv[] = {"run", "--kernel", "/nonexistent", "--debug-exit", "0xf4,iosize=3", NULL};
	cr_assert_eq(cmd_run(5, argv), VM_EXIT_USAGE);
	cr_assert_eq(VM_EXIT_USAGE, 2);
}

Test(debug_exit_option, json_takes_the_same_values)
{
	char *path = write_temp("{\"debug-exit\": \"0xf4,iosize=4\"}");
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--config", path), RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.debug_exit_port, 0xf4);
	cr_assert_eq(c.debug_exit_iosize, 4);
	config_free(&c);
	unlink(path);
	free(path);

	path = write_temp("{\"debug-exit\": 244}");
	cr_assert_eq(PARSE(&c, err, "--config", path), RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.debug_exit_port, 244);
	cr_assert_eq(c.debug_exit_iosize, 1);
	config_free(&c);
	unlink(path);
	free(path);

	path = write_temp("{\"debug-exit\": \"0xf4,iosize=3\"}");
	cr_assert_eq(PARSE(&c, err, "--config", path), RUN_ARGS_ERROR);
	cr_assert(strstr(err, path) && strstr(err, "iosize '3'"), "%s", err);
	config_free(&c);
	unlink(path);
	free(path);
}
