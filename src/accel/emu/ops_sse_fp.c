/* SSE floating point and the SSE3/SSSE3/SSE4 additions: the arithmetic runs on the host under
 * the guest's MXCSR (sse_host.h); the element moves (shuffles, extracts, inserts, masks) are
 * emulated here. */
#include "accel/emu/cpu.h"
#include "accel/emu/ops.h"
#include "accel/emu/ops_sse.h"
#include "accel/emu/sse_host.h"
#include "accel/emu/xmm.h"

#define MXCSR_FLAGS    0x3fu
#define MXCSR_MASKS    0x1f80u
#define CR4_OSXMMEXCPT (1ULL << 10)

static void set_mxcsr(struct emu_cpu *cpu, uint32_t v)
{
	memcpy(cpu->state.xsave + 24, &v, 4);
}

/* Reads the xmm/m operand into `v` (zero above the bytes read); packed memory operands of
 * legacy SSE must be 16-byte aligned. */
static bool read_xmm_source(struct emu_cpu *cpu, const struct emu_insn *i, enum sse_src src,
			    uint8_t v[16])
{
	static const uint8_t bytes[] = {
	    [SRC_P] = 16, [SRC_PU] = 16, [SRC_S2] = 2, [SRC_S4] = 4, [SRC_S8] = 8};
	if (!i->is_mem) {
		memcpy(v, emu_xmm(cpu, i->rmnum), 16);
		return true;
	}
	uint64_t addr = emu_ea(cpu, i);
	if (src == SRC_P && (addr & 15)) {
		emu_raise_gp0(cpu);
		return false;
	}
	memset(v, 0, 16);
	return emu_read_bytes(cpu, addr, v, bytes[src]);
}

/* PCMPESTRx lengths: the host stub reads EAX/EDX; with REX.W the guest's are RAX/RDX. Both
 * saturate at the element count, so a clamped 32-bit value means the same. */
static uint64_t string_length(uint64_t v, bool wide)
{
	int64_t n = wide ? (int64_t)v : (int32_t)v;
	n = n > 16 ? 16 : n < -16 ? -16 : n;
	return (uint64_t)(uint32_t)(int32_t)n;
}

static bool load_operands(struct emu_cpu *cpu, const struct emu_insn *i,
			  const struct sse_host_desc *d, bool wide, struct sse_host_regs *r)
{
	memcpy(r->xmm0, emu_xmm(cpu, 0), 16);
	memcpy(r->xmm1, emu_xmm(cpu, i->regnum), 16);
	memset(r->xmm2, 0, 16);
	r->rax = cpu->state.gpr[GPR_RAX];
	r->rcx = cpu->state.gpr[GPR_RCX];
	r->rdx = cpu->state.gpr[GPR_RDX];
	if (d->out == OUT_STRI || d->out == OUT_STRM) {
		r->rax = string_length(r->rax, wide);
		r->rdx = string_length(r->rdx, wide);
	}
	if (d->src != SRC_GPR)
		return read_xmm_source(cpu, i, d->src, r->xmm2);
	return rm_read(cpu, i, wide ? 8 : 4, &r->rax);
}

static void commit(struct emu_cpu *cpu, const struct emu_insn *i, const struct sse_host_desc *d,
		   bool wide, const struct sse_host_regs *r)
{
	switch (d->out) {
	case OUT_GPR:
		gpr_set(cpu, i->regnum, wide ? 8 : 4, r->rax);
		break;
	case OUT_FLAGS:
		emu_set_flags(cpu, FL_ARITH, r->rflags);
		break;
	case OUT_STRI:
		gpr_set(cpu, GPR_RCX, 4, r->rcx);
		emu_set_flags(cpu, FL_ARITH, r->rflags);
		break;
	case OUT_STRM:
		memcpy(emu_xmm(cpu, 0), r->xmm0, 16);
		emu_set_flags(cpu, FL_ARITH, r->rflags);
		break;
	default:
		memcpy(emu_xmm(cpu, i->regnum), r->xmm1, 16);
		break;
	}
}

/* The operation runs with every exception masked and the flags cleared, so that the flags it
 * returns are exactly this instruction's; an exception the guest left unmasked then raises
 * #XM (#UD without CR4.OSXMMEXCPT) with the destination unchanged and the flags set. */
