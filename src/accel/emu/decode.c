/* The instruction decoder: prefixes, opcode maps, ModRM/SIB/displacement, immediates. Driven by
 * the tables in optable*.c; everything here is about encoding, nothing about semantics. */
#include "accel/emu/cpu_model.h"
#include "accel/emu/insn.h"
#include "accel/emu/ops.h"
#include "accel/emu/optable.h"
#include "accel/vcpu_state.h"

#include <string.h>

struct decoder {
	const uint8_t *code;
	unsigned avail, pos;
	enum emu_mode mode;
	const struct emu_cpu_model *model;
	int error; /* enum emu_decode_result */
};

static uint8_t next_byte(struct decoder *d)
{
	if (d->error)
		return 0;
	if (d->pos >= EMU_MAX_INSN_LEN) {
		d->error = EMU_DECODE_TOO_LONG;
		return 0;
	}
	if (d->pos >= d->avail) {
		d->error = EMU_DECODE_TRUNCATED;
		return 0;
	}
	return d->code[d->pos++];
}

static uint64_t next_le(struct decoder *d, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned k = 0; k < bytes; k++)
		v |= (uint64_t)next_byte(d) << (8 * k);
	return v;
}

static int64_t sext(uint64_t v, unsigned bytes)
{
	unsigned shift = 64 - 8 * bytes;
	return (int64_t)(v << shift) >> shift;
}

/* Byte offset into gpr[] of register `n`: without REX, byte registers 4-7 are AH CH DH BH. */
static uint8_t gpr_offset(unsigned n, bool byte, bool rex)
{
	if (byte && !rex && n >= 4 && n < 8)
		return (uint8_t)((n - 4) * 8 + 1);
	return (uint8_t)(n * 8);
}

struct prefixes {
	uint8_t p66, p67, lock, rep, seg, rex;
};

static void read_prefixes(struct decoder *d, struct prefixes *p)
{
	memset(p, 0, sizeof(*p));
	p->seg = EMU_NO_SEG;
	for (;;) {
		if (d->pos >= d->avail || d->pos >= EMU_MAX_INSN_LEN)
			return;
		uint8_t b = d->code[d->pos];
		switch (b) {
		case 0x66:
			p->p66 = 1;
			break;
		case 0x67:
			p->p67 = 1;
			break;
		case 0xf0:
			p->lock = 1;
			break;
		case 0xf2:
		case 0xf3:
			p->rep = b;
			break;
		case 0x26:
			p->seg = SREG_ES;
			break;
		case 0x2e:
			p->seg = SREG_CS;
			break;
		case 0x36:
			p->seg = SREG_SS;
			break;
		case 0x3e:
			p->seg = SREG_DS;
			break;
		case 0x64:
			p->seg = SREG_FS;
			break;
		case 0x65:
			p->seg = SREG_GS;
			break;
		default:
			/* REX counts only immediately before the opcode. */
			if (d->mode == EMU_MODE_64 && (b & 0xf0) == 0x40) {
				p->rex = b;
				d->pos++;
				continue;
			}
			return;
		}
		p->rex = 0;
		d->pos++;
	}
}

static void decode_modrm16(struct decoder *d, struct emu_insn *i, uint8_t mod, uint8_t rm)
{
	static const uint8_t base16[8] = {GPR_RBX, GPR_RBX, GPR_RBP, GPR_RBP,
					  GPR_RSI, GPR_RDI, GPR_RBP, GPR_RBX};
	static const uint8_t index16[8] = {GPR_RSI,    GPR_RDI,	   GPR_RSI,    GPR_RDI,
					   EMU_NO_REG, EMU_NO_REG, EMU_NO_REG, EMU_NO_REG};
	i->base = base16[rm];
	i->index = index16[rm];
	if (rm == 4)
		i->base = GPR_RSI;
	if (rm == 5)
		i->base = GPR_RDI;
	if (mod == 0 && rm == 6) {
		i->base = EMU_NO_REG;
		i->disp = (int64_t)next_le(d, 2);
	} else if (mod == 1) {
		i->disp = sext(next_byte(d), 1);
	} else if (mod == 2) {
		i->disp = sext(next_le(d, 2), 2);
	}
}

