/* The ACPI tables as a guest finds them: RSDP scan in the BIOS area, XSDT walk, and each table's
 * fields at the offsets the ACPI 6.5 specification gives (deliberately not the builder's
 * structs). iasl, ACPICA's disassembler (the same parser Linux uses), is the peer that must
 * accept them. */
#include "machine/acpi.h"
#include "machine/layout.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct guest_memory mem;
static char tmpdir[64]; /* set by tests that run iasl; removed even when they fail */

static void setup(void)
{
	cr_assert_eq(guest_memory_create(&mem, 64ULL << 20), 0);
}

static void remove_tmpdir(void)
{
	if (!tmpdir[0])
		return;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	tmpdir[0] = '\0';
}

static void teardown(void)
{
	remove_tmpdir();
	guest_memory_destroy(&mem);
}

TestSuite(acpi, .init = setup, .fini = teardown);

static void build_ok(const struct acpi_config *cfg)
{
	char err[256] = "";
	cr_assert_eq(acpi_build(&mem, cfg, err, sizeof(err)), 0, "acpi_build: %s", err);
}

static const struct acpi_config full = {
    .nr_cpus = 2, .has_uart0 = true, .has_rtc = true, .has_i8042 = true, .has_power_button = true};

/* A host pointer to [gpa, gpa + len), which must lie inside the ACPI area. */
static const uint8_t *area(uint64_t gpa, uint64_t len)
{
	cr_assert(gpa >= LAYOUT_ACPI_START && len <= LAYOUT_ACPI_END - gpa,
		  "0x%llx+%llu outside the ACPI area", (unsigned long long)gpa,
		  (unsigned long long)len);
	const uint8_t *p = guest_memory_ptr(&mem, gpa, len);
	cr_assert_not_null(p);
	return p;
}

static uint8_t u8_at(uint64_t gpa)
{
	return *area(gpa, 1);
}

static uint16_t u16_at(uint64_t gpa)
{
	uint16_t v;
	memcpy(&v, area(gpa, 2), 2);
	return v;
}

static uint32_t u32_at(uint64_t gpa)
{
	uint32_t v;
	memcpy(&v, area(gpa, 4), 4);
	return v;
}

static uint64_t u64_at(uint64_t gpa)
{
	uint64_t v;
	memcpy(&v, area(gpa, 8), 8);
	return v;
}

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;
	for (size_t i = 0; i < len; i++)
		s += p[i];
	return s;
}

/* What Linux does: scan the BIOS area on 16-byte boundaries for a valid RSDP. */
static uint64_t find_rsdp(void)
{
	for (uint64_t gpa = LAYOUT_ACPI_START; gpa < LAYOUT_ACPI_END; gpa += 16) {
		const uint8_t *p = area(gpa, 20);
		if (memcmp(p, "RSD PTR ", 8) == 0 && sum(p, 20) == 0)
			return gpa;
	}
	cr_assert_fail("no RSDP found in the BIOS area");
	return 0;
}

static uint32_t table_length(uint64_t gpa)
{
	return u32_at(gpa + 4);
}

static void assert_table(uint64_t gpa, const char *signature)
{
	uint32_t len = table_length(gpa);
	cr_assert_geq(len, 36, "%s shorter than its header", signature);
	const uint8_t *p = area(gpa, len);
	cr_assert_eq(memcmp(p, signature, 4), 0, "expected %s, found %.4s", signature, p);
	cr_assert_eq(sum(p, len), 0, "%s checksum", signature);
	cr_assert_eq(memcmp(p + 10, "GUREUM", 6), 0, "%s OEM ID", signature);
}

static uint64_t xsdt_address(void)
{
	return u64_at(find_rsdp() + 24);
}

/* The table with `signature` listed in the XSDT, or 0. */
static uint64_t find_table(const char *signature)
{
	uint64_t xsdt = xsdt_address();
	uint32_t n = (table_length(xsdt) - 36) / 8;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t t = u64_at(xsdt + 36 + 8 * i);
		if (memcmp(area(t, 4), signature, 4) == 0)
			return t;
	}
	return 0;
}

static uint64_t dsdt_address(void)
{
	return u64_at(find_table("FACP") + 140); /* X_DSDT */
}

