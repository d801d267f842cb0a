/* gureum: one binary, git-style subcommands. */
#include "cmd/commands.h"
#include "cmd/emu_user.h"
#include "cmd/img.h"

#include <stdio.h>
#include <string.h>

static void print_usage(FILE *out)
{
	fprintf(out, "usage: gureum <command> [options]\n\n"
		     "commands:\n"
		     "  run       boot a virtual machine (gureum run --help)\n"
		     "  emu-user  run a static x86-64 Linux program on the software CPU\n"
		     "  version   print the version\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		print_usage(stderr);
		return 2;
	}
	const char *command = argv[1];
	if (strcmp(command, "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(command, "img") == 0)
		return cmd_img(argc - 1, argv + 1);
	if (strcmp(command, "emu-user") == 0)
		return cmd_emu_user(argc - 1, argv + 1);
	if (strcmp(command, "version") == 0 || strcmp(command, "--version") == 0) {
		printf("gureum %s\n", GUREUM_VERSION);
		return 0;
	}
	if (strcmp(command, "help") == 0 || strcmp(command, "--help") == 0 ||
	    strcmp(command, "-h") == 0) {
		print_usage(stdout);
		return 0;
	}
	fprintf(stderr, "gureum: unknown command '%s' (try 'gureum --help')\n", command);
	return 2;
}
