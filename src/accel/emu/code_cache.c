/* Decoded-code cache: blocks of up to EMU_MAX_BLOCK_INSNS decoded instructions, found by RIP
 * through a direct-mapped hash, allocated from fixed pools (no allocation while running) and
 * dropped per guest page when that page is written or remapped, or all at once when a pool
 * fills up. */
#include "accel/emu/code_cache.h"
#include "accel/emu/fast_ops.h"
#include "accel/emu/ops.h"
#include "accel/emu/sys.h"

#include <stdlib.h>

static uint32_t page_slot(const struct emu_cpu *cpu, uint64_t page)
{
	return (uint32_t)(((page >> 12) * 0x9e3779b97f4a7c15ULL) >> 40) & cpu->code_pages_mask;
}

/* The slot of `page` in the set, or UINT32_MAX. */
static uint32_t find_page(const struct emu_cpu *cpu, uint64_t page)
{
	if (cpu->nr_code_pages == 0)
		return UINT32_MAX;
	for (uint32_t s = page_slot(cpu, page), n = 0; n <= cpu->code_pages_mask;
	     s = (s + 1) & cpu->code_pages_mask, n++) {
		uint64_t v = cpu->code_pages[s];
		if (v == 0)
			return UINT32_MAX;
		if (v == (page | 1))
			return s;
	}
	return UINT32_MAX;
}

bool emu_code_page_contains(struct emu_cpu *cpu, uint64_t page)
{
	return find_page(cpu, page) != UINT32_MAX;
}

/* Registers `page` and returns its slot, whose list of blocks (code_page_head) the caller
 * extends. */
static uint32_t add_page(struct emu_cpu *cpu, uint64_t page)
{
	/* A page that holds decoded code must not have a fast write path. */
	if (cpu->sys) {
		emu_sys_code_added(cpu, page); /* `page` is guest-physical */
	} else {
		struct tlb_entry *e = &cpu->tlb[(page >> 12) & (EMU_TLB_SIZE - 1)];
		if (e->tag_write == page)
			e->tag_write = EMU_TLB_INVALID;
	}
	uint32_t s = find_page(cpu, page);
	if (s != UINT32_MAX)
		return s;
	s = page_slot(cpu, page);
	while (cpu->code_pages[s] & 1)
		s = (s + 1) & cpu->code_pages_mask;
	cpu->code_pages[s] = page | 1;
	cpu->code_page_head[s] = 0;
	cpu->nr_code_pages++;
	return s;
}

void emu_code_page_add(struct emu_cpu *cpu, uint64_t page)
{
	add_page(cpu, page);
}

/* Drops the blocks decoded from `page`: the page's list links them (a block on two pages is
 * on both lists, through page_next[0] and page_next[1]). */
void emu_code_invalidate_page(struct emu_cpu *cpu, uint64_t page)
{
	uint32_t s = find_page(cpu, page);
	cpu->code_gen++; /* no chained link may lead into a block dropped here */
	if (s == UINT32_MAX)
		return;
	for (uint32_t idx = cpu->code_page_head[s]; idx;) {
		struct emu_block *blk = &cpu->blocks[idx - 1];
		blk->valid = false;
		idx = blk->page_first == page ? blk->page_next[0] : blk->page_next[1];
	}
	cpu->code_pages[s] = 2; /* tombstone: keeps later probes reachable */
	cpu->code_page_head[s] = 0;
}

void emu_code_flush(struct emu_cpu *cpu)
{
	cpu->nr_insns = 0;
	cpu->nr_blocks = 0;
	cpu->nr_code_pages = 0;
	cpu->code_gen++;
	memset(cpu->block_hash, 0, sizeof(*cpu->block_hash) * (cpu->block_hash_mask + 1));
	memset(cpu->code_pages, 0, sizeof(*cpu->code_pages) * (cpu->code_pages_mask + 1));
}

bool emu_code_cache_init(struct emu_cpu *cpu, unsigned scale)
{
	cpu->pool_insns = EMU_INSN_POOL << scale;
	cpu->pool_blocks = EMU_BLOCK_POOL << scale;
	cpu->block_hash_mask = (EMU_BLOCK_HASH << scale) - 1;
	cpu->code_pages_mask = (EMU_CODE_PAGES << scale) - 1;
	cpu->insns = calloc(cpu->pool_insns, sizeof(*cpu->insns));
	cpu->blocks = calloc(cpu->pool_blocks, sizeof(*cpu->blocks));
	cpu->block_hash = calloc(cpu->block_hash_mask + 1, sizeof(*cpu->block_hash));
	cpu->code_pages = calloc(cpu->code_pages_mask + 1, sizeof(*cpu->code_pages));
	cpu->code_page_head = calloc(cpu->code_pages_mask + 1, sizeof(*cpu->code_page_head));
	return cpu->insns && cpu->blocks && cpu->block_hash && cpu->code_pages &&
	       cpu->code_page_head;
}

