/* System mode: exceptions and interrupts (SDM Vol. 3 ch. 6): interrupt and trap gates with
 * and without a privilege change (6.12.1), IST (6.14.5), gate DPL checks for INT n, double
 * fault (6.15 #8), triple fault -> shutdown, IRET to CPL 3, SYSCALL/SYSRET, the STI
 * interrupt shadow (6.8.3), NMI blocking until IRET (6.7.1), HLT woken by an interrupt and by
 * the timer deadline without a busy loop, vcpu_kick ending a tight loop, the TSS I/O bitmap
 * (Vol. 1 19.5.2). */
#include "sys_harness.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct harness h;
static struct vcpu_state st;

static void setup(void)
{
	h_init(&h, 1);
}

static void teardown(void)
{
	h_fini(&h);
}

TestSuite(sys_events, .init = setup, .fini = teardown, .timeout = 30);

static enum vcpu_exit_reason run_blob(const uint8_t *start, size_t len, unsigned timeout_ms)
{
	h_load(&h, H_CODE, start, len);
	enum vcpu_exit_reason r = h_run(&h, 0, timeout_ms);
	h_state(&h, 0, &st);
	return r;
}

#define IRET_TO_USER(flags, label)                                                                 \
	"lea " label "(%rip), %rax\n"                                                              \
	"pushq $0x23\n"                                                                            \
	"pushq $0xa0000\n"                                                                         \
	"pushq $" flags "\n"                                                                       \
	"pushq $0x2b\n"                                                                            \
	"push %rax\n"                                                                              \
	"iretq\n"

GUEST_BLOB(gates, ".code64\n"
		  "sti\n"
		  "int $0x40\n"
		  "mov 0x4040, %r8\n"
		  "mov 0x4058, %r9\n"
		  "int $0x41\n"
		  "mov 0x4058, %r10\n"
		  "int $0x43\n"
		  "mov 0x4040, %r11\n"
		  "cli\n" IRET_TO_USER("0x3002", "gates_user") "gates_user:\n"
							       "int $0x42\n"
							       "mov 0x4040, %r12\n"
							       "mov 0x4038, %r13\n"
							       "mov 0x4020, %r14\n"
							       "lea 1f(%rip), %rax\n"
							       "mov %rax, 0x4050\n"
							       "int $0x40\n"
							       "1: mov 0x4000, %r15\n"
							       "mov 0x4008, %rbp\n" GUEST_DONE);

Test(sys_events, gates_privilege_change_and_ist)
{
	h_long_mode(&h, 0, H_CODE);
	h_wr64(&h, H_TSS + 4, 0x88000); /* RSP0 */
	h_gate(&h, 0x41, H_STUB(0x41), 0, 0, 0xf);
	h_gate(&h, 0x42, H_STUB(0x42), 3, 0, 0xe);
	h_gate(&h, 0x43, H_STUB(0x43), 0, 1, 0xe);
	cr_assert_eq(run_blob(gates_start, BLOB_LEN(gates), 10000), VCPU_EXIT_IO);
	cr_assert(st.gpr[GPR_R8] < H_STACK && st.gpr[GPR_R8] > H_STACK - 0x100,
		  "same privilege: the current stack (%#llx)", (unsigned long long)st.gpr[GPR_R8]);
	cr_assert_eq(st.gpr[GPR_R9] & X86_RFLAGS_IF, 0, "an interrupt gate clears IF");
	cr_assert_neq(st.gpr[GPR_R10] & X86_RFLAGS_IF, 0, "a trap gate keeps IF");
	cr_assert(st.gpr[GPR_R11] < H_IST1 && st.gpr[GPR_R11] > H_IST1 - 0x100, "IST1 stack");
	cr_assert(st.gpr[GPR_R12] < 0x88000 && st.gpr[GPR_R12] > 0x88000 - 0x100,
		  "CPL 3 -> 0: the TSS's RSP0 (%#llx)", (unsigned long long)st.gpr[GPR_R12]);
	cr_assert_eq(st.gpr[GPR_R13], 0x23, "the user SS is pushed");
	cr_assert_eq(st.gpr[GPR_R14], 0x2b, "the user CS is pushed");
	cr_assert_eq(st.gpr[GPR_R15], 13, "INT to a DPL 0 gate from CPL 3: #GP");
	cr_assert_eq(st.gpr[GPR_RBP], 0x40 * 8 + 2, "error code: the IDT entry, IDT bit");
	cr_assert_eq(st.seg[SREG_CS].selector, 0x2b, "IRET went back to CPL 3");
	cr_assert_eq(st.seg[SREG_SS].selector, 0x23);
}