Test(acpi, rsdp_is_version_2_at_the_start_of_the_area)
{
	build_ok(&full);
	uint64_t rsdp = find_rsdp();
	cr_assert_eq(rsdp, LAYOUT_ACPI_START);
	cr_assert_eq(u8_at(rsdp + 15), 2, "revision");
	cr_assert_eq(memcmp(area(rsdp + 9, 6), "GUREUM", 6), 0);
	cr_assert_eq(u32_at(rsdp + 20), 36, "length");
	cr_assert_eq(sum(area(rsdp, 36), 36), 0, "extended checksum");
	assert_table(u64_at(rsdp + 24), "XSDT");
}

Test(acpi, xsdt_lists_fadt_madt_mcfg_all_valid)
{
	build_ok(&full);
	uint64_t xsdt = xsdt_address();
	cr_assert_eq(table_length(xsdt), 36 + 3 * 8);
	const char *expected[] = {"FACP", "APIC", "MCFG"};
	for (int i = 0; i < 3; i++) {
		uint64_t t = find_table(expected[i]);
		cr_assert_neq(t, 0, "%s missing from the XSDT", expected[i]);
		assert_table(t, expected[i]);
	}
	assert_table(dsdt_address(), "DSDT");
}

Test(acpi, fadt_is_hardware_reduced_acpi6_with_power_registers)
{
	build_ok(&full);
	uint64_t f = find_table("FACP");
	cr_assert_eq(table_length(f), 276);
	cr_assert_eq(u8_at(f + 8), 6, "revision");
	uint32_t flags = u32_at(f + 112);
	cr_assert(flags & (1u << 20), "HW_REDUCED_ACPI");
	cr_assert(flags & (1u << 10), "RESET_REG_SUP");
	cr_assert_eq(u32_at(f + 36), 0, "no FACS");
	cr_assert_eq(u64_at(f + 132), 0, "no X_FACS");
	cr_assert_eq(u16_at(f + 46), LAYOUT_GSI_SCI);
	struct {
		uint64_t offset;
		uint64_t port;
	} regs[] = {
	    {116, LAYOUT_PORT_RESET}, {244, LAYOUT_PORT_SLEEP_CTL}, {256, LAYOUT_PORT_SLEEP_STS}};
	for (int i = 0; i < 3; i++) {
		uint64_t gas = f + regs[i].offset;
		cr_assert_eq(u8_at(gas), 1, "SystemIO");
		cr_assert_eq(u8_at(gas + 1), 8, "8 bits wide");
		cr_assert_eq(u8_at(gas + 2), 0, "bit offset");
		cr_assert_eq(u64_at(gas + 4), regs[i].port);
	}
	cr_assert_eq(u8_at(f + 128), 1, "RESET_VALUE");
	cr_assert_eq(memcmp(area(f + 268, 6), "GUREUM", 6), 0, "hypervisor vendor");
}

Test(acpi, fadt_boot_flags_follow_the_legacy_devices)
{
	build_ok(&full);
	uint16_t boot = u16_at(find_table("FACP") + 109);
	cr_assert(boot & (1u << 1), "8042 present");
	cr_assert_not(boot & (1u << 2), "VGA not present must be clear");
	cr_assert_not(boot & (1u << 3), "MSI not supported must be clear");
	cr_assert_not(boot & (1u << 5), "CMOS RTC present");

	struct acpi_config bare = {.nr_cpus = 1};
	build_ok(&bare);
	boot = u16_at(find_table("FACP") + 109);
	cr_assert_not(boot & (1u << 1), "no 8042");
	cr_assert(boot & (1u << 5), "CMOS RTC not present");
	cr_assert_not(boot & (1u << 3));
}

struct madt_census {
	unsigned lapics, x2apics, ioapics, isos, nmis, x2nmis;
	unsigned enabled, online_capable;
	bool irq0_to_gsi2_edge, irq9_level_high;
};

/* A CPU entry is enabled (at boot) or online capable (to be added), never both or neither. */
static void count_cpu_flags(struct madt_census *c, uint32_t flags)
{
	cr_assert(flags == 1 || flags == 2, "CPU flags 0x%x", flags);
	c->enabled += flags == 1;
	c->online_capable += flags == 2;
}

