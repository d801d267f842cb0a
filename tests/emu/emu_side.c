/* The emulator half of the differential test: the same sandbox pages (code read+exec, data
 * read+write, nothing else), the same registers, one emu_run(). */
#include "accel/emu/emu.h"
#include "difftest.h"

#include <string.h>

static uint8_t code_page[DT_PAGE] __attribute__((aligned(4096)));
static uint8_t data_pages[DT_DATA_BYTES] __attribute__((aligned(4096)));
static struct emu_cpu *cpu;

void dt_copy_x87(uint8_t *dst, const uint8_t *src)
{
	memcpy(dst, src, 24);
	memcpy(dst + 32, src + 32, 128);
}

static bool translate(void *opaque, uint64_t page, enum emu_access access, uint8_t **host)
{
	(void)opaque;
	if (page == DT_CODE && access != EMU_ACCESS_WRITE) {
		*host = code_page;
		return true;
	}
	if (page >= DT_DATA && page < DT_DATA + DT_DATA_BYTES && access != EMU_ACCESS_EXEC) {
		*host = data_pages + (page - DT_DATA);
		return true;
	}
	return false;
}

bool dt_emu_init(void)
{
	struct emu_memory mem = {.translate = translate};
	cpu = emu_cpu_create(&mem, dt_model);
	return cpu != NULL;
}

uint32_t dt_emu_mxcsr_mask(void)
{
	uint8_t fx[512];
	uint32_t mask;
	emu_cpu_save_fxsave(cpu, fx);
	memcpy(&mask, fx + 28, 4);
	return mask;
}

/* Interrupt vectors as Linux reports them in the signal frame's trapno. */
void dt_emu_run(const struct dt_case *c, struct dt_outcome *out)
{
	struct vcpu_state *st = emu_cpu_state(cpu);
	memset(code_page, 0xcc, sizeof(code_page));
	memcpy(code_page, c->code, c->code_len);
	memcpy(data_pages, c->data, DT_DATA_BYTES);
	emu_flush(cpu);
	memcpy(st->gpr, c->regs.gpr, sizeof(st->gpr));
	st->rip = c->regs.rip;
	st->rflags = c->regs.rflags;
	memcpy(st->xsave + 160, c->regs.xmm, sizeof(c->regs.xmm));
	memcpy(st->xsave + 24, &c->regs.mxcsr, 4);
	dt_copy_x87(st->xsave, c->regs.x87);

	struct emu_exit exit;
	emu_run(cpu, 1000000, &exit);
	memset(out, 0, sizeof(*out));
	memcpy(out->regs.gpr, st->gpr, sizeof(st->gpr));
	out->regs.rip = st->rip;
	out->regs.rflags = st->rflags;
	/* The x87/SSE state as the model's XSAVE stores it, as the host kernel's XSAVE stores the
	 * native side's in its signal frame. */
	uint8_t fx[512];
	emu_cpu_save_fxsave(cpu, fx);
	memcpy(out->regs.xmm, fx + 160, sizeof(out->regs.xmm));
	memcpy(&out->regs.mxcsr, fx + 24, 4);
	dt_copy_x87(out->regs.x87, fx);
	memcpy(out->data, data_pages, DT_DATA_BYTES);
	if (exit.reason == EMU_EXIT_BUDGET) {
		out->vector = DT_TIMEOUT;
		return;
	}
	out->vector = exit.reason == EMU_EXIT_EXCEPTION ? exit.vector : -3;
	if (exit.reason == EMU_EXIT_EXCEPTION)
		out->regs.rflags = exit.rflags; /* the image the CPU pushes, RF and all */
	out->error_code = exit.error_code;
	out->fault_address = exit.fault_address;
}
