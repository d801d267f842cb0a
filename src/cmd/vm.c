/* `gureum vm`: the host daemon's command line (virsh's role), a client of gureumd's API
 * (docs/api/daemon.yaml) on its unix socket. Commands that act inside a running VM (resize,
 * and any of gureum ctl's) go to that VM's own API socket, which the daemon names. */
#include "cmd/api_client.h"
#include "cmd/commands.h"
#include "cmd/vm_console.h"
#include "cmd/vm_events.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SOCKET	"/run/gureum/gureumd.sock"
#define REPLY_TIMEOUT_S 30
/* A stop waits for the guest (its timeout), then SIGTERM and SIGKILL (10 s each). */
#define STOP_EXTRA_S 30

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: gureum vm [--socket PATH] [--json] COMMAND [ARGS]\n"
	    "\n"
	    "Manages the VMs of the host daemon (gureumd) through its socket (default:\n"
	    "$GUREUMD_SOCKET, else " DEFAULT_SOCKET ").\n"
	    "\n"
	    "  list                      every VM: name, state, pid, restarts, how it last ended\n"
	    "  create NAME [--restart never|on-failure|always] [--autostart on|off] [LIMITS]\n"
	    "         -- RUN-ARGS...     defines a VM (stopped) that runs gureum run RUN-ARGS;\n"
	    "                            on-failure (default) restarts it unless it exited 0;\n"
	    "                            autostart on: gureumd starts it when the host boots\n"
	    "  start NAME                starts its process\n"
	    "  stop NAME [--timeout S] [--force]\n"
	    "                            presses its power button, waits S seconds (default\n"
	    "                            30) for the guest, then stops it from the host;\n"
	    "                            --force: from the host at once\n"
	    "  info NAME                 its definition and state\n"
	    "  set NAME [--restart POLICY] [--autostart on|off] [LIMITS]\n"
	    "                            its restart policy, autostart and limits, from now\n"
	    "                            on (limits at once on a running VM)\n"
	    "  delete NAME               forgets a stopped VM (its log stays)\n"
	    "  log NAME                  its log: the VMM's messages and a stdio console\n"
	    "  console NAME              attaches this terminal to its console (its last\n"
	    "                            16 KiB of output, then what comes; Ctrl-] detaches,\n"
	    "                            the VM runs on)\n"
	    "  resize NAME [--cpus N] [--memory SIZE] [--balloon SIZE]\n"
	    "                            changes it while it runs (through its own socket)\n"
	    "  ctl NAME CTL-COMMAND...   any gureum ctl command, to its own socket\n"
	    "  daemon                    the daemon: version, pid, directories, VM counts\n"
	    "  events [NAME]             what happens to the VMs (or to NAME) from now on, as\n"
	    "                            it happens: created, started, stopping, ended,\n"
	    "                            restarted, changed, deleted\n"
	    "\n"
	    "LIMITS, enforced by the VM's cgroup (0: none): --cpu-percent N (150: one and a\n"
	    "half host CPUs), --cpu-weight N (1-10000, default 100), --memory-max SIZE (the\n"
	    "whole VMM process, guest RAM included), --io-read-bps SIZE, --io-write-bps SIZE,\n"
	    "--io-read-iops N, --io-write-iops N (per second, on each block device that holds\n"
	    "one of its --disk files; cache=none disks feel them at once)\n"
	    "\n"
	    "--json prints the daemon's reply as it came.\n");
}

struct vm_cli {
	const char *socket;
	bool raw;
};

static int call(const struct vm_cli *cli, const char *method, const char *path, json_t *body,
		long timeout_s, json_t **reply_out)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	struct api_call c = {.socket_path = cli->socket,
			     .method = method,
			     .path = path,
			     .body = text,
			     .timeout_s = timeout_s};
	struct api_reply reply;
	char err[256];
	int rc = api_client_call(&c, &reply, err, sizeof(err));
	free(text);
	if (rc < 0) {
		fprintf(stderr,
			"gureum vm: %s: no reply from gureumd (%s; is it running? "
			"gureumd --help)\n",
			cli->socket, err);
		return 1;
	}
	json_t *json = *reply.body ? json_loads(reply.body, 0, NULL) : json_object();
	bool ok = reply.status >= 200 && reply.status < 300;
	if (cli->raw && (!reply_out || !ok))
		printf("%s\n", *reply.body ? reply.body : "{}");
	else if (!ok)
		fprintf(stderr, "gureum vm: %s\n",
			json_string_value(json_object_get(json, "error")) ?: reply.body);
	free(reply.body);
	if (ok && reply_out)
		*reply_out = json;
	else
		json_decref(json);
	return ok ? 0 : 1;
}

static const char *text_field(const json_t *object, const char *key, const char *otherwise)
{
	const char *text = json_string_value(json_object_get(object, key));
	return text ? text : otherwise;
}

