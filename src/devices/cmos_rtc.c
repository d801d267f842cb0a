#include "devices/cmos_rtc.h"

#include "lib/state_record.h"
#include "machine/layout.h"

#include <stdio.h>

#include <stdbool.h>
#include <string.h>

/* Interrupts: the periodic, alarm and update-ended interrupts are not implemented yet; the
 * guests we boot only read the RTC for the wall-clock time. The enable bits in register B are
 * stored as written and register C always reads 0, so a guest enabling them simply never gets
 * an interrupt: harmless, if useless to it. */

#define KIB 1024ULL
#define MIB (1024 * KIB)

#define REG_A_WRITABLE 0x7f /* UIP is read-only */
#define REG_A_DEFAULT  0x26 /* 32.768 kHz time base, 1024 Hz periodic rate */
#define REG_B_DEFAULT  CMOS_B_24H

static uint16_t clamp16(uint64_t value)
{
	return value > 0xffff ? 0xffff : (uint16_t)value;
}

static void set_word(struct cmos_rtc *rtc, unsigned index, uint16_t value)
{
	rtc->cmos[index] = value & 0xff;
	rtc->cmos[index + 1] = value >> 8;
}

/* The memory-size bytes, computed as QEMU's pc_cmos_init() does (SeaBIOS reads these). */
static void set_memory_size(struct cmos_rtc *rtc, uint64_t ram_size)
{
	uint64_t below_4g = ram_size < LAYOUT_LOW_RAM_END ? ram_size : LAYOUT_LOW_RAM_END;
	uint64_t above_4g = ram_size - below_4g;

	uint64_t base_kib = below_4g / KIB < 640 ? below_4g / KIB : 640;
	set_word(rtc, 0x15, (uint16_t)base_kib);

	uint16_t extended_kib = clamp16(below_4g > MIB ? (below_4g - MIB) / KIB : 0);
	set_word(rtc, 0x17, extended_kib);
	set_word(rtc, 0x30, extended_kib);

	set_word(rtc, 0x34, clamp16(below_4g > 16 * MIB ? (below_4g - 16 * MIB) / (64 * KIB) : 0));

	uint64_t high_64k = above_4g / (64 * KIB);
	rtc->cmos[0x5b] = high_64k & 0xff;
	rtc->cmos[0x5c] = (high_64k >> 8) & 0xff;
	rtc->cmos[0x5d] = (high_64k >> 16) & 0xff;
}

int cmos_rtc_init(struct cmos_rtc *rtc, uint64_t ram_size)
{
	memset(rtc, 0, sizeof(*rtc));
	rtc->cmos[CMOS_REG_A] = REG_A_DEFAULT;
	rtc->cmos[CMOS_REG_B] = REG_B_DEFAULT;
	set_memory_size(rtc, ram_size);
	return 0;
}

void cmos_rtc_set_time(struct cmos_rtc *rtc, time_t guest_now)
{
	rtc->offset_seconds = (int64_t)guest_now - (int64_t)time(NULL);
}

static void guest_time(const struct cmos_rtc *rtc, struct tm *tm)
{
	time_t now = (time_t)((int64_t)time(NULL) + rtc->offset_seconds);
	if (!gmtime_r(&now, tm))
		memset(tm, 0, sizeof(*tm)); /* only for absurd offsets; reads 1900-01-00 */
}

static bool is_binary(const struct cmos_rtc *rtc)
{
	return rtc->cmos[CMOS_REG_B] & CMOS_B_DM_BINARY;
}

static uint8_t encode(const struct cmos_rtc *rtc, unsigned value)
{
	value %= 100;
	return is_binary(rtc) ? (uint8_t)value : (uint8_t)((value / 10) << 4 | value % 10);
}

/* Guest-written values may be invalid BCD; they decode to something, never to a crash, and
 * timegm() normalises out-of-range fields. */
