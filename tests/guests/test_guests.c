/* Boots each guest payload under the real VMM (`gureum run`, on /dev/kvm) and checks what a
 * user would see: the guest's serial output, gureum's messages and its exit status. The
 * paths come from meson: GUREUM (the binary) and GUEST_PAYLOAD_DIR (the built payloads). */
#include "vmm_run.h"

#include <criterion/criterion.h>

#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The debug-exit port the payloads write to, and gureum's status for their values. */
#define DEBUG_EXIT_PORT	     "0xf4"
#define STATUS_GUEST_SUCCESS 33 /* (GUEST_EXIT_SUCCESS 0x10 << 1) | 1 */
#define STATUS_CRASH	     3

static char *payload(const char *file)
{
	char *path;
	cr_assert(asprintf(&path, "%s/%s", env_path("GUEST_PAYLOAD_DIR"), file) > 0);
	cr_assert(access(path, R_OK) == 0, "payload %s was not built", path);
	return path;
}

/* Every mismatch shows both streams: that is what one needs to see why a boot went wrong. */
static void expect_status(const struct vmm_run *run, int status)
{
	cr_expect_eq(run->status, status, "exit status %d, expected %d\nstdout:\n%s\nstderr:\n%s",
		     run->status, status, run->out, run->err);
}

static void expect_stdout_has(const struct vmm_run *run, const char *text)
{
	cr_expect(strstr(run->out, text), "stdout lacks \"%s\"\nstdout:\n%s\nstderr:\n%s", text,
		  run->out, run->err);
}

static void expect_stderr_has(const struct vmm_run *run, const char *text)
{
	cr_expect(strstr(run->err, text), "stderr lacks \"%s\"\nstdout:\n%s\nstderr:\n%s", text,
		  run->out, run->err);
}

Test(guests, realmode_hello)
{
	char *bios = payload("realmode_hello.bin");
	struct vmm_run run = run_vmm((const char *[]){"--bios", bios, "--memory", "16M",
						      "--debug-exit", DEBUG_EXIT_PORT, NULL});
	expect_status(&run, STATUS_GUEST_SUCCESS);
	cr_expect(strcmp(run.out, "hello from real mode\n") == 0,
		  "stdout is not exactly the greeting\nstdout:\n%s\nstderr:\n%s", run.out, run.err);
	free_run(&run);
	free(bios);
}

/* A 32-bit `out` to debug-exit, as test kernels written for QEMU's iosize=4 end: it exits with
 * four ports claimed, and with the default one port too (QEMU takes it whole there as well). */
Test(guests, realmode_hello_outl)
{
	char *bios = payload("realmode_hello_outl.bin");
	static const char *const ports[] = {DEBUG_EXIT_PORT ",iosize=4", DEBUG_EXIT_PORT};
	for (int i = 0; i < 2; i++) {
		struct vmm_run run = run_vmm((const char *[]){"--bios", bios, "--memory", "16M",
							      "--debug-exit", ports[i], NULL});
		expect_status(&run, STATUS_GUEST_SUCCESS);
		cr_expect(
		    strcmp(run.out, "hello from real mode\n") == 0,
		    "--debug-exit %s: stdout is not exactly the greeting\nstdout:\n%s\nstderr:\n%s",
		    ports[i], run.out, run.err);
		free_run(&run);
	}
	free(bios);
}

/* Writes `content` to DIR/NAME and returns the path. */
static char *write_module(const char *dir, const char *name, const char *content)
{
	char *path;
	cr_assert(asprintf(&path, "%s/%s", dir, name) > 0);
	FILE *f = fopen(path, "w");
	cr_assert(f, "cannot create %s", path);
	cr_assert(fputs(content, f) >= 0 && fclose(f) == 0);
	return path;
}

/* The mem_upper the payload printed, in KiB, or -1. */
static long reported_mem_upper(const char *out)
{
	const char *at = strstr(out, "mem_upper=");
	return at ? strtol(at + strlen("mem_upper="), NULL, 10) : -1;
}

/* RAM from 1 MiB up must be nearly all of --memory: the board reserves nothing big there. */
static void expect_mem_upper(const struct vmm_run *run, long memory_mib)
{
	long kib = reported_mem_upper(run->out);
	long full = (memory_mib - 1) * 1024;
	cr_expect(kib > full - 4096 && kib <= full,
		  "mem_upper %ld KiB is implausible for %ld MiB of RAM (expected just under %ld)\n"
		  "stdout:\n%s",
		  kib, memory_mib, full, run->out);
}

