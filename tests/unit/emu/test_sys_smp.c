/* System mode across vCPUs and devices: LOCK XADD from two vCPU threads a million times each
 * (exact total: SDM Vol. 3 8.1.2.2), self-modifying code, code another vCPU rewrites, device
 * writes into code announced by memory_written, INIT/SIPI starting an AP in real mode at
 * vector << 12 (8.4.4), and vcpu_state get/set round trips. */
#include "sys_harness.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static struct harness h;
static struct vcpu_state st;

static void setup(void)
{
	h_init(&h, 2);
}

static void teardown(void)
{
	h_fini(&h);
}

TestSuite(sys_smp, .init = setup, .fini = teardown, .timeout = 60);

#define COUNTER 0x4200
#define ROUNDS	1000000

GUEST_BLOB(xadd, ".code64\n"
		 "mov $1000000, %ecx\n"
		 "1: mov $1, %eax\n"
		 "lock xadd %eax, 0x4200\n"
		 "dec %ecx\n"
		 "jnz 1b\n" GUEST_DONE);

struct runner {
	unsigned k;
	enum vcpu_exit_reason r;
};

static void *run_vcpu(void *arg)
{
	struct runner *r = arg;
	r->r = h_run(&h, r->k, 50000);
	return NULL;
}

Test(sys_smp, lock_xadd_from_two_vcpus_is_atomic)
{
	h_load(&h, H_CODE, xadd_start, BLOB_LEN(xadd));
	h_long_mode(&h, 0, H_CODE);
	h_long_mode(&h, 1, H_CODE);
	struct runner r[2] = {{.k = 0}, {.k = 1}};
	pthread_t t[2];
	for (int k = 0; k < 2; k++)
		cr_assert_eq(pthread_create(&t[k], NULL, run_vcpu, &r[k]), 0);
	for (int k = 0; k < 2; k++) {
		pthread_join(t[k], NULL);
		cr_assert_eq(r[k].r, VCPU_EXIT_IO, "vCPU %d did not finish", k);
	}
	uint32_t total;
	memcpy(&total, h.ram + COUNTER, 4);
	cr_assert_eq(total, 2 * ROUNDS, "%u increments, expected %u", total, 2 * ROUNDS);
}

/* The code rewrites the immediate of an instruction it is about to run, in the same block. */
GUEST_BLOB(smc, ".code64\n"
		"xor %ebx, %ebx\n"
		"lea smc_target(%rip), %rax\n"
		"movl $2, 1(%rax)\n" /* mov $imm32, %ebx: the immediate */
		"smc_target: mov $1, %ebx\n"
		"mov %ebx, %r8d\n"
		"lea smc_target2(%rip), %rax\n"
		"movl $3, 1(%rax)\n"
		"jmp smc_target2\n"
		"smc_target2: mov $1, %ebx\n"
		"mov %ebx, %r9d\n" GUEST_DONE);

Test(sys_smp, self_modifying_code)
{
	h_load(&h, H_CODE, smc_start, BLOB_LEN(smc));
	h_long_mode(&h, 0, H_CODE);
	cr_assert_eq(h_run(&h, 0, 10000), VCPU_EXIT_IO);
	h_state(&h, 0, &st);
	cr_assert_eq(st.gpr[GPR_R8], 2, "the rewritten immediate ran");
	cr_assert_eq(st.gpr[GPR_R9], 3);
}

GUEST_BLOB(ret1, ".code64\n"
		 "mov $1, %r8\n" GUEST_DONE);
GUEST_BLOB(ret2, ".code64\n"
		 "mov $2, %r8\n" GUEST_DONE);

/* A "device" rewrites a function the guest has run (and so decoded) and tells the CPU with
 * memory_written; the guest calls it again. */
GUEST_BLOB(dma_caller, ".code64\n"
		       "mov $0x21000, %rax\n"
		       "call *%rax\n"
		       "mov %r8, %r9\n"
		       "out %al, $0xf7\n"
		       "call *%rax\n"
		       "mov %r8, %r10\n" GUEST_DONE);
GUEST_BLOB(fn1, ".code64\n"
		"mov $1, %r8\n"
		"ret\n");
GUEST_BLOB(fn2, ".code64\n"
		"mov $2, %r8\n"
		"ret\n");

static void device_rewrites_code(struct harness *hh)
{
	h_load(hh, 0x21000, fn2_start, BLOB_LEN(fn2));
	hh->ops->memory_written(hh->vm, 0x21000, BLOB_LEN(fn2));
}

Test(sys_smp, memory_written_drops_decoded_code)
{
	h_load(&h, H_CODE, dma_caller_start, BLOB_LEN(dma_caller));
	h_load(&h, 0x21000, fn1_start, BLOB_LEN(fn1));
	h.on_port_f7 = device_rewrites_code;
	h_long_mode(&h, 0, H_CODE);
	cr_assert_eq(h_run(&h, 0, 10000), VCPU_EXIT_IO);
	h_state(&h, 0, &st);
	cr_assert_eq(st.gpr[GPR_R9], 1);
	cr_assert_eq(st.gpr[GPR_R10], 2, "the function the device rewrote ran anew");
}

/* vCPU 1 runs a loop whose code vCPU 0 rewrites: vCPU 1 must see it. */
GUEST_BLOB(xmod_loop, ".code64\n"
		      "xmod_loop_top: mov $0, %eax\n" /* imm32 rewritten to 1 by vCPU 0 */
		      "test %eax, %eax\n"
		      "jz xmod_loop_top\n" GUEST_DONE);