/* Returns true when the operand is RIP-relative (fixed up once the length is known). */
static bool decode_modrm(struct decoder *d, struct emu_insn *i, uint8_t rex)
{
	uint8_t m = next_byte(d);
	uint8_t mod = m >> 6, rm = m & 7;
	i->has_modrm = 1;
	i->modrm = m;
	i->regnum = (uint8_t)(((m >> 3) & 7) | ((rex & 4) << 1));
	i->base = i->index = EMU_NO_REG;
	if (mod == 3) {
		i->is_mem = 0;
		i->rmnum = (uint8_t)(rm | ((rex & 1) << 3));
		return false;
	}
	i->is_mem = 1;
	i->rmnum = rm;
	if (i->addrsize == 2) {
		decode_modrm16(d, i, mod, rm);
		return false;
	}
	bool rip_rel = false;
	if (rm == 4) {
		uint8_t sib = next_byte(d);
		uint8_t idx = (uint8_t)(((sib >> 3) & 7) | ((rex & 2) << 2));
		i->scale = sib >> 6;
		i->index = idx == 4 ? EMU_NO_REG : idx;
		if ((sib & 7) == 5 && mod == 0) {
			i->disp = sext(next_le(d, 4), 4);
		} else {
			i->base = (uint8_t)((sib & 7) | ((rex & 1) << 3));
		}
	} else if (rm == 5 && mod == 0) {
		i->disp = sext(next_le(d, 4), 4);
		rip_rel = d->mode == EMU_MODE_64;
	} else {
		i->base = (uint8_t)(rm | ((rex & 1) << 3));
	}
	if (mod == 1)
		i->disp += sext(next_byte(d), 1);
	else if (mod == 2)
		i->disp += sext(next_le(d, 4), 4);
	return rip_rel;
}

static uint8_t operand_size(const struct decoder *d, uint32_t flags, bool p66, uint8_t rex)
{
	if (flags & F_BYTE)
		return 1;
	if (d->mode == EMU_MODE_64) {
		if ((rex & 8) || (flags & F_F64))
			return 8;
		if (flags & F_NEAR)
			return p66 && d->model->near_branch_66_is_16bit ? 2 : 8;
		if (flags & F_D64)
			return p66 ? 2 : 8;
		return p66 ? 2 : 4;
	}
	bool big = d->mode == EMU_MODE_32;
	return (big != p66) ? 4 : 2;
}

static void read_immediates(struct decoder *d, struct emu_insn *i, uint32_t flags)
{
	if (flags & (F_IB | F_IMM8S))
		i->imm = (uint64_t)sext(next_byte(d), 1);
	else if (flags & F_IBU)
		i->imm = next_byte(d);
	else if (flags & F_IW)
		i->imm = next_le(d, 2);
	else if (flags & F_IZ)
		i->imm = (uint64_t)sext(next_le(d, i->opsize == 2 ? 2 : 4), i->opsize == 2 ? 2 : 4);
	else if (flags & F_IV)
		i->imm = next_le(d, i->opsize);
	else if (flags & F_FARPTR) {
		i->imm = next_le(d, i->opsize == 2 ? 2 : 4);
		i->imm2 = (uint16_t)next_le(d, 2);
	} else if (flags & F_ENTER) {
		i->imm = next_le(d, 2);
		i->imm2 = next_byte(d);
	} else if (flags & F_MOFFS) {
		i->disp = (int64_t)next_le(d, i->addrsize);
		i->is_mem = 1;
		i->base = i->index = EMU_NO_REG;
	}
}

/* Picks the member for a mandatory prefix; the prefix it consumed no longer acts as a size or
 * repeat prefix. */
static const struct op_entry *select_variant(const struct op_entry *e, struct prefixes *p)
{
	unsigned idx = p->rep == 0xf3 ? 2 : p->rep == 0xf2 ? 3 : p->p66 ? 1 : 0;
	e = &e->variants[idx];
	if (e->flags & F_KEEPPFX)
		return e;
	if (idx == 1)
		p->p66 = 0;
	else if (idx >= 2)
		p->rep = 0;
	return e;
}

struct vex {
	uint8_t map, pp, l, w, vvvv, rex;
};

static bool read_vex(struct decoder *d, uint8_t first, struct vex *v)
{
	uint8_t b1 = next_byte(d);
	if (first == 0xc5) {
		v->map = 1;
		v->w = 0;
		v->rex = (uint8_t)((b1 & 0x80) ? 0 : 4);
	} else {
		uint8_t b2 = next_byte(d);
		v->map = b1 & 0x1f;
		v->rex = (uint8_t)(((~b1 >> 5) & 7) | (b2 & 0x80 ? 8 : 0));
		v->w = b2 >> 7;
		b1 = b2;
	}
	v->vvvv = (uint8_t)((~b1 >> 3) & 0xf);
	v->l = (b1 >> 2) & 1;
	v->pp = b1 & 3;
	if (d->mode != EMU_MODE_64) {
		v->rex = 0;
		v->vvvv &= 7;
	}
	return v->map >= 1 && v->map <= 3;
}