static void print_row(const json_t *vm)
{
	json_t *pid = json_object_get(vm, "pid");
	char pid_text[16] = "-";
	if (pid)
		snprintf(pid_text, sizeof(pid_text), "%lld", (long long)json_integer_value(pid));
	printf("%-20s %-9s %-8s %-9lld %s\n", text_field(vm, "name", "?"),
	       text_field(vm, "state", "?"), pid_text,
	       (long long)json_integer_value(json_object_get(vm, "restarts")),
	       text_field(vm, "last_exit", ""));
}

static void print_info(const json_t *vm)
{
	print_row(vm);
	char *args = json_dumps(json_object_get(vm, "args"), JSON_COMPACT);
	printf("  restart policy: %s\n  autostart: %s\n  args: %s\n  api socket: %s\n  log: %s\n",
	       text_field(vm, "restart", "?"),
	       json_is_true(json_object_get(vm, "autostart")) ? "on" : "off", args ? args : "?",
	       text_field(vm, "api_socket", "?"), text_field(vm, "log", "?"));
	free(args);
	const json_t *limits = json_object_get(vm, "limits");
	printf("  limits: cpu %lld%% (0: none), cpu weight %lld (0: default), memory %lld bytes "
	       "(0: none)\n",
	       (long long)json_integer_value(json_object_get(limits, "cpu_percent")),
	       (long long)json_integer_value(json_object_get(limits, "cpu_weight")),
	       (long long)json_integer_value(json_object_get(limits, "memory_max")));
	printf("  I/O limits (0: none): read %lld bytes/s, %lld ops/s; write %lld bytes/s, %lld "
	       "ops/s\n",
	       (long long)json_integer_value(json_object_get(limits, "io_read_bps")),
	       (long long)json_integer_value(json_object_get(limits, "io_read_iops")),
	       (long long)json_integer_value(json_object_get(limits, "io_write_bps")),
	       (long long)json_integer_value(json_object_get(limits, "io_write_iops")));
	size_t i;
	json_t *dir;
	json_array_foreach(json_object_get(vm, "cgroups"), i, dir)
	    printf("  cgroup: %s\n", json_string_value(dir));
}

/* Prints a status reply (or the raw JSON with --json) and frees it. */
static int show(const struct vm_cli *cli, json_t *reply, bool full)
{
	if (cli->raw) {
		char *text = json_dumps(reply, JSON_COMPACT);
		printf("%s\n", text ? text : "{}");
		free(text);
	} else if (full)
		print_info(reply);
	else
		print_row(reply);
	json_decref(reply);
	return 0;
}

static int list(const struct vm_cli *cli)
{
	json_t *reply;
	if (call(cli, "GET", "/vms", NULL, REPLY_TIMEOUT_S, &reply))
		return 1;
	if (cli->raw)
		return show(cli, reply, false);
	printf("%-20s %-9s %-8s %-9s %s\n", "NAME", "STATE", "PID", "RESTARTS", "LAST EXIT");
	size_t i;
	json_t *vm;
	json_array_foreach(json_object_get(reply, "vms"), i, vm) print_row(vm);
	json_decref(reply);
	return 0;
}

static int vm_path(char *out, size_t len, const char *name, const char *action)
{
	return snprintf(out, len, "/vms/%s%s%s", name, action ? "/" : "", action ? action : "") >=
		       (int)len
		   ? -1
		   : 0;
}

/* GET /vms/NAME, kept for the caller (NULL after printing why not). */
static json_t *get_vm(const struct vm_cli *cli, const char *name)
{
	char path[128];
	json_t *reply = NULL;
	if (vm_path(path, sizeof(path), name, NULL) < 0)
		fprintf(stderr, "gureum vm: %.40s...: not a VM name\n", name);
	else if (call(cli, "GET", path, NULL, REPLY_TIMEOUT_S, &reply))
		return NULL;
	return reply;
}

static int info(const struct vm_cli *cli, const char *name)
{
	json_t *reply = get_vm(cli, name);
	return reply ? show(cli, reply, true) : 1;
}

static int action(const struct vm_cli *cli, const char *method, const char *name, const char *verb,
		  json_t *body, long timeout_s)
{
	char path[128];
	json_t *reply = NULL;
	if (vm_path(path, sizeof(path), name, verb) < 0) {
		json_decref(body);
		fprintf(stderr, "gureum vm: %.40s...: not a VM name\n", name);
		return 1;
	}
	if (call(cli, method, path, body, timeout_s, &reply))
		return 1;
	return json_object_size(reply) ? show(cli, reply, false) : (json_decref(reply), 0);
}