void emu_code_cache_fini(struct emu_cpu *cpu)
{
	free(cpu->insns);
	free(cpu->blocks);
	free(cpu->block_hash);
	free(cpu->code_pages);
	free(cpu->code_page_head);
	cpu->insns = NULL;
	cpu->blocks = NULL;
	cpu->block_hash = NULL;
	cpu->code_pages = NULL;
	cpu->code_page_head = NULL;
}

static uint32_t block_slot(const struct emu_cpu *cpu, uint64_t rip)
{
	return (uint32_t)((rip ^ (rip >> 14)) & cpu->block_hash_mask);
}

static bool ends_block(emu_handler fn)
{
	return fn == op_jmp_rel || fn == op_jmp_rm || fn == op_ret || fn == op_call_rel ||
	       fn == op_call_rm || fn == op_syscall || fn == op_int3 || fn == op_int ||
	       fn == op_hlt || fn == op_privileged;
}

static uint64_t linear_rip(struct emu_cpu *cpu, uint64_t rip)
{
	if (cpu->mode == EMU_MODE_64)
		return rip;
	return cpu->state.seg[SREG_CS].base + rip;
}

/* A JMP rel in 64-bit code whose target is on the block's (only) page: decoding follows it, so
 * the jump costs no trip through the run loop. The page is the block's, so invalidation still
 * covers everything the block holds. */
static bool jumps_within_page(struct emu_cpu *cpu, const struct emu_insn *insn, uint64_t page)
{
	return insn->fn == op_jmp_rel && cpu->mode == EMU_MODE_64 &&
	       (insn->imm & EMU_PAGE_MASK) == page && (insn->next_rip - 1) >> 12 == page >> 12;
}

/* Copies up to 15 instruction bytes at `lin`; the second page is optional until the decoder
 * proves it needs it. */
static unsigned fetch_bytes(struct emu_cpu *cpu, const uint8_t *host, uint64_t lin, uint8_t *buf)
{
	unsigned off = (unsigned)(lin & 0xfff);
	unsigned first = 4096 - off < EMU_MAX_INSN_LEN ? 4096 - off : EMU_MAX_INSN_LEN;
	memcpy(buf, host + off, first);
	if (first == EMU_MAX_INSN_LEN)
		return first;
	uint8_t *next = emu_fetch_page(cpu, (lin & EMU_PAGE_MASK) + EMU_PAGE_SIZE);
	if (!next)
		return first;
	memcpy(buf + first, next, EMU_MAX_INSN_LEN - first);
	return EMU_MAX_INSN_LEN;
}

static uint32_t fetch_pf_code(struct emu_cpu *cpu)
{
	uint32_t code = EMU_PF_FETCH;
	if ((cpu->state.seg[SREG_CS].selector & 3) == 3)
		code |= EMU_PF_USER;
	return code;
}

static void raise_decode_error(struct emu_cpu *cpu, enum emu_decode_result r, uint64_t lin,
			       unsigned len)
{
	if (r == EMU_DECODE_TOO_LONG) {
		emu_raise_gp0(cpu);
	} else if (r == EMU_DECODE_TRUNCATED && cpu->sys) {
		/* the fetch of the next page failed: raise its fault for real */
		if (emu_fetch_page(cpu, (lin + len) & EMU_PAGE_MASK))
			emu_raise_ud(cpu);
	} else if (r == EMU_DECODE_TRUNCATED) {
		emu_raise_pf(cpu, (lin + len) & EMU_PAGE_MASK, fetch_pf_code(cpu));
	} else {
		emu_raise_ud(cpu);
	}
}

static void make_room(struct emu_cpu *cpu)
{
	if (cpu->nr_blocks >= cpu->pool_blocks ||
	    cpu->nr_insns + EMU_MAX_BLOCK_INSNS + 1 > cpu->pool_insns ||
	    cpu->nr_code_pages + 2 > (cpu->code_pages_mask + 1) / 2)
		emu_code_flush(cpu);
}

