/* The emulator running small programs through its public API: exits (SYSCALL, #PF, #DE, INT3),
 * exact budgets, FS-relative data, self-modifying code and host-side invalidation. */
#include "accel/emu/emu.h"

#include <criterion/criterion.h>
#include <string.h>

#define CODE 0x400000ULL
#define DATA 0x600000ULL

static uint8_t code[4096] __attribute__((aligned(4096)));
static uint8_t data[4096] __attribute__((aligned(4096)));
static bool code_writable;
static struct emu_cpu *cpu;
static struct vcpu_state *st;

static bool translate(void *opaque, uint64_t page, enum emu_access access, uint8_t **host)
{
	(void)opaque;
	if (page == CODE && (access != EMU_ACCESS_WRITE || code_writable)) {
		*host = code;
		return true;
	}
	if (page == DATA && access != EMU_ACCESS_EXEC) {
		*host = data;
		return true;
	}
	return false;
}

static void setup(void)
{
	static const struct emu_memory mem = {.translate = translate};
	memset(code, 0xcc, sizeof(code));
	memset(data, 0, sizeof(data));
	code_writable = false;
	cpu = emu_cpu_create(&mem, emu_cpu_model_find("intel-skylake"));
	cr_assert_not_null(cpu);
	st = emu_cpu_state(cpu);
	st->rip = CODE;
	st->gpr[4] = DATA + 4096;
}

static void teardown(void)
{
	emu_cpu_destroy(cpu);
}

static void load(const char *bytes, size_t len)
{
	memcpy(code, bytes, len);
}

#define LOAD(lit) load(lit, sizeof(lit) - 1)

/* sum 1..100 in a loop, double it in a function, then SYSCALL. */
static const char sum_program[] = "\xb9\x64\x00\x00\x00" /* mov ecx, 100 */
				  "\x31\xc0"		 /* xor eax, eax */
				  "\x48\x01\xc8"	 /* 7: add rax, rcx */
				  "\x48\xff\xc9"	 /* dec rcx */
				  "\x75\xf8"		 /* jnz 7 */
				  "\xe8\x02\x00\x00\x00" /* call 22 */
				  "\x0f\x05"		 /* 20: syscall */
				  "\x48\xd1\xe0"	 /* 22: shl rax, 1 */
				  "\xc3";		 /* ret */

TestSuite(emu_run, .init = setup, .fini = teardown);

Test(emu_run, loop_call_and_syscall_exit)
{
	LOAD(sum_program);
	struct emu_exit exit;
	cr_assert_eq(emu_run(cpu, 100000, &exit), EMU_EXIT_SYSCALL);
	cr_expect_eq(st->gpr[0], 10100);
	cr_expect_eq(st->rip, CODE + 22, "rip is after SYSCALL");
	cr_expect_eq(st->gpr[1], CODE + 22, "rcx holds the return address");
	cr_expect_eq(st->gpr[11], st->rflags, "r11 holds rflags");
	cr_expect_eq(st->gpr[4], DATA + 4096, "the call's return address was popped");
	cr_expect_eq(exit.executed, 2 + 3 * 100 + 4);
}

Test(emu_run, budget_is_exact)
{
	LOAD(sum_program);
	struct emu_exit exit;
	cr_assert_eq(emu_run(cpu, 3, &exit), EMU_EXIT_BUDGET);
	cr_expect_eq(exit.executed, 3);
	cr_expect_eq(st->rip, CODE + 10);
	cr_expect_eq(st->gpr[0], 100);
}

Test(emu_run, page_fault_reports_address_and_leaves_rip_on_the_instruction)
{
	LOAD("\x48\xc7\xc0\x07\x00\x00\x00"	  /* mov rax, 7 */
	     "\x48\x8b\x04\x25\x00\x50\x34\x12"); /* mov rax, [0x12345000] */
	struct emu_exit exit;
	cr_assert_eq(emu_run(cpu, 100, &exit), EMU_EXIT_EXCEPTION);
	cr_expect_eq(exit.vector, EMU_VEC_PF);
	cr_expect_eq(exit.fault_address, 0x12345000);
	cr_expect_eq(st->cr2, 0x12345000);
	cr_expect_eq(exit.error_code & EMU_PF_WRITE, 0);
	cr_expect_eq(st->rip, CODE + 7);
	cr_expect_eq(st->gpr[0], 7);
	cr_expect_eq(exit.executed, 1);
}

