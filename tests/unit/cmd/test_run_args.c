#include "run_args_harness.h"

#include "virtio/virtio_devices.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

Test(run_args, defaults)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--kernel", "k"), RUN_ARGS_OK);
	cr_assert_eq(c.cpus, 1);
	cr_assert_eq(c.memory, 256ULL << 20);
	cr_assert_eq(c.console, CONSOLE_STDIO);
	cr_assert_eq(c.on_reboot, ON_REBOOT_RESTART);
	cr_assert_not(c.has_debug_exit);
	config_free(&c);
}

Test(run_args, every_option_both_spellings)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--kernel=/k", "--initrd", "/i", "--cmdline",
			   "console=ttyS0 quiet", "--cpus=4", "--memory", "2G", "--console",
			   "file:/tmp/x.log", "--debug-exit", "0xf4", "--stats", "--on-reboot=exit",
			   "--accel", "kvm", "--name=web-1.example_a"),
		     RUN_ARGS_OK, "%s", err);
	cr_assert_str_eq(c.name, "web-1.example_a");
	cr_assert_str_eq(c.kernel, "/k");
	cr_assert_str_eq(c.initrd, "/i");
	cr_assert_str_eq(c.cmdline, "console=ttyS0 quiet");
	cr_assert_eq(c.cpus, 4);
	cr_assert_eq(c.memory, 2ULL << 30);
	cr_assert_eq(c.console, CONSOLE_FILE);
	cr_assert_str_eq(c.console_path, "/tmp/x.log");
	cr_assert(c.has_debug_exit);
	cr_assert_eq(c.debug_exit_port, 0xf4);
	cr_assert(c.stats);
	cr_assert_eq(c.on_reboot, ON_REBOOT_EXIT);
	config_free(&c);
}

Test(run_args, bad_values_name_the_option)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--cpus", "0"), RUN_ARGS_ERROR);
	cr_assert(strstr(err, "--cpus"), "%s", err);
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--cpus", "256"), RUN_ARGS_ERROR);
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--memory", "lots"), RUN_ARGS_ERROR);
	cr_assert(strstr(err, "--memory"), "%s", err);
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--memory", "1M"), RUN_ARGS_ERROR);
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--console", "tcp:1"), RUN_ARGS_ERROR);
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--debug-exit", "0x10000"), RUN_ARGS_ERROR);
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--accel", "xen"), RUN_ARGS_ERROR);
	cr_assert(strstr(err, "kvm") && strstr(err, "auto"), "names the choices: %s", err);
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--accel", "auto"), RUN_ARGS_OK);
	cr_assert_str_eq(c.accel, "auto");
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--tsc-khz", "999"), RUN_ARGS_ERROR);
	cr_assert(strstr(err, "--tsc-khz"), "%s", err);
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--tsc-khz", "2.5G"), RUN_ARGS_ERROR);
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--tsc-khz", "2445414"), RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.tsc_khz, 2445414);
	config_free(&c);
	char *bad_names[] = {"",
			     "-x",
			     ".hidden",
			     "a/b",
			     "a b",
			     "x\n",
			     "0123456789012345678901234567890123456789012345678901234567890123X"};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		cr_assert_eq(PARSE(&c, err, "--name", bad_names[i]), RUN_ARGS_ERROR, "'%s'",
			     bad_names[i]);
		cr_assert(strstr(err, "--name"), "%s", err);
		config_free(&c);
	}
	cr_assert_eq(PARSE(&c, err, "--frobnicate"), RUN_ARGS_ERROR);
	cr_assert(strstr(err, "--frobnicate"), "%s", err);
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--kernel"), RUN_ARGS_ERROR);
	cr_assert(strstr(err, "needs a value"), "%s", err);
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "stray"), RUN_ARGS_ERROR);
	config_free(&c);
}

