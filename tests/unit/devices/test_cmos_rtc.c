#include "devices/cmos_rtc.h"
#include "devices/io_bus.h"
#include "state_record_harness.h"

#include <criterion/criterion.h>
#include <time.h>

static struct io_bus bus;
static struct cmos_rtc rtc;

static void setup(void)
{
	io_bus_init(&bus, "pio");
	cr_assert_eq(cmos_rtc_init(&rtc, 256ULL << 20), 0);
	cr_assert_eq(cmos_rtc_attach(&rtc, &bus), 0);
}

static void teardown(void)
{
	io_bus_destroy(&bus);
}

static uint8_t cmos_read(uint8_t index)
{
	uint8_t value;
	cr_assert(io_bus_write(&bus, 0x70, &index, 1));
	cr_assert(io_bus_read(&bus, 0x71, &value, 1));
	return value;
}

static void cmos_write(uint8_t index, uint8_t value)
{
	cr_assert(io_bus_write(&bus, 0x70, &index, 1));
	cr_assert(io_bus_write(&bus, 0x71, &value, 1));
}

/* 2024-03-05 (a Tuesday) at hh:mm:00 UTC. The tests read within seconds, so only the seconds
 * register could move, and they do not check it exactly. */
static void set_guest_time(int hour, int minute)
{
	struct tm tm = {
	    .tm_year = 124, .tm_mon = 2, .tm_mday = 5, .tm_hour = hour, .tm_min = minute};
	cmos_rtc_set_time(&rtc, timegm(&tm));
}

TestSuite(cmos_rtc, .init = setup, .fini = teardown);

Test(cmos_rtc, time_reads_in_bcd_by_default)
{
	set_guest_time(13, 45);
	cr_assert_eq(cmos_read(CMOS_REG_B) & CMOS_B_DM_BINARY, 0);
	cr_assert_lt(cmos_read(CMOS_SECONDS), 0x10);
	cr_assert_eq(cmos_read(CMOS_MINUTES), 0x45);
	cr_assert_eq(cmos_read(CMOS_HOURS), 0x13);
	cr_assert_eq(cmos_read(CMOS_DAY_OF_WEEK), 3);
	cr_assert_eq(cmos_read(CMOS_DAY_OF_MONTH), 0x05);
	cr_assert_eq(cmos_read(CMOS_MONTH), 0x03);
	cr_assert_eq(cmos_read(CMOS_YEAR), 0x24);
	cr_assert_eq(cmos_read(CMOS_CENTURY), 0x20);
}

Test(cmos_rtc, time_reads_in_binary_when_register_b_says_so)
{
	set_guest_time(13, 45);
	cmos_write(CMOS_REG_B, CMOS_B_24H | CMOS_B_DM_BINARY);
	cr_assert_eq(cmos_read(CMOS_MINUTES), 45);
	cr_assert_eq(cmos_read(CMOS_HOURS), 13);
	cr_assert_eq(cmos_read(CMOS_YEAR), 24);
	cr_assert_eq(cmos_read(CMOS_CENTURY), 20);
}

Test(cmos_rtc, twelve_hour_mode_marks_pm_in_bit_7)
{
	cmos_write(CMOS_REG_B, 0); /* BCD, 12-hour */
	set_guest_time(13, 0);
	cr_assert_eq(cmos_read(CMOS_HOURS), 0x81);
	set_guest_time(0, 0);
	cr_assert_eq(cmos_read(CMOS_HOURS), 0x12, "midnight is 12 AM");
	set_guest_time(12, 0);
	cr_assert_eq(cmos_read(CMOS_HOURS), 0x92, "noon is 12 PM");
	cmos_write(CMOS_REG_B, CMOS_B_DM_BINARY);
	set_guest_time(23, 0);
	cr_assert_eq(cmos_read(CMOS_HOURS), 0x80 | 11);
}

Test(cmos_rtc, guest_sets_the_clock_field_by_field)
{
	set_guest_time(13, 45);
	cmos_write(CMOS_REG_B, CMOS_B_SET | CMOS_B_24H);
	cmos_write(CMOS_HOURS, 0x08);
	cmos_write(CMOS_MINUTES, 0x30);
	cmos_write(CMOS_YEAR, 0x31);
	cmos_write(CMOS_REG_B, CMOS_B_24H);
	cr_assert_eq(cmos_read(CMOS_HOURS), 0x08);
	cr_assert_eq(cmos_read(CMOS_MINUTES), 0x30);
	cr_assert_eq(cmos_read(CMOS_YEAR), 0x31);
	cr_assert_eq(cmos_read(CMOS_CENTURY), 0x20);
	cr_assert_eq(cmos_read(CMOS_MONTH), 0x03);
}

Test(cmos_rtc, nvram_round_trips)
{
	for (unsigned i = 0x40; i < 0x80; i++)
		cmos_write((uint8_t)i, (uint8_t)(i * 7));
	for (unsigned i = 0x40; i < 0x80; i++)
		cr_assert_eq(cmos_read((uint8_t)i), (uint8_t)(i * 7), "byte 0x%x", i);
}

