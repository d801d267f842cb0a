/* gureum img check: placeholder until the refcount checker lands. */
#include "cmd/img.h"

#include <stdio.h>

int img_check(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "gureum img check: not implemented yet\n");
	return 1;
}