HANDLER(op_sse_host)
{
	const struct sse_host_desc *d = &sse_host_ops[i->sub];
	if (d->level > sse_host_level())
		return emu_raise_ud(cpu);
	bool has_wide_form = d->src == SRC_GPR || d->out == OUT_GPR;
	bool wide = (i->rex & 8) != 0;
	struct sse_host_regs r;
	if (!load_operands(cpu, i, d, wide, &r))
		return EMU_STOP;
	uint32_t mxcsr = emu_mxcsr(cpu);
	r.mxcsr = (mxcsr & ~MXCSR_FLAGS) | MXCSR_MASKS;
	unsigned stub = d->stub + ((unsigned)i->imm & (d->variants - 1u));
	sse_host_run(stub + (has_wide_form && wide), &r);
	uint32_t raised = r.mxcsr & MXCSR_FLAGS;
	set_mxcsr(cpu, mxcsr | raised);
	if (raised & ~(mxcsr >> 7) & MXCSR_FLAGS) {
		bool xm = cpu->state.cr4 & CR4_OSXMMEXCPT;
		return emu_raise(cpu, xm ? EMU_VEC_XM : EMU_VEC_UD, false, 0);
	}
	commit(cpu, i, d, wide, &r);
	return EMU_NEXT;
}

HANDLER(op_sse_shufp)
{
	xmm_t s, d, r;
	if (!read_xmm_source(cpu, i, SRC_P, s.b))
		return EMU_STOP;
	xmm_get(cpu, i->regnum, &d);
	unsigned imm = (unsigned)i->imm;
	if (i->sub == 0) {
		r.d[0] = d.d[imm & 3];
		r.d[1] = d.d[(imm >> 2) & 3];
		r.d[2] = s.d[(imm >> 4) & 3];
		r.d[3] = s.d[(imm >> 6) & 3];
	} else {
		r.q[0] = d.q[imm & 1];
		r.q[1] = s.q[(imm >> 1) & 1];
	}
	xmm_set(cpu, i->regnum, &r);
	return EMU_NEXT;
}

HANDLER(op_sse_movmsk)
{
	xmm_t s;
	xmm_get(cpu, i->rmnum, &s);
	uint64_t m = 0;
	if (i->sub == 0)
		for (int k = 0; k < 4; k++)
			m |= (uint64_t)(s.d[k] >> 31) << k;
	else
		m = (s.q[0] >> 63) | (s.q[1] >> 63) << 1;
	gpr_set(cpu, i->regnum, 8, m);
	return EMU_NEXT;
}

HANDLER(op_sse_dup)
{
	xmm_t s, r;
	if (!read_xmm_source(cpu, i, i->sub == 0 ? SRC_S8 : SRC_P, s.b))
		return EMU_STOP;
	if (i->sub == 0) {
		r.q[0] = r.q[1] = s.q[0];
	} else {
		unsigned odd = i->sub == 2;
		r.d[0] = r.d[1] = s.d[odd];
		r.d[2] = r.d[3] = s.d[2 + odd];
	}
	xmm_set(cpu, i->regnum, &r);
	return EMU_NEXT;
}

/* PEXTRB/W/D/Q and EXTRACTPS to a general register (zero-extended) or memory. */
HANDLER(op_sse_extract)
{
	if (sse_host_level() < LVL_SSE41)
		return emu_raise_ud(cpu);
	xmm_t s;
	xmm_get(cpu, i->regnum, &s);
	unsigned size = i->sub == 5 ? 4 : i->sub;
	if (size == 4 && i->sub == 4 && (i->rex & 8))
		size = 8;
	unsigned index = (unsigned)i->imm & (16 / size - 1);
	uint64_t v = 0;
	memcpy(&v, &s.b[index * size], size);
	if (!i->is_mem) {
		gpr_set(cpu, i->rmnum, size == 8 ? 8 : 4, v);
		return EMU_NEXT;
	}
	return emu_write(cpu, emu_ea(cpu, i), size, v) ? EMU_NEXT : EMU_STOP;
}

/* INSERTPS: a dword from xmm (selected by imm[7:6]) or m32 into imm[5:4], then zero imm[3:0]. */
static int insertps(struct emu_cpu *cpu, const struct emu_insn *i, xmm_t *d)
{
	unsigned imm = (unsigned)i->imm;
	uint64_t v;
	if (i->is_mem) {
		if (!emu_read(cpu, emu_ea(cpu, i), 4, &v))
			return EMU_STOP;
	} else {
		xmm_t s;
		xmm_get(cpu, i->rmnum, &s);
		v = s.d[(imm >> 6) & 3];
	}
	d->d[(imm >> 4) & 3] = (uint32_t)v;
	for (int k = 0; k < 4; k++)
		if (imm & (1u << k))
			d->d[k] = 0;
	xmm_set(cpu, i->regnum, d);
	return EMU_NEXT;
}