/* Walks every MADT entry, checking each CPU's IDs and that the entries tile the table. */
static struct madt_census walk_madt(void)
{
	uint64_t m = find_table("APIC");
	assert_table(m, "APIC");
	cr_assert_eq(u32_at(m + 36), LAYOUT_LAPIC);
	cr_assert(u32_at(m + 40) & 1, "PCAT_COMPAT");
	struct madt_census c = {0};
	uint64_t end = m + table_length(m);
	unsigned cpu = 0;
	uint64_t e = m + 44;
	while (e < end) {
		uint8_t type = u8_at(e), len = u8_at(e + 1);
		cr_assert_geq(len, 2, "entry at +%llu has length %u", (unsigned long long)(e - m),
			      len);
		cr_assert_leq(e + len, end, "entry overruns the table");
		switch (type) {
		case 0:
			cr_assert_eq(len, 8);
			cr_assert_eq(u8_at(e + 2), cpu, "processor UID");
			cr_assert_eq(u8_at(e + 3), cpu, "APIC ID");
			count_cpu_flags(&c, u32_at(e + 4));
			cpu++;
			c.lapics++;
			break;
		case 9:
			cr_assert_eq(len, 16);
			cr_assert_eq(u32_at(e + 4), cpu, "x2APIC ID");
			cr_assert_eq(u32_at(e + 12), cpu, "processor UID");
			count_cpu_flags(&c, u32_at(e + 8));
			cpu++;
			c.x2apics++;
			break;
		case 1:
			cr_assert_eq(len, 12);
			cr_assert_eq(u32_at(e + 4), LAYOUT_IOAPIC);
			cr_assert_eq(u32_at(e + 8), 0, "GSI base");
			c.ioapics++;
			break;
		case 2:
			cr_assert_eq(len, 10);
			if (u8_at(e + 3) == 0 && u32_at(e + 4) == 2 && (u16_at(e + 8) & 0xc) == 0x4)
				c.irq0_to_gsi2_edge = true;
			if (u8_at(e + 3) == 9 && u32_at(e + 4) == 9 && u16_at(e + 8) == 0xd)
				c.irq9_level_high = true;
			c.isos++;
			break;
		case 4:
			cr_assert_eq(len, 6);
			cr_assert_eq(u8_at(e + 2), 0xff, "all processors");
			cr_assert_eq(u8_at(e + 5), 1, "LINT1");
			c.nmis++;
			break;
		case 10:
			cr_assert_eq(len, 12);
			cr_assert_eq(u32_at(e + 4), 0xffffffff, "all processors");
			cr_assert_eq(u8_at(e + 8), 1, "LINT1");
			c.x2nmis++;
			break;
		default:
			cr_assert_fail("unexpected MADT entry type %u", type);
		}
		e += len;
	}
	cr_assert_eq(e, end, "entries must fill the MADT exactly");
	return c;
}

static void assert_madt_for(unsigned nr_cpus)
{
	struct acpi_config cfg = full;
	cfg.nr_cpus = nr_cpus;
	build_ok(&cfg);
	struct madt_census c = walk_madt();
	unsigned xapic = nr_cpus < 255 ? nr_cpus : 255;
	cr_assert_eq(c.lapics, xapic);
	cr_assert_eq(c.x2apics, nr_cpus - xapic);
	cr_assert_eq(c.enabled, nr_cpus);
	cr_assert_eq(c.online_capable, 0);
	cr_assert_eq(u8_at(find_table("APIC") + 8), 4, "revision 4 without CPUs to add");
	cr_assert_eq(c.ioapics, 1);
	cr_assert_eq(c.isos, 2);
	cr_assert(c.irq0_to_gsi2_edge, "ISA IRQ0 -> GSI 2, edge");
	cr_assert(c.irq9_level_high, "SCI IRQ9, level, active high");
	cr_assert_eq(c.nmis, 1);
	cr_assert_eq(c.x2nmis, nr_cpus > 255 ? 1 : 0);
}

/* --cpus 2,max=8: 8 entries, the last 6 online capable (not enabled), revision 5. */
Test(acpi, madt_lists_cpus_to_add_as_online_capable)
{
	struct acpi_config cfg = full;
	cfg.nr_cpus = 2;
	cfg.cpu_hotplug = true;
	cfg.max_cpus = 8;
	build_ok(&cfg);
	struct madt_census c = walk_madt();
	cr_assert_eq(c.lapics, 8);
	cr_assert_eq(c.enabled, 2);
	cr_assert_eq(c.online_capable, 6);
	cr_assert_eq(u8_at(find_table("APIC") + 8), 5, "revision 5 defines online capable");
}