/* Boots `file` with a command line and two modules and checks the multiboot info it reports. */
static void expect_multiboot_info(const char *file)
{
	char dir[] = "/tmp/gureum-guest-XXXXXX";
	cr_assert(mkdtemp(dir));
	char *kernel = payload(file);
	char *first = write_module(dir, "first.mod", "first module payload");
	char *second = write_module(dir, "second.mod", "2nd");
	char *modules, *expect_cmdline, *expect_first, *expect_second;
	cr_assert(asprintf(&modules, "%s one two,%s", first, second) > 0);
	/* Like GRUB, gureum passes the kernel's name as the command line's first word. */
	cr_assert(asprintf(&expect_cmdline, "cmdline='%s answer=42 x=\"a b\"'\n", kernel) > 0);
	cr_assert(asprintf(&expect_first,
			   "module 0: string='%s one two' size=20 content='first module payload'\n",
			   first) > 0);
	cr_assert(asprintf(&expect_second, "module 1: string='%s' size=3 content='2nd'\n", second) >
		  0);

	struct vmm_run run =
	    run_vmm((const char *[]){"--kernel", kernel, "--memory", "64M", "--cmdline",
				     "answer=42 x=\"a b\"", "--initrd", modules, NULL});
	expect_status(&run, 0);
	expect_stdout_has(&run, "multiboot magic ok\n");
	expect_mem_upper(&run, 64);
	expect_stdout_has(&run, expect_cmdline);
	expect_stdout_has(&run, "modules=2\n");
	expect_stdout_has(&run, expect_first);
	expect_stdout_has(&run, expect_second);
	expect_stdout_has(&run, "multiboot done\n");

	free_run(&run);
	unlink(first);
	unlink(second);
	rmdir(dir);
	free(modules), free(expect_cmdline), free(expect_first), free(expect_second);
	free(first), free(second), free(kernel);
}

Test(guests, pm32_multiboot_info_and_modules)
{
	expect_multiboot_info("pm32_multiboot.elf");
}

/* The same kernel as a flat binary, placed by the load addresses in its multiboot header. */
Test(guests, pm32_multiboot_aout_kludge)
{
	expect_multiboot_info("pm32_multiboot_aout.bin");
}

Test(guests, pm32_multiboot_memory_follows_option)
{
	char *kernel = payload("pm32_multiboot.elf");
	struct vmm_run run =
	    run_vmm((const char *[]){"--kernel", kernel, "--memory", "128M", NULL});
	expect_status(&run, 0);
	expect_mem_upper(&run, 128);
	expect_stdout_has(&run, "modules=0\n");
	free_run(&run);
	free(kernel);
}

Test(guests, long64_pvh)
{
	char *kernel = payload("long64_pvh.elf");
	struct vmm_run run = run_vmm((const char *[]){"--kernel", kernel, "--memory", "64M",
						      "--debug-exit", DEBUG_EXIT_PORT, NULL});
	expect_status(&run, STATUS_GUEST_SUCCESS);
	expect_stdout_has(&run, "long mode ok\n");
	expect_stdout_has(&run, "pvh start_info ok\n");
	expect_stdout_has(&run, "pci 00:00.0 ecam id ");
	expect_stdout_has(&run, "pci ids match ok\n");
	expect_stdout_has(&run, "interrupt ok\n");
	expect_stdout_has(&run, "uart interrupt ok\n");
	cr_expect(!strstr(run.out, "FAILED"), "a check failed:\n%s", run.out);
	free_run(&run);
	free(kernel);
}

/* A CPUID word long64_pvh printed ("cpuid 1.ecx=85fa2201 ..."). */
static uint32_t printed_word(const struct vmm_run *run, const char *label)
{
	char key[32];
	snprintf(key, sizeof(key), " %s=", label);
	const char *at = strstr(run->out, key);
	cr_assert(at, "the guest did not print %s\nstdout:\n%s\nstderr:\n%s", label, run->out,
		  run->err);
	return (uint32_t)strtoul(at + strlen(key), NULL, 16);
}

static struct vmm_run run_with_cpu_model(const char *kernel, const char *spec)
{
	return run_vmm((const char *[]){"--kernel", kernel, "--memory", "64M", "--debug-exit",
					DEBUG_EXIT_PORT, "--cpu-model", spec, NULL});
}

#define LEAF1_ECX_SSE3_TO_AVX                                                                      \
	((1u << 0) | (1u << 9) | (1u << 13) | (1u << 19) | (1u << 20) | (1u << 23) | (1u << 28))

Test(guests, cpu_model_hides_features_from_the_guest)
{
	char *kernel = payload("long64_pvh.elf");
	struct vmm_run host = run_with_cpu_model(kernel, "host");
	expect_status(&host, STATUS_GUEST_SUCCESS);
	cr_assert(printed_word(&host, "1.ecx") & (1u << 0), "every x86-64 host has sse3");
	cr_assert(printed_word(&host, "1.edx") & (1u << 26), "and sse2");

	struct vmm_run v1 = run_with_cpu_model(kernel, "x86-64-v1");
	expect_status(&v1, STATUS_GUEST_SUCCESS);
	cr_expect_eq(printed_word(&v1, "1.ecx") & LEAF1_ECX_SSE3_TO_AVX, 0,
		     "x86-64-v1 shows sse3..avx: %08x", printed_word(&v1, "1.ecx"));
	cr_expect_eq(printed_word(&v1, "0xd.0.eax") & ~3u, 0, "XSAVE state beyond SSE offered");
	cr_expect_eq(printed_word(&v1, "0x80000001.ecx") & 1u, 0, "lahf_lm shown");
	cr_expect(printed_word(&v1, "1.edx") & (1u << 26), "x86-64-v1 hid sse2");

	struct vmm_run no_sse2 = run_with_cpu_model(kernel, "host,-sse2");
	expect_status(&no_sse2, STATUS_GUEST_SUCCESS);
	cr_expect_eq(printed_word(&no_sse2, "1.edx"), printed_word(&host, "1.edx") & ~(1u << 26),
		     "host,-sse2 changes more than sse2");
	free_run(&host), free_run(&v1), free_run(&no_sse2);
	free(kernel);
}

