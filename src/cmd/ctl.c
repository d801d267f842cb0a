/* `gureum ctl [--json] SOCKET COMMAND [ARGS]`: one request to a running VM's control API
 * (--api-socket; HTTP, docs/api/vm.yaml), its reply printed for people (or the JSON body as it
 * came with --json). Exit status 0 on a 2xx reply, 1 on an error reply or when the VM cannot
 * be reached, 2 on usage errors. */
#include "cmd/api_client.h"
#include "cmd/commands.h"
#include "cmd/ctl_counters.h"
#include "cmd/ctl_hotplug.h"
#include "cmd/ctl_limits.h"
#include "lib/size.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPLY_TIMEOUT_S		 10
#define SNAPSHOT_REPLY_TIMEOUT_S 3600 /* writing guest RAM takes as long as the disk needs */
#define PROGRESS_INTERVAL_MS	 1000

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: gureum ctl [--json] SOCKET COMMAND [ARGS]\n"
	    "\n"
	    "Sends one command to a VM started with --api-socket SOCKET.\n"
	    "\n"
	    "commands:\n"
	    "  balloon SIZE    make the balloon hold SIZE bytes of guest RAM (512M, 1G; 0 "
	    "returns it all)\n"
	    "  balloon-info    the balloon's target, actual size, reported free memory and "
	    "guest statistics\n"
	    "  status          state, vCPUs, memory and devices of the VM\n"
	    "  pause           stop the vCPUs and the devices (returns once they are)\n"
	    "  resume          let a paused VM run on\n"
	    "  migrate URI [--downtime-ms N] [--compress] [--max-bandwidth RATE]\n"
	    "          [--auto-converge] [--postcopy] [--postcopy-after ROUNDS]\n"
	    "                  move the VM to the gureum run --incoming URI listening there\n"
	    "                  (unix:PATH or tcp:HOST:PORT), pausing it for about N ms at the\n"
	    "                  end (default 300) where it can; --compress for slow links;\n"
	    "                  at most RATE bytes/s (100M: MiB/s); --auto-converge slows\n"
	    "                  the vCPUs of a guest that writes faster; --postcopy: if the\n"
	    "                  copy has not converged after ROUNDS rounds (default 5; 0 and on\n"
	    "                  the software CPU: at once), the VM runs there and fetches the\n"
	    "                  rest of its RAM (a link lost then loses the VM); prints\n"
	    "                  progress each second; this VMM then exits\n"
	    "  migrate-status  how the migration under way goes (or how the last one ended)\n"
	    "  migrate-cancel  stop the migration under way; the VM stays here\n"
	    "  migrate-reconnect  drop a post-copy's connection and make it again\n"
	    "  net-link CARD up|down  plug or pull network card CARD's cable (0: the first --net)\n"
	    "  net-mac CARD MAC  give card CARD another MAC: a switch port lets it through now;\n"
	    "                  the guest takes it with ip link set address, or at its next boot\n"
	    "  net-info CARD   card CARD's MACs, link, and frames per queue pair\n"
	    "  snapshot DIR [--stay-paused] [--disk-snapshot]\n"
	    "                  pause, write the VM to DIR (gureum run --restore DIR starts it\n"
	    "                  again), then resume it unless --stay-paused; --disk-snapshot:\n"
	    "                  its disks go on in new overlays beside their images, which keep\n"
	    "                  the disks as DIR's memory saw them\n"
	    "  screendump FILE write the screen (--display) as it is now to FILE, a PNG\n"
	    "  disk-limit DISK [bps=RATE] [bps-burst=SIZE] [iops=N] [iops-burst=N]\n"
	    "                  change disk DISK's I/O limits (its index, 0 for the first\n"
	    "                  --disk, or its serial): bytes (8M) and requests per second,\n"
	    "                  0 lifts one; a rate without its burst gets one second's\n"
	    "                  worth; prints the limits in effect (none given: just that)\n"
	    "  net-limit CARD [rx-bps=RATE] [rx-bps-burst=SIZE] [rx-pps=N] [rx-pps-burst=N]\n"
	    "                 [tx-bps=RATE] [tx-bps-burst=SIZE] [tx-pps=N] [tx-pps-burst=N]\n"
	    "                  change card CARD's rate limits, to the guest (rx) and from it\n"
	    "                  (tx): bytes and frames per second, as disk-limit (not on a\n"
	    "                  card that uses vhost-net: give it vhost=off)\n"
	    "  disks           the VM's disks: path, PCI slot, whether being added or removed\n"
	    "  disk-add PATH[,readonly=on][,serial=ID][,format=raw|qcow2][,cache=none]\n"
	    "                  plug a disk in while the guest runs (it finds it on its PCI\n"
	    "                  bus: Linux's vdX); reboots, snapshots and migrations keep it\n"
	    "  disk-remove DISK  ask the guest to let disk DISK go (its index or serial); it\n"
	    "                  leaves once the guest ejected it\n"
	    "  memory [SIZE]   the guest's memory: at boot, added by virtio-mem (asked for,\n"
	    "                  plugged); with SIZE: make it SIZE in all (--memory-hotplug)\n"
	    "  nics            the VM's network cards: host side, PCI slot, MAC, state\n"
	    "  nic-add NET     plug a card in while the guest runs, NET as --net takes it\n"
	    "                  (user,hostfwd=... or tap=NAME...); it keeps its MAC and slot\n"
	    "  nic-remove CARD ask the guest to let card CARD go\n"
	    "  cpus [N]        how the vCPUs stand; with N: make them N (the VM needs\n"
	    "                  --cpus ...,max=M); the guest onlines added ones and lets\n"
	    "                  removed ones go\n"
	    "  reset           reset the VM, as its reset button: the guest starts again at\n"
	    "                  once, without shutting down (--on-reboot exit: the VMM ends)\n"
	    "  power-button    press the VM's ACPI power button: a guest that listens for it\n"
	    "                  (systemd-logind, acpid) shuts down cleanly\n"
	    "  counters        what each vCPU (exits, the accelerator's counters) and device\n"
	    "                  (kicks, interrupts; a disk's requests and bytes, a card's\n"
	    "                  frames and bytes) has done since the VM started\n"
	    "  quit            stop the VM (at once, as pulling the plug)\n"
	    "\n"
	    "  --json          print the reply's body as the VMM sent it (one JSON object;\n"
	    "                  {} when it had none)\n"
	    "\n"
	    "The socket speaks HTTP/1.1 with JSON (docs/api/vm.yaml), so curl works too:\n"
	    "  curl --unix-socket SOCKET http://localhost/api/v1/vm\n");
}