Test(acpi, cpus_to_add_beyond_xapic_ids_are_refused)
{
	struct acpi_config cfg = full;
	cfg.nr_cpus = 2;
	cfg.cpu_hotplug = true;
	cfg.max_cpus = 256;
	char err[256] = "";
	cr_assert_eq(acpi_build(&mem, &cfg, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "at most 255"), "message: %s", err);
}

Test(acpi, madt_one_cpu)
{
	assert_madt_for(1);
}

Test(acpi, madt_64_cpus)
{
	assert_madt_for(64);
}

Test(acpi, madt_255_cpus_all_xapic)
{
	assert_madt_for(255);
}

Test(acpi, madt_256_cpus_adds_an_x2apic_entry)
{
	assert_madt_for(256);
}

Test(acpi, madt_maximum_cpus)
{
	assert_madt_for(ACPI_MAX_CPUS);
}

static void fill(uint64_t gpa, uint64_t len, uint8_t byte)
{
	memset(guest_memory_ptr(&mem, gpa, len), byte, len);
}

static bool all_bytes(uint64_t gpa, uint64_t len, uint8_t byte)
{
	const uint8_t *p = guest_memory_ptr(&mem, gpa, len);
	for (uint64_t i = 0; i < len; i++)
		if (p[i] != byte)
			return false;
	return true;
}

Test(acpi, bad_cpu_counts_fail_cleanly_and_write_nothing)
{
	fill(LAYOUT_ACPI_START, LAYOUT_ACPI_END - LAYOUT_ACPI_START, 0xaa);
	struct acpi_config cfg = full;
	char err[256] = "";
	cfg.nr_cpus = ACPI_MAX_CPUS + 1;
	cr_assert_eq(acpi_build(&mem, &cfg, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "CPUs"), "message: %s", err);
	cfg.nr_cpus = 0;
	err[0] = '\0';
	cr_assert_eq(acpi_build(&mem, &cfg, err, sizeof(err)), -1);
	cr_assert_neq(err[0], '\0');
	cr_assert(all_bytes(LAYOUT_ACPI_START, LAYOUT_ACPI_END - LAYOUT_ACPI_START, 0xaa));
}

Test(acpi, nothing_written_outside_the_area)
{
	fill(LAYOUT_ACPI_START - 0x10000, 0x10000, 0x5a);
	fill(LAYOUT_ACPI_END, 0x10000, 0x5a);
	struct acpi_config cfg = full;
	cfg.nr_cpus = ACPI_MAX_CPUS;
	build_ok(&cfg);
	cr_assert(all_bytes(LAYOUT_ACPI_START - 0x10000, 0x10000, 0x5a));
	cr_assert(all_bytes(LAYOUT_ACPI_END, 0x10000, 0x5a));
}

Test(acpi, guest_without_ram_at_the_bios_area_is_refused)
{
	struct guest_memory tiny;
	cr_assert_eq(guest_memory_create(&tiny, 512 << 10), 0);
	char err[256] = "";
	cr_assert_eq(acpi_build(&tiny, &full, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "RAM"), "message: %s", err);
	guest_memory_destroy(&tiny);
}

Test(acpi, mcfg_describes_the_ecam_window)
{
	build_ok(&full);
	uint64_t m = find_table("MCFG");
	cr_assert_eq(table_length(m), 44 + 16, "one allocation");
	cr_assert_eq(u64_at(m + 44), LAYOUT_PCI_ECAM_START);
	cr_assert_eq(u16_at(m + 52), 0, "segment");
	cr_assert_eq(u8_at(m + 54), 0, "start bus");
	cr_assert_eq(u8_at(m + 55), LAYOUT_PCI_BUSES - 1, "end bus: only the buses that exist");
}

static bool dsdt_contains(const void *needle, size_t len)
{
	uint64_t d = dsdt_address();
	uint32_t dlen = table_length(d);
	return memmem(area(d, dlen), dlen, needle, len) != NULL;
}

