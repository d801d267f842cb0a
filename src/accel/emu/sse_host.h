/* SSE floating-point and the SSE3..SSE4.2 vector instructions, executed on the host.
 *
 * IEEE arithmetic under MXCSR (rounding, DAZ, FTZ, exception flags), the approximations of
 * RCP/RSQRT, dot products and the string compares are the host's own: each operation is a
 * fixed stub (its register form with xmm1 = destination, xmm2 = source, xmm0 = the implicit
 * operand, eax/edx/ecx the implicit general registers) that runs with the guest's MXCSR, all
 * exceptions masked, so that the caller can see which exceptions the guest has unmasked and
 * raise #XM without committing the result. */
#ifndef GUREUM_ACCEL_EMU_SSE_HOST_H
#define GUREUM_ACCEL_EMU_SSE_HOST_H

#include <stdint.h>

/* Source operand shapes (memory bytes; P = 16 aligned, PU = 16 unaligned). */
enum sse_src { SRC_P, SRC_PU, SRC_S2, SRC_S4, SRC_S8, SRC_GPR };
/* Where the result goes. */
enum sse_out { OUT_XMM, OUT_GPR, OUT_FLAGS, OUT_STRI, OUT_STRM };
/* Host feature an operation needs (and the guest sees in CPUID). */
enum sse_level { LVL_SSE2, LVL_SSE3, LVL_SSSE3, LVL_SSE41, LVL_SSE42 };

/* X(name, instruction, source, result, level). A name ending in _Q is the REX.W form of the
 * entry right before it. */