/* PINSRW (SSE2), PINSRB/D/Q and INSERTPS (SSE4.1). */
HANDLER(op_sse_insert)
{
	if (i->map == 3 && sse_host_level() < LVL_SSE41)
		return emu_raise_ud(cpu);
	xmm_t d;
	xmm_get(cpu, i->regnum, &d);
	if (i->sub == 5)
		return insertps(cpu, i, &d);
	unsigned size = i->sub == 4 && (i->rex & 8) ? 8 : i->sub;
	uint64_t v;
	if (i->is_mem) {
		if (!emu_read(cpu, emu_ea(cpu, i), size, &v))
			return EMU_STOP;
	} else {
		v = cpu->state.gpr[i->rmnum];
	}
	unsigned index = (unsigned)i->imm & (16 / size - 1);
	memcpy(&d.b[index * size], &v, size);
	xmm_set(cpu, i->regnum, &d);
	return EMU_NEXT;
}

HANDLER(op_sse_pextrw_reg)
{
	xmm_t s;
	xmm_get(cpu, i->rmnum, &s);
	gpr_set(cpu, i->regnum, 8, s.w[i->imm & 7]);
	return EMU_NEXT;
}

/* Whether the byte at `addr` is mapped at all (any access works): the host reports a
 * missing page before a write-protected one. */
static bool byte_present(struct emu_cpu *cpu, uint64_t addr)
{
	uint8_t b;
	return emu_read_bytes(cpu, addr, &b, 1);
}

/* Linear address of byte `k` of the MASKMOVDQU destination: DS:rDI + k, wrapping at the
 * address size (with a 67 prefix, EDI + 8 may wrap to a low address). */
static uint64_t maskmov_byte(struct emu_cpu *cpu, const struct emu_insn *i, unsigned k)
{
	uint64_t a = addr_mask(i, cpu->state.gpr[GPR_RDI] + k);
	if (i->seg != EMU_NO_SEG)
		a += cpu->state.seg[i->seg].base;
	return a;
}

/* Faults like the hardware does, whatever the mask (even an all-zero one): all 16 bytes are
 * checked, first for a missing page, then for write permission; in each pass the upper quadword
 * before the lower one on Intel, the lower first on AMD; the fault is reported at the start of
 * the quadword, or of the page of the faulting byte if that is later. */
static bool maskmov_writable(struct emu_cpu *cpu, const struct emu_insn *i)
{
	bool upper_first = cpu->model->maskmovdqu_upper_quadword_first;
	for (int pass = 0; pass < 2; pass++) {
		for (int n = 0; n < 2; n++) {
			int half = upper_first ? 1 - n : n;
			uint64_t start = maskmov_byte(cpu, i, 8 * (unsigned)half);
			for (unsigned k = 0; k < 8; k++) {
				uint64_t a = maskmov_byte(cpu, i, 8 * (unsigned)half + k);
				bool ok =
				    pass == 0 ? byte_present(cpu, a) : emu_probe_write(cpu, a, 1);
				if (ok)
					continue;
				if (!emu_probe_write(cpu, a, 1) &&
				    cpu->pending.vector == EMU_VEC_PF) {
					uint64_t page = a & EMU_PAGE_MASK;
					cpu->pending.fault_address = cpu->state.cr2 =
					    start > page ? start : page;
				}
				return false;
			}
		}
	}
	return true;
}

/* MASKMOVDQU: the bytes of xmm1 whose mask byte has its top bit set go to DS:rDI; nothing is
 * written unless all of them can be. */
HANDLER(op_sse_maskmov)
{
	xmm_t d, m;
	xmm_get(cpu, i->regnum, &d);
	xmm_get(cpu, i->rmnum, &m);
	if (!maskmov_writable(cpu, i))
		return EMU_STOP;
	for (unsigned k = 0; k < 16; k++)
		if (m.b[k] & 0x80)
			emu_write(cpu, maskmov_byte(cpu, i, k), 1, d.b[k]);
	return EMU_NEXT;
}
