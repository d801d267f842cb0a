/* ACPI tables for a hardware-reduced x86 machine (ACPI 6.0): no PM1/GPE blocks, no FACS, no
 * SMI; power off and reset through three I/O ports the VMM emulates. The tables are assembled in
 * a host-side copy of the ACPI area and written to the guest in one piece, so a failure leaves
 * guest memory untouched and nothing can land outside [LAYOUT_ACPI_START, LAYOUT_ACPI_END).
 * Field layouts follow the ACPI 6.5 specification, chapter 5.2; the host is little-endian x86. */
#include "machine/acpi.h"

#include "machine/layout.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACPI_OEM_ID	  "GUREUM"
#define ACPI_OEM_TABLE_ID "GUREUMVM"
#define ACPI_CREATOR_ID	  "GRUM"
#define ACPI_TABLE_ALIGN  16 /* the RSDP must be 16-byte aligned; the rest is for tidiness */

struct acpi_rsdp {
	char signature[8];
	uint8_t checksum; /* over the first 20 bytes (the ACPI 1.0 structure) */
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum; /* over all 36 bytes */
	uint8_t reserved[3];
} __attribute__((packed));

struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

/* Generic Address Structure. */
struct acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));

#define ACPI_GAS_SYSTEM_IO   1
#define ACPI_GAS_ACCESS_BYTE 1

struct acpi_fadt {
	struct acpi_header header;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	char hypervisor_vendor[8];
} __attribute__((packed));

_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP layout");
_Static_assert(sizeof(struct acpi_header) == 36, "table header layout");
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT (ACPI 6) layout");

#define FADT_REVISION	       6
#define FADT_MINOR_VERSION     0
#define FADT_F_PWR_BUTTON      (1u << 4) /* the power button is a device, not a fixed feature */
#define FADT_F_SLP_BUTTON      (1u << 5) /* likewise the sleep button (there is none) */
#define FADT_F_RESET_REG_SUP   (1u << 10)
#define FADT_F_HW_REDUCED_ACPI (1u << 20)
#define FADT_BOOT_8042	       (1u << 1)
#define FADT_BOOT_NO_CMOS_RTC  (1u << 5)

struct madt_header {
	struct acpi_header header;
	uint32_t lapic_address;
	uint32_t flags;
} __attribute__((packed));

struct madt_lapic {
	uint8_t type, length, processor_uid, apic_id;
	uint32_t flags;
} __attribute__((packed));

struct madt_ioapic {
	uint8_t type, length, id, reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));

struct madt_iso {
	uint8_t type, length, bus, source_irq;
	uint32_t gsi;
	uint16_t flags;
} __attribute__((packed));

struct madt_lapic_nmi {
	uint8_t type, length, processor_uid;
	uint16_t flags;
	uint8_t lint;
} __attribute__((packed));

struct madt_x2apic {
	uint8_t type, length;
	uint16_t reserved;
	uint32_t x2apic_id;
	uint32_t flags;
	uint32_t processor_uid;
} __attribute__((packed));

struct madt_x2apic_nmi {
	uint8_t type, length;
	uint16_t flags;
	uint32_t processor_uid;
	uint8_t lint;
	uint8_t reserved[3];
} __attribute__((packed));

#define MADT_REVISION		     4
#define MADT_REVISION_ONLINE_CAPABLE 5
#define MADT_PCAT_COMPAT	     1u
#define MADT_TYPE_LAPIC		     0
#define MADT_TYPE_IOAPIC	     1
#define MADT_TYPE_ISO		     2
#define MADT_TYPE_LAPIC_NMI	     4
#define MADT_TYPE_X2APIC	     9
#define MADT_TYPE_X2APIC_NMI	     10
#define MADT_LAPIC_ENABLED	     1u
#define MADT_LAPIC_ONLINE_CAPABLE    2u
#define MADT_ALL_PROCESSORS_UID8     0xff
#define MADT_ALL_PROCESSORS_UID	     0xffffffffu
/* MPS INTI flags: polarity in bits 0-1, trigger mode in bits 2-3. */
#define MPS_ACTIVE_HIGH 0x1
#define MPS_EDGE	(0x1 << 2)
#define MPS_LEVEL	(0x3 << 2)
#define MADT_NMI_LINT	1 /* LINT1 carries NMI, as on PCs */

struct mcfg_allocation {
	uint64_t base;
	uint16_t segment;
	uint8_t start_bus;
	uint8_t end_bus;
	uint32_t reserved;
} __attribute__((packed));

struct acpi_mcfg {
	struct acpi_header header;
	uint64_t reserved;
	struct mcfg_allocation allocation;
} __attribute__((packed));

_Static_assert(sizeof(struct acpi_mcfg) == 60, "MCFG layout");

#define ACPI_AREA_SIZE (LAYOUT_ACPI_END - LAYOUT_ACPI_START)

