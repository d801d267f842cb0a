/* What a guest that came from KVM finds on the software CPU (a VM moved between the two):
 * IA32_TSC_ADJUST as the SDM defines it (17.17.3), machine-check banks as many as KVM gives
 * (Linux polls them: a refused read would panic it), and a paravirtual-EOI flag KVM left set
 * cleared when the vCPU's state is loaded, since nothing here would do that EOI. */
#include "sys_harness.h"

#include <criterion/criterion.h>
#include <string.h>

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

TestSuite(sys_kvm_guest, .init = setup, .fini = teardown, .timeout = 30);

static enum vcpu_exit_reason run_blob(const uint8_t *start, size_t len)
{
	h_load(&h, H_CODE, start, len);
	enum vcpu_exit_reason r = h_run(&h, 0, 10000);
	h_state(&h, 0, &st);
	return r;
}

#define RDMSR_TO(msr, reg)                                                                         \
	"mov $" #msr ", %ecx\n"                                                                    \
	"rdmsr\n"                                                                                  \
	"shl $32, %rdx\n"                                                                          \
	"or %rax, %rdx\n"                                                                          \
	"mov %rdx, " reg "\n"
#define RDTSC_TO(reg)                                                                              \
	"rdtsc\n"                                                                                  \
	"shl $32, %rdx\n"                                                                          \
	"or %rax, %rdx\n"                                                                          \
	"mov %rdx, " reg "\n"

/* TSC_ADJUST moves the TSC by what is added to it; a write of the TSC moves TSC_ADJUST. */
GUEST_BLOB(tsc_adjust,
	   ".code64\n" RDTSC_TO("%r8")
	       RDMSR_TO(0x3b, "%r9") "mov $0x3b, %ecx\n"
				     "xor %eax, %eax\n"
				     "mov $0x100, %edx\n" /* 1 << 40 */
				     "wrmsr\n" RDTSC_TO("%r10")
					 RDMSR_TO(0x3b, "%r11") "mov $0x10, %ecx\n"
								"xor %eax, %eax\n"
								"xor %edx, %edx\n"
								"wrmsr\n" RDMSR_TO(0x3b, "%r12")
								    GUEST_DONE);

Test(sys_kvm_guest, tsc_adjust_moves_the_tsc_and_follows_its_writes)
{
	h_long_mode(&h, 0, H_CODE);
	cr_assert_eq(run_blob(tsc_adjust_start, BLOB_LEN(tsc_adjust)), VCPU_EXIT_IO);
	uint64_t before = st.gpr[GPR_R8], after = st.gpr[GPR_R10];
	cr_assert_eq(st.gpr[GPR_R9], 0, "TSC_ADJUST starts at 0");
	cr_assert(after - before >= (1ULL << 40) && after - before < (1ULL << 40) + (1ULL << 36),
		  "the TSC moved by %#llx, want 1 << 40", (unsigned long long)(after - before));
	cr_assert_eq(st.gpr[GPR_R11], 1ULL << 40);
	/* The TSC written back to 0 moved TSC_ADJUST down by the TSC's value then. */
	uint64_t adjust = st.gpr[GPR_R12];
	cr_assert(adjust > (1ULL << 40) - after - (1ULL << 36) && adjust <= (1ULL << 40) - after,
		  "TSC_ADJUST %#llx after the TSC was set to 0 (it read %#llx)",
		  (unsigned long long)adjust, (unsigned long long)after);
	/* It is part of the saved state, and a load sets both as saved. */
	cr_assert_eq(vcpu_state_get_msr(&st, 0x3b, 7), adjust);
}

/* Bank 31's MSRs (the last of KVM's 32) read and write without a fault. */
GUEST_BLOB(mce, ".code64\n" RDMSR_TO(0x179, "%r8") RDMSR_TO(0x47d, "%r9")
		    RDMSR_TO(0x47c, "%r10") "mov $0x47c, %ecx\n"
					    "mov $-1, %eax\n"
					    "mov $-1, %edx\n"
					    "wrmsr\n"
					    "mov $0x47d, %ecx\n"
					    "xor %eax, %eax\n"
					    "xor %edx, %edx\n"
					    "wrmsr\n"
					    "mov $1, %eax\n"
					    "cpuid\n"
					    "mov %rdx, %r11\n" GUEST_DONE);

Test(sys_kvm_guest, machine_check_banks_answer_as_kvms_do)
{
	h_long_mode(&h, 0, H_CODE);
	cr_assert_eq(run_blob(mce_start, BLOB_LEN(mce)), VCPU_EXIT_IO);
	cr_assert_eq(h_rd64(&h, REC(REC_COUNT)), 0, "an MSR access faulted (vector %llu)",
		     (unsigned long long)h_rd64(&h, REC(REC_VEC)));
	cr_assert_eq(st.gpr[GPR_R8] & 0xff, 32, "MCG_CAP counts %llu banks",
		     (unsigned long long)(st.gpr[GPR_R8] & 0xff));
	cr_assert_eq(st.gpr[GPR_R9], 0, "bank 31 logged an error");
	cr_assert_eq(st.gpr[GPR_R10], ~0ULL, "bank 31 does not report every error type enabled");
	cr_assert_eq(st.gpr[GPR_R11] & ((1u << 7) | (1u << 14)), (1u << 7) | (1u << 14),
		     "CPUID does not offer MCE and MCA");
}

#define MSR_KVM_PV_EOI_EN 0x4b564d04u

Test(sys_kvm_guest, a_pending_pv_eoi_flag_is_cleared_on_load)
{
	h_long_mode(&h, 0, H_CODE);
	h_state(&h, 0, &st);
	h_wr64(&h, H_DATA, 0x0101); /* the flag (bit 0) and a neighbour that must stay */
	h_wr64(&h, H_DATA + 64, 1);
	cr_assert(vcpu_state_set_msr(&st, MSR_KVM_PV_EOI_EN, H_DATA | 1));
	h_set_state(&h, 0, &st);
	cr_assert_eq(h_rd64(&h, H_DATA), 0x0100, "the flag stayed set (or more changed)");
	/* Disabled: the word is the guest's own. */
	cr_assert(vcpu_state_set_msr(&st, MSR_KVM_PV_EOI_EN, (H_DATA + 64) & ~1ULL));
	h_set_state(&h, 0, &st);
	cr_assert_eq(h_rd64(&h, H_DATA + 64), 1);
}