Test(guests, cpu_model_the_host_lacks_is_refused_by_name)
{
	char *kernel = payload("long64_pvh.elf");
	/* 3DNow!: no Intel CPU had it and AMD dropped it after family 15h */
	struct vmm_run run = run_with_cpu_model(kernel, "x86-64-v1,+3dnow");
	expect_status(&run, 1);
	expect_stderr_has(&run, "--cpu-model x86-64-v1,+3dnow: this host's CPU");
	expect_stderr_has(&run, "lacks 3dnow");
	cr_expect(!strstr(run.out, "long mode ok"), "the guest ran:\n%s", run.out);
	free_run(&run);
	free(kernel);
}

/* KVM on AMD SVM INITs a vCPU on a shutdown intercept (the VMCB is undefined after it): there
 * the report must say that its registers are the reset state. Elsewhere they are the guest's. */
static bool kvm_resets_vcpu_on_shutdown(void)
{
	const char *accel = getenv("GUREUM_ACCEL"); /* meson's emu variants set it */
	if (accel && strcmp(accel, "kvm") != 0)
		return false;
	return access("/sys/module/kvm_amd", F_OK) == 0 && access("/sys/module/kvm_pvm", F_OK) != 0;
}

Test(guests, triple_fault)
{
	char *kernel = payload("triple_fault.elf");
	struct vmm_run run = run_vmm((const char *[]){"--kernel", kernel, "--memory", "16M", NULL});
	expect_status(&run, STATUS_CRASH);
	expect_stderr_has(&run, "triple fault");
	expect_stderr_has(&run, "rip=");
	if (kvm_resets_vcpu_on_shutdown())
		expect_stderr_has(&run, "registers below are its reset state");
	else
		expect_stderr_has(&run, "idt=0000000000000000/0000"); /* the guest's own state */
	free_run(&run);
	free(kernel);
}

Test(guests, triple_fault_int3)
{
	char *kernel = payload("triple_fault_int3.elf");
	struct vmm_run run = run_vmm((const char *[]){"--kernel", kernel, "--memory", "16M", NULL});
	expect_status(&run, STATUS_CRASH);
	expect_stderr_has(&run, "rip=");
	expect_stderr_has(&run, "crashed");
	free_run(&run);
	free(kernel);
}

Test(guests, smp_second_cpu_starts)
{
	char *kernel = payload("smp.elf");
	struct vmm_run run =
	    run_vmm((const char *[]){"--kernel", kernel, "--memory", "16M", "--cpus", "2", NULL});
	expect_status(&run, 0);
	expect_stdout_has(&run, "ap up\n");
	expect_stdout_has(&run, "aps started: 1\n");
	free_run(&run);
	free(kernel);
}

/* With one vCPU the INIT and SIPIs reach nobody: no "ap up", and the BSP's wait ends. */
Test(guests, smp_single_cpu_starts_no_ap)
{
	char *kernel = payload("smp.elf");
	struct vmm_run run =
	    run_vmm((const char *[]){"--kernel", kernel, "--memory", "16M", "--cpus", "1", NULL});
	expect_status(&run, 0);
	cr_expect(!strstr(run.out, "ap up"), "a second CPU ran with --cpus 1:\n%s", run.out);
	expect_stdout_has(&run, "aps started: 0\n");
	free_run(&run);
	free(kernel);
}

static void expect_reboot_exits(const char *file)
{
	char *kernel = payload(file);
	struct vmm_run run = run_vmm(
	    (const char *[]){"--kernel", kernel, "--memory", "16M", "--on-reboot", "exit", NULL});
	expect_status(&run, 0);
	expect_stderr_has(&run, "rebooted");
	free_run(&run);
	free(kernel);
}

Test(guests, reset_i8042)
{
	expect_reboot_exits("reset_i8042.elf");
}

Test(guests, reset_acpi)
{
	expect_reboot_exits("reset_acpi.elf");
}

Test(guests, chaos_guest_cannot_crash_the_vmm)
{
	char *kernel = payload("chaos.elf");
	struct vmm_run run = run_vmm((const char *[]){"--kernel", kernel, "--memory", "32M",
						      "--debug-exit", DEBUG_EXIT_PORT, NULL});
	expect_stdout_has(&run, "chaos survived: ");
	expect_status(&run, 0);
	free_run(&run);
	free(kernel);
}