/* "on" or "off" as `key`'s true or false; false after saying why. */
static bool take_switch(const char *value, json_t *body, const char *key, const char *command)
{
	bool on = strcmp(value, "on") == 0;
	if (!on && strcmp(value, "off") != 0) {
		fprintf(stderr, "gureum vm %s: --%s takes on or off, not %s\n", command, key,
			value);
		return false;
	}
	json_object_set_new(body, key, json_boolean(on));
	return true;
}

/* --restart, --autostart and the limits' options (--cpu-percent, --io-read-bps...) from
 * argv[*i] on into `body` ("restart", "autostart", "limits"); stops at "--" or the first other
 * word. false after saying why. */
static bool definition_options(int argc, char **argv, int *i, json_t *body, const char *command)
{
	static const char *const limit_options[][2] = {
	    {"--cpu-percent", "cpu_percent"},	 {"--cpu-weight", "cpu_weight"},
	    {"--memory-max", "memory_max"},	 {"--io-read-bps", "io_read_bps"},
	    {"--io-write-bps", "io_write_bps"},	 {"--io-read-iops", "io_read_iops"},
	    {"--io-write-iops", "io_write_iops"}};
	const size_t limit_count = sizeof(limit_options) / sizeof(limit_options[0]);
	json_t *limits = json_object();
	for (; *i + 1 < argc && strncmp(argv[*i], "--", 2) == 0 && argv[*i][2]; *i += 2) {
		const char *option = argv[*i], *value = argv[*i + 1];
		bool known = strcmp(option, "--restart") == 0;
		if (known)
			json_object_set_new(body, "restart", json_string(value));
		if (!known && strcmp(option, "--autostart") == 0) {
			known = true;
			if (!take_switch(value, body, "autostart", command)) {
				json_decref(limits);
				return false;
			}
		}
		for (size_t k = 0; k < limit_count && !known; k++)
			if (strcmp(option, limit_options[k][0]) == 0) {
				known = true;
				char *end;
				long long n = strtoll(value, &end, 10);
				/* A number as a number; a size such as 2G as text, for the daemon
				 */
				json_object_set_new(limits, limit_options[k][1],
						    *end || end == value ? json_string(value)
									 : json_integer(n));
			}
		if (!known) {
			fprintf(stderr, "gureum vm %s: unknown option %s (gureum vm --help)\n",
				command, option);
			json_decref(limits);
			return false;
		}
	}
	if (json_object_size(limits))
		json_object_set(body, "limits", limits);
	json_decref(limits);
	return true;
}

static int create(const struct vm_cli *cli, int argc, char **argv)
{
	if (argc < 1) {
		fprintf(stderr,
			"gureum vm create: give NAME, then -- and gureum run's arguments\n");
		return 2;
	}
	json_t *body = json_pack("{s:s}", "name", argv[0]);
	int i = 1;
	if (!definition_options(argc, argv, &i, body, "create")) {
		json_decref(body);
		return 2;
	}
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	json_t *args = json_array();
	for (; i < argc; i++)
		json_array_append_new(args, json_string(argv[i]));
	json_object_set_new(body, "args", args);
	json_t *reply;
	if (call(cli, "POST", "/vms", body, REPLY_TIMEOUT_S, &reply))
		return 1;
	return show(cli, reply, false);
}

static int stop(const struct vm_cli *cli, int argc, char **argv)
{
	json_t *body = json_object();
	long timeout_s = 30;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0)
			json_object_set_new(body, "force", json_true());
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			char *end;
			timeout_s = strtol(argv[++i], &end, 10);
			if (*end || timeout_s < 0 || timeout_s > 3600) {
				fprintf(stderr, "gureum vm stop: --timeout takes 0-3600 seconds\n");
				json_decref(body);
				return 2;
			}
			json_object_set_new(body, "timeout", json_integer(timeout_s));
		} else {
			fprintf(stderr, "gureum vm stop: unknown option %s\n", argv[i]);
			json_decref(body);
			return 2;
		}
	}
	return action(cli, "POST", argv[0], "stop", body, timeout_s + STOP_EXTRA_S);
}

static int set(const struct vm_cli *cli, int argc, char **argv)
{
	json_t *body = json_object();
	int i = 1;
	if (!definition_options(argc, argv, &i, body, "set") || i != argc || argc < 3) {
		fprintf(stderr,
			"gureum vm set: give NAME and --restart POLICY, --autostart on|off or "
			"limits (--cpu-percent N, --memory-max SIZE, --io-read-bps SIZE...: "
			"gureum vm --help)\n");
		json_decref(body);
		return 2;
	}
	return action(cli, "PATCH", argv[0], NULL, body, REPLY_TIMEOUT_S);
}

static int print_log(const struct vm_cli *cli, const char *name)
{
	json_t *reply = get_vm(cli, name);
	if (!reply)
		return 1;
	const char *path = text_field(reply, "log", "");
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr,
			"gureum vm log: %s: cannot read it (it appears at the first start; "
			"it is readable by gureumd's user)\n",
			path);
		json_decref(reply);
		return 1;
	}
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stdout);
	fclose(f);
	json_decref(reply);
	return 0;
}