static struct emu_block *translate(struct emu_cpu *cpu, uint64_t rip)
{
	make_room(cpu);
	uint64_t lin = linear_rip(cpu, rip);
	uint64_t page = lin & EMU_PAGE_MASK;
	uint8_t *host = emu_fetch_page(cpu, page);
	if (!host) {
		if (!cpu->sys)
			emu_raise_pf(cpu, lin, fetch_pf_code(cpu));
		else if (cpu->pending.reason == EMU_EXIT_EXCEPTION &&
			 cpu->pending.vector == EMU_VEC_PF)
			cpu->pending.fault_address = lin; /* CR2: the instruction, not its page */
		return NULL;
	}
	uint64_t key_first = cpu->sys ? cpu->sys->fetch_gpa : page;
	struct emu_block *b = &cpu->blocks[cpu->nr_blocks];
	*b = (struct emu_block){.rip = rip,
				.page_first = key_first,
				.page_last = key_first,
				.ctx = cpu->ctx,
				.map_gen = cpu->map_gen,
				.host_first = (uintptr_t)host,
				.host_last = (uintptr_t)host,
				.lin_last = page,
				.first = cpu->nr_insns,
				.mode = (uint8_t)cpu->mode};
	uint64_t lin_last = page;
	uint64_t cur = rip;
	while (b->count < EMU_MAX_BLOCK_INSNS) {
		struct emu_insn *insn = &cpu->insns[b->first + b->count];
		uint8_t buf[EMU_MAX_INSN_LEN];
		uint64_t cur_lin = linear_rip(cpu, cur);
		unsigned avail = fetch_bytes(cpu, host, cur_lin, buf);
		enum emu_decode_result r = emu_decode(buf, avail, cpu->mode, cpu->model, cur, insn);
		if (r != EMU_DECODE_OK) {
			if (b->count == 0) {
				raise_decode_error(cpu, r, cur_lin, insn->len);
				return NULL;
			}
			break; /* the next block raises it, at its own RIP */
		}
		b->count++;
		lin_last = (cur_lin + insn->len - 1) & EMU_PAGE_MASK;
		if (cpu->sys && (insn->lock || (insn->fn == op_xchg && insn->is_mem)))
			insn->lock = 1; /* XCHG with memory is locked without the prefix */
		cur = insn->next_rip;
		if (jumps_within_page(cpu, insn, page)) {
			cur =
			    insn->imm; /* the block goes on at the target (emu_specialize_block) */
			continue;
		}
		if (ends_block(insn->fn) || (linear_rip(cpu, cur) & EMU_PAGE_MASK) != page)
			break;
	}
	if (lin_last != page) {
		uint8_t *host2 = emu_fetch_page(cpu, lin_last); /* fetched already by the decode */
		if (!host2) {
			cpu->pending = (struct emu_exit){0};
			b->count--; /* cannot happen; end the block before that instruction */
			if (b->count == 0)
				return NULL;
			lin_last = page;
		} else {
			b->page_last = cpu->sys ? cpu->sys->fetch_gpa : lin_last;
			b->host_last = (uintptr_t)host2;
			b->lin_last = lin_last;
		}
	}
	emu_specialize_block(&cpu->insns[b->first], b->count);
	if (cpu->sys) {
		for (uint32_t k = 0; k < b->count; k++)
			if (cpu->insns[b->first + k].lock)
				cpu->insns[b->first + k].fast = emu_sys_locked_fast;
		cpu->sys->stats.block_decodes++;
	}
	cpu->nr_insns += b->count + 1; /* and the sentinel that ends the threaded run */
	b->valid = true;
	b->link_gen = cpu->code_gen;
	uint32_t slot = add_page(cpu, b->page_first);
	b->page_next[0] = cpu->code_page_head[slot];
	cpu->code_page_head[slot] = cpu->nr_blocks + 1;
	if (b->page_last != b->page_first) {
		slot = add_page(cpu, b->page_last);
		b->page_next[1] = cpu->code_page_head[slot];
		cpu->code_page_head[slot] = cpu->nr_blocks + 1;
	}
	cpu->block_hash[block_slot(cpu, rip)] = cpu->nr_blocks + 1;
	cpu->nr_blocks++;
	return b;
}

struct emu_block *emu_code_next_slow(struct emu_cpu *cpu, struct emu_block *prev, uint64_t rip)
{
	if (prev->link_gen != cpu->code_gen) {
		memset(prev->link, 0, sizeof(prev->link));
		prev->link_gen = cpu->code_gen;
	}
	/* A linked block found by its RIP whose mapping may have changed since (system mode,
	 * translations dropped): still good if its pages map where it was decoded from. */
	for (unsigned k = 0; k < EMU_BLOCK_LINKS; k++) {
		struct emu_block *b = prev->link[k];
		if (b && b->rip == rip && b->ctx == cpu->ctx && b->map_gen != cpu->map_gen &&
		    cpu->sys && emu_sys_block_valid(cpu, b)) {
			b->map_gen = cpu->map_gen;
			return b;
		}
	}
	struct emu_block *b = emu_code_lookup(cpu, rip);
	/* Decoding may have flushed the cache: only link when prev survived it. */
	if (b && prev->link_gen == cpu->code_gen) {
		prev->link[prev->link_next] = b;
		prev->link_next = (uint8_t)((prev->link_next + 1) % EMU_BLOCK_LINKS);
	}
	return b;
}

struct emu_block *emu_code_lookup(struct emu_cpu *cpu, uint64_t rip)
{
	uint32_t idx = cpu->block_hash[block_slot(cpu, rip)];
	if (cpu->sys)
		cpu->sys->stats.block_lookups++;
	if (idx) {
		struct emu_block *b = &cpu->blocks[idx - 1];
		if (b->rip == rip && b->valid && b->ctx == cpu->ctx &&
		    (!cpu->sys || emu_sys_block_valid(cpu, b))) {
			b->map_gen = cpu->map_gen;
			return b;
		}
	}
	return translate(cpu, rip);
}
