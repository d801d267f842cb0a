/* Guest memory access: the soft TLB (one host addend per page, separate tags per access kind),
 * page-crossing and faulting slow paths, and the stack helpers. Writes to pages that hold
 * decoded code go through the slow path so that the decoded copies are dropped. */
#include "accel/emu/cpu.h"
#include "accel/emu/sys.h"

static bool canonical(uint64_t addr)
{
	return (uint64_t)((int64_t)(addr << 16) >> 16) == addr;
}

static uint64_t *tag_of(struct tlb_entry *e, enum emu_access access)
{
	if (access == EMU_ACCESS_READ)
		return &e->tag_read;
	if (access == EMU_ACCESS_WRITE)
		return &e->tag_write;
	return &e->tag_exec;
}

static uint32_t pf_code(struct emu_cpu *cpu, enum emu_access access)
{
	uint32_t code = 0;
	if (access == EMU_ACCESS_WRITE)
		code |= EMU_PF_WRITE;
	if (access == EMU_ACCESS_EXEC)
		code |= EMU_PF_FETCH;
	if ((cpu->state.seg[SREG_CS].selector & 3) == 3)
		code |= EMU_PF_USER;
	return code;
}

/* Host address of guest page `page` for `access`, filling the TLB; NULL if not permitted. */
static uint8_t *page_host(struct emu_cpu *cpu, uint64_t page, enum emu_access access)
{
	struct tlb_entry *e = &cpu->tlb[(page >> 12) & (EMU_TLB_SIZE - 1)];
	uint64_t *tag = tag_of(e, access);
	if (*tag == page)
		return (uint8_t *)(uintptr_t)(page + e->addend);
	uint8_t *host;
	if (!cpu->memory.translate(cpu->memory.opaque, page, access, &host))
		return NULL;
	uintptr_t addend = (uintptr_t)host - (uintptr_t)page;
	if (e->addend != addend) {
		e->tag_read = e->tag_write = e->tag_exec = EMU_TLB_INVALID;
		e->addend = addend;
	}
	if (access == EMU_ACCESS_WRITE && emu_code_page_contains(cpu, page)) {
		emu_code_invalidate_page(cpu, page);
		cpu->code_written = true;
	}
	*tag = page;
	return host;
}

uint8_t *emu_fetch_page(struct emu_cpu *cpu, uint64_t page)
{
	if (cpu->sys)
		return emu_sys_fetch_page(cpu, page);
	if (!canonical(page))
		return NULL;
	return page_host(cpu, page, EMU_ACCESS_EXEC);
}

/* Resolves [addr, addr+len) (len <= 4096) to at most two host pieces, raising the fault of the
 * first inaccessible byte. */
static bool resolve(struct emu_cpu *cpu, uint64_t addr, unsigned len, enum emu_access access,
		    uint8_t **p1, unsigned *n1, uint8_t **p2)
{
	if (!canonical(addr) || !canonical(addr + len - 1)) {
		emu_raise_gp0(cpu);
		return false;
	}
	uint64_t page = addr & EMU_PAGE_MASK;
	unsigned off = (unsigned)(addr & 0xfff);
	*n1 = len < 4096 - off ? len : 4096 - off;
	uint8_t *h1 = page_host(cpu, page, access);
	if (!h1) {
		emu_raise_pf(cpu, addr, pf_code(cpu, access));
		return false;
	}
	*p1 = h1 + off;
	*p2 = NULL;
	if (*n1 < len) {
		*p2 = page_host(cpu, page + EMU_PAGE_SIZE, access);
		if (!*p2) {
			emu_raise_pf(cpu, page + EMU_PAGE_SIZE, pf_code(cpu, access));
			return false;
		}
	}
	return true;
}