Test(acpi, dsdt_has_s5_package_and_only_the_configured_devices)
{
	build_ok(&full);
	/* Name (\_S5_, Package () { 5, 0 }): SLP_TYP 5 is what the sleep register expects. */
	const uint8_t s5[] = {'_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x0a, 0x05, 0x00};
	cr_assert(dsdt_contains(s5, sizeof(s5)));
	const uint8_t pnp0501[] = {0x0c, 0x41, 0xd0, 0x05, 0x01};
	const uint8_t pnp0b00[] = {0x0c, 0x41, 0xd0, 0x0b, 0x00};
	const uint8_t pnp0303[] = {0x0c, 0x41, 0xd0, 0x03, 0x03};
	cr_assert(dsdt_contains(pnp0501, 5));
	cr_assert(dsdt_contains(pnp0b00, 5));
	cr_assert(dsdt_contains(pnp0303, 5));

	struct acpi_config bare = {.nr_cpus = 1};
	build_ok(&bare);
	cr_assert(dsdt_contains(s5, sizeof(s5)));
	cr_assert_not(dsdt_contains(pnp0501, 5));
	cr_assert_not(dsdt_contains(pnp0b00, 5));
	cr_assert_not(dsdt_contains(pnp0303, 5));
}

Test(acpi, pci_interrupts_rotate_over_eight_gsis)
{
	cr_assert_eq(acpi_pci_intx_gsi(1, 0), LAYOUT_GSI_PCI_FIRST + 1);
	cr_assert_eq(acpi_pci_intx_gsi(7, 1), LAYOUT_GSI_PCI_FIRST + 0);
	cr_assert_eq(acpi_pci_intx_gsi(31, 3), LAYOUT_GSI_PCI_FIRST + 2);
	for (unsigned slot = 1; slot < 32; slot++)
		for (unsigned pin = 0; pin < 4; pin++)
			cr_assert_lt(acpi_pci_intx_gsi(slot, pin), LAYOUT_IOAPIC_PINS);
}

Test(acpi, invalid_extra_device_is_an_error)
{
	const struct acpi_device bad = {.name = "bad!", .hid = "PNP0C0F"};
	struct acpi_config cfg = full;
	cfg.extra_devices = &bad;
	cfg.nr_extra_devices = 1;
	char err[256] = "";
	cr_assert_eq(acpi_build(&mem, &cfg, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "DSDT"), "message: %s", err);
}

/* ---- iasl, the peer ---- */

static void require_iasl(void)
{
	if (system("command -v iasl >/dev/null 2>&1") != 0)
		cr_assert_fail(
		    "iasl not found: install acpica-tools (apt-get install acpica-tools)");
}

static void dump_table(uint64_t gpa, const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	uint32_t len = table_length(gpa);
	cr_assert_eq(fwrite(area(gpa, len), 1, len, f), len);
	fclose(f);
}

static char *read_text(const char *name, size_t *len_out)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s missing", path);
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *text = calloc(1, (size_t)len + 1);
	cr_assert_eq(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	if (len_out)
		*len_out = (size_t)len;
	return text;
}

/* iasl is lenient: a bad checksum or a mangled name is a "Firmware Warning" or "ACPI Warning"
 * with exit status 0. Any line naming an error or warning counts, except the success summary
 * ("Compilation successful. 0 Errors, 0 Warnings, ..."). */
static bool has_problem_line(const char *log)
{
	for (const char *line = log; *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char buf[512];
		snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
		if ((strstr(buf, "Error") || strstr(buf, "Warning")) &&
		    strncmp(buf, "Compilation successful", 22) != 0)
			return true;
		line += len;
		if (*line == '\n')
			line++;
	}
	return false;
}

/* Runs iasl in the temp dir; asserts it exits 0 and reports no errors or warnings. */
static void run_iasl(const char *args)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "cd %s && iasl %s > iasl.log 2>&1", tmpdir, args);
	int status = system(cmd);
	char *log = read_text("iasl.log", NULL);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "iasl %s failed:\n%s", args, log);
	cr_assert_not(has_problem_line(log), "iasl %s:\n%s", args, log);
	free(log);
}

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/gureum-acpi-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void assert_mentions(const char *text, const char *what)
{
	cr_assert_not_null(strstr(text, what), "disassembly does not mention %s", what);
}

static void disassemble_all(const struct acpi_config *cfg)
{
	require_iasl();
	build_ok(cfg);
	make_tmpdir();
	dump_table(dsdt_address(), "dsdt.dat");
	dump_table(find_table("FACP"), "facp.dat");
	dump_table(find_table("APIC"), "apic.dat");
	dump_table(find_table("MCFG"), "mcfg.dat");
	dump_table(xsdt_address(), "xsdt.dat");
	const char *names[] = {"dsdt", "facp", "apic", "mcfg", "xsdt"};
	for (int i = 0; i < 5; i++) {
		char args[64];
		snprintf(args, sizeof(args), "-d %s.dat", names[i]);
		run_iasl(args);
	}
}