static int attach_console(const struct vm_cli *cli, const char *name)
{
	json_t *reply = get_vm(cli, name);
	if (!reply)
		return 1;
	int status = vm_console_attach(text_field(reply, "console_socket", ""), name);
	json_decref(reply);
	return status;
}

/* gureum ctl SOCKET ARGS... against the VM's own socket. */
static int forward_to_ctl(const struct vm_cli *cli, const char *name, int argc, char **argv)
{
	json_t *reply = get_vm(cli, name);
	if (!reply)
		return 1;
	char **ctl_argv = calloc((size_t)argc + 4, sizeof(*ctl_argv));
	int n = 0, status = 1;
	if (ctl_argv) {
		ctl_argv[n++] = "ctl";
		if (cli->raw)
			ctl_argv[n++] = "--json";
		ctl_argv[n++] = (char *)text_field(reply, "api_socket", "");
		for (int i = 0; i < argc; i++)
			ctl_argv[n++] = argv[i];
		status = cmd_ctl(n, ctl_argv);
	}
	free(ctl_argv);
	json_decref(reply);
	return status;
}

static int resize(const struct vm_cli *cli, int argc, char **argv)
{
	static const char *const options[][2] = {
	    {"--cpus", "cpus"}, {"--memory", "memory"}, {"--balloon", "balloon"}};
	int done = 0;
	for (int i = 1; i + 1 < argc; i += 2)
		for (size_t k = 0; k < 3; k++)
			if (strcmp(argv[i], options[k][0]) == 0) {
				char *ctl_args[] = {(char *)options[k][1], argv[i + 1]};
				if (forward_to_ctl(cli, argv[0], 2, ctl_args))
					return 1;
				done++;
			}
	if (done == 0 || argc % 2 == 0 || done != (argc - 1) / 2) {
		fprintf(stderr, "gureum vm resize: give NAME and --cpus N, --memory SIZE or "
				"--balloon SIZE\n");
		return 2;
	}
	return 0;
}

static int daemon_info(const struct vm_cli *cli)
{
	json_t *reply;
	if (call(cli, "GET", "/daemon", NULL, REPLY_TIMEOUT_S, &reply))
		return 1;
	char *text = json_dumps(reply, cli->raw ? JSON_COMPACT : JSON_INDENT(2));
	printf("%s\n", text ? text : "{}");
	free(text);
	json_decref(reply);
	return 0;
}

static int dispatch(const struct vm_cli *cli, const char *command, int argc, char **argv)
{
	if (strcmp(command, "list") == 0)
		return list(cli);
	if (strcmp(command, "daemon") == 0)
		return daemon_info(cli);
	if (strcmp(command, "create") == 0)
		return create(cli, argc, argv);
	if (strcmp(command, "events") == 0 && argc <= 1)
		return vm_events_follow(cli->socket, argc ? argv[0] : NULL, cli->raw);
	if (argc < 1) {
		fprintf(stderr, "gureum vm %s: give the VM's NAME (gureum vm --help)\n", command);
		return 2;
	}
	if (strcmp(command, "start") == 0)
		return action(cli, "POST", argv[0], "start", NULL, REPLY_TIMEOUT_S);
	if (strcmp(command, "stop") == 0)
		return stop(cli, argc, argv);
	if (strcmp(command, "info") == 0)
		return info(cli, argv[0]);
	if (strcmp(command, "delete") == 0)
		return action(cli, "DELETE", argv[0], NULL, NULL, REPLY_TIMEOUT_S);
	if (strcmp(command, "set") == 0)
		return set(cli, argc, argv);
	if (strcmp(command, "log") == 0)
		return print_log(cli, argv[0]);
	if (strcmp(command, "console") == 0)
		return attach_console(cli, argv[0]);
	if (strcmp(command, "resize") == 0)
		return resize(cli, argc, argv);
	if (strcmp(command, "ctl") == 0 && argc > 1)
		return forward_to_ctl(cli, argv[0], argc - 1, argv + 1);
	fprintf(stderr, "gureum vm: unknown command %s (gureum vm --help)\n", command);
	return 2;
}

int cmd_vm(int argc, char **argv)
{
	const char *env = getenv("GUREUMD_SOCKET");
	struct vm_cli cli = {.socket = env && *env ? env : DEFAULT_SOCKET};
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--json") == 0)
			cli.raw = true;
		else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
			cli.socket = argv[++i];
		else {
			fprintf(stderr, "gureum vm: unknown option %s (gureum vm --help)\n",
				argv[i]);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	return dispatch(&cli, argv[i], argc - i - 1, argv + i + 1);
}
