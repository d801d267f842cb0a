/* Random test cases: random prefixes, an opcode from the groups the emulator implements (plus
 * invalid ones, to check #UD), random operand bytes biased towards the sandbox, random
 * registers (often pointers into the data pages) and random data; FXSAVE/FXRSTOR images mostly
 * on a 16-byte boundary in the data pages. Instructions whose outcome
 * depends on the host (CPUID, RDTSC, RDRAND), that leave the sandbox (SYSCALL, INT n, far
 * transfers, IRET, segment loads, POPF's TF/AC) or that the emulator does not implement yet
 * are not generated. x87 cases start from a random x87 state (control word, stack top, tags,
 * special values in the registers) as well. */
#include "accel/emu/insn.h"
#include "difftest.h"

#include <string.h>

uint64_t dt_rand(uint64_t *s)
{
	/* splitmix64: fixed seed, reproducible everywhere */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned pick(uint64_t *rng, unsigned n)
{
	return (unsigned)(dt_rand(rng) % n);
}

static bool chance(uint64_t *rng, unsigned percent)
{
	return pick(rng, 100) < percent;
}

static const uint8_t one_byte_excluded[] = {
    0x0f, 0x26, 0x2e, 0x36, 0x3e, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a,
    0x4b, 0x4c, 0x4d, 0x4e, 0x4f, 0x62, 0x64, 0x65, 0x66, 0x67, 0x8e, 0x9d, 0xc4, 0xc5, 0xca, 0xcb,
    0xcd, 0xcf, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xf0, 0xf1, 0xf2, 0xf3,
};

static const uint8_t two_byte_ops[] = {
    0x0b,
    0x0d,
    0x18,
    0x19,
    0x1a,
    0x1b,
    0x1c,
    0x1d,
    0x1e,
    0x1f,
    0x40,
    0x41,
    0x42,
    0x43,
    0x44,
    0x45,
    0x46,
    0x47,
    0x48,
    0x49,
    0x4a,
    0x4b,
    0x4c,
    0x4d,
    0x4e,
    0x4f,
    0x80,
    0x81,
    0x82,
    0x83,
    0x84,
    0x85,
    0x86,
    0x87,
    0x88,
    0x89,
    0x8a,
    0x8b,
    0x8c,
    0x8d,
    0x8e,
    0x8f,
    0x90,
    0x91,
    0x92,
    0x93,
    0x94,
    0x95,
    0x96,
    0x97,
    0x98,
    0x99,
    0x9a,
    0x9b,
    0x9c,
    0x9d,
    0x9e,
    0x9f,
    0xa0,
    0xa3,
    0xa4,
    0xa5,
    0xa8,
    0xab,
    0xac,
    0xad,
    0xaf,
    0xb0,
    0xb1,
    0xb3,
    0xb6,
    0xb7,
    0xb8,
    0xb9,
    0xba,
    0xbb,
    0xbc,
    0xbd,
    0xbe,
    0xbf,
    0xc0,
    0xc1,
    0xc7,
    0xc8,
    0xc9,
    0xca,
    0xcb,
    0xcc,
    0xcd,
    0xce,
    0xcf,
    0xff,
    /* invalid everywhere: #UD */
    0x04,
    0x0a,
    0x0e,
    0x0f,
    0x24,
    0x25,
    0x26,
    0x27,
    0x36,
    0x39,
    0x3b,
    0x3c,
    0x3d,
    0x3e,
    0x3f,
    0xa6,
    0xa7,
};

/* MMX and SSE..SSE4.2 opcodes as {map (1 0F, 2 0F38, 3 0F3A), opcode, mandatory prefix (0: none)}.
 */
static const uint8_t sse_ops[][3] = {
    {1, 0x10, 0},
    {1, 0x10, 0x66},
    {1, 0x10, 0xf3},
    {1, 0x10, 0xf2},
    {1, 0x11, 0},
    {1, 0x11, 0x66},
    {1, 0x11, 0xf3},
    {1, 0x11, 0xf2},
    {1, 0x12, 0x66},
    {1, 0x13, 0},
    {1, 0x13, 0x66},
    {1, 0x16, 0x66},
    {1, 0x17, 0},
    {1, 0x17, 0x66},
    {1, 0x28, 0},
    {1, 0x28, 0x66},
    {1, 0x29, 0},
    {1, 0x29, 0x66},
    {1, 0x54, 0},
    {1, 0x55, 0x66},
    {1, 0x56, 0},
    {1, 0x57, 0x66},
    {1, 0x60, 0x66},
    {1, 0x61, 0x66},
    {1, 0x62, 0x66},
    {1, 0x63, 0x66},
    {1, 0x64, 0x66},
    {1, 0x65, 0x66},
    {1, 0x66, 0x66},
    {1, 0x67, 0x66},
    {1, 0x68, 0x66},
    {1, 0x69, 0x66},
    {1, 0x6a, 0x66},
    {1, 0x6b, 0x66},
    {1, 0x6c, 0x66},
    {1, 0x6d, 0x66},
    {1, 0x6e, 0x66},
    {1, 0x6f, 0x66},
    {1, 0x6f, 0xf3},
    {1, 0x70, 0x66},
    {1, 0x70, 0xf3},
    {1, 0x70, 0xf2},
    {1, 0x71, 0x66},
    {1, 0x72, 0x66},
    {1, 0x73, 0x66},
    {1, 0x74, 0x66},
    {1, 0x75, 0x66},
    {1, 0x76, 0x66},
    {1, 0x7e, 0x66},
    {1, 0x7e, 0xf3},
    {1, 0x7f, 0x66},
    {1, 0x7f, 0xf3},
    {1, 0xd4, 0x66},
    {1, 0xd5, 0x66},
    {1, 0xd6, 0x66},
    {1, 0xd7, 0x66},
    {1, 0xd8, 0x66},
    {1, 0xd9, 0x66},
    {1, 0xda, 0x66},
    {1, 0xdb, 0x66},
    {1, 0xdc, 0x66},
    {1, 0xdd, 0x66},
    {1, 0xde, 0x66},
    {1, 0xdf, 0x66},
    {1, 0xe0, 0x66},
    {1, 0xe3, 0x66},
    {1, 0xe4, 0x66},
    {1, 0xe5, 0x66},
    {1, 0xe7, 0x66},
    {1, 0xe8, 0x66},
    {1, 0xe9, 0x66},
    {1, 0xea, 0x66},
    {1, 0xeb, 0x66},
    {1, 0xec, 0x66},
    {1, 0xed, 0x66},
    {1, 0xee, 0x66},
    {1, 0xef, 0x66},
    {1, 0xf4, 0x66},
    {1, 0xf5, 0x66},
    {1, 0xf6, 0x66},
    {1, 0xf8, 0x66},
    {1, 0xf9, 0x66},
    {1, 0xfa, 0x66},
    {1, 0xfb, 0x66},
    {1, 0xfc, 0x66},
    {1, 0xfd, 0x66},
    {1, 0xfe, 0x66},
    {1, 0x58, 0},
    {1, 0x58, 0x66},
    {1, 0x58, 0xf3},
    {1, 0x58, 0xf2},
    {1, 0x59, 0},
    {1, 0x59, 0x66},
    {1, 0x59, 0xf3},
    {1, 0x59, 0xf2},
    {1, 0x5c, 0},
    {1, 0x5c, 0x66},
    {1, 0x5c, 0xf3},
    {1, 0x5c, 0xf2},
    {1, 0x5d, 0},
    {1, 0x5d, 0x66},
    {1, 0x5d, 0xf3},
    {1, 0x5d, 0xf2},
    {1, 0x5e, 0},
    {1, 0x5e, 0x66},
    {1, 0x5e, 0xf3},
    {1, 0x5e, 0xf2},
    {1, 0x5f, 0},
    {1, 0x5f, 0x66},
    {1, 0x5f, 0xf3},
    {1, 0x5f, 0xf2},
    {1, 0x51, 0},
    {1, 0x51, 0x66},
    {1, 0x51, 0xf3},
    {1, 0x51, 0xf2},
    {1, 0x52, 0},
    {1, 0x52, 0xf3},
    {1, 0x53, 0},
    {1, 0x53, 0xf3},
    {1, 0x5a, 0},
    {1, 0x5a, 0x66},
    {1, 0x5a, 0xf3},
    {1, 0x5a, 0xf2},
    {1, 0x5b, 0},
    {1, 0x5b, 0x66},
    {1, 0x5b, 0xf3},
    {1, 0xe6, 0x66},
    {1, 0xe6, 0xf3},
    {1, 0xe6, 0xf2},
    {1, 0x2a, 0xf3},
    {1, 0x2a, 0xf2},
    {1, 0x2c, 0xf3},
    {1, 0x2c, 0xf2},
    {1, 0x2d, 0xf3},
    {1, 0x2d, 0xf2},
    {1, 0x2e, 0},
    {1, 0x2e, 0x66},
    {1, 0x2f, 0},
    {1, 0x2f, 0x66},
    {1, 0xc2, 0},
    {1, 0xc2, 0x66},
    {1, 0xc2, 0xf3},
    {1, 0xc2, 0xf2},
    {1, 0xd0, 0x66},
    {1, 0xd0, 0xf2},
    {1, 0x7c, 0x66},
    {1, 0x7c, 0xf2},
    {1, 0x7d, 0x66},
    {1, 0x7d, 0xf2},
    {1, 0x14, 0},
    {1, 0x14, 0x66},
    {1, 0x15, 0},
    {1, 0x15, 0x66},
    {1, 0xc6, 0},
    {1, 0xc6, 0x66},
    {1, 0x50, 0},
    {1, 0x50, 0x66},
    {1, 0x2b, 0},
    {1, 0x2b, 0x66},
    {1, 0xf0, 0xf2},
    {1, 0xc3, 0},
    {1, 0xd1, 0x66},
    {1, 0xd2, 0x66},
    {1, 0xd3, 0x66},
    {1, 0xe1, 0x66},
    {1, 0xe2, 0x66},
    {1, 0xf1, 0x66},
    {1, 0xf2, 0x66},
    {1, 0xf3, 0x66},
    {1, 0xc4, 0x66},
    {1, 0xc5, 0x66},
    {1, 0xf7, 0x66},
    {1, 0x12, 0},
    {1, 0x12, 0xf3},
    {1, 0x12, 0xf2},
    {1, 0x16, 0},
    {1, 0x16, 0xf3},
    {2, 0x00, 0x66},
    {2, 0x01, 0x66},
    {2, 0x02, 0x66},
    {2, 0x03, 0x66},
    {2, 0x04, 0x66},
    {2, 0x05, 0x66},
    {2, 0x06, 0x66},
    {2, 0x07, 0x66},
    {2, 0x08, 0x66},
    {2, 0x09, 0x66},
    {2, 0x0a, 0x66},
    {2, 0x0b, 0x66},
    {2, 0x10, 0x66},
    {2, 0x14, 0x66},
    {2, 0x15, 0x66},
    {2, 0x17, 0x66},
    {2, 0x1c, 0x66},
    {2, 0x1d, 0x66},
    {2, 0x1e, 0x66},
    {2, 0x20, 0x66},
    {2, 0x21, 0x66},
    {2, 0x22, 0x66},
    {2, 0x23, 0x66},
    {2, 0x24, 0x66},
    {2, 0x25, 0x66},
    {2, 0x28, 0x66},
    {2, 0x29, 0x66},
    {2, 0x2a, 0x66},
    {2, 0x2b, 0x66},
    {2, 0x30, 0x66},
    {2, 0x31, 0x66},
    {2, 0x32, 0x66},
    {2, 0x33, 0x66},
    {2, 0x34, 0x66},
    {2, 0x35, 0x66},
    {2, 0x37, 0x66},
    {2, 0x38, 0x66},
    {2, 0x39, 0x66},
    {2, 0x3a, 0x66},
    {2, 0x3b, 0x66},
    {2, 0x3c, 0x66},
    {2, 0x3d, 0x66},
    {2, 0x3e, 0x66},
    {2, 0x3f, 0x66},
    {2, 0x40, 0x66},
    {2, 0x41, 0x66},
    {3, 0x08, 0x66},
    {3, 0x09, 0x66},
    {3, 0x0a, 0x66},
    {3, 0x0b, 0x66},
    {3, 0x0c, 0x66},
    {3, 0x0d, 0x66},
    {3, 0x0e, 0x66},
    {3, 0x0f, 0x66},
    {3, 0x14, 0x66},
    {3, 0x15, 0x66},
    {3, 0x16, 0x66},
    {3, 0x17, 0x66},
    {3, 0x20, 0x66},
    {3, 0x21, 0x66},
    {3, 0x22, 0x66},
    {3, 0x40, 0x66},
    {3, 0x41, 0x66},
    {3, 0x42, 0x66},
    {3, 0x60, 0x66},
    {3, 0x61, 0x66},
    {3, 0x62, 0x66},
    {3, 0x63, 0x66},
    {1, 0x60, 0},
    {1, 0x61, 0},
    {1, 0x62, 0},
    {1, 0x63, 0},
    {1, 0x64, 0},
    {1, 0x65, 0},
    {1, 0x66, 0},
    {1, 0x67, 0},
    {1, 0x68, 0},
    {1, 0x69, 0},
    {1, 0x6a, 0},
    {1, 0x6b, 0},
    {1, 0x6f, 0},
    {1, 0x74, 0},
    {1, 0x75, 0},
    {1, 0x76, 0},
    {1, 0x7f, 0},
    {1, 0xd1, 0},
    {1, 0xd2, 0},
    {1, 0xd3, 0},
    {1, 0xd4, 0},
    {1, 0xd5, 0},
    {1, 0xd8, 0},
    {1, 0xd9, 0},
    {1, 0xda, 0},
    {1, 0xdb, 0},
    {1, 0xdc, 0},
    {1, 0xdd, 0},
    {1, 0xde, 0},
    {1, 0xdf, 0},
    {1, 0xe0, 0},
    {1, 0xe1, 0},
    {1, 0xe2, 0},
    {1, 0xe3, 0},
    {1, 0xe4, 0},
    {1, 0xe5, 0},
    {1, 0xe7, 0},
    {1, 0xe8, 0},
    {1, 0xe9, 0},
    {1, 0xea, 0},
    {1, 0xeb, 0},
    {1, 0xec, 0},
    {1, 0xed, 0},
    {1, 0xee, 0},
    {1, 0xef, 0},
    {1, 0xf1, 0},
    {1, 0xf2, 0},
    {1, 0xf3, 0},
    {1, 0xf4, 0},
    {1, 0xf5, 0},
    {1, 0xf6, 0},
    {1, 0xf8, 0},
    {1, 0xf9, 0},
    {1, 0xfa, 0},
    {1, 0xfb, 0},
    {1, 0xfc, 0},
    {1, 0xfd, 0},
    {1, 0xfe, 0},
    {1, 0x77, 0},
    /* MMX forms with a general register, an immediate or an XMM operand; SSSE3 on mm. */
    {1, 0x6e, 0},
    {1, 0x7e, 0},
    {1, 0x70, 0},
    {1, 0x71, 0},
    {1, 0x72, 0},
    {1, 0x73, 0},
    {1, 0xc4, 0},
    {1, 0xc5, 0},
    {1, 0xd7, 0},
    {1, 0xf7, 0},
    {1, 0xd6, 0xf3},
    {1, 0xd6, 0xf2},
    {2, 0x00, 0},
    {2, 0x01, 0},
    {2, 0x02, 0},
    {2, 0x03, 0},
    {2, 0x04, 0},
    {2, 0x05, 0},
    {2, 0x06, 0},
    {2, 0x07, 0},
    {2, 0x08, 0},
    {2, 0x09, 0},
    {2, 0x0a, 0},
    {2, 0x0b, 0},
    {2, 0x1c, 0},
    {2, 0x1d, 0},
    {2, 0x1e, 0},
    {3, 0x0f, 0},
    {1, 0x2a, 0},
    {1, 0x2a, 0x66},
    {1, 0x2c, 0},
    {1, 0x2c, 0x66},
    {1, 0x2d, 0},
    {1, 0x2d, 0x66}};

/* prefix? REX? 0F [38|3A] op: the mandatory prefix right before the optional REX. */
static unsigned gen_sse(uint64_t *rng, uint8_t *p, unsigned *key, uint8_t *first_op)
{
	const uint8_t *e = sse_ops[pick(rng, sizeof(sse_ops) / sizeof(sse_ops[0]))];
	unsigned n = 0;
	if (chance(rng, 10))
		p[n++] = 0x67;
	if (e[2])
		p[n++] = e[2];
	if (chance(rng, 40))
		p[n++] = (uint8_t)(0x40 | pick(rng, 16));
	*first_op = (uint8_t)n;
	p[n++] = 0x0f;
	if (e[0] == 2)
		p[n++] = 0x38;
	if (e[0] == 3)
		p[n++] = 0x3a;
	p[n++] = e[1];
	*key = (unsigned)e[0] << 8 | e[1];
	return n;
}

static bool excluded(uint8_t op)
{
	return memchr(one_byte_excluded, op, sizeof(one_byte_excluded)) != NULL;
}

static unsigned add_prefixes(uint64_t *rng, uint8_t *p)
{
	static const uint8_t segs[] = {0x26, 0x2e, 0x36, 0x3e, 0x65};
	unsigned n = 0;
	unsigned count = pick(rng, 4) == 0 ? pick(rng, 4) : 0;
	count += chance(rng, 25);
	for (unsigned k = 0; k < count; k++) {
		switch (pick(rng, 6)) {
		case 0:
			p[n++] = 0x66;
			break;
		case 1:
			p[n++] = 0x67;
			break;
		case 2:
			p[n++] = chance(rng, 50) ? 0xf2 : 0xf3;
			break;
		case 3:
			p[n++] = 0xf0;
			break;
		case 4:
			p[n++] = segs[pick(rng, sizeof(segs))];
			break;
		default:
			p[n++] = (uint8_t)(0x40 | pick(rng, 16)); /* REX not last: ignored */
			break;
		}
	}
	if (chance(rng, 50))
		p[n++] = (uint8_t)(0x40 | pick(rng, 16));
	return n;
}

/* Operand bytes: ModRM, SIB, a small displacement, then random immediates. */
static void operand_bytes(uint64_t *rng, uint8_t *t)
{
	uint64_t r = dt_rand(rng);
	memcpy(t, &r, 8);
	r = dt_rand(rng);
	memcpy(t + 8, &r, 8);
	if (chance(rng, 70)) {
		int32_t disp = (int32_t)pick(rng, 1024) - 512;
		memcpy(t + 2, &disp, 4);
	}
	if (chance(rng, 35))
		t[0] |= 0xc0; /* register operand */
}

static unsigned gen_vex(uint64_t *rng, uint8_t *p, unsigned *key)
{
	static const uint8_t ops[] = {0xf2, 0xf3, 0xf5, 0xf6, 0xf7};
	bool map3 = chance(rng, 15);
	uint8_t op = map3 ? 0xf0 : ops[pick(rng, sizeof(ops))];
	p[0] = 0xc4;
	p[1] = (uint8_t)((pick(rng, 8) << 5) | (map3 ? 3 : 2));
	p[2] = (uint8_t)((pick(rng, 2) << 7) | (pick(rng, 16) << 3) | (chance(rng, 5) << 2) |
			 pick(rng, 4));
	p[3] = op;
	*key = (unsigned)((map3 ? 5 : 4) << 8 | op);
	return 4;
}

static unsigned gen_opcode(uint64_t *rng, uint8_t *p, unsigned *key)
{
	unsigned kind = pick(rng, 100);
	if (kind < 55) {
		uint8_t op;
		do
			op = (uint8_t)pick(rng, 256);
		while (excluded(op));
		p[0] = op;
		*key = op;
		return 1;
	}
	if (kind < 92) {
		uint8_t op = two_byte_ops[pick(rng, sizeof(two_byte_ops))];
		p[0] = 0x0f;
		p[1] = op;
		*key = 1 << 8 | op;
		return 2;
	}
	if (kind < 96) {
		p[0] = 0x0f;
		p[1] = 0x38;
		p[2] = (uint8_t)(0xf0 | pick(rng, 2));
		*key = 2 << 8 | p[2];
		return 3;
	}
	return 0;
}

/* Per-opcode fix-ups keeping the case inside the sandbox. */
static void shape_operands(uint64_t *rng, const uint8_t *op, unsigned oplen, uint8_t *t)
{
	uint8_t last = op[oplen - 1];
	bool one = oplen == 1, two = oplen == 2 && op[0] == 0x0f;
	if ((one && (last == 0xe8 || last == 0xe9)) || (two && last >= 0x80 && last <= 0x8f)) {
		int32_t rel = (int32_t)pick(rng, 512) - 256;
		memcpy(t, &rel, 4);
	}
	if (one && last >= 0xa0 && last <= 0xa3 && chance(rng, 70)) {
		uint64_t a = DT_DATA + pick(rng, DT_DATA_BYTES + 64) - 32;
		memcpy(t, &a, 8);
	}
	if (one && last == 0xff && (((t[0] >> 3) & 7) == 3 || ((t[0] >> 3) & 7) == 5))
		t[0] &= (uint8_t)~0x08; /* no far CALL/JMP */
	if (two && last == 0xc7)
		t[0] = (uint8_t)((t[0] & 0xc7) | 0x08); /* CMPXCHG8B/16B only, not RDRAND/RDPID */
	if (one && (last == 0xc6 || last == 0xc7) && t[0] == 0xf8)
		t[0] = 0xc0; /* XBEGIN/XABORT: host TSX behaviour is not architectural */
	if (one && last == 0xc8)
		t[2] &= 3; /* ENTER nesting level: keep the copy loop inside the stack */
}

static uint64_t random_value(uint64_t *rng)
{
	static const uint64_t special[] = {0,	       1,	   ~0ULL,      0x80000000ULL,
					   0x7fffffff, 0xffffffff, 1ULL << 63, 0x8000,
					   0x7f,       0x80,	   0xff,       0x10000};
	switch (pick(rng, 10)) {
	case 0:
	case 1:
	case 2:
	case 3:
		return DT_DATA + pick(rng, DT_DATA_BYTES);
	case 4:
	case 5:
		return special[pick(rng, sizeof(special) / sizeof(special[0]))];
	case 6:
	case 7:
		return pick(rng, 64);
	default:
		return dt_rand(rng);
	}
}

/* An 80-bit register value biased towards the classes x87 instructions treat specially. */
static void random_extended(uint64_t *rng, uint8_t *slot)
{
	uint64_t mant = dt_rand(rng) | 1ULL << 63;
	unsigned exp = 0x3fff + pick(rng, 64) - 32;
	switch (pick(rng, 12)) {
	case 0: /* zero */
		mant = 0;
		exp = 0;
		break;
	case 1: /* infinity */
		mant = 1ULL << 63;
		exp = 0x7fff;
		break;
	case 2: /* NaN, quiet or signalling */
		exp = 0x7fff;
		if (mant == 1ULL << 63)
			mant |= 1;
		break;
	case 3: /* denormal or pseudo-denormal */
		exp = 0;
		mant = chance(rng, 80) ? mant >> 1 : mant;
		break;
	case 4: /* unnormal: invalid operand */
		mant >>= 1;
		exp = pick(rng, 0x7fff);
		break;
	case 5: { /* small integer */
		long double v = (long double)((int)pick(rng, 200) - 100);
		memcpy(slot, &v, 10);
		slot[9] = (uint8_t)((slot[9] & 0x7f) | (chance(rng, 10) << 7));
		return;
	}
	case 6: /* near overflow or underflow */
		exp = chance(rng, 50) ? 0x7ffe - pick(rng, 20) : 1 + pick(rng, 20);
		break;
	case 7:
		exp = pick(rng, 0x7fff);
		break;
	default:
		break;
	}
	uint16_t se = (uint16_t)(exp | (chance(rng, 50) << 15));
	memcpy(slot, &mant, 8);
	memcpy(slot + 8, &se, 2);
}

/* FCW/FSW/FTW/FOP/FIP/FDP and the registers; pending exceptions (FSW.ES) consistent with the
 * masks, mostly all masked. */
static void random_x87(uint64_t *rng, uint8_t *fx)
{
	unsigned masks = chance(rng, 85) ? 0x3f : (unsigned)dt_rand(rng) & 0x3f;
	uint16_t fcw = (uint16_t)(0x40 | masks | pick(rng, 4) << 8 | pick(rng, 4) << 10);
	unsigned flags = chance(rng, 70) ? 0 : (unsigned)dt_rand(rng) & 0x7f;
	unsigned es = (flags & ~masks & 0x3f) ? 0x8080 : 0;
	uint16_t fsw = (uint16_t)(pick(rng, 8) << 11 | (dt_rand(rng) & 0x4700) | flags | es);
	uint16_t ftw = (uint16_t)(chance(rng, 20)   ? 0
				  : chance(rng, 20) ? 0xff
						    : dt_rand(rng) & 0xff);
	uint16_t fop = (uint16_t)(dt_rand(rng) & 0x7ff);
	uint64_t fip = DT_CODE + pick(rng, 64), fdp = DT_DATA + pick(rng, DT_DATA_BYTES);
	memset(fx, 0, 160);
	memcpy(fx + 0, &fcw, 2);
	memcpy(fx + 2, &fsw, 2);
	memcpy(fx + 4, &ftw, 2);
	memcpy(fx + 6, &fop, 2);
	memcpy(fx + 8, &fip, 8);
	memcpy(fx + 16, &fdp, 8);
	for (int k = 0; k < 8; k++)
		random_extended(rng, fx + 32 + 16 * k);
}

/* Rounding mode, DAZ and FTZ at random, sticky flags sometimes; exceptions stay masked. */
static uint32_t random_mxcsr(uint64_t *rng)
{
	uint32_t m = 0x1f80;
	if (chance(rng, 50))
		m |= (uint32_t)pick(rng, 4) << 13;
	if (chance(rng, 20))
		m |= 0x40; /* DAZ */
	if (chance(rng, 20))
		m |= 0x8000; /* FTZ */
	if (chance(rng, 20))
		m |= (uint32_t)dt_rand(rng) & 0x3f;
	return m;
}

/* Lanes of floats or doubles from the classes SSE arithmetic treats specially. */
static void special_floats(uint64_t *rng, uint8_t *x)
{
	static const uint32_t singles[] = {0,	       0x80000000, 0x3f800000, 0xbf800000,
					   0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000,
					   0x7f800001, 0x00000001, 0x807fffff, 0x7f7fffff,
					   0x4f000000, 0xcf000000, 0x3f000000};
	static const uint64_t doubles[] = {0,
					   0x8000000000000000ULL,
					   0x3ff0000000000000ULL,
					   0x7ff0000000000000ULL,
					   0xfff8000000000000ULL,
					   0x7ff0000000000001ULL,
					   0x0000000000000001ULL,
					   0x800fffffffffffffULL,
					   0x7fefffffffffffffULL,
					   0x41e0000000000000ULL,
					   0xc3e0000000000000ULL,
					   0x3fe0000000000000ULL,
					   0x4004000000000000ULL};
	if (chance(rng, 50)) {
		for (int k = 0; k < 4; k++)
			if (chance(rng, 60))
				memcpy(x + 4 * k, &singles[pick(rng, sizeof(singles) / 4)], 4);
	} else {
		for (int k = 0; k < 2; k++)
			if (chance(rng, 60))
				memcpy(x + 8 * k, &doubles[pick(rng, sizeof(doubles) / 8)], 8);
	}
}

static void random_state(uint64_t *rng, struct dt_case *c)
{
	for (int k = 0; k < 16; k++)
		c->regs.gpr[k] = random_value(rng);
	c->regs.gpr[4] = DT_DATA + 4096 + (pick(rng, 1024) & ~7u);
	c->regs.rip = DT_CODE;
	uint64_t arith = 0x8d5; /* CF PF AF ZF SF OF */
	c->regs.rflags = 0x202 | (dt_rand(rng) & arith) | (chance(rng, 20) ? 0x400 : 0);
	for (int k = 0; k < 16; k++)
		for (int b = 0; b < 16; b += 8) {
			uint64_t v = dt_rand(rng);
			memcpy(&c->regs.xmm[k][b], &v, 8);
		}
	c->regs.mxcsr = random_mxcsr(rng);
	for (int k = 0; k < 16; k++)
		if (chance(rng, 40))
			special_floats(rng, c->regs.xmm[k]);
	random_x87(rng, c->regs.x87);
	for (int k = 0; k < DT_DATA_BYTES; k += 8) {
		uint64_t v = chance(rng, 10) ? random_value(rng) : dt_rand(rng);
		memcpy(&c->data[k], &v, 8);
	}
}

/* Coverage key of an x87 instruction: map 6 holds memory forms by escape byte and ModRM.reg,
 * map 7 register forms the same way, except the rows whose ModRM selects the operation (D9
 * E0-FF, DB E0-E7, DF E0-E7), which get one key per ModRM from 0x80 up. */
static unsigned x87_key(uint8_t op, uint8_t modrm)
{
	unsigned esc = op - 0xd8u, reg = (modrm >> 3) & 7u;
	if ((modrm >> 6) != 3)
		return 6u << 8 | esc << 3 | reg;
	if (esc == 1 && reg >= 4)
		return 7u << 8 | (0x80 + (modrm - 0xe0u));
	if ((esc == 3 || esc == 7) && reg == 4)
		return 7u << 8 | ((esc == 3 ? 0xa0u : 0xa8u) + (modrm & 7u));
	return 7u << 8 | esc << 3 | reg;
}

/* FXSAVE or FXRSTOR (0F AE /0, /1), with REX.W (the 64-bit layout) or without, mostly on a
 * 16-byte boundary inside the data pages (RIP-relative), sometimes crossing their end or
 * misaligned (#PF at the last byte, #GP), sometimes through a random ModRM. FXRSTOR finds an
 * MXCSR without reserved bits in its image. Returns the prefix count; *oplen and the operand
 * bytes in `tail` are set. */
static unsigned gen_fxsave(uint64_t *rng, struct dt_case *c, uint8_t *bytes, unsigned *oplen,
			   unsigned *key)
{
	unsigned n = 0;
	if (chance(rng, 10))
		bytes[n++] = 0x67;
	if (chance(rng, 70))
		bytes[n++] = (uint8_t)(0x40 | pick(rng, 16));
	bool restore = chance(rng, 50);
	bytes[n] = 0x0f;
	bytes[n + 1] = 0xae;
	*oplen = 2;
	*key = 1 << 8 | 0xae;
	uint8_t *tail = bytes + n + 2;
	operand_bytes(rng, tail);
	if (chance(rng, 75)) {
		uint64_t target = DT_DATA + 16 * pick(rng, (DT_DATA_BYTES - 512) / 16 + 1);
		if (chance(rng, 10))
			target = DT_DATA + DT_DATA_BYTES - 16 * (1 + pick(rng, 31)); /* crosses */
		if (chance(rng, 10))
			target += 1 + pick(rng, 15); /* misaligned */
		uint64_t next = DT_CODE + n + 2 + 5;
		int32_t disp = (int32_t)(target - next);
		tail[0] = 0x05; /* [rip + disp32] */
		memcpy(tail + 1, &disp, 4);
		uint64_t off = target - DT_DATA;
		if (restore && off + 28 <= DT_DATA_BYTES) {
			uint32_t mxcsr = c->regs.mxcsr ^ (uint32_t)(dt_rand(rng) & 0x3f);
			memcpy(c->data + off + 24, &mxcsr, 4);
		}
	} else if ((tail[0] >> 6) == 3) {
		tail[0] &= 0x3f; /* a memory operand */
	}
	tail[0] = (uint8_t)((tail[0] & 0xc7) | (restore ? 0x08 : 0x00));
	return n;
}

void dt_generate(uint64_t *rng, struct dt_case *c, unsigned *key)
{
	uint8_t bytes[48];
	memset(c, 0, sizeof(*c));
	random_state(rng, c);
	unsigned n = 0, oplen;
	bool x87 = false, fxsave = false;
	if (chance(rng, 5)) {
		oplen = gen_vex(rng, bytes, key);
	} else if (chance(rng, 1)) {
		n = gen_fxsave(rng, c, bytes, &oplen, key);
		fxsave = true;
	} else if (chance(rng, 20)) {
		uint8_t first;
		unsigned total = gen_sse(rng, bytes, key, &first);
		n = first;
		oplen = total - first;
	} else if (chance(rng, 15)) {
		n = add_prefixes(rng, bytes);
		bytes[n] = (uint8_t)(0xd8 + pick(rng, 8));
		oplen = 1;
		x87 = true;
	} else {
		n = add_prefixes(rng, bytes);
		oplen = gen_opcode(rng, bytes + n, key);
		if (oplen == 0) {
			n = 0;
			oplen = gen_vex(rng, bytes, key);
		}
	}
	uint8_t *tail = bytes + n + oplen;
	if (!fxsave) {
		operand_bytes(rng, tail);
		shape_operands(rng, bytes + n, oplen, tail);
	}
	if (x87) {
		if (chance(rng, 25))
			tail[0] |= 0xc0;
		*key = x87_key(bytes[n], tail[0]);
	}

	/* Cut the bytes to the length the instruction has, so that the int3 follows it. A wrong
	 * length shows up as a mismatch: the host then runs different bytes. */
	struct emu_insn insn;
	unsigned avail = n + oplen + 16;
	emu_decode(bytes, avail, EMU_MODE_64, dt_model, DT_CODE, &insn);
	unsigned len = insn.len ? insn.len : 1;
	memcpy(c->code, bytes, len);
	c->code[len] = 0xcc;
	c->code_len = len + 1;
}