/* PATH made absolute, as the VMM runs in another directory. */
static void absolute_path(const char *path, char *out, size_t len)
{
	char cwd[4096];
	if (path[0] != '/' && getcwd(cwd, sizeof(cwd)))
		snprintf(out, len, "%s/%s", cwd, path);
	else
		snprintf(out, len, "%s", path);
}

/* snapshot DIR [--stay-paused] [--disk-snapshot]: DIR made absolute, as the VMM runs in
 * another directory. */
static json_t *snapshot_request(int argc, char **argv)
{
	bool stay_paused = false, disk_snapshot = false, ok = argc >= 2;
	for (int i = 2; ok && i < argc; i++) {
		if (strcmp(argv[i], "--stay-paused") == 0)
			stay_paused = true;
		else if (strcmp(argv[i], "--disk-snapshot") == 0)
			disk_snapshot = true;
		else
			ok = false;
	}
	if (!ok) {
		fprintf(stderr, "gureum ctl: snapshot needs a DIR, then optionally --stay-paused "
				"and --disk-snapshot\n");
		return NULL;
	}
	char dir[8200];
	absolute_path(argv[1], dir, sizeof(dir));
	return json_pack("{s:s,s:b,s:b}", "dir", dir, "resume", !stay_paused, "disk_snapshot",
			 disk_snapshot);
}

