/* `gureum run`: boot a virtual machine. */
#include "cmd/commands.h"
#include "cmd/run_args.h"
#include "lib/log.h"
#include "vmm/jail.h"
#include "vmm/migration.h"
#include "vmm/sandbox.h"
#include "vmm/session.h"
#include "vmm/vm.h"
#include "vmm/vm_snapshot.h"

#include <unistd.h>

#include <stdio.h>

/* --incoming: the configuration comes with the VM, the command line's options on top. */
static int run_incoming(const struct vm_config *local)
{
	char err[1024];
	int fd = migration_accept(local->incoming, err, sizeof(err));
	if (fd < 0) {
		log_error("%s", err);
		return VM_EXIT_ERROR;
	}
	struct vm_config config;
	config_init(&config);
	int status = VM_EXIT_ERROR;
	if (migration_receive_config(fd, local, &config, err, sizeof(err)) < 0) {
		log_error("%s", err);
	} else if (config_apply_net_hosts(&config, err, sizeof(err)) < 0 ||
		   config_validate(&config, err, sizeof(err)) < 0 ||
		   config_apply_disk_overlays(&config, err, sizeof(err)) < 0) {
		migration_refuse(fd, err);
		log_error("%s", err);
	} else {
		struct vm_origin origin = migration_origin(&fd, local->incoming);
		status = session_run(&config, &origin);
	}
	if (fd >= 0) /* -1: a post-copy took the link over */
		close(fd);
	config_free(&config);
	return status;
}

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
		log_set_name(config.name);
		/* The namespace first, while this is the only thread; the filters then
		 * leave the jail's calls to it until it is entered. */
		if (jail_prepare(&config, err, sizeof(err)) < 0 ||
		    (config.seccomp &&
		     sandbox_install(config.jail_dir != NULL, err, sizeof(err)) < 0)) {
			log_error("%s", err);
			status = VM_EXIT_ERROR;
			break;
		}
		if (config.incoming) {
			status = run_incoming(&config);
			break;
		}
		if (config_apply_net_hosts(&config, err, sizeof(err)) < 0 ||
		    config_validate(&config, err, sizeof(err)) < 0 ||
		    config_apply_disk_overlays(&config, err, sizeof(err)) < 0) {
			log_error("%s", err);
			status = VM_EXIT_ERROR;
		} else {
			if (config_memory_exceeds_host(&config))
				log_warn(
				    "--memory is more than this host's RAM: the guest runs, but "
				    "the host may swap or kill it if it uses it all");
			struct vm_origin snapshot = vm_snapshot_origin(config.restore_dir);
			status = session_run(&config, config.restore_dir ? &snapshot : NULL);
		}
		break;
	}
	config_free(&config);
	return status;
}