GUEST_BLOB(double_fault, ".code64\n"
			 "lea 1f(%rip), %rax\n"
			 "mov %rax, 0x4050\n"
			 "mov $0x8000000000, %rbx\n"
			 "mov (%rbx), %rax\n"
			 "1: mov 0x4000, %r8\n"
			 "mov 0x4008, %r9\n" GUEST_DONE);

Test(sys_events, page_fault_with_a_missing_gate_is_a_double_fault)
{
	h_long_mode(&h, 0, H_CODE);
	h_wr64(&h, H_IDT + 14 * 16, h_rd64(&h, H_IDT + 14 * 16) & ~(1ULL << 47)); /* not present */
	cr_assert_eq(run_blob(double_fault_start, BLOB_LEN(double_fault), 10000), VCPU_EXIT_IO);
	cr_assert_eq(st.gpr[GPR_R8], 8, "#PF then #NP: #DF");
	cr_assert_eq(st.gpr[GPR_R9], 0, "#DF pushes 0");
}

GUEST_BLOB(triple, ".code64\n"
		   "ud2\n");

Test(sys_events, triple_fault_shuts_down)
{
	h_long_mode(&h, 0, H_CODE);
	h_state(&h, 0, &st);
	st.idt.limit = 0; /* every delivery faults: #UD -> #GP -> #DF -> shutdown */
	h_set_state(&h, 0, &st);
	cr_assert_eq(run_blob(triple_start, BLOB_LEN(triple), 10000), VCPU_EXIT_SHUTDOWN);
}

GUEST_BLOB(syscall,
	   ".code64\n"
	   "mov $0xc0000081, %ecx\n"
	   "xor %eax, %eax\n"
	   "mov $0x00180008, %edx\n"
	   "wrmsr\n"
	   "lea entry(%rip), %rax\n"
	   "mov %rax, %rdx\n"
	   "shr $32, %rdx\n"
	   "mov $0xc0000082, %ecx\n"
	   "wrmsr\n"
	   "mov $0xc0000084, %ecx\n"
	   "mov $0x200, %eax\n"
	   "xor %edx, %edx\n"
	   "wrmsr\n" IRET_TO_USER("0x3202", "sc_user") "sc_user:\n"
						       "mov $0x77, %rdi\n"
						       "syscall\n"
						       "user_back:\n"
						       "mov %rax, %r15\n"
						       "mov %cs, %r14\n" GUEST_DONE "entry:\n"
						       "mov %rcx, %r8\n"
						       "mov %r11, %r9\n"
						       "mov %cs, %r10\n"
						       "mov %ss, %r12\n"
						       "pushfq\n"
						       "pop %r13\n"
						       "mov $0x99, %rax\n"
						       "sysretq\n");

extern const uint8_t user_back[];

Test(sys_events, syscall_and_sysret)
{
	h_long_mode(&h, 0, H_CODE);
	cr_assert_eq(run_blob(syscall_start, BLOB_LEN(syscall), 10000), VCPU_EXIT_IO);
	cr_assert_eq(st.gpr[GPR_R8], H_CODE + (uint64_t)(user_back - syscall_start), "RCX");
	cr_assert_neq(st.gpr[GPR_R9] & X86_RFLAGS_IF, 0, "R11: the user's RFLAGS");
	cr_assert_eq(st.gpr[GPR_R10], 0x08, "CS from STAR[47:32]: %#llx",
		     (unsigned long long)st.gpr[GPR_R10]);
	cr_assert_eq(st.gpr[GPR_R12], 0x10, "SS = CS + 8");
	cr_assert_eq(st.gpr[GPR_R13] & X86_RFLAGS_IF, 0, "SFMASK cleared IF");
	cr_assert_eq(st.gpr[GPR_R15], 0x99);
	cr_assert_eq(st.gpr[GPR_R14], 0x2b, "SYSRET: CS = STAR[63:48] + 16, RPL 3");
	cr_assert_eq(st.seg[SREG_SS].selector, 0x23);
	cr_assert_neq(st.rflags & X86_RFLAGS_IF, 0, "RFLAGS from R11");
}

