/* What a virtio-input device is (virtio 1.2, 5.8): its name, serial, IDs, and the evdev event
 * types and codes it sends, described once and answered through the device's configuration
 * space. The driver writes `select` and `subsel`, then reads `size` and the union; an
 * unsupported combination reads size 0, as the spec asks. Pure functions of guest-written
 * bytes: the fuzz target tests/fuzz/fuzz_virtio_input.c drives them. */
#ifndef GUREUM_VIRTIO_VIRTIO_INPUT_CONFIG_H
#define GUREUM_VIRTIO_VIRTIO_INPUT_CONFIG_H

#include <linux/input-event-codes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VIRTIO_ID_INPUT 18

/* The select values of the configuration space (spec 5.8.5). */
#define VIRTIO_INPUT_CFG_UNSET	   0x00
#define VIRTIO_INPUT_CFG_ID_NAME   0x01
#define VIRTIO_INPUT_CFG_ID_SERIAL 0x02
#define VIRTIO_INPUT_CFG_ID_DEVIDS 0x03
#define VIRTIO_INPUT_CFG_PROP_BITS 0x10
#define VIRTIO_INPUT_CFG_EV_BITS   0x11
#define VIRTIO_INPUT_CFG_ABS_INFO  0x12

/* The union's size: the longest string or bitmap the configuration can hold. */
#define VIRTIO_INPUT_UNION_SIZE 128
/* select, subsel, size, five reserved bytes, then the union. */
#define VIRTIO_INPUT_CONFIG_SIZE  (8 + VIRTIO_INPUT_UNION_SIZE)
#define VIRTIO_INPUT_UNION_OFFSET 8

/* Event codes below this fit a bitmap of the union (1024 codes): all of EV_KEY's keys and
 * buttons gureum sends. */
#define VIRTIO_INPUT_MAX_CODES (VIRTIO_INPUT_UNION_SIZE * 8)

/* One event, as it crosses both queues (spec 5.8.6), little-endian. */
struct virtio_input_event {
	uint16_t type;
	uint16_t code;
	uint32_t value;
} __attribute__((packed));

struct virtio_input_absinfo {
	uint32_t min, max, fuzz, flat, res;
} __attribute__((packed));

struct virtio_input_devids {
	uint16_t bustype, vendor, product, version;
} __attribute__((packed));

/* The device as the driver learns it. Bitmaps are in the union's layout: bit n of the
 * bitmap is byte n / 8, bit n % 8. */
struct virtio_input_desc {
	const char *name;   /* ID_NAME, at most 128 bytes */
	const char *serial; /* ID_SERIAL */
	struct virtio_input_devids ids;
	uint8_t props[VIRTIO_INPUT_UNION_SIZE];		 /* INPUT_PROP_* */
	uint8_t events[EV_CNT][VIRTIO_INPUT_UNION_SIZE]; /* codes of each EV_* type */
	struct virtio_input_absinfo abs[ABS_CNT];	 /* for each EV_ABS code */
};

/* Marks code `code` of event type `type` as sent by the device. */
void virtio_input_desc_set(struct virtio_input_desc *desc, unsigned type, unsigned code);
/* Whether the device sends it (false for any out-of-range pair). */
bool virtio_input_desc_has(const struct virtio_input_desc *desc, unsigned type, unsigned code);

/* The union for `select`/`subsel`: fills u (VIRTIO_INPUT_UNION_SIZE bytes, zero beyond the
 * answer) and returns the size the driver reads, 0 for a combination the device does not
 * have. *unknown is set when `select` is none the spec defines (a driver's mistake, counted). */
uint8_t virtio_input_config_answer(const struct virtio_input_desc *desc, uint8_t select,
				   uint8_t subsel, uint8_t u[VIRTIO_INPUT_UNION_SIZE],
				   bool *unknown);

/* A status-queue event the driver sent (spec 5.8.6.2: LEDs, sounds, repeat settings). */
enum virtio_input_status_kind {
	VIRTIO_INPUT_STATUS_LED,     /* a keyboard LED, code LED_*, value 0 or 1 */
	VIRTIO_INPUT_STATUS_IGNORED, /* a valid event gureum has no use for (EV_SND, EV_REP) */
	VIRTIO_INPUT_STATUS_BAD,     /* not an event: wrong length, unknown type or code */
};
/* Decodes one status buffer of `len` bytes. */
enum virtio_input_status_kind virtio_input_status_decode(const void *buf, size_t len,
							 struct virtio_input_event *ev);

#endif