/* A --postcopy-after count: 0-30 pre-copy rounds. */
static bool parse_rounds(const char *text, long long *rounds)
{
	char *end;
	*rounds = strtoll(text, &end, 10);
	return end != text && !*end && *rounds >= 0 && *rounds <= 30;
}

/* migrate URI [--downtime-ms N] [--compress] [--max-bandwidth RATE] [--auto-converge]
 * [--postcopy] [--postcopy-after ROUNDS] */
static json_t *migrate_request(int argc, char **argv)
{
	long long downtime = 300;
	uint64_t bandwidth = 0;
	bool compress = false, converge = false, postcopy = false, ok = argc >= 2;
	long long after = -1; /* --postcopy-after: the API's default when not given */
	for (int i = 2; ok && i < argc; i++) {
		char *end = NULL;
		if (strcmp(argv[i], "--compress") == 0)
			compress = true;
		else if (strcmp(argv[i], "--downtime-ms") == 0 && i + 1 < argc)
			downtime = strtoll(argv[++i], &end, 10);
		else if (strcmp(argv[i], "--auto-converge") == 0)
			converge = true;
		else if (strcmp(argv[i], "--postcopy") == 0)
			postcopy = true;
		else if (strcmp(argv[i], "--postcopy-after") == 0 && i + 1 < argc)
			ok = parse_rounds(argv[++i], &after), postcopy = true;
		else if (strcmp(argv[i], "--max-bandwidth") == 0 && i + 1 < argc)
			ok = parse_size(argv[++i], false, &bandwidth) && bandwidth > 0 &&
			     bandwidth <= INT64_MAX;
		else
			ok = false;
		if (end && (*end || downtime < 1))
			ok = false;
	}
	if (!ok) {
		fprintf(stderr,
			"gureum ctl: migrate needs a URI, then optionally --downtime-ms N, "
			"--compress, --max-bandwidth RATE (bytes/s: 100M, 1G), --auto-converge, "
			"--postcopy and --postcopy-after ROUNDS (0-30)\n");
		return NULL;
	}
	json_t *request = json_pack("{s:s,s:I,s:b}", "uri", argv[1], "downtime_ms",
				    (json_int_t)downtime, "compress", compress);
	if (request && converge)
		json_object_set_new(request, "auto_converge", json_true());
	if (request && postcopy)
		json_object_set_new(request, "postcopy", json_true());
	if (request && after >= 0)
		json_object_set_new(request, "postcopy_after_rounds", json_integer(after));
	if (request && bandwidth)
		json_object_set_new(request, "max_bandwidth", json_integer((json_int_t)bandwidth));
	return request;
}

/* A card number (0 for the first --net), or -1. */
static long card_argument(const char *text)
{
	char *end;
	long card = strtol(text, &end, 10);
	return *text && !*end && card >= 0 && card <= 255 ? card : -1;
}

/* One HTTP request of the control API (docs/api/vm.yaml). */
struct ctl_request {
	const char *method;
	char path[64]; /* under API_PATH_PREFIX */
	json_t *body;  /* NULL: none */
};

/* The commands without arguments, and their requests. */
static const struct {
	const char *command, *method, *path;
} plain_commands[] = {
    {"status", "GET", "/vm"},
    {"pause", "POST", "/vm/pause"},
    {"resume", "POST", "/vm/resume"},
    {"quit", "POST", "/vm/stop"},
    {"reset", "POST", "/vm/reset"},
    {"power-button", "POST", "/vm/power-button"},
    {"balloon-info", "GET", "/vm/balloon"},
    {"migrate-status", "GET", "/vm/migration"},
    {"migrate-cancel", "DELETE", "/vm/migration"},
    {"migrate-reconnect", "POST", "/vm/migration/reconnect"},
    {"counters", "GET", "/vm/counters"},
};