GUEST_BLOB(shadow, ".code64\n"
		   "cli\n"
		   "mov $0x50, %al\n"
		   "out %al, $0xf6\n"
		   "nop\n"
		   "sti\n"
		   "inc %rbx\n"
		   "shadow_after:\n"
		   "mov 0x4018, %r8\n"
		   "mov 0x4000, %r9\n" GUEST_DONE);

extern const uint8_t shadow_after[];

Test(sys_events, sti_shadow_delays_the_interrupt_by_one_instruction)
{
	h_long_mode(&h, 0, H_CODE);
	cr_assert_eq(run_blob(shadow_start, BLOB_LEN(shadow), 10000), VCPU_EXIT_IO);
	cr_assert_eq(st.gpr[GPR_R9], 0x50);
	cr_assert_eq(st.gpr[GPR_R8], H_CODE + (uint64_t)(shadow_after - shadow_start),
		     "taken after the instruction that follows STI");
	cr_assert_eq(st.gpr[GPR_RBX], 1);
}

GUEST_BLOB(nmi, ".code64\n"
		"out %al, $0xf5\n"
		"1: cmpq $0, 0x4100\n"
		"je 1b\n"
		"2: cmpq $2, 0x4100\n"
		"jne 2b\n"
		"mov 0x4108, %r8\n" GUEST_DONE "nmi_handler:\n"
		"incq 0x4100\n"
		"cmpq $1, 0x4100\n"
		"jne 9f\n"
		"out %al, $0xf5\n"
		"mov $100000, %ecx\n"
		"3: dec %ecx\n"
		"jnz 3b\n"
		"mov 0x4100, %rax\n"
		"mov %rax, 0x4108\n"
		"9: iretq\n");

extern const uint8_t nmi_handler[];

Test(sys_events, nmi_blocked_until_iret)
{
	h_long_mode(&h, 0, H_CODE);
	h_gate(&h, 2, H_CODE + (uint64_t)(nmi_handler - nmi_start), 0, 0, 0xe);
	cr_assert_eq(run_blob(nmi_start, BLOB_LEN(nmi), 10000), VCPU_EXIT_IO);
	cr_assert_eq(st.gpr[GPR_R8], 1, "the second NMI waited while the handler ran");
	cr_assert_eq(h_rd64(&h, 0x4100), 2, "and came after IRET (%llu NMIs)",
		     (unsigned long long)h_rd64(&h, 0x4100));
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void *raise_later(void *arg)
{
	(void)arg;
	struct timespec ts = {0, 100000000};
	nanosleep(&ts, NULL);
	h_raise(&h, 0, 0x51);
	return NULL;
}

GUEST_BLOB(halt, ".code64\n"
		 "sti\n"
		 "hlt\n"
		 "mov 0x4000, %r8\n" GUEST_DONE);

Test(sys_events, hlt_woken_by_an_interrupt)
{
	h_long_mode(&h, 0, H_CODE);
	pthread_t t;
	uint64_t wall0 = guest_clock_host_ns(), cpu0 = thread_cpu_ns();
	cr_assert_eq(pthread_create(&t, NULL, raise_later, NULL), 0);
	cr_assert_eq(run_blob(halt_start, BLOB_LEN(halt), 10000), VCPU_EXIT_IO);
	uint64_t wall = guest_clock_host_ns() - wall0, cpu = thread_cpu_ns() - cpu0;
	pthread_join(t, NULL);
	cr_assert_eq(st.gpr[GPR_R8], 0x51);
	cr_assert_geq(wall, 90000000, "halted until the interrupt");
	cr_assert_lt(cpu, 30000000, "no busy loop: %llu ns of CPU", (unsigned long long)cpu);
}

Test(sys_events, hlt_woken_by_the_timer_deadline_without_a_busy_loop)
{
	h_long_mode(&h, 0, H_CODE);
	h.v[0].timer_vector = 0x30;
	uint64_t wall0 = guest_clock_host_ns(), cpu0 = thread_cpu_ns();
	atomic_store(&h.v[0].deadline, wall0 + 200000000ULL);
	cr_assert_eq(run_blob(halt_start, BLOB_LEN(halt), 10000), VCPU_EXIT_IO);
	uint64_t wall = guest_clock_host_ns() - wall0, cpu = thread_cpu_ns() - cpu0;
	cr_assert_eq(st.gpr[GPR_R8], 0x30, "the timer's vector");
	cr_assert_geq(wall, 200000000, "not before the deadline");
	cr_assert_lt(cpu, 50000000, "a 200 ms halt cost %llu ns of CPU", (unsigned long long)cpu);
}

static void *kick_later(void *arg)
{
	uint64_t *kicked = arg;
	struct timespec ts = {0, 50000000};
	nanosleep(&ts, NULL);
	*kicked = guest_clock_host_ns();
	h.ops->vcpu_kick(h.vcpu[0]);
	return NULL;
}

GUEST_BLOB(spin, ".code64\n"
		 "1: inc %rax\n"
		 "jmp 1b\n");

Test(sys_events, kick_ends_a_tight_loop)
{
	h_load(&h, H_CODE, spin_start, BLOB_LEN(spin));
	h_long_mode(&h, 0, H_CODE);
	uint64_t kicked = 0;
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, kick_later, &kicked), 0);
	struct vcpu_exit exit;
	cr_assert_eq(h.ops->vcpu_run(h.vcpu[0], &exit), 0);
	uint64_t back = guest_clock_host_ns();
	pthread_join(t, NULL);
	cr_assert_eq(exit.reason, VCPU_EXIT_INTERRUPTED);
	cr_assert_lt(back - kicked, 20000000, "returned %llu ns after the kick",
		     (unsigned long long)(back - kicked));
	h_state(&h, 0, &st);
	cr_assert_gt(st.gpr[GPR_RAX], 1000, "the loop ran");
}

