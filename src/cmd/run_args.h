/* Command-line parsing of `gureum run`. */
#ifndef GUREUM_CMD_RUN_ARGS_H
#define GUREUM_CMD_RUN_ARGS_H

#include "vmm/config.h"

#include <stddef.h>
#include <stdio.h>

enum run_args_result { RUN_ARGS_OK, RUN_ARGS_HELP, RUN_ARGS_VERSION, RUN_ARGS_ERROR };

/* Fills `config` (already config_init'ed) from argv (argv[0] == "run"). A --config file is
 * applied first, whatever its position, so that explicit options override it. */
enum run_args_result run_args_parse(int argc, char **argv, struct vm_config *config, char *err,
				    size_t err_len);

void run_args_usage(FILE *out);

#endif