/* An XOP instruction on a model that knows the encoding (cpu_model.h): its bytes are consumed
 * (so that a 16th is #GP), the instruction itself is #UD; 66, F2, F3 and LOCK before it do not
 * change that, a REX right before it makes it #UD at once. */
static bool is_xop_start(const struct decoder *d, uint8_t b)
{
	return b == 0x8f && d->model->xop_length_decoded && d->pos < d->avail &&
	       (d->code[d->pos] & 0x1f) >= 8;
}

static void skip_xop(struct decoder *d, struct emu_insn *i, const struct prefixes *p)
{
	uint8_t map = next_byte(d) & 0x1f;
	uint8_t rex = (uint8_t)((~map >> 5) & 7); /* the inverted R X B: only numbering */
	next_byte(d);				  /* W vvvv L pp */
	next_byte(d);				  /* opcode */
	if (d->mode == EMU_MODE_64)
		i->addrsize = p->p67 ? 4 : 8;
	else
		i->addrsize = (d->mode == EMU_MODE_32) != (bool)p->p67 ? 4 : 2;
	decode_modrm(d, i, rex);
	if (map == 0x0a)
		next_le(d, 4);
}

static const struct op_entry *lookup_opcode(struct decoder *d, struct emu_insn *i,
					    struct prefixes *p, struct vex *vex)
{
	uint8_t b = next_byte(d);
	if (is_xop_start(d, b)) {
		if (!p->rex) /* a REX right before it: #UD at once */
			skip_xop(d, i, p);
		return NULL;
	}
	const struct op_entry *table = emu_map_1byte;
	bool is_vex_start =
	    (b == 0xc4 || b == 0xc5) &&
	    (d->mode == EMU_MODE_64 || (d->pos < d->avail && (d->code[d->pos] & 0xc0) == 0xc0));
	if (is_vex_start) {
		if (p->rex || p->p66 || p->rep || p->lock)
			return NULL;
		if (!read_vex(d, b, vex))
			return NULL;
		i->vex = 1;
		i->vex_v = vex->vvvv;
		i->map = vex->map;
		i->opcode = next_byte(d);
		p->rex = (uint8_t)(vex->rex | 0x40);
		return emu_vex_entry(vex->map, i->opcode, vex->pp, vex->l);
	}
	if (b == 0x0f) {
		b = next_byte(d);
		table = emu_map_0f;
		i->map = 1;
		if (b == 0x38 || b == 0x3a) {
			table = b == 0x38 ? emu_map_0f38 : emu_map_0f3a;
			i->map = b == 0x38 ? 2 : 3;
			b = next_byte(d);
		}
	}
	i->opcode = b;
	const struct op_entry *e = &table[b];
	if (e->variants)
		e = select_variant(e, p);
	return e;
}

/* The operand size of a VEX instruction comes from VEX.W, not from 66/REX. */
static void apply_vex_size(struct decoder *d, struct emu_insn *i, uint32_t flags,
			   const struct vex *vex)
{
	if (flags & F_VW)
		i->opsize = (vex->w && d->mode == EMU_MODE_64) ? 8 : 4;
}

static bool register_form_ok(uint32_t flags, const struct emu_insn *i)
{
	if ((flags & F_MEM) && !i->is_mem)
		return false;
	if ((flags & F_REG) && i->is_mem)
		return false;
	return true;
}

static void set_register_offsets(struct emu_insn *i, uint32_t flags, uint8_t rex, uint8_t b)
{
	bool has_rex = rex != 0;
	if (flags & F_OPREG) {
		i->rmnum = (uint8_t)((b & 7) | ((rex & 1) << 3));
		i->is_mem = 0;
	}
	if (flags & F_ACC) {
		i->rmnum = 0;
		i->is_mem = 0;
	}
	i->reg = gpr_offset(i->regnum, i->opsize == 1, has_rex);
	if (!i->is_mem)
		i->rm = gpr_offset(i->rmnum, i->opsize == 1 || (flags & F_RM8), has_rex);
}

/* Decoding that depends on the CPU model (cpu_model.h), once the rest is known: the
 * instruction is valid as decoded unless this returns false. */
static bool apply_model(const struct decoder *d, const struct prefixes *p, struct emu_insn *i,
			emu_handler *fn)
{
	const struct emu_cpu_model *m = d->model;
	if (i->map == 1 && i->opcode == 0x0d && !i->is_mem && m->prefetch_register_form_ud)
		return false;
	/* XCHG eAX, eAX would clear RAX[63:32]; 90 is NOP, F3 90 PAUSE (with REX.B too on some
	 * models) */
	if (i->map == 0 && i->opcode == 0x90 &&
	    (!(p->rex & 1) || (p->rep == 0xf3 && m->pause_ignores_rex_b)))
		*fn = op_nop;
	/* LOOPNE (sub 0) and LOOPE (sub 1) */
	if (*fn == op_loop && i->sub <= 1 && p->rep && m->loopcc_rep_selects_condition)
		i->sub = p->rep == 0xf3 ? 1 : 0;
	return true;
}

