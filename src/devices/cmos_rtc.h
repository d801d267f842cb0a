/* The MC146818 real-time clock and its CMOS RAM at ports 0x70 (index) and 0x71 (data). The
 * time is the host's clock plus an offset the guest (or the VMM) can move; it is computed on
 * every read, so no timer runs. The NVRAM carries the memory-size bytes a PC BIOS expects, so
 * firmware booted later finds them where QEMU puts them. */
#ifndef GUREUM_DEVICES_CMOS_RTC_H
#define GUREUM_DEVICES_CMOS_RTC_H

#include "devices/io_bus.h"

#include <stdint.h>
#include <time.h>

#define CMOS_RTC_SIZE 128

/* Register indexes. */
#define CMOS_SECONDS	  0x00
#define CMOS_MINUTES	  0x02
#define CMOS_HOURS	  0x04
#define CMOS_DAY_OF_WEEK  0x06
#define CMOS_DAY_OF_MONTH 0x07
#define CMOS_MONTH	  0x08
#define CMOS_YEAR	  0x09
#define CMOS_REG_A	  0x0a
#define CMOS_REG_B	  0x0b
#define CMOS_REG_C	  0x0c
#define CMOS_REG_D	  0x0d
#define CMOS_CENTURY	  0x32

#define CMOS_A_UIP	 0x80 /* update in progress */
#define CMOS_B_SET	 0x80
#define CMOS_B_PIE	 0x40
#define CMOS_B_AIE	 0x20
#define CMOS_B_UIE	 0x10
#define CMOS_B_DM_BINARY 0x04 /* data mode: 1 = binary, 0 = BCD */
#define CMOS_B_24H	 0x02
#define CMOS_D_VRT	 0x80 /* valid RAM and time: the battery is fine */
#define CMOS_HOUR_PM	 0x80 /* 12-hour mode: bit 7 of the hours byte */

struct cmos_rtc {
	uint8_t index;
	/* Registers A, B and the NVRAM live here; the time bytes (0x00..0x09 except the alarms)
	 * and registers C and D are computed when read. */
	uint8_t cmos[CMOS_RTC_SIZE];
	int64_t offset_seconds; /* guest time = host time(NULL) + offset */
};

/* `ram_size` is the guest's RAM, split below/above 4 GiB as guest_memory_plan() does. */
int cmos_rtc_init(struct cmos_rtc *rtc, uint64_t ram_size);
/* Registers ports 0x70..0x71. Returns 0, or -1 if taken. */
int cmos_rtc_attach(struct cmos_rtc *rtc, struct io_bus *pio);
/* Makes the clock read `guest_now` (seconds since the epoch, UTC) from now on. */
void cmos_rtc_set_time(struct cmos_rtc *rtc, time_t guest_now);

struct state_writer;
struct state_record;
/* The guest-visible state as a versioned record "cmos-rtc" (lib/state_record.h): the index
 * register, the CMOS bytes and the clock's offset from the host's. A restored clock goes on
 * from the host's time with the saved offset, so the guest's wall clock is right after a
 * restore however long ago the save was. Call while the VM is paused. */
void cmos_rtc_save(const struct cmos_rtc *rtc, struct state_writer *w);
/* Returns 0, or -1 with one sentence in err and the RTC unchanged. */
int cmos_rtc_load(struct cmos_rtc *rtc, const struct state_record *rec, char *err, size_t err_len);

#endif
