/* A differential test of system behaviour: boots the sysbehaviour payload (page walks and
 * faults, exceptions through gates and privilege levels, one transcript line per case) and
 * compares its transcript line by line with sysbehaviour.expected, the transcript the SDM
 * implies (each line there names its SDM section). Cases are matched by their name, the first
 * word of a line; every line that differs is reported, with the expected one. A case the CPU
 * cannot run (a feature CPUID does not advertise) prints "NAME skip: REASON" and is listed as
 * skipped; "info" lines (behaviour the SDM leaves open) are shown and not compared.
 * Runs on KVM (through host_or_lab) and, with GUREUM_ACCEL=emu, on the software CPU.
 *
 * In the nested lab the guest's instructions are executed by L1's QEMU TCG, which departs
 * from the SDM in a few known ways. An expectations line "@tcg LINE" gives what it prints
 * instead; such a line is accepted (and listed) only there: when host-or-lab.sh says so with
 * GUREUM_LAB_L1="qemu-tcg VERSION", and the accelerator is KVM. */
#include "vmm_run.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define STATUS_GUEST_SUCCESS 33 /* debug-exit 0x10 */
#define MAX_LINES	     1024
#define TCG_PREFIX	     "@tcg "

/* `timeout 60 gureum run --kernel PAYLOAD ...`, stdin on /dev/null, both streams collected. */
static struct vmm_run run_payload(const char *kernel)
{
	require_kvm();
	const char *args[] = {"--kernel", kernel, "--memory", "16M", "--debug-exit", "0xf4", NULL};
	return run_vmm(args);
}

/* Splits `text` in place into lines without their newline; returns how many. */
static size_t split_lines(char *text, char **lines)
{
	size_t n = 0;
	for (char *p = text; *p;) {
		char *end = strchr(p, '\n');
		if (end)
			*end = '\0';
		cr_assert(n < MAX_LINES, "more than %d lines", MAX_LINES);
		lines[n++] = p;
		if (!end)
			break;
		p = end + 1;
	}
	return n;
}

/* An expectations line without its comment ("#" to the end) and trailing blanks; NULL for a
 * line that holds nothing else. */