Test(run_args, cpus_with_room_to_add)
{
	struct vm_config c;
	char err[256];
	cr_assert_eq(PARSE(&c, err, "--cpus", "2,max=8"), RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.cpus, 2);
	cr_assert_eq(c.max_cpus, 8);
	cr_assert(c.cpu_hotplug);
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--cpus", "4,max=4"), RUN_ARGS_OK, "%s", err);
	cr_assert(c.cpu_hotplug, "max= equal to the count still allows removing and re-adding");
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--cpus", "3"), RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.max_cpus, 3);
	cr_assert_not(c.cpu_hotplug);
	config_free(&c);
	char *bad[] = {"2,max=1", "2,max=256", "2,max=",  "2,min=4", "2,max=4,x",
		       "2,",	  ",max=4",    "0,max=4", "x,max=4"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(PARSE(&c, err, "--cpus", bad[i]), RUN_ARGS_ERROR, "%s", bad[i]);
		cr_assert(strstr(err, "--cpus"), "%s: %s", bad[i], err);
		config_free(&c);
	}
}

Test(run_args, jail_and_user)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--kernel", "k"), RUN_ARGS_OK);
	cr_assert_null(c.jail_dir);
	cr_assert_not(c.drop_user);
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--jail", "/srv/jail", "--user", "2000000001"), RUN_ARGS_OK,
		     "%s", err);
	cr_assert_str_eq(c.jail_dir, "/srv/jail");
	cr_assert(c.drop_user);
	cr_assert_eq(c.uid, 2000000001u);
	cr_assert_eq(c.gid, 2000000001u); /* the gid follows the uid unless given */
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--user", "65534:100"), RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.uid, 65534u);
	cr_assert_eq(c.gid, 100u);
	config_free(&c);
	char *bad_users[] = {"",      "nobody",	    "-1",	    "1:", ":1",
			     "1:2:3", "4294967295", "1:4294967295", "1 ", "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad_users) / sizeof(bad_users[0]); i++) {
		cr_assert_eq(PARSE(&c, err, "--user", bad_users[i]), RUN_ARGS_ERROR, "'%s'",
			     bad_users[i]);
		cr_assert(strstr(err, "--user"), "%s", err);
		cr_assert_not(c.drop_user, "'%s' half-applied", bad_users[i]);
		config_free(&c);
	}
	cr_assert_eq(PARSE(&c, err, "--jail", "relative/dir"), RUN_ARGS_ERROR);
	cr_assert(strstr(err, "--jail") && strstr(err, "absolute"), "%s", err);
	config_free(&c);
}

Test(run_args, console_socket)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--console-socket", "/run/gureum/vms/a.con"), RUN_ARGS_OK, "%s",
		     err);
	cr_assert_str_eq(c.console_socket, "/run/gureum/vms/a.con");
	cr_assert_eq(c.console, CONSOLE_STDIO, "the socket is besides --console, not instead");
	config_free(&c);
	char long_path[200];
	memset(long_path, 'x', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	cr_assert_eq(PARSE(&c, err, "--console-socket", long_path), RUN_ARGS_ERROR);
	cr_assert(strstr(err, "--console-socket") && strstr(err, "107"), "%s", err);
	config_free(&c);
}

Test(run_args, help_and_version)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--cpus", "bad", "--help"), RUN_ARGS_HELP);
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--version"), RUN_ARGS_VERSION);
	config_free(&c);
}

Test(run_args, json_config_then_command_line_overrides)
{
	char *path = write_temp("{\"kernel\": \"/vmlinuz\", \"cpus\": 2, \"memory\": \"1G\", "
				"\"stats\": true, \"debug-exit\": 244, \"cmdline\": \"quiet\"}");
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--cpus", "3", "--config", path), RUN_ARGS_OK, "%s", err);
	cr_assert_str_eq(c.kernel, "/vmlinuz");
	cr_assert_eq(c.cpus, 3, "the command line wins over the file");
	cr_assert_eq(c.memory, 1ULL << 30);
	cr_assert(c.stats);
	cr_assert_eq(c.debug_exit_port, 244);
	cr_assert_str_eq(c.cmdline, "quiet");
	config_free(&c);
	unlink(path);
	free(path);
}