/* The host-side copy of the guest's ACPI area. */
struct acpi_area {
	uint8_t bytes[ACPI_AREA_SIZE];
	size_t used;
	char *err;
	size_t err_len;
};

static void set_error(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *err, size_t err_len, const char *fmt, ...)
{
	if (!err || err_len == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
}

/* Zeroed space for a table of `len` bytes; NULL (and the error set) if the area is full. */
static void *area_alloc(struct acpi_area *a, size_t len, uint64_t *gpa)
{
	size_t at = (a->used + ACPI_TABLE_ALIGN - 1) & ~(size_t)(ACPI_TABLE_ALIGN - 1);
	if (at > ACPI_AREA_SIZE || len > ACPI_AREA_SIZE - at) {
		set_error(a->err, a->err_len,
			  "ACPI tables do not fit the %llu bytes at 0x%llx (need %zu more)",
			  (unsigned long long)ACPI_AREA_SIZE, (unsigned long long)LAYOUT_ACPI_START,
			  len);
		return NULL;
	}
	a->used = at + len;
	*gpa = LAYOUT_ACPI_START + at;
	return a->bytes + at;
}

/* The byte that makes `len` bytes sum to zero when stored among them (as 0 before). */
static uint8_t checksum(const void *bytes, size_t len)
{
	const uint8_t *p = bytes;
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += p[i];
	return (uint8_t)-sum;
}

static void init_header(struct acpi_header *h, const char *signature, uint32_t length,
			uint8_t revision)
{
	memcpy(h->signature, signature, 4);
	h->length = length;
	h->revision = revision;
	memcpy(h->oem_id, ACPI_OEM_ID, 6);
	memcpy(h->oem_table_id, ACPI_OEM_TABLE_ID, 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, ACPI_CREATOR_ID, 4);
	h->creator_revision = 1;
}

/* Last step for every table: its content is final. */
static void seal(struct acpi_header *h)
{
	h->checksum = 0;
	h->checksum = checksum(h, h->length);
}

static bool build_dsdt(struct acpi_area *a, const struct acpi_config *cfg, uint64_t *gpa)
{
	struct aml_builder b;
	aml_init(&b);
	acpi_dsdt_build(&b, cfg);
	const char *aml_err = aml_error(&b);
	if (aml_err) {
		set_error(a->err, a->err_len, "DSDT: %s", aml_err);
		aml_free(&b);
		return false;
	}
	size_t len = sizeof(struct acpi_header) + b.len;
	struct acpi_header *h = area_alloc(a, len, gpa);
	if (h) {
		init_header(h, "DSDT", (uint32_t)len, 2); /* revision 2: 64-bit AML integers */
		memcpy(h + 1, b.data, b.len);
		seal(h);
	}
	aml_free(&b);
	return h != NULL;
}

static struct acpi_gas io_port_register(uint16_t port)
{
	return (struct acpi_gas){.space_id = ACPI_GAS_SYSTEM_IO,
				 .bit_width = 8,
				 .access_size = ACPI_GAS_ACCESS_BYTE,
				 .address = port};
}

/* IA-PC boot architecture flags: what legacy hardware the OS may probe for. "VGA not present"
 * and "MSI not supported" stay clear: MSI(-X) is how virtio-pci devices interrupt. */
static uint16_t iapc_boot_arch(const struct acpi_config *cfg)
{
	uint16_t flags = 0;
	if (cfg->has_i8042)
		flags |= FADT_BOOT_8042;
	if (!cfg->has_rtc)
		flags |= FADT_BOOT_NO_CMOS_RTC;
	return flags;
}

static bool build_fadt(struct acpi_area *a, const struct acpi_config *cfg, uint64_t dsdt,
		       uint64_t *gpa)
{
	struct acpi_fadt *f = area_alloc(a, sizeof(*f), gpa);
	if (!f)
		return false;
	init_header(&f->header, "FACP", sizeof(*f), FADT_REVISION);
	f->minor_version = FADT_MINOR_VERSION;
	f->sci_int = LAYOUT_GSI_SCI;
	f->iapc_boot_arch = iapc_boot_arch(cfg);
	f->flags =
	    FADT_F_HW_REDUCED_ACPI | FADT_F_RESET_REG_SUP | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON;
	f->reset_reg = io_port_register(LAYOUT_PORT_RESET);
	f->reset_value = LAYOUT_ACPI_RESET_VALUE; /* what the reset register acts on */
	f->x_dsdt = dsdt; /* the 32-bit DSDT field stays 0: X_DSDT takes precedence */
	f->sleep_control_reg = io_port_register(LAYOUT_PORT_SLEEP_CTL);
	f->sleep_status_reg = io_port_register(LAYOUT_PORT_SLEEP_STS);
	memcpy(f->hypervisor_vendor, ACPI_OEM_ID, strlen(ACPI_OEM_ID));
	seal(&f->header);
	return true;
}

static unsigned nr_xapic_cpus(const struct acpi_config *cfg)
{
	unsigned n = acpi_possible_cpus(cfg);
	return n < ACPI_FIRST_X2APIC_CPU ? n : ACPI_FIRST_X2APIC_CPU;
}

static size_t madt_size(const struct acpi_config *cfg)
{
	unsigned xapic = nr_xapic_cpus(cfg), x2apic = acpi_possible_cpus(cfg) - xapic;
	size_t size = sizeof(struct madt_header) + xapic * sizeof(struct madt_lapic) +
		      sizeof(struct madt_ioapic) + 2 * sizeof(struct madt_iso) +
		      sizeof(struct madt_lapic_nmi);
	if (x2apic)
		size += x2apic * sizeof(struct madt_x2apic) + sizeof(struct madt_x2apic_nmi);
	return size;
}

/* Appends `len` bytes of `entry` at *cursor. The MADT was sized for exactly its entries. */
static void put_entry(uint8_t **cursor, const void *entry, size_t len)
{
	memcpy(*cursor, entry, len);
	*cursor += len;
}

unsigned acpi_possible_cpus(const struct acpi_config *cfg)
{
	return cfg->cpu_hotplug && cfg->max_cpus > cfg->nr_cpus ? cfg->max_cpus : cfg->nr_cpus;
}

/* APIC ID = ACPI processor UID = CPU index, so the VMM and the guest agree without a map. The
 * CPUs beyond those at boot are "online capable" and not enabled: Linux counts them as
 * possible and adds them when the DSDT's processor device says they arrived. */
static void put_cpus(uint8_t **cursor, const struct acpi_config *cfg)
{
	for (unsigned cpu = 0; cpu < acpi_possible_cpus(cfg); cpu++) {
		uint32_t flags =
		    cpu < cfg->nr_cpus ? MADT_LAPIC_ENABLED : MADT_LAPIC_ONLINE_CAPABLE;
		if (cpu < ACPI_FIRST_X2APIC_CPU) {
			struct madt_lapic e = {MADT_TYPE_LAPIC, sizeof(e), (uint8_t)cpu,
					       (uint8_t)cpu, flags};
			put_entry(cursor, &e, sizeof(e));
		} else {
			struct madt_x2apic e = {.type = MADT_TYPE_X2APIC,
						.length = sizeof(e),
						.x2apic_id = cpu,
						.flags = flags,
						.processor_uid = cpu};
			put_entry(cursor, &e, sizeof(e));
		}
	}
}

static void put_interrupt_routing(uint8_t **cursor, const struct acpi_config *cfg)
{
	struct madt_ioapic ioapic = {
	    MADT_TYPE_IOAPIC, sizeof(ioapic), ACPI_IOAPIC_ID, 0, (uint32_t)LAYOUT_IOAPIC, 0};
	put_entry(cursor, &ioapic, sizeof(ioapic));
	/* The PIT's IRQ0 arrives on I/O APIC pin 2 (pin 0 is the 8259's INTR), as on PCs. */
	struct madt_iso pit = {MADT_TYPE_ISO, sizeof(pit), 0, 0, 2, MPS_ACTIVE_HIGH | MPS_EDGE};
	put_entry(cursor, &pit, sizeof(pit));
	struct madt_iso sci = {MADT_TYPE_ISO,  sizeof(sci),    0,
			       LAYOUT_GSI_SCI, LAYOUT_GSI_SCI, MPS_ACTIVE_HIGH | MPS_LEVEL};
	put_entry(cursor, &sci, sizeof(sci));
	struct madt_lapic_nmi nmi = {MADT_TYPE_LAPIC_NMI, sizeof(nmi), MADT_ALL_PROCESSORS_UID8, 0,
				     MADT_NMI_LINT};
	put_entry(cursor, &nmi, sizeof(nmi));
	if (acpi_possible_cpus(cfg) > ACPI_FIRST_X2APIC_CPU) {
		/* x2APIC processors are not covered by the 8-bit "all processors" UID. */
		struct madt_x2apic_nmi nmi2 = {.type = MADT_TYPE_X2APIC_NMI,
					       .length = sizeof(nmi2),
					       .processor_uid = MADT_ALL_PROCESSORS_UID,
					       .lint = MADT_NMI_LINT};
		put_entry(cursor, &nmi2, sizeof(nmi2));
	}
}

static bool build_madt(struct acpi_area *a, const struct acpi_config *cfg, uint64_t *gpa)
{
	size_t len = madt_size(cfg);
	struct madt_header *m = area_alloc(a, len, gpa);
	if (!m)
		return false;
	/* Revision 5 (ACPI 6.3) defines the online-capable flag; without hotplug, 4 as ever. */
	init_header(&m->header, "APIC", (uint32_t)len,
		    cfg->cpu_hotplug ? MADT_REVISION_ONLINE_CAPABLE : MADT_REVISION);
	m->lapic_address = (uint32_t)LAYOUT_LAPIC;
	m->flags = MADT_PCAT_COMPAT;
	uint8_t *cursor = (uint8_t *)(m + 1);
	put_cpus(&cursor, cfg);
	put_interrupt_routing(&cursor, cfg);
	seal(&m->header);
	return true;
}

static bool build_mcfg(struct acpi_area *a, uint64_t *gpa)
{
	struct acpi_mcfg *m = area_alloc(a, sizeof(*m), gpa);
	if (!m)
		return false;
	init_header(&m->header, "MCFG", sizeof(*m), 1);
	m->allocation.base = LAYOUT_PCI_ECAM_START;
	m->allocation.segment = 0;
	m->allocation.start_bus = 0;
	m->allocation.end_bus = LAYOUT_PCI_BUSES - 1;
	seal(&m->header);
	return true;
}

static bool build_xsdt(struct acpi_area *a, const uint64_t *tables, size_t n, uint64_t *gpa)
{
	size_t len = sizeof(struct acpi_header) + n * sizeof(uint64_t);
	struct acpi_header *h = area_alloc(a, len, gpa);
	if (!h)
		return false;
	init_header(h, "XSDT", (uint32_t)len, 1);
	/* The entries follow the header unaligned (offset 36): copy, do not cast. */
	memcpy(h + 1, tables, n * sizeof(uint64_t));
	seal(h);
	return true;
}

static void fill_rsdp(struct acpi_rsdp *r, uint64_t xsdt)
{
	memcpy(r->signature, "RSD PTR ", 8);
	memcpy(r->oem_id, ACPI_OEM_ID, 6);
	r->revision = 2;
	r->length = sizeof(*r);
	r->xsdt_address = xsdt; /* no RSDT: ACPI 2.0+ guests use the XSDT */
	r->checksum = checksum(r, 20);
	r->extended_checksum = checksum(r, sizeof(*r));
}

static bool check_config(const struct acpi_config *cfg, char *err, size_t err_len)
{
	if (cfg->nr_cpus == 0) {
		set_error(err, err_len, "ACPI: a machine needs at least one CPU");
		return false;
	}
	if (cfg->nr_cpus > ACPI_MAX_CPUS) {
		set_error(err, err_len, "ACPI: %u CPUs requested, at most %d supported",
			  cfg->nr_cpus, ACPI_MAX_CPUS);
		return false;
	}
	if (cfg->cpu_hotplug && acpi_possible_cpus(cfg) > ACPI_MAX_HOTPLUG_CPUS) {
		set_error(err, err_len,
			  "ACPI: room for %u CPUs to be added, at most %d (xAPIC IDs) supported",
			  cfg->max_cpus, ACPI_MAX_HOTPLUG_CPUS);
		return false;
	}
	if (cfg->nr_extra_devices && !cfg->extra_devices) {
		set_error(err, err_len, "ACPI: extra device count without a device list");
		return false;
	}
	return true;
}

/* Everything but the guest write; the RSDP goes first, at the start of the area. */
static bool build_area(struct acpi_area *a, const struct acpi_config *cfg)
{
	uint64_t rsdp_gpa, dsdt, xsdt, tables[3];
	struct acpi_rsdp *rsdp = area_alloc(a, sizeof(*rsdp), &rsdp_gpa);
	if (!rsdp || !build_dsdt(a, cfg, &dsdt) || !build_fadt(a, cfg, dsdt, &tables[0]) ||
	    !build_madt(a, cfg, &tables[1]) || !build_mcfg(a, &tables[2]) ||
	    !build_xsdt(a, tables, 3, &xsdt))
		return false;
	fill_rsdp(rsdp, xsdt);
	return true;
}

int acpi_build(const struct guest_memory *mem, const struct acpi_config *cfg, char *err,
	       size_t err_len)
{
	if (!check_config(cfg, err, err_len))
		return -1;
	struct acpi_area *a = calloc(1, sizeof(*a));
	if (!a) {
		set_error(err, err_len, "ACPI: out of memory");
		return -1;
	}
	a->err = err;
	a->err_len = err_len;
	int ret = -1;
	if (build_area(a, cfg)) {
		if (guest_memory_write(mem, LAYOUT_ACPI_START, a->bytes, a->used))
			ret = 0;
		else
			set_error(err, err_len, "ACPI: guest RAM does not cover 0x%llx..0x%llx",
				  (unsigned long long)LAYOUT_ACPI_START,
				  (unsigned long long)LAYOUT_ACPI_END);
	}
	free(a);
	return ret;
}
