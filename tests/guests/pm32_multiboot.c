/* pm32-multiboot: a 32-bit multiboot kernel that reports what the boot loader handed over
 * (magic, memory sizes, command line, modules), then powers off through ACPI. The test
 * compares the report with what it passed to gureum. The structures are written here from
 * the Multiboot 0.6.96 specification, not taken from gureum's sources, so that a mistake in
 * gureum's layout cannot hide in both. */
#include "console.h"
#include "guest.h"
#include "guest_exit.h"

#include <stdint.h>

#define MB_INFO_MEMORY	(1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MODS	(1u << 3)

#define MODULE_BYTES_SHOWN 64

struct mb_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper;
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count, mods_addr;
};

struct mb_module {
	uint32_t mod_start, mod_end, string, reserved;
};

void guest_main(uint32_t magic, const struct mb_info *info);

static void report_memory(const struct mb_info *info)
{
	if (!(info->flags & MB_INFO_MEMORY)) {
		con_puts("no memory info\n");
		return;
	}
	con_puts("mem_lower=");
	con_put_dec(info->mem_lower);
	con_puts(" KiB mem_upper=");
	con_put_dec(info->mem_upper);
	con_puts(" KiB\n");
}

static void report_cmdline(const struct mb_info *info)
{
	if (!(info->flags & MB_INFO_CMDLINE)) {
		con_puts("no cmdline\n");
		return;
	}
	con_puts("cmdline='");
	con_put_bytes((const char *)info->cmdline, 4096);
	con_puts("'\n");
}

static void report_module(uint32_t index, const struct mb_module *module)
{
	con_puts("module ");
	con_put_dec(index);
	con_puts(": string='");
	con_put_bytes((const char *)module->string, 256);
	con_puts("' size=");
	con_put_dec(module->mod_end - module->mod_start);
	con_puts(" content='");
	uint32_t size = module->mod_end - module->mod_start;
	con_put_bytes((const char *)module->mod_start,
		      size < MODULE_BYTES_SHOWN ? size : MODULE_BYTES_SHOWN);
	con_puts("'\n");
}

static void report_modules(const struct mb_info *info)
{
	if (!(info->flags & MB_INFO_MODS)) {
		con_puts("no modules\n");
		return;
	}
	con_puts("modules=");
	con_put_dec(info->mods_count);
	con_putc('\n');
	const struct mb_module *modules = (const struct mb_module *)info->mods_addr;
	for (uint32_t i = 0; i < info->mods_count; i++)
		report_module(i, &modules[i]);
}

void guest_main(uint32_t magic, const struct mb_info *info)
{
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC) {
		/* Without the magic, %ebx means nothing: reading it could fault. */
		con_puts("bad multiboot magic 0x");
		con_put_hex(magic, 8);
		con_putc('\n');
		power_off();
	}
	con_puts("multiboot magic ok\n");
	report_memory(info);
	report_cmdline(info);
	report_modules(info);
	con_puts("multiboot done\n");
	power_off();
}
