/* gureum: one binary, git-style subcommands. */
#include "cmd/commands.h"
#include "cmd/emu_user.h"
#include "cmd/img.h"

#include <stdio.h>
#include <string.h>

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("gureum %s\n", GUREUM_VERSION);
	return 0;
}

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
    {"run", cmd_run, "boot a virtual machine (gureum run --help)"},
    {"ctl", cmd_ctl, "control a running VM through its --api-socket (gureum ctl --help)"},
    {"vm", cmd_vm, "the host daemon's VMs: create, start, stop, list (gureum vm --help)"},
    {"cpu", cmd_cpu, "CPU models for --cpu-model: host, baseline, compare (gureum cpu --help)"},
    {"net", cmd_net, "virtual switches for --net switch=NAME: create, delete, list"},
    {"img", cmd_img, "create, inspect, check and convert disk images (gureum img --help)"},
    {"emu-user", cmd_emu_user, "run a static x86-64 Linux program on the software CPU"},
    {"version", cmd_version, "print the version"},
};

static void print_usage(FILE *out)
{
	fprintf(out, "usage: gureum <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		print_usage(stderr);
		return 2;
	}
	const char *name = argv[1];
	if (strcmp(name, "--version") == 0)
		return cmd_version(argc - 1, argv + 1);
	if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
		print_usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(name, commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "gureum: unknown command '%s' (try 'gureum --help')\n", name);
	return 2;
}