Test(emu_run, write_to_read_only_code_faults_as_a_write)
{
	LOAD("\xc6\x05\x00\x01\x00\x00\x01"); /* mov byte [rip+0x100], 1 */
	struct emu_exit exit;
	cr_assert_eq(emu_run(cpu, 100, &exit), EMU_EXIT_EXCEPTION);
	cr_expect_eq(exit.vector, EMU_VEC_PF);
	cr_expect_eq(exit.fault_address, CODE + 7 + 0x100);
	cr_expect_neq(exit.error_code & EMU_PF_WRITE, 0);
}

Test(emu_run, divide_error_and_int3)
{
	LOAD("\x31\xc9\xf7\xf1"); /* xor ecx, ecx; div ecx */
	struct emu_exit exit;
	cr_assert_eq(emu_run(cpu, 100, &exit), EMU_EXIT_EXCEPTION);
	cr_expect_eq(exit.vector, EMU_VEC_DE);
	cr_expect_eq(st->rip, CODE + 2);
	st->rip = CODE + 4; /* the 0xcc filler */
	cr_assert_eq(emu_run(cpu, 100, &exit), EMU_EXIT_EXCEPTION);
	cr_expect_eq(exit.vector, EMU_VEC_BP);
	cr_expect(exit.software);
	cr_expect_eq(st->rip, CODE + 5, "INT3 is a trap: rip after it");
}

/* The RFLAGS image of an exception has RF set for faults (the instruction runs again on
 * return) and clear for traps; the register itself never holds RF. */
static uint64_t exit_rflags(const char *program, size_t len, uint8_t vector)
{
	memset(code, 0xcc, sizeof(code));
	load(program, len);
	emu_flush(cpu);
	st->rip = CODE;
	struct emu_exit exit;
	cr_assert_eq(emu_run(cpu, 100, &exit), EMU_EXIT_EXCEPTION);
	cr_assert_eq(exit.vector, vector, "vector %u, want %u", exit.vector, vector);
	cr_expect_eq(exit.rflags & ~X86_RFLAGS_RF, st->rflags, "the image is the register's");
	cr_expect_eq(st->rflags & X86_RFLAGS_RF, 0, "the register holds no RF");
	return exit.rflags;
}

Test(emu_run, faults_push_rf_and_traps_do_not)
{
	uint64_t rf = X86_RFLAGS_RF;
	cr_expect_eq(exit_rflags("\x8b\x04\x25\x00\x50\x34\x12", 7, EMU_VEC_PF) & rf, rf, "#PF");
	cr_expect_eq(exit_rflags("\x31\xc9\xf7\xf1", 4, EMU_VEC_DE) & rf, rf, "#DE");
	cr_expect_eq(exit_rflags("\x0f\x0b", 2, EMU_VEC_UD) & rf, rf, "#UD");
	cr_expect_eq(exit_rflags("\xfa", 1, EMU_VEC_GP) & rf, rf, "#GP (CLI at CPL 3)");
	cr_expect_eq(exit_rflags("\x90\xcc", 2, EMU_VEC_BP) & rf, 0, "#BP (INT3)");
	cr_expect_eq(exit_rflags("\xcd\x80", 2, 0x80) & rf, 0, "INT 80h");
}

/* RF in the state on entry (a signal handler's sigreturn may restore it) is dropped: it is
 * not pushed by PUSHF and not in a later trap's image, as on the host. */
Test(emu_run, rf_on_entry_is_dropped)
{
	load("\x9c\x58\xcc", 3); /* pushfq; pop rax; int3 */
	st->rflags |= X86_RFLAGS_RF;
	struct emu_exit exit;
	cr_assert_eq(emu_run(cpu, 100, &exit), EMU_EXIT_EXCEPTION);
	cr_assert_eq(exit.vector, EMU_VEC_BP);
	cr_expect_eq(st->gpr[0] & X86_RFLAGS_RF, 0);
	cr_expect_eq(exit.rflags & X86_RFLAGS_RF, 0);
	cr_expect_eq(st->rflags & X86_RFLAGS_RF, 0);
}