static bool set_request(struct ctl_request *r, const char *method, const char *path, json_t *body)
{
	r->method = method;
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->body = body;
	return true;
}

/* net-link CARD up|down, net-mac CARD MAC, net-info CARD */
static bool card_request(int argc, char **argv, struct ctl_request *r)
{
	const char *command = argv[0];
	long card = argc >= 2 ? card_argument(argv[1]) : -1;
	if (card < 0)
		return false;
	char path[64];
	if (strcmp(command, "net-info") == 0 && argc == 2) {
		snprintf(path, sizeof(path), "/vm/net/%ld", card);
		return set_request(r, "GET", path, NULL);
	}
	if (strcmp(command, "net-link") == 0 && argc == 3 &&
	    (strcmp(argv[2], "up") == 0 || strcmp(argv[2], "down") == 0)) {
		snprintf(path, sizeof(path), "/vm/net/%ld/link", card);
		return set_request(r, "PUT", path,
				   json_pack("{s:b}", "up", strcmp(argv[2], "up") == 0));
	}
	if (strcmp(command, "net-mac") == 0 && argc == 3) {
		snprintf(path, sizeof(path), "/vm/net/%ld/mac", card);
		return set_request(r, "PUT", path, json_pack("{s:s}", "mac", argv[2]));
	}
	return false;
}

/* The request for argv (COMMAND [ARGS]); false after printing a usage error. */
/* cpus: how the vCPUs stand; cpus N: make them N (1-255, the VM checks its max=). */
static bool cpus_request(int argc, char **argv, struct ctl_request *r)
{
	if (argc == 1)
		return set_request(r, "GET", "/vm/cpus", NULL);
	char *end;
	errno = 0;
	unsigned long n = strtoul(argv[1], &end, 10);
	if (errno || end == argv[1] || *end || argv[1][0] == '-' || n < 1 || n > 255) {
		fprintf(stderr, "gureum ctl: cpus N: N is a vCPU count from 1 to 255\n");
		return false;
	}
	return set_request(r, "PUT", "/vm/cpus", json_pack("{s:i}", "count", (int)n));
}

static bool build_request(int argc, char **argv, struct ctl_request *r)
{
	const char *command = argv[0];
	char path[8200];
	bool built = false;
	for (size_t i = 0; i < sizeof(plain_commands) / sizeof(plain_commands[0]); i++)
		if (strcmp(command, plain_commands[i].command) == 0 && argc == 1)
			built =
			    set_request(r, plain_commands[i].method, plain_commands[i].path, NULL);
	if (strcmp(command, "screendump") == 0 && argc == 2) {
		absolute_path(argv[1], path, sizeof(path));
		built = set_request(r, "POST", "/vm/screendump", json_pack("{s:s}", "file", path));
	} else if (strcmp(command, "snapshot") == 0) {
		json_t *body = snapshot_request(argc, argv);
		if (!body)
			return false;
		built = set_request(r, "POST", "/vm/snapshot", body);
	} else if (strcmp(command, "migrate") == 0) {
		json_t *body = migrate_request(argc, argv);
		if (!body)
			return false;
		built = set_request(r, "POST", "/vm/migration", body);
	} else if (strcmp(command, "disk-limit") == 0) {
		if (!ctl_disk_limit_request(argc, argv, r->path, sizeof(r->path), &r->method,
					    &r->body))
			return false;
		built = true;
	} else if (strcmp(command, "net-limit") == 0) {
		if (!ctl_net_limit_request(argc, argv, r->path, sizeof(r->path), &r->method,
					   &r->body))
			return false;
		built = true;
	} else if (ctl_is_hotplug_command(command)) {
		if (!ctl_hotplug_request(argc, argv, r->path, sizeof(r->path), &r->method,
					 &r->body))
			return false;
		built = true;
	} else if (strncmp(command, "net-", 4) == 0) {
		built = card_request(argc, argv, r);
	} else if (strcmp(command, "cpus") == 0 && argc <= 2) {
		built = cpus_request(argc, argv, r);
	} else if (strcmp(command, "memory") == 0 && argc <= 2) {
		built = argc == 1 ? set_request(r, "GET", "/vm/memory", NULL)
				  : set_request(r, "PUT", "/vm/memory",
						json_pack("{s:s}", "size", argv[1]));
	} else if (strcmp(command, "balloon") == 0 && argc == 2) {
		built = set_request(r, "PUT", "/vm/balloon", json_pack("{s:s}", "size", argv[1]));
	}
	if (!built && strcmp(command, "balloon") == 0)
		fprintf(stderr, "gureum ctl: balloon needs one SIZE (e.g. 512M; 0 deflates)\n");
	else if (!built)
		fprintf(stderr,
			"gureum ctl: %s: unknown command or wrong arguments (try gureum ctl "
			"--help)\n",
			command);
	return built;
}

