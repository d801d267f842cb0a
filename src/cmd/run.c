/* `gureum run`: boot a virtual machine. */
#include "cmd/commands.h"
#include "cmd/run_args.h"
#include "lib/log.h"
#include "vmm/session.h"
#include "vmm/vm.h"

#include <stdio.h>

int cmd_run(int argc, char **argv)
{
	struct vm_config config;
	config_init(&config);
	char err[1024];
	int status;
	switch (run_args_parse(argc, argv, &config, err, sizeof(err))) {
	case RUN_ARGS_HELP:
		run_args_usage(stdout);
		status = 0;
		break;
	case RUN_ARGS_VERSION:
		printf("gureum %s\n", GUREUM_VERSION);
		status = 0;
		break;
	case RUN_ARGS_ERROR:
		log_error("%s", err);
		status = VM_EXIT_USAGE;
		break;
	default:
		if (config_validate(&config, err, sizeof(err)) < 0) {
			log_error("%s", err);
			status = VM_EXIT_ERROR;
		} else {
			if (config_memory_exceeds_host(&config))
				log_warn(
				    "--memory is more than this host's RAM: the guest runs, but "
				    "the host may swap or kill it if it uses it all");
			status = session_run(&config);
		}
		break;
	}
	config_free(&config);
	return status;
}