Test(emu_run, fs_base_applies_to_fs_overrides)
{
	LOAD("\x64\x48\x8b\x04\x25\x08\x00\x00\x00"); /* mov rax, fs:[8] */
	uint64_t v = 0x1122334455667788ULL;
	memcpy(data + 0x108, &v, 8);
	st->seg[SREG_FS].base = DATA + 0x100;
	struct emu_exit exit;
	emu_run(cpu, 1, &exit);
	cr_expect_eq(st->gpr[0], v);
}

Test(emu_run, self_modifying_code_runs_the_new_bytes)
{
	code_writable = true;
	LOAD("\xc6\x05\x01\x00\x00\x00\x2a" /* mov byte [rip+1], 42: the imm of the next mov */
	     "\xb8\x00\x00\x00\x00");	    /* mov eax, 0 */
	struct emu_exit exit;
	cr_assert_eq(emu_run(cpu, 100, &exit), EMU_EXIT_EXCEPTION);
	cr_expect_eq(exit.vector, EMU_VEC_BP);
	cr_expect_eq(st->gpr[0], 42);
}

Test(emu_run, host_changes_need_invalidate)
{
	LOAD("\xb8\x01\x00\x00\x00"); /* mov eax, 1 */
	struct emu_exit exit;
	emu_run(cpu, 100, &exit);
	cr_assert_eq(st->gpr[0], 1);
	code[1] = 2;
	emu_invalidate(cpu, CODE + 1, 1);
	st->rip = CODE;
	emu_run(cpu, 100, &exit);
	cr_expect_eq(st->gpr[0], 2);
}

Test(emu_run, lazy_flags_survive_between_runs)
{
	LOAD("\x31\xc0"	      /* xor eax, eax: ZF=1 */
	     "\x0f\x94\xc1"); /* sete cl */
	struct emu_exit exit;
	emu_run(cpu, 1, &exit);
	cr_expect_neq(st->rflags & 0x40, 0, "ZF is visible in the state after the run");
	emu_run(cpu, 1, &exit);
	cr_expect_eq(st->gpr[1] & 0xff, 1);
}

/* Shifts, rotates, ALU and INC/DEC on registers: inside a whole block the emulator skips flags
 * a later instruction overwrites; the result must equal running one instruction at a time. */
static const char flag_mix_program[] = "\xc1\xc8\x07\x31\xc3\x48\xc1\xe1\x03\xff\xc2\x49\xc1\xc0"
				       "\x0d\x01\xd8\xc1\xee\x05\xd1\xc9\x48\xc1\xff\x02\x49\xff"
				       "\xc9\x41\x81\xea\x45\x23\x01\x00\x49\x21\xdb\x41\xd1\xec"
				       "\xc1\xc2\x09\xc1\xc8\x03";
/* cmp eax, ebx; ror eax, 7; shl rcx, 3; mov rdx, [rbx] (faults); add eax, ebx */
static const char fault_after_shift_program[] = "\x39\xd8\xc1\xc8\x07\x48\xc1\xe1\x03\x48\x8b"
						"\x13\x01\xd8";

static void random_registers(uint64_t seed)
{
	for (int k = 0; k < 16; k++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		st->gpr[k] = seed ^ (seed >> 29);
	}
	st->gpr[4] = DATA + 4096;
	st->rflags = 0x202 | (seed & 0x8d5);
	st->rip = CODE;
}

/* Runs to the first exception, whole or one instruction per emu_run(); the final state. */
static struct vcpu_state run_to_exception(bool single_step, uint8_t *vector)
{
	struct emu_exit exit;
	emu_flush(cpu);
	while (emu_run(cpu, single_step ? 1 : 1000, &exit) == EMU_EXIT_BUDGET)
		;
	*vector = exit.vector;
	return *st;
}

static void expect_same_as_single_steps(const char *program, size_t len, uint64_t rbx)
{
	load(program, len);
	for (uint64_t seed = 1; seed <= 64; seed++) {
		uint8_t v1, v2;
		random_registers(seed);
		if (rbx)
			st->gpr[3] = rbx;
		struct vcpu_state whole = run_to_exception(false, &v1);
		random_registers(seed);
		if (rbx)
			st->gpr[3] = rbx;
		struct vcpu_state steps = run_to_exception(true, &v2);
		cr_assert_eq(v1, v2);
		cr_assert_eq(whole.rip, steps.rip);
		cr_assert_eq(whole.rflags, steps.rflags, "seed %lu: rflags %#lx, stepped %#lx",
			     (unsigned long)seed, (unsigned long)whole.rflags,
			     (unsigned long)steps.rflags);
		cr_assert_arr_eq(whole.gpr, steps.gpr, sizeof(whole.gpr), "seed %lu",
				 (unsigned long)seed);
	}
}