GUEST_BLOB(iobitmap,
	   ".code64\n" IRET_TO_USER("0x0002", "io_user") "io_user:\n"
							 "mov $'u', %al\n"
							 "out %al, $0xe9\n"
							 "lea 1f(%rip), %rax\n"
							 "mov %rax, 0x4050\n"
							 "out %al, $0xea\n"
							 "1: mov 0x4000, %r8\n" GUEST_DONE);

Test(sys_events, tss_io_bitmap_at_cpl3)
{
	h_long_mode(&h, 0, H_CODE);
	uint8_t map[33];
	memset(map, 0xff, sizeof(map));
	map[0xe9 / 8] &= (uint8_t) ~(1u << (0xe9 % 8));
	map[0xf4 / 8] &= (uint8_t) ~(1u << (0xf4 % 8));
	h_load(&h, H_TSS + 104, map, sizeof(map));
	uint16_t base = 104;
	h_load(&h, H_TSS + 102, &base, 2);
	h_state(&h, 0, &st);
	st.tr.limit = 104 + sizeof(map) - 1;
	h_set_state(&h, 0, &st);
	cr_assert_eq(run_blob(iobitmap_start, BLOB_LEN(iobitmap), 10000), VCPU_EXIT_IO);
	cr_assert_eq(h.out[0], 'u', "port 0xe9 allowed by the bitmap");
	cr_assert_eq(st.gpr[GPR_R8], 13, "port 0xea: #GP");
}

/* HLT with IF = 0 and an interrupt pending sleeps (only NMI, INIT, SMI or a kick end it): the
 * attention flag staying up must not turn the halt into a busy loop. */
GUEST_BLOB(halt_masked, ".code64\n"
			"cli\n"
			"mov $0x52, %al\n"
			"out %al, $0xf6\n"
			"hlt\n" GUEST_DONE);

static void *kick_after_200ms(void *arg)
{
	(void)arg;
	struct timespec ts = {0, 200000000};
	nanosleep(&ts, NULL);
	h.ops->vcpu_kick(h.vcpu[0]);
	return NULL;
}

Test(sys_events, hlt_with_if_clear_sleeps_despite_a_pending_interrupt)
{
	h_load(&h, H_CODE, halt_masked_start, BLOB_LEN(halt_masked));
	h_long_mode(&h, 0, H_CODE);
	pthread_t t;
	uint64_t cpu0 = thread_cpu_ns();
	cr_assert_eq(pthread_create(&t, NULL, kick_after_200ms, NULL), 0);
	struct vcpu_exit exit;
	cr_assert_eq(h.ops->vcpu_run(h.vcpu[0], &exit), 0);
	uint64_t cpu = thread_cpu_ns() - cpu0;
	pthread_join(t, NULL);
	cr_assert_eq(exit.reason, VCPU_EXIT_INTERRUPTED);
	h_state(&h, 0, &st);
	cr_assert_eq(st.mp_state, VCPU_MP_HALTED);
	cr_assert_eq(h_rd64(&h, REC(REC_COUNT)), 0, "no interrupt taken with IF = 0");
	cr_assert_lt(cpu, 50000000, "the halt cost %llu ns of CPU", (unsigned long long)cpu);
}