/* "400 MiB" style, exact bytes in parentheses when not a whole unit. */
static void print_bytes(const char *label, json_int_t bytes)
{
	static const char *units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
	double value = (double)bytes;
	unsigned unit = 0;
	while (value >= 1024 && unit < 4) {
		value /= 1024;
		unit++;
	}
	if (unit == 0)
		printf("%-10s %lld bytes\n", label, (long long)bytes);
	else
		printf("%-10s %.1f %s (%lld bytes)\n", label, value, units[unit], (long long)bytes);
}

static void print_vcpus(const json_t *reply)
{
	if (!json_object_get(reply, "present")) {
		printf("vCPUs asked for; the guest onlines added ones itself (Linux: echo 1 > "
		       "/sys/devices/system/cpu/cpuN/online) and lets removed ones go once "
		       "offline (gureum ctl SOCKET cpus shows how they stand)\n");
		return;
	}
	printf("vCPUs: %lld present, at most %lld; %lld being added, %lld being removed\n",
	       (long long)json_integer_value(json_object_get(reply, "present")),
	       (long long)json_integer_value(json_object_get(reply, "max")),
	       (long long)json_integer_value(json_object_get(reply, "inserting")),
	       (long long)json_integer_value(json_object_get(reply, "removing")));
}

static void print_balloon_info(const json_t *reply)
{
	print_bytes("target:", json_integer_value(json_object_get(reply, "target")));
	print_bytes("actual:", json_integer_value(json_object_get(reply, "actual")));
	print_bytes("reported:", json_integer_value(json_object_get(reply, "reported")));
	const json_t *stats = json_object_get(reply, "stats");
	if (!json_is_object(stats)) {
		printf("%-10s none yet (the guest driver has not sent any)\n", "stats:");
		return;
	}
	print_bytes("free:", json_integer_value(json_object_get(stats, "free")));
	print_bytes("total:", json_integer_value(json_object_get(stats, "total")));
	print_bytes("available:", json_integer_value(json_object_get(stats, "available")));
}

static void print_pair_counts(const char *label, const json_t *counts)
{
	size_t i;
	const json_t *v;
	printf("%s", label);
	json_array_foreach(counts, i, v)
	{
		printf(" %lld", (long long)json_integer_value(v));
	}
	printf("\n");
}

static void print_net_info(const json_t *r)
{
	printf("mac %s (assigned %s), link %s%s\n",
	       json_string_value(json_object_get(r, "mac")) ?: "?",
	       json_string_value(json_object_get(r, "assigned_mac")) ?: "?",
	       json_is_true(json_object_get(r, "link_up")) ? "up" : "down",
	       json_is_true(json_object_get(r, "vhost")) ? ", vhost-net" : "");
	printf("queue pairs %lld, %lld in use\n",
	       (long long)json_integer_value(json_object_get(r, "queue_pairs")),
	       (long long)json_integer_value(json_object_get(r, "active_pairs")));
	print_pair_counts("received per pair:", json_object_get(r, "rx_packets"));
	print_pair_counts("sent per pair:", json_object_get(r, "tx_packets"));
	printf("dropped: %lld received, %lld sent; control errors %lld\n",
	       (long long)json_integer_value(json_object_get(r, "rx_dropped")),
	       (long long)json_integer_value(json_object_get(r, "tx_dropped")),
	       (long long)json_integer_value(json_object_get(r, "control_errors")));
}