static int decode(const struct cmos_rtc *rtc, uint8_t value)
{
	return is_binary(rtc) ? value : (value >> 4) * 10 + (value & 0x0f);
}

static uint8_t encode_hours(const struct cmos_rtc *rtc, int hour)
{
	if (rtc->cmos[CMOS_REG_B] & CMOS_B_24H)
		return encode(rtc, hour);
	/* 12-hour mode: 12 AM, 1 AM .. 11 AM, 12 PM, 1 PM .. 11 PM; bit 7 says PM. */
	int hour12 = hour % 12 == 0 ? 12 : hour % 12;
	return encode(rtc, hour12) | (hour >= 12 ? CMOS_HOUR_PM : 0);
}

static int decode_hours(const struct cmos_rtc *rtc, uint8_t value)
{
	if (rtc->cmos[CMOS_REG_B] & CMOS_B_24H)
		return decode(rtc, value);
	int hour = decode(rtc, value & ~CMOS_HOUR_PM) % 12;
	return (value & CMOS_HOUR_PM) ? hour + 12 : hour;
}

static bool read_time_register(const struct cmos_rtc *rtc, uint8_t index, uint8_t *value)
{
	struct tm tm;
	guest_time(rtc, &tm);
	int year = tm.tm_year + 1900;
	switch (index) {
	case CMOS_SECONDS:
		*value = encode(rtc, tm.tm_sec);
		return true;
	case CMOS_MINUTES:
		*value = encode(rtc, tm.tm_min);
		return true;
	case CMOS_HOURS:
		*value = encode_hours(rtc, tm.tm_hour);
		return true;
	case CMOS_DAY_OF_WEEK:
		*value = encode(rtc, tm.tm_wday + 1); /* 1 = Sunday */
		return true;
	case CMOS_DAY_OF_MONTH:
		*value = encode(rtc, tm.tm_mday);
		return true;
	case CMOS_MONTH:
		*value = encode(rtc, tm.tm_mon + 1);
		return true;
	case CMOS_YEAR:
		*value = encode(rtc, year % 100);
		return true;
	case CMOS_CENTURY:
		*value = encode(rtc, year / 100);
		return true;
	}
	return false;
}

/* The guest sets the clock one field at a time: each write moves the offset so that the field
 * reads back as written while the others keep running. */
static bool write_time_register(struct cmos_rtc *rtc, uint8_t index, uint8_t value)
{
	struct tm tm;
	guest_time(rtc, &tm);
	int year = tm.tm_year + 1900;
	switch (index) {
	case CMOS_SECONDS:
		tm.tm_sec = decode(rtc, value);
		break;
	case CMOS_MINUTES:
		tm.tm_min = decode(rtc, value);
		break;
	case CMOS_HOURS:
		tm.tm_hour = decode_hours(rtc, value);
		break;
	case CMOS_DAY_OF_WEEK:
		return true; /* derived from the date */
	case CMOS_DAY_OF_MONTH:
		tm.tm_mday = decode(rtc, value);
		break;
	case CMOS_MONTH:
		tm.tm_mon = decode(rtc, value) - 1;
		break;
	case CMOS_YEAR:
		tm.tm_year = year / 100 * 100 + decode(rtc, value) % 100 - 1900;
		break;
	case CMOS_CENTURY:
		tm.tm_year = decode(rtc, value) * 100 + year % 100 - 1900;
		break;
	default:
		return false;
	}
	time_t t = timegm(&tm);
	if (t != (time_t)-1)
		cmos_rtc_set_time(rtc, t);
	return true;
}