static bool read_access(struct emu_cpu *cpu, uint64_t addr, void *dst, unsigned len,
			enum emu_access access)
{
	uint8_t *p1, *p2;
	unsigned n1;
	if (cpu->sys)
		return emu_sys_access(cpu, addr, dst, len, access, false);
	if (!resolve(cpu, addr, len, access, &p1, &n1, &p2))
		return false;
	memcpy(dst, p1, n1);
	if (n1 < len)
		memcpy((uint8_t *)dst + n1, p2, len - n1);
	return true;
}

bool emu_read_bytes(struct emu_cpu *cpu, uint64_t addr, void *dst, unsigned len)
{
	return read_access(cpu, addr, dst, len, EMU_ACCESS_READ);
}

bool emu_write_bytes(struct emu_cpu *cpu, uint64_t addr, const void *src, unsigned len)
{
	uint8_t *p1, *p2;
	unsigned n1;
	if (cpu->sys)
		return emu_sys_access(cpu, addr, (void *)src, len, EMU_ACCESS_WRITE, true);
	if (!resolve(cpu, addr, len, EMU_ACCESS_WRITE, &p1, &n1, &p2))
		return false;
	memcpy(p1, src, n1);
	if (n1 < len)
		memcpy(p2, (const uint8_t *)src + n1, len - n1);
	return true;
}

bool emu_probe_write(struct emu_cpu *cpu, uint64_t addr, unsigned len)
{
	uint8_t *p1, *p2;
	unsigned n1;
	if (cpu->sys)
		return emu_sys_probe(cpu, addr, len, EMU_ACCESS_WRITE);
	return resolve(cpu, addr, len, EMU_ACCESS_WRITE, &p1, &n1, &p2);
}

bool emu_read_slow(struct emu_cpu *cpu, uint64_t addr, unsigned size, uint64_t *val,
		   enum emu_access access)
{
	uint8_t buf[8];
	if (!read_access(cpu, addr, buf, size, access))
		return false;
	*val = load_host(buf, size);
	return true;
}

bool emu_write_slow(struct emu_cpu *cpu, uint64_t addr, unsigned size, uint64_t val)
{
	uint8_t buf[8];
	store_host(buf, size, val);
	return emu_write_bytes(cpu, addr, buf, size);
}

uint64_t emu_stack_mask(const struct emu_cpu *cpu)
{
	if (cpu->mode == EMU_MODE_64)
		return ~0ULL;
	return cpu->state.seg[SREG_SS].db ? 0xffffffffULL : 0xffffULL;
}

uint64_t emu_stack_linear(const struct emu_cpu *cpu, uint64_t sp)
{
	if (cpu->mode == EMU_MODE_64)
		return sp;
	return cpu->state.seg[SREG_SS].base + sp;
}

bool emu_push(struct emu_cpu *cpu, unsigned size, uint64_t v)
{
	uint64_t m = emu_stack_mask(cpu);
	uint64_t sp = (cpu->state.gpr[GPR_RSP] - size) & m;
	if (!emu_write(cpu, emu_stack_linear(cpu, sp), size, v))
		return false;
	cpu->state.gpr[GPR_RSP] = (cpu->state.gpr[GPR_RSP] & ~m) | sp;
	return true;
}

bool emu_pop(struct emu_cpu *cpu, unsigned size, uint64_t *v)
{
	uint64_t m = emu_stack_mask(cpu);
	uint64_t sp = cpu->state.gpr[GPR_RSP] & m;
	if (!emu_read(cpu, emu_stack_linear(cpu, sp), size, v))
		return false;
	cpu->state.gpr[GPR_RSP] = (cpu->state.gpr[GPR_RSP] & ~m) | ((sp + size) & m);
	return true;
}

void emu_tlb_flush(struct emu_cpu *cpu)
{
	if (cpu->sys) {
		emu_sys_tlb_flush(cpu, true);
		return;
	}
	for (unsigned k = 0; k < EMU_TLB_SIZE; k++) {
		cpu->tlb[k].tag_read = cpu->tlb[k].tag_write = cpu->tlb[k].tag_exec =
		    EMU_TLB_INVALID;
		cpu->tlb[k].addend = 0;
	}
}