Test(acpi, iasl_disassembles_every_table)
{
	disassemble_all(&full);
	char *dsdt = read_text("dsdt.dsl", NULL);
	assert_mentions(dsdt, "PNP0A08");
	assert_mentions(dsdt, "PNP0A03");
	assert_mentions(dsdt, "PNP0501");
	assert_mentions(dsdt, "PNP0B00");
	assert_mentions(dsdt, "PNP0303");
	assert_mentions(dsdt, "_S5_");
	assert_mentions(dsdt, "_PRT");
	assert_mentions(dsdt, "WordBusNumber");
	/* The power button and the Generic Event Device that reports it. */
	assert_mentions(dsdt, "PNP0C0C");
	assert_mentions(dsdt, "\"ACPI0013\"");
	assert_mentions(dsdt, "IRQNoFlags ()\n                    {10}");
	assert_mentions(dsdt, "OperationRegion (GDST, SystemIO, 0x0603, One)");
	assert_mentions(dsdt, "GDAT,   8");
	assert_mentions(dsdt, "Method (_EVT, 1, Serialized)");
	assert_mentions(dsdt, "Local0 = GDAT");
	assert_mentions(dsdt, "If ((Local0 & One))");
	assert_mentions(dsdt, "Notify (\\_SB.PWRB, 0x80)");
	free(dsdt);
	char *facp = read_text("facp.dsl", NULL);
	assert_mentions(facp, "Hardware Reduced (V5) : 1");
	assert_mentions(facp, "Power Button (V1) : 1");
	assert_mentions(facp, "Address : 0000000000000600");
	free(facp);
	char *apic = read_text("apic.dsl", NULL);
	assert_mentions(apic, "Interrupt Source Override");
	assert_mentions(apic, "Local APIC NMI");
	free(apic);
}

Test(acpi, iasl_accepts_the_maximum_cpu_madt)
{
	struct acpi_config cfg = full;
	cfg.nr_cpus = ACPI_MAX_CPUS;
	disassemble_all(&cfg);
	char *apic = read_text("apic.dsl", NULL);
	assert_mentions(apic, "Processor Local x2APIC");
	assert_mentions(apic, "Local x2APIC NMI");
	free(apic);
}

/* The peer check itself can fail: iasl must be seen to complain about a corrupted table. */
Test(acpi, iasl_check_catches_a_bad_checksum)
{
	disassemble_all(&full);
	char cmd[256];
	snprintf(cmd, sizeof(cmd),
		 "cd %s && printf '\\001' | dd of=dsdt.dat bs=1 seek=9 conv=notrunc 2>/dev/null && "
		 "iasl -d dsdt.dat > iasl.log 2>&1",
		 tmpdir);
	cr_assert_eq(system(cmd), 0);
	char *log = read_text("iasl.log", NULL);
	cr_assert(has_problem_line(log), "iasl accepted a corrupted DSDT:\n%s", log);
	free(log);
}

/* Recompiling iasl's disassembly (optimizations off) must give back our exact AML: the
 * builder encodes everything the way ACPICA's own compiler does. */
/* Recompiles the disassembled dsdt.dsl (disassemble_all first) and compares it with the DSDT
 * built, header aside. */
static void assert_dsdt_round_trips(void)
{
	run_iasl("-oa -p again dsdt.dsl");
	size_t len;
	char *again = read_text("again.aml", &len);
	uint64_t d = dsdt_address();
	uint32_t dlen = table_length(d);
	cr_assert_eq(len, dlen);
	cr_assert_eq(memcmp(again + 36, area(d + 36, dlen - 36), dlen - 36), 0,
		     "AML body differs from iasl's");
	free(again);
}

Test(acpi, dsdt_round_trips_through_iasl_byte_for_byte)
{
	disassemble_all(&full);
	assert_dsdt_round_trips();
}

Test(acpi, iasl_reads_extra_devices)
{
	const struct acpi_device virtio_mmio = {
	    .name = "VR00",
	    .hid = "LNRO0005",
	    .has_uid = true,
	    .uid = 0,
	    .nr_resources = 2,
	    .resources = {{ACPI_RES_MEM32, 0xd0000000, 0x200}, {ACPI_RES_INTERRUPT, 16, 0}},
	};
	struct acpi_config cfg = full;
	cfg.extra_devices = &virtio_mmio;
	cfg.nr_extra_devices = 1;
	disassemble_all(&cfg);
	char *dsdt = read_text("dsdt.dsl", NULL);
	assert_mentions(dsdt, "Device (VR00)");
	assert_mentions(dsdt, "\"LNRO0005\"");
	assert_mentions(dsdt, "Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive");
	assert_mentions(dsdt, "0xD0000000");
	free(dsdt);
}