static uint8_t cmos_read(struct cmos_rtc *rtc, uint8_t index)
{
	uint8_t value;
	if (read_time_register(rtc, index, &value))
		return value;
	switch (index) {
	case CMOS_REG_A:
		/* UIP never reads 1: time is computed on demand, so an update is never half
		 * done and a guest waiting for UIP to clear never waits. */
		return rtc->cmos[CMOS_REG_A] & ~CMOS_A_UIP;
	case CMOS_REG_C:
		/* Interrupt flags, cleared by the read; no interrupt source exists yet. */
		rtc->cmos[CMOS_REG_C] = 0;
		return 0;
	case CMOS_REG_D:
		return CMOS_D_VRT;
	}
	return rtc->cmos[index];
}

static void cmos_write(struct cmos_rtc *rtc, uint8_t index, uint8_t value)
{
	if (write_time_register(rtc, index, value))
		return;
	switch (index) {
	case CMOS_REG_A:
		rtc->cmos[CMOS_REG_A] = value & REG_A_WRITABLE;
		return;
	case CMOS_REG_C:
	case CMOS_REG_D:
		return; /* read-only */
	}
	rtc->cmos[index] = value;
}

/* Port 0x70 selects the register; bit 7 is the NMI mask on a PC, not part of the index. Port
 * 0x71 is the selected register. A wider access is taken as consecutive byte accesses. */
static void rtc_io_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct cmos_rtc *rtc = opaque;
	uint8_t *out = data;
	for (unsigned i = 0; i < size; i++)
		/* The index port is write-only; it reads all-ones, as on QEMU. */
		out[i] = offset + i == 0 ? 0xff : cmos_read(rtc, rtc->index);
}

static void rtc_io_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct cmos_rtc *rtc = opaque;
	const uint8_t *in = data;
	for (unsigned i = 0; i < size; i++) {
		if (offset + i == 0)
			rtc->index = in[i] & (CMOS_RTC_SIZE - 1);
		else
			cmos_write(rtc, rtc->index, in[i]);
	}
}

int cmos_rtc_attach(struct cmos_rtc *rtc, struct io_bus *pio)
{
	return io_bus_register(pio, LAYOUT_PORT_RTC, 2, rtc_io_read, rtc_io_write, rtc, "cmos-rtc");
}

/* ---- saved state ---- */

#define RTC_STATE_NAME	  "cmos-rtc"
#define RTC_STATE_VERSION 1

static const char *const rtc_state_keys[] = {"index", "cmos", "offset_seconds", NULL};

void cmos_rtc_save(const struct cmos_rtc *rtc, struct state_writer *w)
{
	state_record_begin(w, RTC_STATE_NAME, RTC_STATE_VERSION, RTC_STATE_VERSION);
	state_put_u64(w, "index", rtc->index, STATE_ESSENTIAL);
	state_put_bytes(w, "cmos", rtc->cmos, CMOS_RTC_SIZE, STATE_ESSENTIAL);
	state_put_u64(w, "offset_seconds", (uint64_t)rtc->offset_seconds, STATE_ESSENTIAL);
	state_record_end(w);
}

int cmos_rtc_load(struct cmos_rtc *rtc, const struct state_record *rec, char *err, size_t err_len)
{
	struct state_reader_spec spec = {RTC_STATE_NAME, RTC_STATE_VERSION, 1, rtc_state_keys};
	if (state_record_check(rec, &spec, err, err_len) < 0)
		return -1;
	uint64_t index, offset;
	const void *cmos;
	uint32_t len;
	if (state_get_u64(rec, "index", &index) < 0 || index > 0xff ||
	    state_get_bytes(rec, "cmos", &cmos, &len) < 0 || len != CMOS_RTC_SIZE ||
	    state_get_u64(rec, "offset_seconds", &offset) < 0) {
		snprintf(
		    err, err_len,
		    "cmos-rtc state: a field is missing or out of range (index, %d CMOS bytes, "
		    "offset)",
		    CMOS_RTC_SIZE);
		return -1;
	}
	rtc->index = (uint8_t)index;
	memcpy(rtc->cmos, cmos, CMOS_RTC_SIZE);
	rtc->offset_seconds = (int64_t)offset;
	return 0;
}