static void print_status(const json_t *reply)
{
	printf("%-10s %s\n", "state:", json_string_value(json_object_get(reply, "state")));
	const char *accel = json_string_value(json_object_get(reply, "accel"));
	printf("%-10s %s\n", "accel:",
	       !accel			   ? "-"
	       : strcmp(accel, "emu") == 0 ? "emu (gureum's software CPU)"
					   : accel);
	printf("%-10s %lld\n",
	       "vcpus:", (long long)json_integer_value(json_object_get(reply, "vcpus")));
	print_bytes("memory:", json_integer_value(json_object_get(reply, "memory")));
	printf("%-10s %lld\n",
	       "boots:", (long long)json_integer_value(json_object_get(reply, "boots")));
	printf("%-10s", "devices:");
	size_t i;
	json_t *device;
	json_array_foreach(json_object_get(reply, "devices"), i, device)
	    printf(" %s", json_string_value(device));
	printf("%s\n", json_array_size(json_object_get(reply, "devices")) ? "" : " none");
}

static void print_snapshot(const json_t *reply)
{
	printf("snapshot written in %lld ms; the VM %s\n",
	       (long long)json_integer_value(json_object_get(reply, "ms")),
	       json_is_true(json_object_get(reply, "paused")) ? "stays paused" : "runs on");
	print_bytes("memory:", json_integer_value(json_object_get(reply, "memory_bytes")));
	print_bytes("state:", json_integer_value(json_object_get(reply, "state_bytes")));
	size_t i;
	json_t *overlay;
	json_array_foreach(json_object_get(reply, "overlays"), i, overlay)
	    printf("  the VM writes to %s now\n", json_string_value(overlay));
}

static void print_migrate_status(const json_t *reply)
{
	const char *state = json_string_value(json_object_get(reply, "state"));
	if (!state || strcmp(state, "none") == 0) {
		printf("no migration has run\n");
		return;
	}
	const char *uri = json_string_value(json_object_get(reply, "uri"));
	if (strcmp(state, "active") != 0) {
		printf("the last migration to %s %s: %s\n", uri ? uri : "?", state,
		       json_string_value(json_object_get(reply, "error")) ?: "");
		return;
	}
	printf("migrating to %s for %lld ms%s, %lld pre-copy rounds\n", uri ? uri : "?",
	       (long long)json_integer_value(json_object_get(reply, "elapsed_ms")),
	       json_is_true(json_object_get(reply, "paused")) ? " (paused for the last copy)" : "",
	       (long long)json_integer_value(json_object_get(reply, "rounds")));
	print_bytes("sent:", json_integer_value(json_object_get(reply, "transferred_bytes")));
	print_bytes("dirty:", json_integer_value(json_object_get(reply, "dirty_bytes")));
	print_bytes("dirtied per s:",
		    json_integer_value(json_object_get(reply, "dirty_bytes_per_s")));
	printf("expected pause: %lld ms\n",
	       (long long)json_integer_value(json_object_get(reply, "expected_downtime_ms")));
	if (json_is_true(json_object_get(reply, "postcopy")))
		print_bytes("post-copy, the destination runs the VM; still to send:",
			    json_integer_value(json_object_get(reply, "postcopy_left_bytes")));
	if (json_is_true(json_object_get(reply, "postcopy_reconnecting")))
		printf("the post-copy link broke: connecting again\n");
}

/* An integer field of a reply (0 when absent). */
static long long field(const json_t *reply, const char *key)
{
	return (long long)json_integer_value(json_object_get(reply, key));
}