enum emu_decode_result emu_decode(const uint8_t *code, unsigned avail, enum emu_mode mode,
				  const struct emu_cpu_model *model, uint64_t rip,
				  struct emu_insn *i)
{
	struct decoder d = {.code = code, .avail = avail, .mode = mode, .model = model};
	struct prefixes p;
	struct vex vex = {0};

	memset(i, 0, sizeof(*i));
	read_prefixes(&d, &p);
	const struct op_entry *e = lookup_opcode(&d, i, &p, &vex);
	uint32_t flags = e ? e->flags : 0;
	emu_handler fn = e ? e->fn : NULL;
	uint8_t sub = e ? e->sub : 0;

	if (mode == EMU_MODE_64)
		i->addrsize = p.p67 ? 4 : 8;
	else
		i->addrsize = (mode == EMU_MODE_32) != (bool)p.p67 ? 4 : 2;
	i->seg = p.seg;
	if (mode == EMU_MODE_64 && p.seg != SREG_FS && p.seg != SREG_GS)
		i->seg = EMU_NO_SEG;
	else if (mode != EMU_MODE_64 && p.seg == EMU_NO_SEG)
		i->seg = SREG_DS;
	i->base = i->index = EMU_NO_REG;

	bool rip_rel = false;
	if (e && (flags & F_CRDR)) {
		uint8_t m = next_byte(&d);
		i->has_modrm = 1;
		i->modrm = m;
		i->regnum = (uint8_t)(((m >> 3) & 7) | ((p.rex & 4) << 1));
		i->rmnum = (uint8_t)((m & 7) | ((p.rex & 1) << 3));
		i->is_mem = 0;
	} else if (e && (flags & F_MODRM)) {
		rip_rel = decode_modrm(&d, i, p.rex);
	}
	/* Outside 64-bit mode, rBP and rSP as base address the stack segment. */
	if (mode != EMU_MODE_64 && p.seg == EMU_NO_SEG && i->is_mem &&
	    (i->base == GPR_RSP || i->base == GPR_RBP))
		i->seg = SREG_SS;
	if (e && e->group) {
		const struct op_entry *g = &e->group[(i->modrm >> 3) & 7];
		flags |= g->flags;
		if (!(g->flags & F_INHERIT))
			fn = g->fn;
		sub = g->sub;
		if (!g->fn && !(g->flags & F_INHERIT))
			fn = NULL;
	}
	i->opsize = operand_size(&d, flags, p.p66, p.rex);
	if (i->vex)
		apply_vex_size(&d, i, flags, &vex);
	i->prefix66 = p.p66;
	i->rex = p.rex;
	i->rep = p.rep;
	i->lock = p.lock;
	i->sub = sub;
	set_register_offsets(i, flags, p.rex, i->opcode);
	read_immediates(&d, i, flags);
	if (d.error) {
		i->len = (uint8_t)d.pos;
		return (enum emu_decode_result)d.error;
	}
	i->len = (uint8_t)d.pos;
	i->next_rip = rip + d.pos;
	if (mode != EMU_MODE_64)
		i->next_rip &= mode == EMU_MODE_32 ? 0xffffffffULL : 0xffffULL;

	bool cr8_alias = p.lock && model->lock_mov_cr0_is_cr8 && i->map == 1 &&
			 (i->opcode == 0x20 || i->opcode == 0x22) && i->regnum == 0;
	if (cr8_alias)
		i->regnum = 8;
	bool invalid = !fn || ((flags & F_INV64) && mode == EMU_MODE_64) ||
		       !register_form_ok(flags, i) || ((flags & F_NOVVVV) && i->vex_v != 0) ||
		       (p.lock && !cr8_alias && !((flags & F_LOCK) && i->is_mem)) ||
		       !apply_model(&d, &p, i, &fn);
	if (invalid)
		return EMU_DECODE_UD;
	if (rip_rel)
		i->disp += (int64_t)i->next_rip;
	if (flags & F_REL) {
		uint64_t target = i->next_rip + i->imm;
		if (mode != EMU_MODE_64 || i->opsize == 2)
			target &= i->opsize == 2 ? 0xffff : 0xffffffff;
		i->imm = target;
	}
	i->fn = fn;
	return EMU_DECODE_OK;
}
