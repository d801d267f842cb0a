/* SSE/SSE2 integer and data-movement instructions on XMM registers (the FXSAVE area of the
 * state): what compiled C and glibc's baseline string functions use. Legacy-SSE packed memory
 * operands must be 16-byte aligned (#GP otherwise), except the explicitly unaligned moves. */
#include "accel/emu/ops_sse.h"
#include "accel/emu/cpu.h"
#include "accel/emu/ops.h"
#include "accel/emu/xmm.h"

/* Reads the r/m operand: a register, or `bytes` of memory (zero-filled above them). */
static bool src_operand(struct emu_cpu *cpu, const struct emu_insn *i, unsigned bytes, bool aligned,
			xmm_t *v)
{
	if (!i->is_mem) {
		xmm_get(cpu, i->rmnum, v);
		return true;
	}
	uint64_t addr = emu_ea(cpu, i);
	if (aligned && bytes == 16 && (addr & 15)) {
		emu_raise_gp0(cpu);
		return false;
	}
	memset(v, 0, sizeof(*v));
	return emu_read_bytes(cpu, addr, v, bytes);
}

static bool store_operand(struct emu_cpu *cpu, const struct emu_insn *i, unsigned bytes,
			  bool aligned, const xmm_t *v)
{
	if (!i->is_mem) {
		xmm_t d;
		xmm_get(cpu, i->rmnum, &d);
		memcpy(&d, v, bytes);
		xmm_set(cpu, i->rmnum, &d);
		return true;
	}
	uint64_t addr = emu_ea(cpu, i);
	if (aligned && bytes == 16 && (addr & 15)) {
		emu_raise_gp0(cpu);
		return false;
	}
	return emu_write_bytes(cpu, addr, v, bytes);
}

/* sub: SSE_MOV_* */
HANDLER(op_sse_load)
{
	xmm_t v, d;
	switch (i->sub) {
	case SSE_MOV_ALIGNED:
	case SSE_MOV_UNALIGNED:
		if (!src_operand(cpu, i, 16, i->sub == SSE_MOV_ALIGNED, &v))
			return EMU_STOP;
		xmm_set(cpu, i->regnum, &v);
		return EMU_NEXT;
	case SSE_MOV_SCALAR32:
	case SSE_MOV_SCALAR64: {
		unsigned n = i->sub == SSE_MOV_SCALAR32 ? 4 : 8;
		if (!src_operand(cpu, i, n, false, &v))
			return EMU_STOP;
		xmm_get(cpu, i->regnum, &d);
		if (i->is_mem)
			memset(&d, 0, 16); /* a load zeroes the rest; a register move merges */
		memcpy(&d, &v, n);
		xmm_set(cpu, i->regnum, &d);
		return EMU_NEXT;
	}
	case SSE_MOV_Q: /* MOVQ xmm, xmm/m64: zero the upper half */
		if (!src_operand(cpu, i, 8, false, &v))
			return EMU_STOP;
		v.q[1] = 0;
		xmm_set(cpu, i->regnum, &v);
		return EMU_NEXT;
	case SSE_MOV_LOW64:
	case SSE_MOV_HIGH64: /* MOVLPS/MOVLPD, MOVHPS/MOVHPD; MOVHLPS/MOVLHPS between registers */
		if (!src_operand(cpu, i, 8, false, &v))
			return EMU_STOP;
		xmm_get(cpu, i->regnum, &d);
		if (!i->is_mem && i->sub == SSE_MOV_LOW64)
			v.q[0] = v.q[1];
		d.q[i->sub == SSE_MOV_HIGH64] = v.q[0];
		xmm_set(cpu, i->regnum, &d);
		return EMU_NEXT;
	default:
		return emu_raise_ud(cpu);
	}
}