/* What a snapshot writes (config_save_json) is what --restore reads back, and options given
 * with --restore override it, except those that would add devices. */
Test(run_args, snapshot_config_round_trips_and_restore_takes_overrides)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--kernel", "/vmlinuz", "--cpus", "2", "--memory", "1G",
			   "--cmdline", "console=ttyS0 quiet", "--net", "tap=t0", "--net",
			   "tap=t1,vhost=off", "--cpus", "3", "--rng"),
		     RUN_ARGS_OK, "%s", err);
	char dir[] = "/tmp/gureum-snap-XXXXXX", path[64];
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/config.json", dir);
	const char *const overrides[] = {"accel", "emu", NULL};
	cr_assert_eq(config_save_json(&c, path, overrides, err, sizeof(err)), 0, "%s", err);
	config_free(&c);

	cr_assert_eq(PARSE(&c, err, "--restore", dir, "--console", "none"), RUN_ARGS_OK, "%s", err);
	cr_assert_str_eq(c.restore_dir, dir);
	cr_assert_str_eq(c.kernel, "/vmlinuz");
	cr_assert_eq(c.cpus, 3, "the later --cpus was saved, not the first");
	cr_assert_eq(c.memory, 1ULL << 30);
	cr_assert_str_eq(c.cmdline, "console=ttyS0 quiet");
	cr_assert_eq(c.nr_nics, 2, "both NICs, in order");
	cr_assert_str_eq(c.nics[0].tap, "t0");
	cr_assert_str_eq(c.nics[1].tap, "t1");
	cr_assert(c.rng);
	cr_assert_str_eq(c.accel, "emu");
	cr_assert_eq(c.console, CONSOLE_NONE, "the command line overrides the snapshot");
	config_free(&c);

	cr_assert_eq(PARSE(&c, err, "--restore", dir, "--disk", "/x.img"), RUN_ARGS_ERROR);
	cr_assert(strstr(err, "--disk cannot be added to a restored or incoming VM"), "%s", err);
	config_free(&c);

	/* --net moves the cards it came with to this host's taps, keeping their MACs. */
	cr_assert_eq(PARSE(&c, err, "--restore", dir, "--net", "tap=t2,vhost=off"), RUN_ARGS_OK,
		     "%s", err);
	cr_assert_eq(config_apply_net_hosts(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.nr_nics, 2, "moved, not added");
	cr_assert_str_eq(c.nics[0].tap, "t2");
	cr_assert_str_eq(c.nics[1].tap, "t1");
	cr_assert_eq(c.nics[0].vhost, VHOST_OFF);
	uint8_t mac[6];
	virtio_net_default_mac("t0", 0, mac);
	cr_assert(c.nics[0].has_mac && memcmp(c.nics[0].mac, mac, 6) == 0,
		  "the card keeps the MAC it had on t0");
	unsigned nets = 0;
	for (unsigned i = 0; i < c.nr_settings; i++) {
		cr_assert_str_neq(c.settings[i].key, "net-host");
		if (strcmp(c.settings[i].key, "net") == 0 && nets++ == 0)
			cr_assert(strstr(c.settings[i].value, "tap=t2,mac=52:54:00:") &&
				      strstr(c.settings[i].value, ",queues=1"),
				  "%s", c.settings[i].value);
	}
	cr_assert_eq(nets, 2);
	/* A MAC the operator gives later (net-mac) is what a snapshot then records. */
	uint8_t given[6] = {0x02, 0, 0, 0, 0, 0x42};
	cr_assert_eq(config_set_net_mac(&c, 1, given), 0);
	cr_assert_eq(config_set_net_mac(&c, 2, given), -1, "no third card");
	const char *second = NULL;
	nets = 0;
	for (unsigned i = 0; i < c.nr_settings; i++)
		if (strcmp(c.settings[i].key, "net") == 0 && nets++ == 1)
			second = c.settings[i].value;
	cr_assert(second && strstr(second, "tap=t1,mac=02:00:00:00:00:42"), "%s", second);
	config_free(&c);

	/* The guest's driver uses the queue pairs it found: a move cannot change them. */
	cr_assert_eq(PARSE(&c, err, "--restore", dir, "--net", "tap=a,queues=2"), RUN_ARGS_OK, "%s",
		     err);
	cr_assert_eq(config_apply_net_hosts(&c, err, sizeof(err)), -1);
	cr_assert(strstr(err, "leave queues= out"), "%s", err);
	config_free(&c);

	cr_assert_eq(
	    PARSE(&c, err, "--restore", dir, "--net", "tap=a", "--net", "tap=b", "--net", "tap=c"),
	    RUN_ARGS_OK, "%s", err);
	cr_assert_eq(config_apply_net_hosts(&c, err, sizeof(err)), -1);
	cr_assert(strstr(err, "--net is given 3 times, but the VM has 2 network cards"), "%s", err);
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--restore", dir, "--net", "tap=a,mac=52:54:00:00:00:01"),
		     RUN_ARGS_OK, "%s", err);
	cr_assert_eq(config_apply_net_hosts(&c, err, sizeof(err)), -1);
	cr_assert(strstr(err, "keeps its MACs"), "%s", err);
	config_free(&c);
	unlink(path);
	rmdir(dir);
	cr_assert_eq(PARSE(&c, err, "--restore", dir), RUN_ARGS_ERROR);
	cr_assert(strstr(err, "is not a snapshot"), "%s", err);
	config_free(&c);
}

