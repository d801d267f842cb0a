/* libFuzzer target: what the guest writes to a virtio-input device (virtio_input_config.c):
 * configuration selects (any select and subsel byte) and status-queue buffers (any length and
 * bytes). Beyond not crashing: an answer never says more than the union holds, is zero past
 * its size, is size 0 for what the device does not have, and a status buffer decodes as an
 * event only when it is one event long. Build and run with tests/fuzz/run_fuzz_virtio_input.sh.
 *
 * Input: [0] which device (even: a tablet, odd: a keyboard), then records of [kind][a][b]
 * [len][len bytes]: kind even selects (a, b), odd sends a status buffer of len bytes. */
#include "virtio/virtio_input_config.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static void describe(struct virtio_input_desc *desc, bool keyboard)
{
	memset(desc, 0, sizeof(*desc));
	desc->name = keyboard ? "Gureum Virtio Keyboard" : "Gureum Virtio Tablet";
	desc->serial = "fuzz";
	if (keyboard) {
		for (unsigned key = 1; key < 128; key++)
			virtio_input_desc_set(desc, EV_KEY, key);
		virtio_input_desc_set(desc, EV_LED, LED_CAPSL);
		virtio_input_desc_set(desc, EV_REP, REP_DELAY);
		return;
	}
	virtio_input_desc_set(desc, EV_KEY, BTN_LEFT);
	virtio_input_desc_set(desc, EV_REL, REL_WHEEL);
	virtio_input_desc_set(desc, EV_ABS, ABS_X);
	virtio_input_desc_set(desc, EV_ABS, ABS_Y);
	desc->abs[ABS_X].max = 1023;
	desc->abs[ABS_Y].max = 767;
	/* Out of range: ignored. */
	virtio_input_desc_set(desc, EV_CNT, 0);
	virtio_input_desc_set(desc, EV_KEY, VIRTIO_INPUT_MAX_CODES);
}

static void select_one(const struct virtio_input_desc *desc, uint8_t select, uint8_t subsel)
{
	uint8_t u[VIRTIO_INPUT_UNION_SIZE];
	bool unknown;
	memset(u, 0xa5, sizeof(u));
	uint8_t n = virtio_input_config_answer(desc, select, subsel, u, &unknown);
	check(n <= VIRTIO_INPUT_UNION_SIZE);
	for (unsigned i = n; i < VIRTIO_INPUT_UNION_SIZE; i++)
		check(u[i] == 0);
	if (unknown)
		check(n == 0);
	if (select == VIRTIO_INPUT_CFG_ABS_INFO && n)
		check(virtio_input_desc_has(desc, EV_ABS, subsel));
	if (select == VIRTIO_INPUT_CFG_EV_BITS && n && subsel != EV_REP)
		for (unsigned code = 0; code < n * 8u; code++)
			check(((u[code / 8] >> (code % 8)) & 1) ==
			      virtio_input_desc_has(desc, subsel, code));
}

static void status_one(const uint8_t *buf, size_t len)
{
	/* A heap block of exactly len bytes: ASan sees a read past it. */
	uint8_t *copy = malloc(len ? len : 1);
	check(copy != NULL);
	memcpy(copy, buf, len);
	struct virtio_input_event ev;
	enum virtio_input_status_kind kind = virtio_input_status_decode(copy, len, &ev);
	if (len != sizeof(ev))
		check(kind == VIRTIO_INPUT_STATUS_BAD);
	if (kind == VIRTIO_INPUT_STATUS_LED)
		check(ev.type == EV_LED && ev.code < LED_CNT && ev.value <= 1);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtio_input_desc desc;
	if (size < 1)
		return 0;
	describe(&desc, data[0] & 1);
	size_t pos = 1;
	while (pos + 4 <= size) {
		uint8_t kind = data[pos], a = data[pos + 1], b = data[pos + 2], len = data[pos + 3];
		pos += 4;
		if (!(kind & 1)) {
			select_one(&desc, a, b);
			continue;
		}
		if (len > size - pos)
			len = (uint8_t)(size - pos);
		status_one(data + pos, len);
		pos += len;
	}
	return 0;
}