Test(cmos_rtc, index_ignores_the_nmi_disable_bit)
{
	cmos_write(0x80 | 0x40, 0x5a);
	cr_assert_eq(cmos_read(0x40), 0x5a);
	cr_assert_eq(cmos_read(0x80 | 0x40), 0x5a);
}

Test(cmos_rtc, status_registers)
{
	cr_assert_eq(cmos_read(CMOS_REG_A) & CMOS_A_UIP, 0, "never mid-update");
	cmos_write(CMOS_REG_A, 0xff);
	cr_assert_eq(cmos_read(CMOS_REG_A), 0x7f, "divider bits as written, UIP read-only");
	cr_assert_eq(cmos_read(CMOS_REG_D), CMOS_D_VRT);
	cmos_write(CMOS_REG_D, 0);
	cr_assert_eq(cmos_read(CMOS_REG_D), CMOS_D_VRT, "read-only");
	cmos_write(CMOS_REG_C, 0xff);
	cr_assert_eq(cmos_read(CMOS_REG_C), 0, "read-only flags, cleared by reading");
	/* Enabling interrupts is accepted and changes nothing else. */
	cmos_write(CMOS_REG_B, CMOS_B_24H | CMOS_B_PIE | CMOS_B_AIE | CMOS_B_UIE);
	cr_assert_eq(cmos_read(CMOS_REG_B), CMOS_B_24H | CMOS_B_PIE | CMOS_B_AIE | CMOS_B_UIE);
	cr_assert_eq(cmos_read(CMOS_REG_C), 0);
}

Test(cmos_rtc, memory_size_bytes_for_256_mib)
{
	cr_assert_eq(cmos_read(0x15) | cmos_read(0x16) << 8, 640);
	cr_assert_eq(cmos_read(0x17) | cmos_read(0x18) << 8, 0xffff, "255 MiB in KiB, clamped");
	cr_assert_eq(cmos_read(0x30) | cmos_read(0x31) << 8, 0xffff);
	cr_assert_eq(cmos_read(0x34) | cmos_read(0x35) << 8, (256 - 16) * 16, "64 KiB units");
	cr_assert_eq(cmos_read(0x5b) | cmos_read(0x5c) << 8 | cmos_read(0x5d) << 16, 0);
}

Test(cmos_rtc, memory_size_bytes_above_4g)
{
	cr_assert_eq(cmos_rtc_init(&rtc, 6ULL << 30), 0);
	cr_assert_eq(cmos_read(0x34) | cmos_read(0x35) << 8, (3072 - 16) * 16, "3 GiB below 4G");
	unsigned above = cmos_read(0x5b) | cmos_read(0x5c) << 8 | cmos_read(0x5d) << 16;
	cr_assert_eq(above, (3ULL << 30) / (64 * 1024), "6 GiB - 3 GiB below 4G");
}

Test(cmos_rtc, small_memory)
{
	cr_assert_eq(cmos_rtc_init(&rtc, 8ULL << 20), 0);
	cr_assert_eq(cmos_read(0x17) | cmos_read(0x18) << 8, 7 * 1024);
	cr_assert_eq(cmos_read(0x34) | cmos_read(0x35) << 8, 0);
}

Test(cmos_rtc, index_port_reads_all_ones)
{
	uint8_t value = 0;
	cr_assert(io_bus_read(&bus, 0x70, &value, 1));
	cr_assert_eq(value, 0xff);
}

/* ---- saved state ---- */

/* The index register, NVRAM and the clock's offset survive a save and load into a fresh RTC:
 * the restored clock reads the guest's time (not the host's), and an NVRAM byte is kept. */
Test(cmos_rtc, saved_state_keeps_the_guest_clock_and_nvram)
{
	set_guest_time(13, 45);
	cmos_write(0x40, 0x99); /* NVRAM */
	struct state_writer w;
	state_writer_init(&w);
	cmos_rtc_save(&rtc, &w);
	cr_assert_not(state_writer_failed(&w));
	cr_assert_eq(cmos_rtc_init(&rtc, 256ULL << 20), 0);
	struct state_record rec = parse_record(&w);
	char err[200];
	cr_assert_eq(cmos_rtc_load(&rtc, &rec, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cmos_read(CMOS_HOURS), 0x13);
	cr_assert_eq(cmos_read(CMOS_MINUTES), 0x45);
	cr_assert_eq(cmos_read(0x40), 0x99);

	/* A record with a short CMOS is refused and leaves the clock alone. */
	w.len = 0;
	state_record_begin(&w, "cmos-rtc", 1, 1);
	state_put_u64(&w, "index", 0, STATE_ESSENTIAL);
	state_put_bytes(&w, "cmos", "x", 1, STATE_ESSENTIAL);
	state_put_u64(&w, "offset_seconds", 0, STATE_ESSENTIAL);
	state_record_end(&w);
	rec = parse_record(&w);
	cr_assert_eq(cmos_rtc_load(&rtc, &rec, err, sizeof(err)), -1);
	cr_assert_eq(cmos_read(CMOS_HOURS), 0x13);
	state_writer_free(&w);
}