Test(run_args, json_errors_are_reported_with_the_file)
{
	static const char *const bad[] = {
	    "{\"cpus\": 2,}",		    /* syntax */
	    "[1, 2]",			    /* not an object */
	    "{\"colour\": \"red\"}",	    /* unknown key */
	    "{\"cpus\": [2]}",		    /* wrong type */
	    "{\"cpus\": -1}",		    /* negative */
	    "{\"memory\": \"12 parsecs\"}", /* bad value */
	    "{\"cpus\": 1, \"cpus\": 2}",   /* duplicate */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *path = write_temp(bad[i]);
		struct vm_config c;
		char err[512];
		cr_assert_eq(PARSE(&c, err, "--config", path), RUN_ARGS_ERROR, "accepted %s",
			     bad[i]);
		cr_assert(strstr(err, path), "error does not name the file: %s", err);
		config_free(&c);
		unlink(path);
		free(path);
	}
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--config", "/nonexistent/vm.json"), RUN_ARGS_ERROR);
	config_free(&c);
}

Test(config, validate_needs_a_readable_kernel_and_sane_memory)
{
	struct vm_config c;
	char err[512];
	config_init(&c);
	cr_assert_lt(config_validate(&c, err, sizeof(err)), 0);
	cr_assert(strstr(err, "--kernel"), "%s", err);
	config_set(&c, "kernel", "/nonexistent", err, sizeof(err));
	cr_assert_lt(config_validate(&c, err, sizeof(err)), 0);
	cr_assert(strstr(err, "/nonexistent"), "%s", err);
	config_set(&c, "kernel", "/tmp", err, sizeof(err));
	cr_assert_lt(config_validate(&c, err, sizeof(err)), 0);
	cr_assert(strstr(err, "not a regular file"), "%s", err);
	char *k = write_temp("x");
	config_set(&c, "kernel", k, err, sizeof(err));
	cr_assert_eq(config_validate(&c, err, sizeof(err)), 0, "%s", err);
	config_set(&c, "memory", "4096G", err, sizeof(err));
	cr_assert_eq(config_validate(&c, err, sizeof(err)), 0,
		     "lazily reserved RAM may exceed the host");
	cr_assert(config_memory_exceeds_host(&c));
	config_set(&c, "memory", "16777216G", err, sizeof(err));
	cr_assert_lt(config_validate(&c, err, sizeof(err)), 0);
	cr_assert(strstr(err, "guest-physical addresses"), "%s", err);
	config_free(&c);
	unlink(k);
	free(k);
}