HANDLER(op_sse_store)
{
	xmm_t v;
	xmm_get(cpu, i->regnum, &v);
	switch (i->sub) {
	case SSE_MOV_ALIGNED:
	case SSE_MOV_UNALIGNED:
		if (!i->is_mem) {
			xmm_set(cpu, i->rmnum, &v);
			return EMU_NEXT;
		}
		return store_operand(cpu, i, 16, i->sub == SSE_MOV_ALIGNED, &v) ? EMU_NEXT
										: EMU_STOP;
	case SSE_MOV_SCALAR32:
		return store_operand(cpu, i, 4, false, &v) ? EMU_NEXT : EMU_STOP;
	case SSE_MOV_SCALAR64:
	case SSE_MOV_LOW64:
		return store_operand(cpu, i, 8, false, &v) ? EMU_NEXT : EMU_STOP;
	case SSE_MOV_HIGH64:
		v.q[0] = v.q[1];
		return store_operand(cpu, i, 8, false, &v) ? EMU_NEXT : EMU_STOP;
	case SSE_MOV_Q: /* MOVQ xmm/m64, xmm (66 0F D6): a register destination is zero-extended */
		if (!i->is_mem) {
			v.q[1] = 0;
			xmm_set(cpu, i->rmnum, &v);
			return EMU_NEXT;
		}
		return store_operand(cpu, i, 8, false, &v) ? EMU_NEXT : EMU_STOP;
	default:
		return emu_raise_ud(cpu);
	}
}

/* MOVD/MOVQ xmm, r/m32/64 (66 0F 6E). */
HANDLER(op_sse_movd_to_xmm)
{
	unsigned size = i->rex & 8 ? 8 : 4;
	uint64_t v;
	if (!rm_read(cpu, i, size, &v))
		return EMU_STOP;
	xmm_t x = {.q = {v, 0}};
	xmm_set(cpu, i->regnum, &x);
	return EMU_NEXT;
}

/* MOVD/MOVQ r/m32/64, xmm (66 0F 7E). */
HANDLER(op_sse_movd_from_xmm)
{
	unsigned size = i->rex & 8 ? 8 : 4;
	xmm_t x;
	xmm_get(cpu, i->regnum, &x);
	if (!i->is_mem) {
		gpr_set(cpu, i->rmnum, size, x.q[0]);
		return EMU_NEXT;
	}
	return emu_write(cpu, emu_ea(cpu, i), size, x.q[0]) ? EMU_NEXT : EMU_STOP;
}