Test(emu_run, skipped_flags_match_single_steps)
{
	expect_same_as_single_steps(flag_mix_program, sizeof(flag_mix_program) - 1, 0);
}

Test(emu_run, fault_after_shifts_sees_their_flags)
{
	expect_same_as_single_steps(fault_after_shift_program,
				    sizeof(fault_after_shift_program) - 1, 0x1000);
}

/* Runs the program from CODE with RDI (and RDX, R15) set; the exit. */
static struct emu_exit run_with(const char *program, size_t len, uint64_t rdi, uint64_t rdx,
				uint64_t r15)
{
	struct emu_exit exit;
	load(program, len);
	st->gpr[7] = rdi;
	st->gpr[2] = rdx;
	st->gpr[15] = r15;
	emu_run(cpu, 100, &exit);
	return exit;
}

/* bt [edx], r15 with a 32-bit address: the most negative bit offset moves the operand by
 * -2^60 bytes, which wraps to nothing in 32 bits (the host reads [edx] itself). */
Test(emu_run, bt_most_negative_register_offset_with_addr32)
{
	data[0] = 1;
	struct emu_exit exit = run_with("\x67\x4c\x0f\xa3\x3a", 5, 0, DATA, 0x8000000000000000ULL);
	cr_assert_eq(exit.vector, EMU_VEC_BP, "ran to the int3, vector %u at %#lx", exit.vector,
		     (unsigned long)exit.fault_address);
	cr_expect(st->rflags & 1, "CF = bit 0 of [edx]");
}

/* maskmovdqu xmm1, xmm2 with an all-zero mask, 4 bytes before an unmapped page: the host
 * checks all 16 bytes, the upper quadword first, and reports its start. */
Test(emu_run, maskmovdqu_faults_at_upper_quadword_whatever_the_mask)
{
	struct emu_exit exit = run_with("\x66\x0f\xf7\xca", 4, DATA + 4092, 0, 0);
	cr_assert_eq(exit.vector, EMU_VEC_PF);
	cr_expect_eq(exit.fault_address, DATA + 4096 + 4);
}

/* fnstenv [rdi] crossing into an unmapped page: the page start when the first dword
 * crosses, else the address of the last byte of the 28-byte image. */
Test(emu_run, fnstenv_fault_address_as_the_host_reports_it)
{
	struct emu_exit exit = run_with("\xd9\x37", 2, DATA + 4094, 0, 0);
	cr_assert_eq(exit.vector, EMU_VEC_PF);
	cr_expect_eq(exit.fault_address, DATA + 4096);
	exit = run_with("\xd9\x37", 2, DATA + 4086, 0, 0);
	cr_assert_eq(exit.vector, EMU_VEC_PF);
	cr_expect_eq(exit.fault_address, DATA + 4086 + 27);
}

/* rep movsb one byte ahead of its source replicates the first byte, element by element. */
Test(emu_run, rep_movsb_overlapping_forward_replicates)
{
	data[0] = 0xab;
	LOAD("\xf3\xa4"); /* rep movsb */
	st->gpr[6] = DATA;
	st->gpr[7] = DATA + 1;
	st->gpr[1] = 100;
	struct emu_exit exit;
	emu_run(cpu, 100, &exit);
	cr_assert_eq(exit.vector, EMU_VEC_BP);
	for (int k = 0; k <= 100; k++)
		cr_assert_eq(data[k], 0xab, "byte %d", k);
	cr_expect_eq(data[101], 0);
	cr_expect_eq(st->gpr[1], 0);
	cr_expect_eq(st->gpr[7], DATA + 101);
}

/* rep stosd running off the mapped page: the part before it is written, the registers describe
 * the rest and the fault is at the first unmapped byte. */