static const struct acpi_config hotplug = {.nr_cpus = 2,
					   .cpu_hotplug = true,
					   .max_cpus = 4,
					   .has_uart0 = true,
					   .has_rtc = true,
					   .has_i8042 = true,
					   .has_power_button = true};

Test(acpi, iasl_reads_the_processor_devices_of_cpus_to_add)
{
	disassemble_all(&hotplug);
	char *dsdt = read_text("dsdt.dsl", NULL);
	assert_mentions(dsdt, "Device (C000)");
	assert_mentions(dsdt, "Device (C003)");
	assert_mentions(dsdt, "\"ACPI0007\"");
	assert_mentions(dsdt, "OperationRegion (CREG, SystemIO, 0x0703, One)");
	assert_mentions(dsdt, "Method (_EJ0, 1, Serialized)");
	assert_mentions(dsdt, "Notify (\\_SB.C003, 0x03)");
	assert_mentions(dsdt, "Notify (\\_SB.C003, One)");
	assert_mentions(dsdt, "\\_SB.C003.CSCN ()");
	cr_assert_null(strstr(dsdt, "Device (C004)"), "only the 4 possible CPUs");
	cr_assert_null(strstr(dsdt, "\\_SB.C000.CSCN"), "CPU 0 cannot be removed");
	free(dsdt);
	char *apic = read_text("apic.dsl", NULL);
	assert_mentions(apic, "Revision : 05");
	free(apic);
	assert_dsdt_round_trips();
}

/* The most CPUs that can be added: every table still fits the area. */
Test(acpi, cpus_to_add_up_to_255_fit)
{
	struct acpi_config cfg = hotplug;
	cfg.nr_cpus = 1;
	cfg.max_cpus = 255;
	build_ok(&cfg);
	struct madt_census c = walk_madt();
	cr_assert_eq(c.online_capable, 254);
}

/* acpiexec runs ACPICA's interpreter, the one inside Linux, over the tables in user space:
 * it loads the namespace, evaluates objects and converts _CRS/_PRT the way the kernel will.
 * "AcpiSetCurrentResources failed: AE_NOT_FOUND" is expected: it tries _SRS, which fixed
 * devices do not have. */
static bool has_acpiexec_problem(const char *log)
{
	for (const char *line = log; *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char buf[512];
		snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
		bool suspicious = strstr(buf, "Error") || strstr(buf, "Warning") ||
				  strstr(buf, "Exception") || strstr(buf, "AE_");
		if (suspicious && !strstr(buf, "AcpiSetCurrentResources failed: AE_NOT_FOUND"))
			return true;
		line += len;
		if (*line == '\n')
			line++;
	}
	return false;
}

/* acpiexec over the tables, running `commands`; returns its log (free it). */
static char *acpiexec(const struct acpi_config *cfg, const char *commands)
{
	disassemble_all(cfg);
	if (system("command -v acpiexec >/dev/null 2>&1") != 0)
		cr_assert_fail(
		    "acpiexec not found: install acpica-tools (apt-get install acpica-tools)");
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "cd %s && timeout 60 acpiexec -b '%s' dsdt.dat facp.dat apic.dat mcfg.dat > "
		 "acpiexec.log 2>&1",
		 tmpdir, commands);
	int status = system(cmd);
	char *log = read_text("acpiexec.log", NULL);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "acpiexec failed:\n%s", log);
	cr_assert_not(has_acpiexec_problem(log), "acpiexec complained:\n%s", log);
	return log;
}

/* The processor devices' methods run: acpiexec's I/O reads as 0, so no CPU is present (_STA
 * 0) and the scan finds nothing to notify; _MAT is CPU 1's enabled local APIC entry. */
