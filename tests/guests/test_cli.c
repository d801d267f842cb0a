/* `gureum run` options end to end, with the real-mode hello guest: a JSON config file, the
 * console in a file, and --stats. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *payload(const char *name)
{
	const char *dir = getenv("GUEST_PAYLOAD_DIR");
	cr_assert(dir && getenv("GUREUM"), "run through meson test");
	char *path;
	cr_assert_geq(asprintf(&path, "%s/%s", dir, name), 0);
	return path;
}

/* Runs a shell command line; returns its exit status and its stdout+stderr in `out`. */
static int run(const char *command, char *out, size_t out_len)
{
	FILE *p = popen(command, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, out_len - 1, p);
	out[n] = '\0';
	int status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *read_file(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s missing", path);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

Test(cli, config_file_console_file_and_stats)
{
	char dir[] = "/tmp/gureum-cli-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char config[256], log[256], cmd[1024], out[16384];
	snprintf(config, sizeof(config), "%s/vm.json", dir);
	snprintf(log, sizeof(log), "%s/console.log", dir);
	char *bios = payload("realmode_hello.bin");
	FILE *f = fopen(config, "w");
	fprintf(f,
		"{\"bios\": \"%s\", \"memory\": \"32M\", \"debug-exit\": \"0xf4\", \"stats\": true,"
		" \"console\": \"file:%s\"}\n",
		bios, log);
	fclose(f);
	free(bios);
	snprintf(cmd, sizeof(cmd), "timeout 60 %s run --config %s </dev/null 2>&1",
		 getenv("GUREUM"), config);
	cr_assert_eq(run(cmd, out, sizeof(out)), 33, "output:\n%s", out);
	cr_assert_str_eq(read_file(log), "hello from real mode\n");
	cr_assert_null(strstr(out, "hello from real mode"), "console went to stdout too:\n%s", out);
	cr_assert(strstr(out, "gureum: stat exits"), "no exit counters:\n%s", out);
	cr_assert(strstr(out, "gureum: stat pio_uart16550 "), "no device counters:\n%s", out);
	cr_assert(strstr(out, "gureum: stat vmm_startup_us "), "no start-up time:\n%s", out);
	unlink(config);
	unlink(log);
	rmdir(dir);
}

Test(cli, command_line_overrides_the_config_file)
{
	char path[] = "/tmp/gureum-cli-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	char *bios = payload("realmode_hello.bin");
	dprintf(fd, "{\"bios\": \"%s\", \"debug-exit\": 128}\n", bios);
	close(fd);
	free(bios);
	char cmd[1024], out[16384];
	/* The payload writes to port 0xf4; only the command line's port makes that an exit. */
	snprintf(cmd, sizeof(cmd),
		 "timeout 60 %s run --config %s --debug-exit 0xf4 --memory 32M </dev/null 2>&1",
		 getenv("GUREUM"), path);
	cr_assert_eq(run(cmd, out, sizeof(out)), 33, "output:\n%s", out);
	unlink(path);
}

Test(cli, usage_errors_exit_2_with_one_line)
{
	char cmd[512], out[4096];
	snprintf(cmd, sizeof(cmd), "%s run --cpus zero 2>&1", getenv("GUREUM"));
	cr_assert_eq(run(cmd, out, sizeof(out)), 2);
	cr_assert(strstr(out, "--cpus"), "%s", out);
	cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "more than one line:\n%s", out);
}

/* vhost-vsock's kernel worker would write guest memory behind the software CPU's back (it
 * caches decoded code): the VM is refused at start with what to use instead. */
Test(cli, vhost_vsock_is_refused_on_the_software_cpu)
{
	char cmd[1024], out[4096];
	char *bios = payload("realmode_hello.bin");
	snprintf(cmd, sizeof(cmd),
		 "timeout 60 %s run --accel emu --bios %s --memory 32M --vsock cid=3 "
		 "</dev/null 2>&1",
		 getenv("GUREUM"), bios);
	free(bios);
	cr_assert_eq(run(cmd, out, sizeof(out)), 1, "output:\n%s", out);
	cr_assert(strstr(out, "--vsock cid=3") && strstr(out, "vhost-vsock") &&
		      strstr(out, "socket=PATH"),
		  "the refusal does not say what to do:\n%s", out);
	cr_assert_null(strstr(out, "hello from real mode"), "the guest ran:\n%s", out);
}