Test(emu_run, rep_stosd_faults_at_the_page_end_with_progress_kept)
{
	LOAD("\xf3\xab"); /* rep stosd */
	st->gpr[0] = 0x11223344;
	st->gpr[7] = DATA + 4000;
	st->gpr[1] = 100;
	struct emu_exit exit;
	emu_run(cpu, 100, &exit);
	cr_assert_eq(exit.vector, EMU_VEC_PF);
	cr_expect_eq(exit.fault_address, DATA + 4096);
	cr_expect_eq(st->gpr[1], 100 - 24);
	cr_expect_eq(st->gpr[7], DATA + 4096);
	cr_expect_eq(data[4095], 0x11);
	cr_expect_eq(st->rip, CODE, "the instruction restarts");
}

/* Every CMP/TEST shape (registers, immediates, memory, sizes 1 to 8) followed by each of the 16
 * Jcc, each Jcc jumping over a BTS that records it fell through: the emulator runs such pairs
 * as one fused handler; the registers and flags must equal one instruction at a time. */
static const struct {
	uint8_t len;
	uint8_t bytes[6];
} compare_forms[] = {
    {2, {0x39, 0xd8}},			 /* cmp eax, ebx */
    {3, {0x48, 0x39, 0xd8}},		 /* cmp rax, rbx */
    {2, {0x3b, 0xd8}},			 /* cmp ebx, eax */
    {3, {0x83, 0xf8, 0x05}},		 /* cmp eax, 5 */
    {4, {0x48, 0x83, 0xf8, 0xfd}},	 /* cmp rax, -3 */
    {2, {0x38, 0x16}},			 /* cmp [rsi], dl */
    {3, {0x80, 0x3e, 0x41}},		 /* cmp byte [rsi], 0x41 */
    {2, {0x3a, 0x16}},			 /* cmp dl, [rsi] */
    {3, {0x39, 0x46, 0x04}},		 /* cmp [rsi+4], eax */
    {5, {0x48, 0x83, 0x7e, 0x08, 0x7f}}, /* cmp qword [rsi+8], 0x7f */
    {4, {0x66, 0x3b, 0x56, 0x02}},	 /* cmp dx, [rsi+2] */
    {2, {0x85, 0xd8}},			 /* test eax, ebx */
    {2, {0xa8, 0x81}},			 /* test al, 0x81 */
    {3, {0x48, 0x85, 0xd0}},		 /* test rax, rdx */
    {4, {0xf6, 0x46, 0x03, 0x80}},	 /* test byte [rsi+3], 0x80 */
    {2, {0x85, 0x1e}},			 /* test [rsi], ebx */
};

static size_t emit_compare_and_branch_program(void)
{
	static const uint8_t bts_regs[4][3] = {
	    {0x48, 0x0f, 0xba}, {0x49, 0x0f, 0xba}, {0x49, 0x0f, 0xba}, {0x49, 0x0f, 0xba}};
	static const uint8_t bts_modrm[4] = {0xe9, 0xe8, 0xe9, 0xea}; /* rcx r8 r9 r10 */
	size_t at = 0;
	unsigned n = 0;
	for (size_t f = 0; f < sizeof(compare_forms) / sizeof(compare_forms[0]); f++) {
		for (unsigned cc = 0; cc < 16; cc++, n++) {
			memcpy(code + at, compare_forms[f].bytes, compare_forms[f].len);
			at += compare_forms[f].len;
			code[at++] = (uint8_t)(0x70 + cc);
			code[at++] = 5; /* over the BTS */
			memcpy(code + at, bts_regs[n / 64], 3);
			at += 3;
			code[at++] = bts_modrm[n / 64];
			code[at++] = (uint8_t)(n % 64);
		}
	}
	return at;
}

Test(emu_run, fused_compare_and_branch_match_single_steps)
{
	size_t len = emit_compare_and_branch_program();
	cr_assert_lt(len, sizeof(code));
	for (int k = 0; k < 64; k++)
		data[k] = (uint8_t)(k * 37 + 0x3f);
	for (uint64_t seed = 1; seed <= 64; seed++) {
		uint8_t v1, v2;
		random_registers(seed);
		st->gpr[6] = DATA + (seed & 31);
		if (seed & 1)
			st->gpr[3] = st->gpr[0]; /* equal operands */
		struct vcpu_state whole = run_to_exception(false, &v1);
		random_registers(seed);
		st->gpr[6] = DATA + (seed & 31);
		if (seed & 1)
			st->gpr[3] = st->gpr[0];
		struct vcpu_state steps = run_to_exception(true, &v2);
		cr_assert_eq(v1, EMU_VEC_BP);
		cr_assert_eq(v2, EMU_VEC_BP);
		cr_assert_eq(whole.rip, steps.rip);
		cr_assert_eq(whole.rflags, steps.rflags, "seed %lu", (unsigned long)seed);
		cr_assert_arr_eq(whole.gpr, steps.gpr, sizeof(whole.gpr), "seed %lu",
				 (unsigned long)seed);
	}
}