Test(acpi, acpica_runs_the_processor_devices_methods)
{
	char *log = acpiexec(&hotplug, "evaluate \\_SB.C001._STA; evaluate \\_SB.C001._MAT; "
				       "evaluate \\_SB.GED._EVT 10; evaluate \\_SB.C003.CSCN; "
				       "evaluate \\_SB.C003._EJ0 0");
	const char *sta = strstr(log, "Evaluation of \\_SB.C001._STA returned");
	cr_assert_not_null(sta, "no _STA:\n%s", log);
	cr_assert_not_null(strstr(sta, "[Integer] = 0000000000000000"), "_STA:\n%s", log);
	const char *mat = strstr(log, "Evaluation of \\_SB.C001._MAT returned");
	cr_assert_not_null(mat, "no _MAT:\n%s", log);
	cr_assert_not_null(strstr(mat, "00 08 01 01 01 00 00 00"), "_MAT:\n%s", log);
	free(log);
}

Test(acpi, acpica_interpreter_loads_and_evaluates_the_namespace)
{
	char *log =
	    acpiexec(&full, "evaluate \\_S5_; resources \\_SB.PCI0; resources \\_SB.COM1; "
			    "resources \\_SB.RTC; resources \\_SB.KBD; resources \\_SB.MRES; "
			    "resources \\_SB.GED; evaluate \\_SB.GED._EVT 10");
	/* \_S5_ evaluates to { 5, 0 }. */
	const char *s5 = strstr(log, "Evaluation of \\_S5_ returned");
	cr_assert_not_null(s5, "\\_S5_ not evaluated:\n%s", log);
	cr_assert_not_null(strstr(s5, "[Integer] = 0000000000000005"));
	/* 31 slots x 4 pins of _PRT (indexes in hex: 0x7b = 123), no more. */
	cr_assert_not_null(strstr(log, "[7B] PCI IRQ Routing Table Package"));
	cr_assert_null(strstr(log, "[7C] PCI IRQ Routing Table Package"));
	/* The host bridge's memory window and COM1's port, as the kernel will see them. */
	cr_assert_not_null(strstr(log, "Address Maximum : DFFFFFFF"));
	cr_assert_not_null(strstr(log, "Address Minimum : 03F8"));
	free(log);
}

static const struct acpi_config pci_hotplug = {.nr_cpus = 1,
					       .has_uart0 = true,
					       .has_rtc = true,
					       .has_i8042 = true,
					       .has_power_button = true,
					       .pci_hotplug = true};

/* Each slot 1-31 of bus 0 is a hotplug slot under \_SB.PCI0 (an _ADR, an _SUN and an _EJ0 are
 * what Linux's acpiphp takes a slot by) over its status byte, and the GED scans them. */
Test(acpi, iasl_reads_the_pci_hotplug_slots)
{
	disassemble_all(&pci_hotplug);
	char *dsdt = read_text("dsdt.dsl", NULL);
	assert_mentions(dsdt, "Device (S01)");
	assert_mentions(dsdt, "Device (S1F)");
	assert_mentions(dsdt, "Name (_ADR, 0x001F0000)");
	assert_mentions(dsdt, "Name (_SUN, 0x1F)");
	assert_mentions(dsdt, "OperationRegion (PREG, SystemIO, 0x065F, One)");
	assert_mentions(dsdt, "Notify (\\_SB.PCI0.S1F, 0x03)");
	assert_mentions(dsdt, "Notify (\\_SB.PCI0.S1F, One)");
	assert_mentions(dsdt, "\\_SB.PCI0.S05.PSCN ()");
	cr_assert_null(strstr(dsdt, "Device (S00)"), "the host bridge's slot is no hotplug slot");
	cr_assert_null(strstr(dsdt, "Device (S20)"), "bus 0 has 32 slots");
	free(dsdt);
	assert_dsdt_round_trips();
}

/* acpiexec's I/O reads as 0: no event pending, so the scan notifies nothing; _EJ0 runs. */
Test(acpi, acpica_runs_the_pci_slot_methods)
{
	char *log =
	    acpiexec(&pci_hotplug, "evaluate \\_SB.GED._EVT 10; evaluate \\_SB.PCI0.S07.PSCN; "
				   "evaluate \\_SB.PCI0.S07._EJ0 0; evaluate \\_SB.PCI0.S07._SUN");
	const char *sun = strstr(log, "Evaluation of \\_SB.PCI0.S07._SUN returned");
	cr_assert_not_null(sun, "no _SUN:\n%s", log);
	cr_assert_not_null(strstr(sun, "[Integer] = 0000000000000007"), "_SUN:\n%s", log);
	free(log);
}