static void print_memory(const json_t *reply)
{
	if (!json_object_get(reply, "boot")) {
		printf("memory asked for; the guest plugs or unplugs blocks in the background (see "
		       "gureum ctl SOCKET memory)\n");
		return;
	}
	long long boot = field(reply, "boot"), requested = field(reply, "requested");
	printf("memory: %lld MiB at boot, %lld MiB more asked for (%lld MiB plugged by the "
	       "guest), at most %lld MiB more\n",
	       boot >> 20, requested >> 20, field(reply, "plugged") >> 20,
	       field(reply, "hotplug_max") >> 20);
}

static void print_migrate(const json_t *reply)
{
	bool postcopy = json_is_true(json_object_get(reply, "postcopy"));
	printf("the VM moved in %lld ms (%s, paused %lld ms, %lld rounds", field(reply, "ms"),
	       postcopy						 ? "post-copy"
	       : json_is_true(json_object_get(reply, "precopy")) ? "copied while it ran"
								 : "copied paused",
	       field(reply, "downtime_ms"), field(reply, "rounds"));
	if (postcopy)
		printf("; %lld pages came after the switch in %lld ms, %lld of them on demand",
		       field(reply, "postcopy_pages"), field(reply, "postcopy_ms"),
		       field(reply, "postcopy_requested"));
	if (field(reply, "postcopy_recoveries"))
		printf("; its link broke and was made again %lld times",
		       field(reply, "postcopy_recoveries"));
	printf("); this VMM stops\n");
}

/* Prints a successful reply for people (an empty object for a 204). */
static void print_success(const char *command, const json_t *reply)
{
	if (strcmp(command, "balloon-info") == 0)
		print_balloon_info(reply);
	else if (strcmp(command, "cpus") == 0)
		print_vcpus(reply);
	else if (strcmp(command, "memory") == 0)
		print_memory(reply);
	else if (strcmp(command, "status") == 0)
		print_status(reply);
	else if (strcmp(command, "balloon") == 0)
		printf(
		    "balloon target set; the guest adjusts in the background (see balloon-info)\n");
	else if (strcmp(command, "quit") == 0)
		printf("the VM is stopping\n");
	else if (strcmp(command, "reset") == 0)
		printf("the VM is reset; the guest starts again\n");
	else if (strcmp(command, "power-button") == 0)
		printf("the power button is pressed; the guest decides what follows\n");
	else if (strcmp(command, "pause") == 0)
		printf("the VM is paused\n");
	else if (strcmp(command, "resume") == 0)
		printf("the VM is running\n");
	else if (strcmp(command, "snapshot") == 0)
		print_snapshot(reply);
	else if (strcmp(command, "migrate-status") == 0)
		print_migrate_status(reply);
	else if (strcmp(command, "migrate-cancel") == 0)
		printf("the migration is cancelled; the VM stays here\n");
	else if (strcmp(command, "migrate-reconnect") == 0)
		printf("the post-copy connection is dropped; it is being made again\n");
	else if (strcmp(command, "net-link") == 0)
		printf("the card's link is as asked; the guest sees it\n");
	else if (strcmp(command, "net-mac") == 0)
		printf("the card has the new MAC; the guest takes it with ip link set address or "
		       "at its next boot\n");
	else if (strcmp(command, "net-info") == 0)
		print_net_info(reply);
	else if (strcmp(command, "disk-limit") == 0)
		ctl_print_disk_limit(reply);
	else if (strcmp(command, "net-limit") == 0)
		ctl_print_net_limit(reply);
	else if (strcmp(command, "screendump") == 0)
		printf("screen (%lldx%lld) written\n", field(reply, "width"),
		       field(reply, "height"));
	else if (strcmp(command, "migrate") == 0)
		print_migrate(reply);
	else if (strcmp(command, "counters") == 0)
		ctl_print_counters(reply);
	else if (ctl_is_hotplug_command(command))
		ctl_print_hotplug(command, reply);
}

/* Prints the reply; returns the exit status: 0 for a 2xx. With --json the body goes out as
 * it came ("{}" for an empty one), whatever the status. */
