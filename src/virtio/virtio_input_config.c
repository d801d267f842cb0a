/* virtio-input's configuration answers and status events (virtio_input_config.h). */
#include "virtio/virtio_input_config.h"

#include <string.h>

void virtio_input_desc_set(struct virtio_input_desc *desc, unsigned type, unsigned code)
{
	if (type < EV_CNT && code < VIRTIO_INPUT_MAX_CODES)
		desc->events[type][code / 8] |= (uint8_t)(1u << (code % 8));
}

bool virtio_input_desc_has(const struct virtio_input_desc *desc, unsigned type, unsigned code)
{
	return type < EV_CNT && code < VIRTIO_INPUT_MAX_CODES &&
	       (desc->events[type][code / 8] >> (code % 8)) & 1;
}

/* The bitmap's size: up to its last byte with a bit set (0: nothing set). */
static uint8_t bitmap_answer(const uint8_t *bits, uint8_t *u)
{
	unsigned size = VIRTIO_INPUT_UNION_SIZE;
	while (size > 0 && !bits[size - 1])
		size--;
	memcpy(u, bits, size);
	return (uint8_t)size;
}

static uint8_t string_answer(const char *s, uint8_t *u)
{
	size_t len = s ? strnlen(s, VIRTIO_INPUT_UNION_SIZE) : 0;
	memcpy(u, s, len);
	return (uint8_t)len;
}

/* EV_BITS with subsel 0 is not a type (EV_SYN): the spec leaves it to the device; none here.
 * EV_REP carries no codes, only whether the guest's input core repeats held keys: its
 * answer is a 1-byte empty bitmap when the device has it. */
static uint8_t event_bits_answer(const struct virtio_input_desc *desc, uint8_t type, uint8_t *u)
{
	if (type == EV_SYN || type >= EV_CNT)
		return 0;
	if (type == EV_REP)
		return virtio_input_desc_has(desc, EV_REP, 0) ? 1 : 0;
	return bitmap_answer(desc->events[type], u);
}

static uint8_t abs_answer(const struct virtio_input_desc *desc, uint8_t code, uint8_t *u)
{
	if (code >= ABS_CNT || !virtio_input_desc_has(desc, EV_ABS, code))
		return 0;
	memcpy(u, &desc->abs[code], sizeof(desc->abs[code]));
	return sizeof(struct virtio_input_absinfo);
}

uint8_t virtio_input_config_answer(const struct virtio_input_desc *desc, uint8_t select,
				   uint8_t subsel, uint8_t u[VIRTIO_INPUT_UNION_SIZE],
				   bool *unknown)
{
	memset(u, 0, VIRTIO_INPUT_UNION_SIZE);
	*unknown = false;
	switch (select) {
	case VIRTIO_INPUT_CFG_UNSET:
		return 0;
	case VIRTIO_INPUT_CFG_ID_NAME:
		return subsel ? 0 : string_answer(desc->name, u);
	case VIRTIO_INPUT_CFG_ID_SERIAL:
		return subsel ? 0 : string_answer(desc->serial, u);
	case VIRTIO_INPUT_CFG_ID_DEVIDS:
		if (subsel)
			return 0;
		memcpy(u, &desc->ids, sizeof(desc->ids));
		return sizeof(desc->ids);
	case VIRTIO_INPUT_CFG_PROP_BITS:
		return subsel ? 0 : bitmap_answer(desc->props, u);
	case VIRTIO_INPUT_CFG_EV_BITS:
		return event_bits_answer(desc, subsel, u);
	case VIRTIO_INPUT_CFG_ABS_INFO:
		return abs_answer(desc, subsel, u);
	default:
		*unknown = true;
		return 0;
	}
}

enum virtio_input_status_kind virtio_input_status_decode(const void *buf, size_t len,
							 struct virtio_input_event *ev)
{
	if (len != sizeof(*ev))
		return VIRTIO_INPUT_STATUS_BAD;
	memcpy(ev, buf, sizeof(*ev));
	switch (ev->type) {
	case EV_LED:
		return ev->code < LED_CNT && ev->value <= 1 ? VIRTIO_INPUT_STATUS_LED
							    : VIRTIO_INPUT_STATUS_BAD;
	case EV_SND:
	case EV_REP:
	case EV_SYN:
		return VIRTIO_INPUT_STATUS_IGNORED;
	default:
		return VIRTIO_INPUT_STATUS_BAD;
	}
}
