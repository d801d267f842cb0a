#include "cmd/commands.h"

#include <stdio.h>

int cmd_run(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "gureum run: not yet wired\n");
	return 1;
}