static int print_reply(const char *command, const struct api_reply *r, bool raw)
{
	bool ok = r->status >= 200 && r->status < 300;
	json_t *reply = *r->body ? json_loads(r->body, 0, NULL) : json_object();
	if (!json_is_object(reply)) {
		fprintf(stderr,
			"gureum ctl: the VMM answered %ld with something that is not a JSON "
			"object: %.200s\n",
			r->status, r->body);
		json_decref(reply);
		return 1;
	}
	if (raw)
		printf("%s\n", *r->body ? r->body : "{}");
	else if (!ok)
		fprintf(stderr, "gureum ctl: %s: %s\n", command,
			json_string_value(json_object_get(reply, "error")) ?: "failed");
	else
		print_success(command, reply);
	json_decref(reply);
	return ok ? 0 : 1;
}

/* One line on stderr about the migration under way, asked on a connection of its own. */
static void print_progress(void *opaque)
{
	const char *socket_path = opaque;
	struct api_call call = {.socket_path = socket_path,
				.method = "GET",
				.path = "/vm/migration",
				.timeout_s = REPLY_TIMEOUT_S};
	struct api_reply r;
	char err[256];
	if (api_client_call(&call, &r, err, sizeof(err)) < 0)
		return;
	json_t *reply = json_loads(r.body, 0, NULL);
	const char *state = json_string_value(json_object_get(reply, "state"));
	if (r.status == 200 && state && strcmp(state, "active") == 0)
		fprintf(stderr,
			"migration: %lld MiB sent in %lld ms, round %lld, the guest dirties %lld "
			"MiB/s (throttled %lld%%), a pause now would take %lld ms%s\n",
			field(reply, "transferred_bytes") >> 20, field(reply, "elapsed_ms"),
			field(reply, "rounds"), field(reply, "dirty_bytes_per_s") >> 20,
			field(reply, "throttle_pct"), field(reply, "expected_downtime_ms"),
			json_is_true(json_object_get(reply, "paused")) ? " (paused now)" : "");
	json_decref(reply);
	free(r.body);
}

static int send_request(const char *socket_path, const char *command,
			const struct ctl_request *request, bool raw)
{
	bool long_running = strcmp(command, "snapshot") == 0 || strcmp(command, "migrate") == 0;
	char *body = request->body ? json_dumps(request->body, JSON_COMPACT) : NULL;
	struct api_call call = {
	    .socket_path = socket_path,
	    .method = request->method,
	    .path = request->path,
	    .body = body,
	    .timeout_s = long_running ? SNAPSHOT_REPLY_TIMEOUT_S : REPLY_TIMEOUT_S,
	    .tick = !raw && strcmp(command, "migrate") == 0 ? print_progress : NULL,
	    .opaque = (void *)socket_path,
	    .tick_ms = PROGRESS_INTERVAL_MS};
	struct api_reply reply;
	char err[256];
	int status = 1;
	if (request->body && !body)
		fprintf(stderr, "gureum ctl: out of memory\n");
	else if (api_client_call(&call, &reply, err, sizeof(err)) < 0)
		fprintf(stderr,
			"gureum ctl: %s: no reply from the VMM (%s; is a VM running with "
			"--api-socket %s?)\n",
			socket_path, err, socket_path);
	else {
		status = print_reply(command, &reply, raw);
		free(reply.body);
	}
	free(body);
	return status;
}

int cmd_ctl(int argc, char **argv)
{
	bool raw = false;
	int first = 1;
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--json") == 0) {
		raw = true;
		first++;
	}
	if (argc - first < 2) {
		usage(stderr);
		return 2;
	}
	const char *socket_path = argv[first];
	struct ctl_request request = {0};
	if (!build_request(argc - first - 1, argv + first + 1, &request))
		return 2;
	int status = send_request(socket_path, argv[first + 1], &request, raw);
	json_decref(request.body);
	return status;
}