/* JMPs within the page are followed when decoding (forward over a UD2, backward into a loop
 * the block then unrolls), with CMOVcc and MOVSXD between registers: registers, RIP and the
 * instruction count must equal one instruction at a time. */
static const char jump_loop_program[] = "\xb9\x05\x00\x00\x00" /* mov ecx, 5 */
					"\xeb\x02\x0f\x0b"     /* jmp over ud2 */
					"\x31\xc0"	       /* xor eax, eax */
					"\xff\xc9\x83\xf9\x02" /* 1: dec ecx; cmp ecx, 2 */
					"\x0f\x44\xc1"	       /* cmove eax, ecx */
					"\x48\x0f\x42\xd1"     /* cmovb rdx, rcx */
					"\x48\x63\xf1"	       /* movsxd rsi, ecx */
					"\x76\x02\xeb\xed"     /* jbe 3f; jmp 1b */
					"\xff\xc9\x79\xe9";    /* 3: dec ecx; jns 1b */

static uint64_t run_counting(bool single_step, struct vcpu_state *out)
{
	struct emu_exit exit;
	uint64_t total = 0;
	emu_flush(cpu);
	do {
		emu_run(cpu, single_step ? 1 : 1000, &exit);
		total += exit.executed;
	} while (exit.reason == EMU_EXIT_BUDGET);
	cr_assert_eq(exit.vector, EMU_VEC_BP);
	*out = *st;
	return total;
}

Test(emu_run, followed_jumps_and_register_cmov_match_single_steps)
{
	struct vcpu_state whole, steps;
	LOAD(jump_loop_program);
	random_registers(7);
	uint64_t n_whole = run_counting(false, &whole);
	random_registers(7);
	uint64_t n_steps = run_counting(true, &steps);
	cr_assert_eq(n_whole, n_steps);
	cr_assert_eq(whole.rip, steps.rip);
	cr_assert_eq(whole.rflags, steps.rflags);
	cr_assert_arr_eq(whole.gpr, steps.gpr, sizeof(whole.gpr));
	cr_expect_eq(whole.gpr[0], 2, "CMOVE took ECX when it was 2");
	cr_expect_eq(whole.rip, CODE + sizeof(jump_loop_program));
}

/* A loop whose branch targets its own block runs without leaving the block, but never past the
 * budget: every budget stops after exactly that many instructions, with the loop's state. */
Test(emu_run, loop_inside_a_block_keeps_the_budget_exact)
{
	LOAD("\xb9\xe8\x03\x00\x00" /* mov ecx, 1000 */
	     "\x31\xc0"		    /* xor eax, eax */
	     "\x01\xc8"		    /* 7: add eax, ecx */
	     "\xff\xc9"		    /* dec ecx */
	     "\x75\xfa");	    /* jnz 7 */
	for (uint64_t budget = 3; budget < 400; budget += 37) {
		struct emu_exit exit;
		st->rip = CODE;
		emu_flush(cpu);
		cr_assert_eq(emu_run(cpu, budget, &exit), EMU_EXIT_BUDGET);
		cr_assert_eq(exit.executed, budget);
		uint64_t iterations = (budget - 2) / 3, extra = (budget - 2) % 3;
		uint64_t ecx = 1000 - iterations - (extra >= 2);
		cr_assert_eq(st->gpr[1], ecx, "budget %lu", (unsigned long)budget);
	}
	struct emu_exit exit;
	st->rip = CODE;
	cr_assert_eq(emu_run(cpu, 100000, &exit), EMU_EXIT_EXCEPTION);
	cr_expect_eq(exit.executed, 2 + 3 * 1000 + 1, "through the int3");
	cr_expect_eq(st->gpr[0], 500500);
}
