/* The stubs and the runner behind sse_host.h. */
#include "accel/emu/sse_host.h"

#include <cpuid.h>
#include <stddef.h>

/* Stub numbers: one per plain operation, `variants` per imm8 operation, 8 bytes each. */
enum sse_stub {
#define STUB_PLAIN(name, ...)	   ST_##name,
#define STUB_IMM(name, count, ...) ST_##name, ST_##name##_LAST = ST_##name + (count)-1,
	SSE_HOST_OPS(STUB_PLAIN) SSE_HOST_IMM_OPS(STUB_IMM) ST_COUNT
};

/* Each stub is "instruction; ret" padded to 8 bytes; the imm8 forms are spelled out in bytes
 * with ModRM CA (xmm1, xmm2) so that the assembler can count through the immediates. */
#define ASM_PLAIN(name, text, ...) ".balign 8\n\t" text "\n\tret\n"
#define ASM_IMM(name, count, bytes, ...)                                                           \
	".set gureum_sse_k, 0\n"                                                                   \
	".rept " #count "\n"                                                                       \
	".balign 8\n"                                                                              \
	".byte " bytes ", 0xca, gureum_sse_k, 0xc3\n"                                              \
	".set gureum_sse_k, gureum_sse_k + 1\n"                                                    \
	".endr\n"

__asm__(".pushsection .text\n"
	".balign 16\n"
	".globl gureum_sse_stubs\n"
	".hidden gureum_sse_stubs\n"
	"gureum_sse_stubs:\n" SSE_HOST_OPS(ASM_PLAIN)
	    SSE_HOST_IMM_OPS(ASM_IMM) ".balign 8\n"
				      ".globl gureum_sse_stubs_end\n"
				      ".hidden gureum_sse_stubs_end\n"
				      "gureum_sse_stubs_end:\n"
				      ".popsection\n");

extern const uint8_t gureum_sse_stubs[] __attribute__((visibility("hidden")));

const struct sse_host_desc sse_host_ops[SH_COUNT] = {
#define DESC_PLAIN(name, text, src_, out_, level_)                                                 \
	[SH_##name] = {.stub = ST_##name, .variants = 1, .src = src_, .out = out_, .level = level_},
#define DESC_IMM(name, count, bytes, src_, out_, level_)                                           \
	[SH_##name] = {                                                                            \
	    .stub = ST_##name, .variants = count, .src = src_, .out = out_, .level = level_},
    SSE_HOST_OPS(DESC_PLAIN) SSE_HOST_IMM_OPS(DESC_IMM)};

_Static_assert(offsetof(struct sse_host_regs, rax) == 48, "layout used by the asm below");
_Static_assert(offsetof(struct sse_host_regs, mxcsr) == 80, "layout used by the asm below");

void sse_host_run(unsigned stub, struct sse_host_regs *regs)
{
	const void *code = gureum_sse_stubs + 8 * (stub < ST_COUNT ? stub : 0);
	uint32_t host_mxcsr;
	/* The call pushes below the red zone; the stub's flags survive until PUSHFQ (LEA and MOV
	 * do not touch them). */
	__asm__ volatile("stmxcsr %[host]\n\t"
			 "ldmxcsr 80(%[r])\n\t"
			 "movdqu 0(%[r]), %%xmm0\n\t"
			 "movdqu 16(%[r]), %%xmm1\n\t"
			 "movdqu 32(%[r]), %%xmm2\n\t"
			 "mov 48(%[r]), %%rax\n\t"
			 "mov 56(%[r]), %%rcx\n\t"
			 "mov 64(%[r]), %%rdx\n\t"
			 "lea -128(%%rsp), %%rsp\n\t"
			 "call *%[code]\n\t"
			 "pushfq\n\t"
			 "popq 72(%[r])\n\t"
			 "lea 128(%%rsp), %%rsp\n\t"
			 "movdqu %%xmm0, 0(%[r])\n\t"
			 "movdqu %%xmm1, 16(%[r])\n\t"
			 "mov %%rax, 48(%[r])\n\t"
			 "mov %%rcx, 56(%[r])\n\t"
			 "mov %%rdx, 64(%[r])\n\t"
			 "stmxcsr 80(%[r])\n\t"
			 "ldmxcsr %[host]\n\t"
			 : [host] "+m"(host_mxcsr)
			 : [r] "r"(regs), [code] "r"(code)
			 : "rax", "rcx", "rdx", "xmm0", "xmm1", "xmm2", "memory", "cc");
}

static enum sse_level probe_level(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE3))
		return LVL_SSE2;
	if (!(c & bit_SSSE3))
		return LVL_SSE3;
	if (!(c & bit_SSE4_1))
		return LVL_SSSE3;
	if (!(c & bit_SSE4_2))
		return LVL_SSE41;
	return LVL_SSE42;
}

enum sse_level sse_host_level(void)
{
	/* Computed once; a racing second computation stores the same value. */
	static int level = -1;
	int v = __atomic_load_n(&level, __ATOMIC_RELAXED);
	if (v < 0) {
		v = probe_level();
		__atomic_store_n(&level, v, __ATOMIC_RELAXED);
	}
	return (enum sse_level)v;
}
