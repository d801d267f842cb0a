#include "two_pages.h"

#include <criterion/criterion.h>
#include <string.h>

uint8_t code[4096] __attribute__((aligned(4096)));
uint8_t data[4096] __attribute__((aligned(4096)));
struct emu_cpu *cpu;
struct vcpu_state *st;

static bool translate(void *opaque, uint64_t page, enum emu_access access, uint8_t **host)
{
	(void)opaque;
	if (page == CODE && access != EMU_ACCESS_WRITE) {
		*host = code;
		return true;
	}
	if (page == DATA && access != EMU_ACCESS_EXEC) {
		*host = data;
		return true;
	}
	return false;
}

void two_pages_start(const char *model, const void *program, size_t len)
{
	static const struct emu_memory mem = {.translate = translate};
	memset(code, 0xcc, sizeof(code));
	memset(data, 0, sizeof(data));
	if (len)
		memcpy(code, program, len);
	two_pages_stop();
	cpu = emu_cpu_create(&mem, emu_cpu_model_find(model));
	cr_assert_not_null(cpu);
	st = emu_cpu_state(cpu);
	st->rip = CODE;
}

void two_pages_stop(void)
{
	if (cpu)
		emu_cpu_destroy(cpu);
	cpu = NULL;
}