GUEST_BLOB(xmod_writer, ".code64\n"
			"mov $200000, %ecx\n"
			"1: dec %ecx\n" /* let vCPU 1 decode and run its loop */
			"jnz 1b\n"
			"movl $1, 0x20001\n" GUEST_DONE);

Test(sys_smp, code_rewritten_by_another_vcpu)
{
	h_load(&h, 0x20000, xmod_loop_start, BLOB_LEN(xmod_loop));
	h_load(&h, H_CODE, xmod_writer_start, BLOB_LEN(xmod_writer));
	h_long_mode(&h, 0, H_CODE);
	h_long_mode(&h, 1, 0x20000);
	struct runner r[2] = {{.k = 0}, {.k = 1}};
	pthread_t t[2];
	cr_assert_eq(pthread_create(&t[1], NULL, run_vcpu, &r[1]), 0);
	cr_assert_eq(pthread_create(&t[0], NULL, run_vcpu, &r[0]), 0);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	cr_assert_eq(r[0].r, VCPU_EXIT_IO);
	cr_assert_eq(r[1].r, VCPU_EXIT_IO, "vCPU 1 never saw the new code");
}

GUEST_BLOB(ap, ".code16\n"
	       "mov $'A', %al\n"
	       "out %al, $0xe9\n"
	       "mov %cs, %bx\n" GUEST_DONE);

Test(sys_smp, init_sipi_starts_an_ap)
{
	h_load(&h, 0x20000, ap_start, BLOB_LEN(ap));
	h_state(&h, 1, &st);
	cr_assert_eq(st.mp_state, VCPU_MP_UNINITIALIZED, "an AP waits for INIT");
	atomic_store(&h.v[1].init, true);
	atomic_store(&h.v[1].sipi, 0x20);
	atomic_store(&h.v[1].attention, true);
	cr_assert_eq(h_run(&h, 1, 10000), VCPU_EXIT_IO);
	h_state(&h, 1, &st);
	cr_assert_eq(h.out[0], 'A');
	cr_assert_eq(st.gpr[GPR_RBX] & 0xffff, 0x2000, "CS = vector << 8");
	cr_assert_eq(st.seg[SREG_CS].base, 0x20000);
	cr_assert_eq(st.mp_state, VCPU_MP_RUNNABLE);
}

Test(sys_smp, sipi_without_init_is_ignored)
{
	atomic_store(&h.v[1].sipi, 0x20);
	atomic_store(&h.v[1].attention, true);
	struct vcpu_exit exit;
	/* nothing to run: the vCPU sleeps until kicked */
	h.ops->vcpu_kick(h.vcpu[1]);
	cr_assert_eq(h.ops->vcpu_run(h.vcpu[1], &exit), 0);
	cr_assert_eq(exit.reason, VCPU_EXIT_INTERRUPTED);
	h_state(&h, 1, &st);
	cr_assert_eq(st.mp_state, VCPU_MP_UNINITIALIZED);
}

GUEST_BLOB(state_prog, ".code64\n"
		       "mov $0x1111, %r8\n"
		       "mov $0xc0000102, %ecx\n" /* KERNEL_GS_BASE */
		       "mov $0x2222, %eax\n"
		       "xor %edx, %edx\n"
		       "wrmsr\n"
		       "mov $0x3333, %eax\n"
		       "movq %rax, %xmm3\n"
		       "out %al, $0xf4\n"
		       "hlt\n" /* IF=0: stays halted */
		       "state_resume:\n"
		       "add $1, %r8\n"
		       "movq %xmm3, %r9\n"
		       "mov $0xc0000102, %ecx\n"
		       "rdmsr\n"
		       "mov %rax, %r10\n" GUEST_DONE);

Test(sys_smp, state_round_trip_to_another_vcpu)
{
	h_load(&h, H_CODE, state_prog_start, BLOB_LEN(state_prog));
	h_long_mode(&h, 0, H_CODE);
	cr_assert_eq(h_run(&h, 0, 10000), VCPU_EXIT_IO);
	struct vcpu_state *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	h_state(&h, 0, a);
	cr_assert_eq(a->mp_state, VCPU_MP_HALTED);
	/* vCPU 1 takes vCPU 0's whole state and goes on from there, woken */
	a->mp_state = VCPU_MP_RUNNABLE;
	h_set_state(&h, 1, a);
	h_state(&h, 1, b);
	cr_assert_eq(memcmp(a->gpr, b->gpr, sizeof(a->gpr)), 0);
	cr_assert_eq(a->rip, b->rip);
	cr_assert_eq(memcmp(a->seg, b->seg, sizeof(a->seg)), 0);
	cr_assert_eq(memcmp(&a->tr, &b->tr, sizeof(a->tr)), 0);
	cr_assert_eq(a->cr0, b->cr0);
	cr_assert_eq(a->cr3, b->cr3);
	cr_assert_eq(a->cr4, b->cr4);
	cr_assert_eq(a->efer, b->efer);
	cr_assert_eq(memcmp(a->xsave, b->xsave, 512), 0);
	cr_assert_eq(vcpu_state_get_msr(b, 0xc0000102, 0), 0x2222);
	cr_assert_eq(h_run(&h, 1, 10000), VCPU_EXIT_IO);
	h_state(&h, 1, b);
	cr_assert_eq(b->gpr[GPR_R8], 0x1112);
	cr_assert_eq(b->gpr[GPR_R9], 0x3333, "XMM3 came along");
	cr_assert_eq(b->gpr[GPR_R10], 0x2222, "KERNEL_GS_BASE came along");
	free(a);
	free(b);
}