#define SSE_HOST_OPS(X)                                                                            \
	X(ADDPS, "addps %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                                   \
	X(ADDSS, "addss %xmm2, %xmm1", SRC_S4, OUT_XMM, LVL_SSE2)                                  \
	X(ADDPD, "addpd %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                                   \
	X(ADDSD, "addsd %xmm2, %xmm1", SRC_S8, OUT_XMM, LVL_SSE2)                                  \
	X(SUBPS, "subps %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                                   \
	X(SUBSS, "subss %xmm2, %xmm1", SRC_S4, OUT_XMM, LVL_SSE2)                                  \
	X(SUBPD, "subpd %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                                   \
	X(SUBSD, "subsd %xmm2, %xmm1", SRC_S8, OUT_XMM, LVL_SSE2)                                  \
	X(MULPS, "mulps %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                                   \
	X(MULSS, "mulss %xmm2, %xmm1", SRC_S4, OUT_XMM, LVL_SSE2)                                  \
	X(MULPD, "mulpd %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                                   \
	X(MULSD, "mulsd %xmm2, %xmm1", SRC_S8, OUT_XMM, LVL_SSE2)                                  \
	X(DIVPS, "divps %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                                   \
	X(DIVSS, "divss %xmm2, %xmm1", SRC_S4, OUT_XMM, LVL_SSE2)                                  \
	X(DIVPD, "divpd %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                                   \
	X(DIVSD, "divsd %xmm2, %xmm1", SRC_S8, OUT_XMM, LVL_SSE2)                                  \
	X(MINPS, "minps %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                                   \
	X(MINSS, "minss %xmm2, %xmm1", SRC_S4, OUT_XMM, LVL_SSE2)                                  \
	X(MINPD, "minpd %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                                   \
	X(MINSD, "minsd %xmm2, %xmm1", SRC_S8, OUT_XMM, LVL_SSE2)                                  \
	X(MAXPS, "maxps %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                                   \
	X(MAXSS, "maxss %xmm2, %xmm1", SRC_S4, OUT_XMM, LVL_SSE2)                                  \
	X(MAXPD, "maxpd %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                                   \
	X(MAXSD, "maxsd %xmm2, %xmm1", SRC_S8, OUT_XMM, LVL_SSE2)                                  \
	X(SQRTPS, "sqrtps %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                                 \
	X(SQRTSS, "sqrtss %xmm2, %xmm1", SRC_S4, OUT_XMM, LVL_SSE2)                                \
	X(SQRTPD, "sqrtpd %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                                 \
	X(SQRTSD, "sqrtsd %xmm2, %xmm1", SRC_S8, OUT_XMM, LVL_SSE2)                                \
	X(RCPPS, "rcpps %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                                   \
	X(RCPSS, "rcpss %xmm2, %xmm1", SRC_S4, OUT_XMM, LVL_SSE2)                                  \
	X(RSQRTPS, "rsqrtps %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                               \
	X(RSQRTSS, "rsqrtss %xmm2, %xmm1", SRC_S4, OUT_XMM, LVL_SSE2)                              \
	X(UCOMISS, "ucomiss %xmm2, %xmm1", SRC_S4, OUT_FLAGS, LVL_SSE2)                            \
	X(COMISS, "comiss %xmm2, %xmm1", SRC_S4, OUT_FLAGS, LVL_SSE2)                              \
	X(UCOMISD, "ucomisd %xmm2, %xmm1", SRC_S8, OUT_FLAGS, LVL_SSE2)                            \
	X(COMISD, "comisd %xmm2, %xmm1", SRC_S8, OUT_FLAGS, LVL_SSE2)                              \
	X(CVTSI2SS, "cvtsi2ssl %eax, %xmm1", SRC_GPR, OUT_XMM, LVL_SSE2)                           \
	X(CVTSI2SS_Q, "cvtsi2ssq %rax, %xmm1", SRC_GPR, OUT_XMM, LVL_SSE2)                         \
	X(CVTSI2SD, "cvtsi2sdl %eax, %xmm1", SRC_GPR, OUT_XMM, LVL_SSE2)                           \
	X(CVTSI2SD_Q, "cvtsi2sdq %rax, %xmm1", SRC_GPR, OUT_XMM, LVL_SSE2)                         \
	X(CVTTSS2SI, "cvttss2si %xmm2, %eax", SRC_S4, OUT_GPR, LVL_SSE2)                           \
	X(CVTTSS2SI_Q, "cvttss2si %xmm2, %rax", SRC_S4, OUT_GPR, LVL_SSE2)                         \
	X(CVTSS2SI, "cvtss2si %xmm2, %eax", SRC_S4, OUT_GPR, LVL_SSE2)                             \
	X(CVTSS2SI_Q, "cvtss2si %xmm2, %rax", SRC_S4, OUT_GPR, LVL_SSE2)                           \
	X(CVTTSD2SI, "cvttsd2si %xmm2, %eax", SRC_S8, OUT_GPR, LVL_SSE2)                           \
	X(CVTTSD2SI_Q, "cvttsd2si %xmm2, %rax", SRC_S8, OUT_GPR, LVL_SSE2)                         \
	X(CVTSD2SI, "cvtsd2si %xmm2, %eax", SRC_S8, OUT_GPR, LVL_SSE2)                             \
	X(CVTSD2SI_Q, "cvtsd2si %xmm2, %rax", SRC_S8, OUT_GPR, LVL_SSE2)                           \
	X(CVTPS2PD, "cvtps2pd %xmm2, %xmm1", SRC_S8, OUT_XMM, LVL_SSE2)                            \
	X(CVTPD2PS, "cvtpd2ps %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                             \
	X(CVTSS2SD, "cvtss2sd %xmm2, %xmm1", SRC_S4, OUT_XMM, LVL_SSE2)                            \
	X(CVTSD2SS, "cvtsd2ss %xmm2, %xmm1", SRC_S8, OUT_XMM, LVL_SSE2)                            \
	X(CVTDQ2PS, "cvtdq2ps %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                             \
	X(CVTPS2DQ, "cvtps2dq %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                             \
	X(CVTTPS2DQ, "cvttps2dq %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                           \
	X(CVTTPD2DQ, "cvttpd2dq %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                           \
	X(CVTDQ2PD, "cvtdq2pd %xmm2, %xmm1", SRC_S8, OUT_XMM, LVL_SSE2)                            \
	X(CVTPD2DQ, "cvtpd2dq %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE2)                             \
	X(ADDSUBPS, "addsubps %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE3)                             \
	X(ADDSUBPD, "addsubpd %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE3)                             \
	X(HADDPS, "haddps %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE3)                                 \
	X(HADDPD, "haddpd %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE3)                                 \
	X(HSUBPS, "hsubps %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE3)                                 \
	X(HSUBPD, "hsubpd %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE3)                                 \
	X(PSHUFB, "pshufb %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSSE3)                                \
	X(PHADDW, "phaddw %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSSE3)                                \
	X(PHADDD, "phaddd %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSSE3)                                \
	X(PHADDSW, "phaddsw %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSSE3)                              \
	X(PMADDUBSW, "pmaddubsw %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSSE3)                          \
	X(PHSUBW, "phsubw %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSSE3)                                \
	X(PHSUBD, "phsubd %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSSE3)                                \
	X(PHSUBSW, "phsubsw %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSSE3)                              \
	X(PSIGNB, "psignb %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSSE3)                                \
	X(PSIGNW, "psignw %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSSE3)                                \
	X(PSIGND, "psignd %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSSE3)                                \
	X(PMULHRSW, "pmulhrsw %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSSE3)                            \
	X(PABSB, "pabsb %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSSE3)                                  \
	X(PABSW, "pabsw %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSSE3)                                  \
	X(PABSD, "pabsd %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSSE3)                                  \
	X(PBLENDVB, "pblendvb %xmm0, %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE41)                     \
	X(BLENDVPS, "blendvps %xmm0, %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE41)                     \
	X(BLENDVPD, "blendvpd %xmm0, %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE41)                     \
	X(PTEST, "ptest %xmm2, %xmm1", SRC_P, OUT_FLAGS, LVL_SSE41)                                \
	X(PMOVSXBW, "pmovsxbw %xmm2, %xmm1", SRC_S8, OUT_XMM, LVL_SSE41)                           \
	X(PMOVSXBD, "pmovsxbd %xmm2, %xmm1", SRC_S4, OUT_XMM, LVL_SSE41)                           \
	X(PMOVSXBQ, "pmovsxbq %xmm2, %xmm1", SRC_S2, OUT_XMM, LVL_SSE41)                           \
	X(PMOVSXWD, "pmovsxwd %xmm2, %xmm1", SRC_S8, OUT_XMM, LVL_SSE41)                           \
	X(PMOVSXWQ, "pmovsxwq %xmm2, %xmm1", SRC_S4, OUT_XMM, LVL_SSE41)                           \
	X(PMOVSXDQ, "pmovsxdq %xmm2, %xmm1", SRC_S8, OUT_XMM, LVL_SSE41)                           \
	X(PMOVZXBW, "pmovzxbw %xmm2, %xmm1", SRC_S8, OUT_XMM, LVL_SSE41)                           \
	X(PMOVZXBD, "pmovzxbd %xmm2, %xmm1", SRC_S4, OUT_XMM, LVL_SSE41)                           \
	X(PMOVZXBQ, "pmovzxbq %xmm2, %xmm1", SRC_S2, OUT_XMM, LVL_SSE41)                           \
	X(PMOVZXWD, "pmovzxwd %xmm2, %xmm1", SRC_S8, OUT_XMM, LVL_SSE41)                           \
	X(PMOVZXWQ, "pmovzxwq %xmm2, %xmm1", SRC_S4, OUT_XMM, LVL_SSE41)                           \
	X(PMOVZXDQ, "pmovzxdq %xmm2, %xmm1", SRC_S8, OUT_XMM, LVL_SSE41)                           \
	X(PMULDQ, "pmuldq %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE41)                                \
	X(PCMPEQQ, "pcmpeqq %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE41)                              \
	X(PACKUSDW, "packusdw %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE41)                            \
	X(PMINSB, "pminsb %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE41)                                \
	X(PMINSD, "pminsd %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE41)                                \
	X(PMINUW, "pminuw %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE41)                                \
	X(PMINUD, "pminud %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE41)                                \
	X(PMAXSB, "pmaxsb %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE41)                                \
	X(PMAXSD, "pmaxsd %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE41)                                \
	X(PMAXUW, "pmaxuw %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE41)                                \
	X(PMAXUD, "pmaxud %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE41)                                \
	X(PMULLD, "pmulld %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE41)                                \
	X(PHMINPOSUW, "phminposuw %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE41)                        \
	X(PCMPGTQ, "pcmpgtq %xmm2, %xmm1", SRC_P, OUT_XMM, LVL_SSE42)

/* I(name, variants, "opcode bytes", source, result, level): instructions with an imm8, one
 * stub per value of its low log2(variants) bits (the bits the instruction uses). */
#define SSE_HOST_IMM_OPS(I)                                                                        \
	I(CMPPS, 8, "0x0f, 0xc2", SRC_P, OUT_XMM, LVL_SSE2)                                        \
	I(CMPPD, 8, "0x66, 0x0f, 0xc2", SRC_P, OUT_XMM, LVL_SSE2)                                  \
	I(CMPSS, 8, "0xf3, 0x0f, 0xc2", SRC_S4, OUT_XMM, LVL_SSE2)                                 \
	I(CMPSD, 8, "0xf2, 0x0f, 0xc2", SRC_S8, OUT_XMM, LVL_SSE2)                                 \
	I(PALIGNR, 256, "0x66, 0x0f, 0x3a, 0x0f", SRC_P, OUT_XMM, LVL_SSSE3)                       \
	I(ROUNDPS, 16, "0x66, 0x0f, 0x3a, 0x08", SRC_P, OUT_XMM, LVL_SSE41)                        \
	I(ROUNDPD, 16, "0x66, 0x0f, 0x3a, 0x09", SRC_P, OUT_XMM, LVL_SSE41)                        \
	I(ROUNDSS, 16, "0x66, 0x0f, 0x3a, 0x0a", SRC_S4, OUT_XMM, LVL_SSE41)                       \
	I(ROUNDSD, 16, "0x66, 0x0f, 0x3a, 0x0b", SRC_S8, OUT_XMM, LVL_SSE41)                       \
	I(BLENDPS, 16, "0x66, 0x0f, 0x3a, 0x0c", SRC_P, OUT_XMM, LVL_SSE41)                        \
	I(BLENDPD, 4, "0x66, 0x0f, 0x3a, 0x0d", SRC_P, OUT_XMM, LVL_SSE41)                         \
	I(PBLENDW, 256, "0x66, 0x0f, 0x3a, 0x0e", SRC_P, OUT_XMM, LVL_SSE41)                       \
	I(DPPS, 256, "0x66, 0x0f, 0x3a, 0x40", SRC_P, OUT_XMM, LVL_SSE41)                          \
	I(DPPD, 256, "0x66, 0x0f, 0x3a, 0x41", SRC_P, OUT_XMM, LVL_SSE41)                          \
	I(MPSADBW, 8, "0x66, 0x0f, 0x3a, 0x42", SRC_P, OUT_XMM, LVL_SSE41)                         \
	I(PCMPESTRM, 256, "0x66, 0x0f, 0x3a, 0x60", SRC_PU, OUT_STRM, LVL_SSE42)                   \
	I(PCMPESTRI, 256, "0x66, 0x0f, 0x3a, 0x61", SRC_PU, OUT_STRI, LVL_SSE42)                   \
	I(PCMPISTRM, 256, "0x66, 0x0f, 0x3a, 0x62", SRC_PU, OUT_STRM, LVL_SSE42)                   \
	I(PCMPISTRI, 256, "0x66, 0x0f, 0x3a, 0x63", SRC_PU, OUT_STRI, LVL_SSE42)

/* Operation numbers (insn->sub of op_sse_host): one per entry of both lists. */
enum sse_host_op {
#define SSE_HOST_ENUM(name, ...) SH_##name,
	SSE_HOST_OPS(SSE_HOST_ENUM) SSE_HOST_IMM_OPS(SSE_HOST_ENUM)
#undef SSE_HOST_ENUM
	    SH_COUNT
};

struct sse_host_desc {
	uint16_t stub;	   /* index of the first stub */
	uint16_t variants; /* stubs selected by the imm8 (1 without one) */
	uint8_t src, out, level;
};

extern const struct sse_host_desc sse_host_ops[SH_COUNT];

/* The registers a stub sees. */
struct sse_host_regs {
	uint8_t xmm0[16], xmm1[16], xmm2[16];
	uint64_t rax, rcx, rdx, rflags;
	uint32_t mxcsr; /* in: the MXCSR to run under; out: the MXCSR after */
};

/* Runs stub number `stub` (sse_host_desc.stub + the imm8 variant). */
void sse_host_run(unsigned stub, struct sse_host_regs *regs);

/* The highest enum sse_level the host supports. */
enum sse_level sse_host_level(void);

#endif