static uint8_t sat_u8(int v)
{
	return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static int8_t sat_s8(int v)
{
	return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
}

static uint16_t sat_u16(int v)
{
	return (uint16_t)(v < 0 ? 0 : v > 65535 ? 65535 : v);
}

static int16_t sat_s16(int v)
{
	return (int16_t)(v < -32768 ? -32768 : v > 32767 ? 32767 : v);
}

static void packed_op(unsigned op, xmm_t *d, const xmm_t *s)
{
	xmm_t r = *d;
	for (int k = 0; k < 16; k++) {
		switch (op) {
		case SSE_PADDB:
			r.b[k] = (uint8_t)(d->b[k] + s->b[k]);
			break;
		case SSE_PSUBB:
			r.b[k] = (uint8_t)(d->b[k] - s->b[k]);
			break;
		case SSE_PADDUSB:
			r.b[k] = sat_u8(d->b[k] + s->b[k]);
			break;
		case SSE_PSUBUSB:
			r.b[k] = sat_u8(d->b[k] - s->b[k]);
			break;
		case SSE_PADDSB:
			r.sb[k] = sat_s8(d->sb[k] + s->sb[k]);
			break;
		case SSE_PSUBSB:
			r.sb[k] = sat_s8(d->sb[k] - s->sb[k]);
			break;
		case SSE_PCMPEQB:
			r.b[k] = d->b[k] == s->b[k] ? 0xff : 0;
			break;
		case SSE_PCMPGTB:
			r.b[k] = d->sb[k] > s->sb[k] ? 0xff : 0;
			break;
		case SSE_PMINUB:
			r.b[k] = d->b[k] < s->b[k] ? d->b[k] : s->b[k];
			break;
		case SSE_PMAXUB:
			r.b[k] = d->b[k] > s->b[k] ? d->b[k] : s->b[k];
			break;
		case SSE_PAVGB:
			r.b[k] = (uint8_t)((d->b[k] + s->b[k] + 1) >> 1);
			break;
		case SSE_PAND:
			r.b[k] = d->b[k] & s->b[k];
			break;
		case SSE_PANDN:
			r.b[k] = (uint8_t)(~d->b[k] & s->b[k]);
			break;
		case SSE_POR:
			r.b[k] = d->b[k] | s->b[k];
			break;
		case SSE_PXOR:
			r.b[k] = d->b[k] ^ s->b[k];
			break;
		default:
			break;
		}
	}
	for (int k = 0; k < 8; k++) {
		switch (op) {
		case SSE_PADDW:
			r.w[k] = (uint16_t)(d->w[k] + s->w[k]);
			break;
		case SSE_PSUBW:
			r.w[k] = (uint16_t)(d->w[k] - s->w[k]);
			break;
		case SSE_PADDUSW:
			r.w[k] = sat_u16(d->w[k] + s->w[k]);
			break;
		case SSE_PSUBUSW:
			r.w[k] = sat_u16(d->w[k] - s->w[k]);
			break;
		case SSE_PADDSW:
			r.sw[k] = sat_s16(d->sw[k] + s->sw[k]);
			break;
		case SSE_PSUBSW:
			r.sw[k] = sat_s16(d->sw[k] - s->sw[k]);
			break;
		case SSE_PCMPEQW:
			r.w[k] = d->w[k] == s->w[k] ? 0xffff : 0;
			break;
		case SSE_PCMPGTW:
			r.w[k] = d->sw[k] > s->sw[k] ? 0xffff : 0;
			break;
		case SSE_PMINSW:
			r.sw[k] = d->sw[k] < s->sw[k] ? d->sw[k] : s->sw[k];
			break;
		case SSE_PMAXSW:
			r.sw[k] = d->sw[k] > s->sw[k] ? d->sw[k] : s->sw[k];
			break;
		case SSE_PMULLW:
			r.w[k] = (uint16_t)(d->w[k] * s->w[k]);
			break;
		case SSE_PMULHW:
			r.w[k] = (uint16_t)((d->sw[k] * s->sw[k]) >> 16);
			break;
		case SSE_PMULHUW:
			r.w[k] = (uint16_t)(((uint32_t)d->w[k] * s->w[k]) >> 16);
			break;
		case SSE_PAVGW:
			r.w[k] = (uint16_t)((d->w[k] + s->w[k] + 1) >> 1);
			break;
		default:
			break;
		}
	}
	for (int k = 0; k < 4; k++) {
		switch (op) {
		case SSE_PADDD:
			r.d[k] = d->d[k] + s->d[k];
			break;
		case SSE_PSUBD:
			r.d[k] = d->d[k] - s->d[k];
			break;
		case SSE_PCMPEQD:
			r.d[k] = d->d[k] == s->d[k] ? ~0u : 0;
			break;
		case SSE_PCMPGTD:
			r.d[k] = d->sd[k] > s->sd[k] ? ~0u : 0;
			break;
		default:
			break;
		}
	}
	for (int k = 0; k < 2; k++) {
		switch (op) {
		case SSE_PADDQ:
			r.q[k] = d->q[k] + s->q[k];
			break;
		case SSE_PSUBQ:
			r.q[k] = d->q[k] - s->q[k];
			break;
		case SSE_PMULUDQ:
			r.q[k] = (uint64_t)d->d[2 * k] * s->d[2 * k];
			break;
		default:
			break;
		}
	}
	if (op == SSE_PSADBW) {
		for (int h = 0; h < 2; h++) {
			unsigned sum = 0;
			for (int k = 0; k < 8; k++) {
				int diff = d->b[8 * h + k] - s->b[8 * h + k];
				sum += (unsigned)(diff < 0 ? -diff : diff);
			}
			r.q[h] = sum;
		}
	}
	if (op == SSE_PMADDWD)
		for (int k = 0; k < 4; k++)
			r.d[k] = (uint32_t)(d->sw[2 * k] * s->sw[2 * k] +
					    d->sw[2 * k + 1] * s->sw[2 * k + 1]);
	*d = r;
}

/* Interleaves the low (or high) halves of destination and source in `unit`-byte elements. */
static void unpack(xmm_t *d, const xmm_t *s, unsigned unit, bool high)
{
	xmm_t r;
	unsigned base = high ? 8 : 0;
	for (unsigned k = 0; k < 8 / unit; k++) {
		memcpy(&r.b[2 * k * unit], &d->b[base + k * unit], unit);
		memcpy(&r.b[(2 * k + 1) * unit], &s->b[base + k * unit], unit);
	}
	*d = r;
}

static void pack(xmm_t *d, const xmm_t *s, unsigned op)
{
	xmm_t r;
	const xmm_t *src[2] = {d, s};
	for (int h = 0; h < 2; h++) {
		if (op == SSE_PACKSSWB || op == SSE_PACKUSWB) {
			for (int k = 0; k < 8; k++) {
				int v = src[h]->sw[k];
				if (op == SSE_PACKSSWB)
					r.sb[8 * h + k] = sat_s8(v);
				else
					r.b[8 * h + k] = sat_u8(v);
			}
		} else {
			for (int k = 0; k < 4; k++) {
				int32_t v = src[h]->sd[k];
				r.sw[4 * h + k] = (int16_t)(v < -32768	? -32768
							    : v > 32767 ? 32767
									: v);
			}
		}
	}
	*d = r;
}

HANDLER(op_sse_binop)
{
	xmm_t d, s;
	if (!src_operand(cpu, i, 16, true, &s))
		return EMU_STOP;
	xmm_get(cpu, i->regnum, &d);
	switch (i->sub) {
	case SSE_PUNPCKLBW:
		unpack(&d, &s, 1, false);
		break;
	case SSE_PUNPCKLWD:
		unpack(&d, &s, 2, false);
		break;
	case SSE_PUNPCKLDQ:
		unpack(&d, &s, 4, false);
		break;
	case SSE_PUNPCKLQDQ:
		unpack(&d, &s, 8, false);
		break;
	case SSE_PUNPCKHBW:
		unpack(&d, &s, 1, true);
		break;
	case SSE_PUNPCKHWD:
		unpack(&d, &s, 2, true);
		break;
	case SSE_PUNPCKHDQ:
		unpack(&d, &s, 4, true);
		break;
	case SSE_PUNPCKHQDQ:
		unpack(&d, &s, 8, true);
		break;
	case SSE_PACKSSWB:
	case SSE_PACKUSWB:
	case SSE_PACKSSDW:
		pack(&d, &s, i->sub);
		break;
	default:
		packed_op(i->sub, &d, &s);
		break;
	}
	xmm_set(cpu, i->regnum, &d);
	return EMU_NEXT;
}

/* PSHUFD (66), PSHUFHW (F3), PSHUFLW (F2) by sub. */
HANDLER(op_sse_pshuf)
{
	xmm_t s, r;
	if (!src_operand(cpu, i, 16, true, &s))
		return EMU_STOP;
	unsigned imm = (unsigned)i->imm & 0xff;
	r = s;
	if (i->sub == 0) {
		for (int k = 0; k < 4; k++)
			r.d[k] = s.d[(imm >> (2 * k)) & 3];
	} else {
		unsigned base = i->sub == 1 ? 4 : 0;
		for (unsigned k = 0; k < 4; k++)
			r.w[base + k] = s.w[base + ((imm >> (2 * k)) & 3)];
	}
	xmm_set(cpu, i->regnum, &r);
	return EMU_NEXT;
}

HANDLER(op_sse_pmovmskb)
{
	xmm_t s;
	xmm_get(cpu, i->rmnum, &s);
	uint64_t m = 0;
	for (int k = 0; k < 16; k++)
		m |= (uint64_t)(s.b[k] >> 7) << k;
	gpr_set(cpu, i->regnum, i->opsize == 8 ? 8 : 4, m);
	return EMU_NEXT;
}

/* Shifts every element of `d` by `n` (already capped at 255): logical shifts past the width
 * give zero, arithmetic ones the sign. */
static void shift_elements(unsigned kind, const xmm_t *d, unsigned n, xmm_t *r)
{
	memset(r, 0, sizeof(*r));
	switch (kind) {
	case SSE_PSRLDQ:
	case SSE_PSLLDQ:
		if (n > 16)
			n = 16;
		if (kind == SSE_PSRLDQ)
			memcpy(&r->b[0], &d->b[n], 16 - n);
		else
			memcpy(&r->b[n], &d->b[0], 16 - n);
		break;
	case SSE_PSRLW:
	case SSE_PSLLW:
	case SSE_PSRAW:
		for (int k = 0; k < 8; k++) {
			if (kind == SSE_PSRAW)
				r->sw[k] = (int16_t)(d->sw[k] >> (n > 15 ? 15 : n));
			else if (n < 16)
				r->w[k] =
				    (uint16_t)(kind == SSE_PSRLW ? d->w[k] >> n : d->w[k] << n);
		}
		break;
	case SSE_PSRLD:
	case SSE_PSLLD:
	case SSE_PSRAD:
		for (int k = 0; k < 4; k++) {
			if (kind == SSE_PSRAD)
				r->sd[k] = d->sd[k] >> (n > 31 ? 31 : n);
			else if (n < 32)
				r->d[k] = kind == SSE_PSRLD ? d->d[k] >> n : d->d[k] << n;
		}
		break;
	default: /* PSRLQ, PSLLQ */
		for (int k = 0; k < 2; k++)
			if (n < 64)
				r->q[k] = kind == SSE_PSRLQ ? d->q[k] >> n : d->q[k] << n;
		break;
	}
}

/* Shifts by an immediate: groups 12/13/14 (66 0F 71/72/73), on the r/m register. */
HANDLER(op_sse_shift_imm)
{
	static const uint8_t kinds[3][8] = {
	    {0, 0, SSE_PSRLW, 0, SSE_PSRAW, 0, SSE_PSLLW, 0},
	    {0, 0, SSE_PSRLD, 0, SSE_PSRAD, 0, SSE_PSLLD, 0},
	    {0, 0, SSE_PSRLQ, SSE_PSRLDQ, 0, 0, SSE_PSLLQ, SSE_PSLLDQ},
	};
	unsigned kind = kinds[i->opcode - 0x71][(i->modrm >> 3) & 7];
	if (!kind)
		return emu_raise_ud(cpu);
	xmm_t d, r;
	xmm_get(cpu, i->rmnum, &d);
	shift_elements(kind, &d, (unsigned)i->imm & 0xff, &r);
	xmm_set(cpu, i->rmnum, &r);
	return EMU_NEXT;
}

/* PSRLW/D/Q, PSRAW/D, PSLLW/D/Q xmm, xmm/m128: the count is the low quadword of the source. */
HANDLER(op_sse_shift_xmm)
{
	xmm_t s, d, r;
	if (!src_operand(cpu, i, 16, true, &s))
		return EMU_STOP;
	xmm_get(cpu, i->regnum, &d);
	shift_elements(i->sub, &d, s.q[0] > 255 ? 255 : (unsigned)s.q[0], &r);
	xmm_set(cpu, i->regnum, &r);
	return EMU_NEXT;
}
