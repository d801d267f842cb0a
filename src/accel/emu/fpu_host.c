/* Host execution of x87/MMX instructions (see fpu_host.h). */
#include "accel/emu/fpu_host.h"

#include <string.h>

/* One 4-byte stub per x87 opcode/ModRM pair: "op modrm ret int3", 2048 of them, then the four
 * environment instructions with a 66 prefix. Only register forms (mod 11) and [rdi] forms
 * (mod 00 rm 111) are ever called. */
__asm__(".pushsection .text\n"
	".balign 16\n"
	".globl gureum_x87_stubs\n"
	".hidden gureum_x87_stubs\n"
	"gureum_x87_stubs:\n"
	".set gureum_x87_i, 0\n"
	".rept 2048\n"
	".byte 0xd8 + (gureum_x87_i >> 8), gureum_x87_i & 0xff, 0xc3, 0xcc\n"
	".set gureum_x87_i, gureum_x87_i + 1\n"
	".endr\n"
	".byte 0x66, 0xd9, 0x27, 0xc3\n" /* fldenv  (%rdi) */
	".byte 0x66, 0xd9, 0x37, 0xc3\n" /* fnstenv (%rdi) */
	".byte 0x66, 0xdd, 0x27, 0xc3\n" /* frstor  (%rdi) */
	".byte 0x66, 0xdd, 0x37, 0xc3\n" /* fnsave  (%rdi) */
	".popsection\n");

extern const uint8_t gureum_x87_stubs[] __attribute__((visibility("hidden")));

const void *fpu_host_x87_stub(unsigned opcode, unsigned modrm, bool opsize16)
{
	unsigned index = ((opcode - 0xd8) & 7) << 8 | (modrm & 0xff);
	if (opsize16 && (modrm & 0xc7) == 0x07 && (opcode == 0xd9 || opcode == 0xdd)) {
		unsigned reg = (modrm >> 3) & 7;
		if (reg == 4 || reg == 6)
			return gureum_x87_stubs + 4 * (2048 + (opcode == 0xdd) * 2 + (reg == 6));
	}
	return gureum_x87_stubs + 4 * index;
}

#define ARITH_FLAGS 0x8d5ULL

/* The FXSAVE image handed to the host: the guest's x87 head, the host's MXCSR (x87 code never
 * reads it, and FXRSTOR must not load a guest value the host would fault on), no XMM data.
 * One image per thread, so that only the 160-byte head is copied per instruction: whatever
 * the XMM part holds (zeros, then what FXSAVE left) is loaded into host registers the asm
 * declares clobbered, and never reaches the guest. */
static __thread uint8_t thread_image[512] __attribute__((aligned(16)));

static uint8_t *image_from(const uint8_t *fx)
{
	uint8_t *image = thread_image;
	uint32_t mxcsr;
	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	memcpy(image, fx, 160);
	memcpy(image + 24, &mxcsr, 4);
	memset(image + 28, 0, 4);
	return image;
}

/* FCW, FSW, FTW and the registers come back; FOP, FIP and FDP (bytes 6-23) do not: the host
 * records its own addresses there, or zeros (AMD saves them only with an exception pending),
 * and the guest's values are the emulator's to keep (x87_pointers.c). */
static void image_to(uint8_t *fx, const uint8_t *image)
{
	memcpy(fx, image, 6);
	memcpy(fx + 32, image + 32, 128);
}

#define FPU_CLOBBERS                                                                               \
	"memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",    \
	    "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "st", "st(1)", "st(2)",  \
	    "st(3)", "st(4)", "st(5)", "st(6)", "st(7)"

unsigned fpu_host_run_seq(const void *const *stubs, unsigned n, uint8_t *fx)
{
	uint8_t *image = image_from(fx);
	uint64_t k = 0, count = n;
	/* One asm statement for the whole run: nothing the compiler emits may sit between the
	 * stubs and touch the FPU. FNSTSW does not wait. */
	__asm__ volatile("fxrstor64 (%[img])\n\t"
			 "lea -128(%%rsp), %%rsp\n"
			 "1:\n\t"
			 "call *(%[stubs],%[k],8)\n\t"
			 "inc %[k]\n\t"
			 "fnstsw %%ax\n\t"
			 "test $0x80, %%al\n\t"
			 "jnz 2f\n\t"
			 "cmp %[n], %[k]\n\t"
			 "jb 1b\n"
			 "2:\n\t"
			 "lea 128(%%rsp), %%rsp\n\t"
			 "fxsave64 (%[img])\n\t"
			 "fninit\n\t"
			 : [k] "+r"(k)
			 : [img] "r"(image), [stubs] "r"(stubs), [n] "r"(count)
			 : "rax", FPU_CLOBBERS);
	image_to(fx, image);
	return (unsigned)k;
}

void fpu_host_run(const void *stub, uint8_t *fx, void *mem, struct fpu_host_regs *regs)
{
	uint8_t *image = image_from(fx);
	uint64_t flags = regs->rflags & ARITH_FLAGS, rax = regs->rax;
	/* The call pushes below the red zone; the stub's flags survive until PUSHFQ (LEA does not
	 * touch them). FXSAVE64 and FNINIT never wait, so a pending unmasked guest exception
	 * cannot trap on the host. */
	__asm__ volatile("fxrstor64 (%[img])\n\t"
			 "lea -128(%%rsp), %%rsp\n\t"
			 "pushfq\n\t"
			 "andq $~0x8d5, (%%rsp)\n\t"
			 "orq %[f], (%%rsp)\n\t"
			 "popfq\n\t"
			 "call *%[stub]\n\t"
			 "pushfq\n\t"
			 "popq %[f]\n\t"
			 "lea 128(%%rsp), %%rsp\n\t"
			 "fxsave64 (%[img])\n\t"
			 "fninit\n\t"
			 : [f] "+r"(flags), "+a"(rax)
			 : [img] "r"(image), [stub] "r"(stub), "D"(mem)
			 : FPU_CLOBBERS);
	image_to(fx, image);
	regs->rflags = flags;
	regs->rax = rax;
}

void fpu_host_normalize(uint8_t *fx)
{
	uint8_t *image = image_from(fx);
	__asm__ volatile("fxrstor64 (%[img])\n\t"
			 "fxsave64 (%[img])\n\t"
			 "fninit\n\t"
			 :
			 : [img] "r"(image)
			 : FPU_CLOBBERS);
	image_to(fx, image);
}
