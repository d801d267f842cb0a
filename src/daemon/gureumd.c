/* gureumd: the host daemon. It keeps the host's VM definitions and their state in SQLite
 * (--state-dir), runs each VM as its own gureum process, restarts them by policy, and serves
 * its API (daemon_api.h) on a unix socket in --run-dir. Ending it (SIGTERM, SIGINT) leaves
 * the VMs running; the next gureumd finds them again. */
#include "daemon/daemon_api.h"
#include "daemon/supervisor.h"
#include "lib/http_server.h"
#include "lib/log.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct daemon_options {
	const char *state_dir;
	const char *run_dir;
	char gureum[PATH_MAX + 8];
	enum isolation_mode isolation;
	uint32_t uid_base;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: gureumd [options]\n"
		"\n"
		"The host daemon: runs many VMs, each as its own gureum process, keeps their\n"
		"definitions and state in SQLite, restarts them by policy, and serves its API on\n"
		"RUN-DIR/gureumd.sock (gureum vm --help is its command line; docs/api/daemon.yaml\n"
		"its OpenAPI document). Ending gureumd leaves the VMs running; the next one finds\n"
		"them again.\n"
		"\n"
		"  --state-dir DIR   the database and the VMs' logs (default /var/lib/gureum)\n"
		"  --run-dir DIR     the API sockets: gureumd.sock, vms/NAME.sock (default\n"
		"                    /run/gureum)\n"
		"  --gureum FILE     the gureum binary the VMs run (default: the one beside\n"
		"                    gureumd)\n"
		"  --isolation on|off  each VM as its own user (uid --vm-uid-base + its number)\n"
		"                    in its jail STATE-DIR/jails/NAME (gureum run --jail,\n"
		"                    --user); default: on when gureumd runs as root\n"
		"  --vm-uid-base N   the first VM's uid is N + 1 (default 2000000000)\n"
		"  --verbose         log each request's effect and each process's start and end\n"
		"  --help, --version\n");
}

/* gureum beside this binary, as installed and as built. */
static void default_gureum(char *out, size_t len)
{
	char self[PATH_MAX - 8];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	char *slash = strrchr(self, '/');
	if (slash)
		slash[1] = '\0';
	snprintf(out, len, "%sgureum", slash ? self : "");
}

static int parse_isolation(const char *text, enum isolation_mode *out)
{
	if (strcmp(text, "on") == 0 || strcmp(text, "off") == 0) {
		*out = text[1] == 'n' ? ISOLATION_ON : ISOLATION_OFF;
		return 0;
	}
	fprintf(stderr, "gureumd: --isolation: '%s' is not on or off\n", text);
	return -1;
}

/* Leaves room for a million VMs under 2^32 - 1 (which the kernel reads as "no uid"). */
static int parse_uid_base(const char *text, uint32_t *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long long n = strtoull(text, &end, 10);
	if (text[0] < '1' || text[0] > '9' || *end || errno || n > UINT32_MAX - 1000001ull) {
		fprintf(stderr,
			"gureumd: --vm-uid-base: '%s' is not a uid from 1 to %u (the VMs' users "
			"are N + 1, N + 2, ...)\n",
			text, UINT32_MAX - 1000001u);
		return -1;
	}
	*out = (uint32_t)n;
	return 0;
}

/* 0 to run, 1 to exit 0 (help, version), 2 for a usage error. */
static int parse_options(int argc, char **argv, struct daemon_options *opts)
{
	static const struct option long_options[] = {{"state-dir", required_argument, NULL, 's'},
						     {"run-dir", required_argument, NULL, 'r'},
						     {"gureum", required_argument, NULL, 'g'},
						     {"isolation", required_argument, NULL, 'i'},
						     {"vm-uid-base", required_argument, NULL, 'u'},
						     {"verbose", no_argument, NULL, 'v'},
						     {"help", no_argument, NULL, 'h'},
						     {"version", no_argument, NULL, 'V'},
						     {NULL, 0, NULL, 0}};
	opts->state_dir = SUPERVISOR_DEFAULT_STATE_DIR;
	opts->run_dir = "/run/gureum";
	opts->isolation = ISOLATION_AUTO;
	opts->uid_base = VM_UID_BASE_DEFAULT;
	default_gureum(opts->gureum, sizeof(opts->gureum));
	int c;
	while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		switch (c) {
		case 's':
			opts->state_dir = optarg;
			break;
		case 'r':
			opts->run_dir = optarg;
			break;
		case 'g':
			snprintf(opts->gureum, sizeof(opts->gureum), "%s", optarg);
			break;
		case 'i':
			if (parse_isolation(optarg, &opts->isolation) < 0)
				return 2;
			break;
		case 'u':
			if (parse_uid_base(optarg, &opts->uid_base) < 0)
				return 2;
			break;
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("gureumd %s\n", GUREUM_VERSION);
			return 1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "gureumd: unexpected argument %s (gureumd --help)\n", argv[optind]);
		return 2;
	}
	return 0;
}

/* SIGTERM, SIGINT and SIGHUP end the daemon through a signalfd the supervisor watches. */
static int quit_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

static int serve(const struct daemon_options *opts, struct supervisor *sup, int quit_fd)
{
	struct daemon_api api = {
	    .sup = sup, .state_dir = opts->state_dir, .run_dir = opts->run_dir};
	char path[4200], err[512];
	snprintf(path, sizeof(path), "%s/gureumd.sock", opts->run_dir);
	struct http_server_options options = {.path = path,
					      .label = "gureumd",
					      .name = "host daemon's API",
					      .max_clients = DAEMON_API_MAX_CLIENTS,
					      .max_body = DAEMON_API_MAX_BODY,
					      .handler = daemon_api_handle,
					      .opaque = &api};
	struct http_server *server = http_server_open(&options, err, sizeof(err));
	if (!server) {
		log_error("%s", err);
		return 1;
	}
	log_info("serving %s (state in %s)", path, opts->state_dir);
	supervisor_run(sup, quit_fd);
	http_server_close(server);
	log_info("ending; the VMs run on");
	return 0;
}

int main(int argc, char **argv)
{
	log_set_program("gureumd");
	struct daemon_options opts;
	int rc = parse_options(argc, argv, &opts);
	if (rc)
		return rc == 1 ? 0 : 2;
	int quit_fd = quit_signals();
	char err[512];
	struct supervisor_config config = {.state_dir = opts.state_dir,
					   .run_dir = opts.run_dir,
					   .gureum = opts.gureum,
					   .isolation = opts.isolation,
					   .uid_base = opts.uid_base};
	struct supervisor *sup = quit_fd < 0 ? NULL : supervisor_open(&config, err, sizeof(err));
	if (!sup) {
		log_error("%s", quit_fd < 0 ? "cannot watch for signals" : err);
		return 1;
	}
	rc = serve(&opts, sup, quit_fd);
	supervisor_close(sup);
	close(quit_fd);
	return rc;
}