static char *expectation(char *line)
{
	char *hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	size_t len = strlen(line);
	while (len && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		line[--len] = '\0';
	return len ? line : NULL;
}

/* Whether `line` is about case `name` (its first word). */
static bool is_case(const char *line, const char *name)
{
	size_t len = strcspn(name, " ");
	return strncmp(line, name, len) == 0 && (line[len] == ' ' || line[len] == '\0');
}

static void append(char **buf, size_t *len, const char *fmt, const char *a, const char *b)
{
	char *more;
	cr_assert(asprintf(&more, fmt, a, b) >= 0);
	size_t n = strlen(more);
	*buf = realloc(*buf, *len + n + 1);
	cr_assert(*buf);
	memcpy(*buf + *len, more, n + 1);
	*len += n;
	free(more);
}

Test(guests, sysbehaviour)
{
	char *kernel, *expected_path;
	cr_assert(asprintf(&kernel, "%s/sysbehaviour.elf", env_path("GUEST_PAYLOAD_DIR")) > 0);
	cr_assert(asprintf(&expected_path, "%s/sysbehaviour.expected",
			   env_path("GUEST_PAYLOAD_DIR")) > 0);
	FILE *f = fopen(expected_path, "r");
	cr_assert(f, "cannot open %s", expected_path);
	char *expected_text = read_whole(f);

	struct vmm_run run = run_payload(kernel);
	cr_expect_eq(
	    run.status, STATUS_GUEST_SUCCESS,
	    "exit status %d, expected %d (the payload ends with debug-exit 0x10; 63 is its "
	    "FATAL exit)\nstdout:\n%s\nstderr:\n%s",
	    run.status, STATUS_GUEST_SUCCESS, run.out, run.err);

	static char *want[MAX_LINES], *got[MAX_LINES], *tcg[MAX_LINES];
	size_t nwant = 0, ngot, ntcg = 0;
	static char *raw[MAX_LINES];
	size_t nraw = split_lines(expected_text, raw);
	for (size_t i = 0; i < nraw; i++) {
		char *e = expectation(raw[i]);
		if (e && strncmp(e, TCG_PREFIX, strlen(TCG_PREFIX)) == 0)
			tcg[ntcg++] = e + strlen(TCG_PREFIX);
		else if (e)
			want[nwant++] = e;
	}
	const char *lab_l1 = getenv("GUREUM_LAB_L1"), *accel = getenv("GUREUM_ACCEL");
	bool on_tcg =
	    lab_l1 && strncmp(lab_l1, "qemu-tcg", 8) == 0 && (!accel || strcmp(accel, "kvm") == 0);
	cr_assert(nwant > 0, "%s holds no expectations", expected_path);
	char *out_copy = strdup(run.out);
	ngot = split_lines(out_copy, got);

	char *report = NULL, *skipped = NULL, *info = NULL, *known = NULL;
	size_t report_len = 0, skipped_len = 0, info_len = 0, known_len = 0;
	bool used[MAX_LINES] = {false}, done = false;
	int differ = 0, nskipped = 0, nknown = 0;
	for (size_t g = 0; g < ngot; g++) {
		if (strncmp(got[g], "info ", 5) == 0) {
			append(&info, &info_len, "  %s%s\n", got[g], "");
			used[g] = true;
		} else if (strncmp(got[g], "done", 4) == 0) {
			done = used[g] = true;
		}
	}
	for (size_t w = 0; w < nwant; w++) {
		size_t g = 0;
		while (g < ngot && (used[g] || !is_case(got[g], want[w])))
			g++;
		if (g == ngot) {
			append(&report, &report_len, "  missing:  %s%s\n", want[w], "");
			differ++;
			continue;
		}
		used[g] = true;
		const char *rest = got[g] + strcspn(got[g], " ");
		if (strncmp(rest, " skip: ", 7) == 0) {
			append(&skipped, &skipped_len, "  %s%s\n", got[g], "");
			nskipped++;
		} else if (strcmp(got[g], want[w]) != 0) {
			size_t t = 0;
			while (t < ntcg &&
			       !(is_case(tcg[t], want[w]) && strcmp(tcg[t], got[g]) == 0))
				t++;
			if (on_tcg && t < ntcg) {
				append(&known, &known_len, "  SDM: %s\n  TCG: %s\n", want[w],
				       got[g]);
				nknown++;
				continue;
			}
			append(&report, &report_len, "  expected: %s\n  got:      %s\n", want[w],
			       got[g]);
			differ++;
		}
	}
	for (size_t g = 0; g < ngot; g++) {
		if (!used[g] && *got[g]) {
			append(&report, &report_len, "  unexpected line: %s%s\n", got[g], "");
			differ++;
		}
	}

	cr_log_info("sysbehaviour: %zu cases expected, %d differ, %d skipped, %d known deviations "
		    "of the lab's QEMU TCG (%s)",
		    nwant, differ, nskipped, nknown, on_tcg ? lab_l1 : "not accepted here");
	if (known)
		cr_log_info("known deviations of the guest CPU of the lab (%s), accepted:\n%s",
			    lab_l1, known);
	if (info)
		cr_log_info("not compared (the SDM leaves these open):\n%s", info);
	if (skipped)
		cr_log_info("skipped (the CPU lacks the feature):\n%s", skipped);
	cr_expect(done,
		  "the transcript has no \"done\" line: the payload stopped early\nstdout:\n%s"
		  "\nstderr:\n%s",
		  run.out, run.err);
	cr_expect(differ == 0, "%d of %zu lines differ from %s:\n%s", differ, nwant,
		  "sysbehaviour.expected", report ? report : "");

	free(report), free(skipped), free(info), free(known), free(out_copy);
	free_run(&run);
	free(expected_text), free(expected_path), free(kernel);
}
