/* virtio-input's tablet and keyboard as Linux's virtio_input driver sees them: the
 * configuration it reads at probe (name, event bits, absolute ranges, repeat, LEDs), the events
 * it gets in the eventq buffers it posted (only what changed, frames ended by SYN_REPORT),
 * frames that waited while it had posted none (the oldest dropped whole when too many), and
 * what it sends on the status queue. Guest mistakes (unknown selects, short buffers, garbage
 * status) are counted and never stop the device. */
#include "fake_driver.h"
#include "lib/state_record.h"
#include "virtio/virtio_device_state.h"
#include "virtio/virtio_devices.h"
#include "virtio/virtio_input.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <linux/input-event-codes.h>
#include <string.h>

#define QUEUE_EVENTS 0
#define QUEUE_STATUS 1
#define BUF_GPA	     0x100000ULL
#define WIDTH	     800
#define HEIGHT	     600

static struct fake_driver driver;
static struct virtio_device *dev;
static uint16_t events_read; /* used entries of the eventq already looked at */
static unsigned buffers_posted;

static void create_tablet(void)
{
	char err[256] = "";
	dev = virtio_tablet_create(WIDTH, HEIGHT, err, sizeof(err));
	cr_assert_not_null(dev, "%s", err);
	fake_driver_init(&driver, 4 << 20, dev);
	events_read = 0;
	buffers_posted = 0;
}

static void create_keyboard(void)
{
	char err[256] = "";
	dev = virtio_keyboard_create(err, sizeof(err));
	cr_assert_not_null(dev, "%s", err);
	fake_driver_init(&driver, 4 << 20, dev);
	events_read = 0;
	buffers_posted = 0;
}

static void teardown(void)
{
	fake_driver_destroy(&driver);
}

TestSuite(virtio_input, .fini = teardown, .timeout = 30);

/* The driver's virtinput_cfg_select: select, subsel, then the size. */
static uint8_t cfg_select(uint8_t select, uint8_t subsel, uint8_t u[VIRTIO_INPUT_UNION_SIZE])
{
	uint8_t size;
	pthread_mutex_lock(&dev->lock);
	dev->ops->config_write(dev, 0, &select, 1);
	dev->ops->config_write(dev, 1, &subsel, 1);
	dev->ops->config_read(dev, 2, &size, 1);
	for (unsigned i = 0; u && i < VIRTIO_INPUT_UNION_SIZE; i++)
		dev->ops->config_read(dev, VIRTIO_INPUT_UNION_OFFSET + i, &u[i], 1);
	pthread_mutex_unlock(&dev->lock);
	return size;
}

static bool bit(const uint8_t *bitmap, unsigned n)
{
	return (bitmap[n / 8] >> (n % 8)) & 1;
}

/* Posts `n` eventq buffers of `len` bytes each, as the driver does at probe and after each
 * event it took. */
static void post_event_buffers(unsigned n, uint32_t len)
{
	for (unsigned i = 0; i < n; i++, buffers_posted++) {
		struct fake_buf b = {BUF_GPA + (buffers_posted % FAKE_QUEUE_SIZE) * 0x100, len,
				     true};
		fake_driver_add(&driver, QUEUE_EVENTS, &b, 1);
	}
	virtio_device_kick(dev, QUEUE_EVENTS);
}

static void start_with_buffers(unsigned n)
{
	fake_driver_setup_queues(&driver, 0, 3);
	post_event_buffers(n, 8);
	fake_driver_ok(&driver);
}

/* The next event the driver gets (waits up to 2 s for it). */
static struct virtio_input_event next_event(void)
{
	cr_assert(fake_wait_used(&driver, QUEUE_EVENTS, (uint16_t)(events_read + 1), 2000),
		  "an event arrives (%u so far)", events_read);
	struct virtq_used_elem e = fake_used_elem(&driver, QUEUE_EVENTS, events_read++);
	cr_assert_eq(e.len, 8);
	struct virtio_input_event ev;
	cr_assert(guest_memory_read(&driver.mem, BUF_GPA + (e.id % FAKE_QUEUE_SIZE) * 0x100, &ev,
				    sizeof(ev)));
	return ev;
}

static void expect_event(unsigned type, unsigned code, int32_t value)
{
	struct virtio_input_event ev = next_event();
	cr_assert(ev.type == type && ev.code == code && (int32_t)ev.value == value,
		  "event %u: got type %u code %u value %d, expected %u %u %d", events_read - 1,
		  ev.type, ev.code, (int32_t)ev.value, type, code, value);
}

static void expect_syn(void)
{
	expect_event(EV_SYN, SYN_REPORT, 0);
}

static void expect_no_more_events(void)
{
	usleep(20000);
	cr_assert_eq(fake_used_idx(&driver, QUEUE_EVENTS), events_read, "no further event");
}

static struct virtio_input_stats stats(void)
{
	struct virtio_input_stats s;
	virtio_input_get_stats(dev, &s);
	return s;
}

Test(virtio_input, the_tablet_describes_itself_as_the_driver_probes_it)
{
	create_tablet();
	cr_assert_eq(dev->device_id, 18);
	cr_assert_eq(dev->num_queues, 2, "eventq and statusq");
	uint8_t u[VIRTIO_INPUT_UNION_SIZE];
	uint8_t size = cfg_select(VIRTIO_INPUT_CFG_ID_NAME, 0, u);
	cr_assert_eq(size, strlen("Gureum Virtio Tablet"));
	cr_assert_arr_eq(u, "Gureum Virtio Tablet", size);
	cr_assert_gt(cfg_select(VIRTIO_INPUT_CFG_ID_SERIAL, 0, u), 0);
	cr_assert_eq(cfg_select(VIRTIO_INPUT_CFG_ID_DEVIDS, 0, u), 8);
	cr_assert_eq(u[0], 0x06, "BUS_VIRTUAL");
	cr_assert_eq(cfg_select(VIRTIO_INPUT_CFG_EV_BITS, EV_KEY, u), BTN_MIDDLE / 8 + 1);
	cr_assert(bit(u, BTN_LEFT) && bit(u, BTN_RIGHT) && bit(u, BTN_MIDDLE));
	cr_assert_not(bit(u, KEY_A));
	cr_assert_eq(cfg_select(VIRTIO_INPUT_CFG_EV_BITS, EV_REL, u), 2);
	cr_assert(bit(u, REL_WHEEL));
	cr_assert_eq(cfg_select(VIRTIO_INPUT_CFG_EV_BITS, EV_ABS, u), 1);
	cr_assert(bit(u, ABS_X) && bit(u, ABS_Y));
	struct virtio_input_absinfo abs;
	cr_assert_eq(cfg_select(VIRTIO_INPUT_CFG_ABS_INFO, ABS_X, u), sizeof(abs));
	memcpy(&abs, u, sizeof(abs));
	cr_assert(abs.min == 0 && abs.max == WIDTH - 1, "the screen's pixels: %u..%u", abs.min,
		  abs.max);
	cfg_select(VIRTIO_INPUT_CFG_ABS_INFO, ABS_Y, u);
	memcpy(&abs, u, sizeof(abs));
	cr_assert_eq(abs.max, HEIGHT - 1);
	/* What it does not have reads size 0. */
	cr_assert_eq(cfg_select(VIRTIO_INPUT_CFG_ABS_INFO, ABS_Z, u), 0);
	cr_assert_eq(cfg_select(VIRTIO_INPUT_CFG_EV_BITS, EV_REP, u), 0);
	cr_assert_eq(cfg_select(VIRTIO_INPUT_CFG_EV_BITS, EV_MSC, u), 0);
	cr_assert_eq(cfg_select(VIRTIO_INPUT_CFG_PROP_BITS, 0, u), 0);
	cr_assert_eq(stats().bad_selects, 0, "all of these are the spec's");
}

Test(virtio_input, the_keyboard_has_keys_leds_and_repeat)
{
	create_keyboard();
	uint8_t u[VIRTIO_INPUT_UNION_SIZE];
	uint8_t size = cfg_select(VIRTIO_INPUT_CFG_ID_NAME, 0, u);
	cr_assert_arr_eq(u, "Gureum Virtio Keyboard", size);
	cr_assert_gt(cfg_select(VIRTIO_INPUT_CFG_EV_BITS, EV_KEY, u), KEY_F12 / 8);
	cr_assert(bit(u, KEY_A) && bit(u, KEY_ENTER) && bit(u, KEY_LEFTSHIFT) && bit(u, KEY_F12) &&
		  bit(u, KEY_RIGHTCTRL) && bit(u, KEY_UP));
	cr_assert_not(bit(u, KEY_RESERVED));
	cr_assert_not(bit(u, BTN_LEFT));
	cr_assert_gt(cfg_select(VIRTIO_INPUT_CFG_EV_BITS, EV_REP, u), 0,
		     "the guest's input core repeats held keys");
	cr_assert_eq(cfg_select(VIRTIO_INPUT_CFG_EV_BITS, EV_LED, u), 1);
	cr_assert(bit(u, LED_NUML) && bit(u, LED_CAPSL) && bit(u, LED_SCROLLL));
	cr_assert_eq(cfg_select(VIRTIO_INPUT_CFG_EV_BITS, EV_ABS, u), 0);
}

Test(virtio_input, bad_selects_read_nothing_and_are_counted)
{
	create_tablet();
	uint8_t u[VIRTIO_INPUT_UNION_SIZE];
	cr_assert_eq(cfg_select(0x13, 0, u), 0);
	cr_assert_eq(cfg_select(0xff, 0xff, u), 0);
	cr_assert_eq(cfg_select(VIRTIO_INPUT_CFG_ID_NAME, 7, u), 0, "a subsel it has not");
	cr_assert_eq(cfg_select(VIRTIO_INPUT_CFG_EV_BITS, 0xff, u), 0);
	cr_assert_eq(cfg_select(VIRTIO_INPUT_CFG_ABS_INFO, 0xff, u), 0);
	cr_assert_eq(stats().bad_selects, 2);
	/* Writes to read-only fields change nothing; reads past the union's end are the
	 * transport's to refuse (config_size). */
	uint8_t junk[4] = {1, 2, 3, 4};
	pthread_mutex_lock(&dev->lock);
	dev->ops->config_write(dev, 2, junk, 4);
	dev->ops->config_write(dev, 100, junk, 4);
	pthread_mutex_unlock(&dev->lock);
	cr_assert_eq(cfg_select(VIRTIO_INPUT_CFG_ID_NAME, 0, u), strlen("Gureum Virtio Tablet"));
	cr_assert_eq(dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
}

Test(virtio_input, the_pointer_sends_only_what_changed)
{
	create_tablet();
	virtio_tablet_pointer(dev, 0, 5, 5); /* no driver yet: nothing */
	cr_assert_eq(stats().frames_unready, 1, "dropped and counted");
	start_with_buffers(FAKE_QUEUE_SIZE);
	virtio_tablet_pointer(dev, VIRTIO_TABLET_BUTTON_LEFT, 10, 20);
	expect_event(EV_ABS, ABS_X, 10);
	expect_event(EV_ABS, ABS_Y, 20);
	expect_event(EV_KEY, BTN_LEFT, 1);
	expect_syn();
	virtio_tablet_pointer(dev, VIRTIO_TABLET_BUTTON_LEFT, 10, 20); /* nothing new */
	virtio_tablet_pointer(dev, VIRTIO_TABLET_BUTTON_LEFT, 10, 25);
	expect_event(EV_ABS, ABS_Y, 25);
	expect_syn();
	virtio_tablet_pointer(dev, VIRTIO_TABLET_BUTTON_RIGHT, 10, 25);
	expect_event(EV_KEY, BTN_LEFT, 0);
	expect_event(EV_KEY, BTN_RIGHT, 1);
	expect_syn();
	post_event_buffers(events_read, 8); /* the driver gives back what it read */
	/* The wheel: a click per press, nothing for its release. */
	virtio_tablet_pointer(dev, VIRTIO_TABLET_BUTTON_WHEEL_UP, 10, 25);
	expect_event(EV_KEY, BTN_RIGHT, 0);
	expect_event(EV_REL, REL_WHEEL, 1);
	expect_syn();
	virtio_tablet_pointer(dev, 0, 10, 25);
	virtio_tablet_pointer(dev, VIRTIO_TABLET_BUTTON_WHEEL_DOWN, 10, 25);
	expect_event(EV_REL, REL_WHEEL, -1);
	expect_syn();
	/* Beyond the screen: its edge. */
	virtio_tablet_pointer(dev, 0, 65535, 65535);
	expect_event(EV_ABS, ABS_X, WIDTH - 1);
	expect_event(EV_ABS, ABS_Y, HEIGHT - 1);
	expect_syn();
	expect_no_more_events();
	cr_assert_geq(driver.queue_notifications[QUEUE_EVENTS], 1, "the driver was interrupted");
}

/* Takes every event delivered so far and later, posting buffers as the driver does, until none
 * comes for 50 ms; returns how many. */
static unsigned drain_events(struct virtio_input_event *out, unsigned max)
{
	unsigned n = 0;
	for (;;) {
		post_event_buffers(FAKE_QUEUE_SIZE / 2, 8);
		usleep(50000);
		if (fake_used_idx(&driver, QUEUE_EVENTS) == events_read)
			return n;
		while (fake_used_idx(&driver, QUEUE_EVENTS) != events_read && n < max)
			out[n++] = next_event();
	}
}

Test(virtio_input, frames_wait_for_buffers_and_the_oldest_go_when_too_many)
{
	create_tablet();
	start_with_buffers(0);
	/* 40 moves while the guest posted no buffer: 64 events wait at most. */
	for (uint32_t x = 1; x <= 40; x++)
		virtio_tablet_pointer(dev, 0, x, 7);
	uint64_t dropped = stats().frames_dropped;
	cr_assert_geq(dropped, 8, "at least 8 frames of 2 events or more went (%lu)",
		      (unsigned long)dropped);
	cr_assert_eq(fake_used_idx(&driver, QUEUE_EVENTS), 0);
	struct virtio_input_event got[128];
	unsigned n = drain_events(got, 128);
	cr_assert(n > 0 && n <= VIRTIO_INPUT_PENDING_MAX, "%u events", n);
	/* Whole frames, oldest first, the newest last: each starts with a move, ends with SYN. */
	uint32_t last_x = 0;
	for (unsigned i = 0; i < n; i++) {
		bool frame_start = i == 0 || got[i - 1].type == EV_SYN;
		if (frame_start) {
			cr_assert(got[i].type == EV_ABS && got[i].code == ABS_X, "event %u", i);
			cr_assert_gt(got[i].value, last_x, "frames in order");
			last_x = got[i].value;
		}
	}
	cr_assert_eq(got[n - 1].type, EV_SYN);
	cr_assert_eq(last_x, 40, "the newest frame is there");
	cr_assert_eq(stats().frames_dropped, dropped, "none dropped since");
	cr_assert_eq(stats().events, n);
	/* The guest may have missed the move to y 7 with the frames that went: the next frame
	 * says where the pointer is whole. */
	virtio_tablet_pointer(dev, 0, 41, 7);
	expect_event(EV_ABS, ABS_X, 41);
	expect_event(EV_ABS, ABS_Y, 7);
	expect_syn();
}

Test(virtio_input, a_buffer_too_short_is_skipped_and_counted)
{
	create_tablet();
	fake_driver_setup_queues(&driver, 0, 3);
	post_event_buffers(1, 4);
	post_event_buffers(1, 0);
	fake_driver_add(&driver, QUEUE_EVENTS, &(struct fake_buf){BUF_GPA + 0x200, 8, false}, 1);
	buffers_posted++;
	post_event_buffers(4, 8);
	fake_driver_ok(&driver);
	virtio_tablet_pointer(dev, 0, 1, 2);
	cr_assert(fake_wait_used(&driver, QUEUE_EVENTS, 6, 2000));
	for (int i = 0; i < 3; i++)
		cr_assert_eq(fake_used_elem(&driver, QUEUE_EVENTS, (uint16_t)i).len, 0);
	events_read = 3;
	expect_event(EV_ABS, ABS_X, 1);
	expect_event(EV_ABS, ABS_Y, 2);
	expect_syn();
	cr_assert_eq(stats().short_buffers, 3);
	cr_assert_eq(dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0, "the device goes on");
}

static void send_status(uint64_t gpa, const void *buf, uint32_t len)
{
	cr_assert(guest_memory_write(&driver.mem, gpa, buf, len));
	fake_driver_add(&driver, QUEUE_STATUS, &(struct fake_buf){gpa, len, false}, 1);
}

Test(virtio_input, the_status_queue_takes_leds_and_shrugs_off_garbage)
{
	create_keyboard();
	start_with_buffers(4);
	struct virtio_input_event caps = {EV_LED, LED_CAPSL, 1}, num = {EV_LED, LED_NUML, 1};
	struct virtio_input_event num_off = {EV_LED, LED_NUML, 0}, bad_led = {EV_LED, 200, 1};
	struct virtio_input_event rel = {EV_REL, REL_X, 3};
	send_status(0x200000, &caps, 8);
	send_status(0x201000, &num, 8);
	send_status(0x202000, &num_off, 8);
	send_status(0x203000, "abc", 3);
	send_status(0x204000, &bad_led, 8);
	send_status(0x205000, &rel, 8);
	uint8_t twelve[12] = {EV_LED, 0, LED_SCROLLL, 0, 1};
	send_status(0x206000, twelve, 12);
	virtio_device_kick(dev, QUEUE_STATUS);
	cr_assert(fake_wait_used(&driver, QUEUE_STATUS, 7, 2000), "every buffer came back");
	struct virtio_input_stats s = stats();
	cr_assert_eq(s.leds, 1u << LED_CAPSL);
	cr_assert_eq(s.status_events, 3);
	cr_assert_eq(s.bad_status, 4);
	cr_assert_eq(dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	/* A status buffer outside guest RAM is a malformed ring: the device asks for a reset. */
	fake_driver_add(&driver, QUEUE_STATUS, &(struct fake_buf){1ULL << 40, 8, false}, 1);
	virtio_device_kick(dev, QUEUE_STATUS);
	cr_assert(fake_wait_until(dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 2000));
	cr_assert_eq(virtio_keyboard_key(dev, KEY_A, true), -ENODEV, "a failed device takes none");
}

Test(virtio_input, keys_are_sent_once_the_driver_runs_and_repeat_is_the_guests)
{
	create_keyboard();
	cr_assert_not(virtio_input_ready(dev));
	cr_assert_eq(virtio_keyboard_key(dev, KEY_A, true), -ENODEV,
		     "no driver: the caller types on PS/2");
	start_with_buffers(FAKE_QUEUE_SIZE);
	cr_assert(virtio_input_ready(dev));
	cr_assert_eq(virtio_keyboard_key(dev, KEY_LEFTSHIFT, true), 0);
	cr_assert_eq(virtio_keyboard_key(dev, KEY_A, true), 0);
	cr_assert_eq(virtio_keyboard_key(dev, KEY_A, true), 0, "a client's autorepeat");
	cr_assert_eq(virtio_keyboard_key(dev, KEY_A, true), 0);
	cr_assert_eq(virtio_keyboard_key(dev, KEY_A, false), 0);
	cr_assert_eq(virtio_keyboard_key(dev, KEY_LEFTSHIFT, false), 0);
	cr_assert_eq(virtio_keyboard_key(dev, BTN_LEFT, true), -ENODEV, "not a keyboard key");
	expect_event(EV_KEY, KEY_LEFTSHIFT, 1);
	expect_syn();
	expect_event(EV_KEY, KEY_A, 1);
	expect_syn();
	expect_event(EV_KEY, KEY_A, 0);
	expect_syn();
	expect_event(EV_KEY, KEY_LEFTSHIFT, 0);
	expect_syn();
	expect_no_more_events();
	/* The driver resets (the module unloaded): keys go elsewhere until it starts again. */
	virtio_device_write_status(dev, 0);
	cr_assert_not(virtio_input_ready(dev));
	cr_assert_eq(virtio_keyboard_key(dev, KEY_B, true), -ENODEV);
}

Test(virtio_input, keys_wait_for_room_and_are_never_dropped)
{
	create_keyboard();
	start_with_buffers(0);
	/* No buffer posted: 32 frames of a key and its SYN fill the waiting events. */
	unsigned sent = 0;
	int rc;
	while ((rc = virtio_keyboard_key(dev, KEY_A + (sent % 2 ? 0 : 1), sent % 4 < 2)) == 0)
		sent++;
	cr_assert_eq(rc, -EAGAIN, "no room: the caller waits");
	cr_assert_eq(sent, VIRTIO_INPUT_PENDING_MAX / 2);
	cr_assert_eq(stats().frames_dropped, 0);
	/* The guest posts buffers: the keys flow again, all of them in order. */
	post_event_buffers(FAKE_QUEUE_SIZE, 8);
	cr_assert(fake_wait_until(virtio_keyboard_key(dev, KEY_C, true) == 0, 2000));
	cr_assert_eq(stats().frames_dropped, 0);
	expect_event(EV_KEY, KEY_S, 1);
	expect_syn();
}

Test(virtio_input, the_selected_configuration_survives_a_save_and_load)
{
	create_tablet();
	start_with_buffers(2);
	cfg_select(VIRTIO_INPUT_CFG_ABS_INFO, ABS_Y, NULL);
	struct state_writer w;
	state_writer_init(&w);
	virtio_device_pause(dev);
	virtio_device_save(dev, &w);
	cr_assert_not(state_writer_failed(&w));
	teardown();

	create_tablet();
	struct virtio_device_loaded *loaded = calloc(1, sizeof(*loaded));
	size_t pos = 0;
	char err[256] = "";
	cr_assert_eq(virtio_device_check_state(dev, w.buf, w.len, &pos, loaded, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(pos, w.len);
	pthread_mutex_lock(&dev->lock);
	virtio_device_apply_state(dev, loaded);
	pthread_mutex_unlock(&dev->lock);
	virtio_device_start_loaded(dev, loaded->queues);
	uint8_t size, u[VIRTIO_INPUT_UNION_SIZE];
	pthread_mutex_lock(&dev->lock);
	dev->ops->config_read(dev, 2, &size, 1);
	for (unsigned i = 0; i < sizeof(struct virtio_input_absinfo); i++)
		dev->ops->config_read(dev, VIRTIO_INPUT_UNION_OFFSET + i, &u[i], 1);
	pthread_mutex_unlock(&dev->lock);
	cr_assert_eq(size, sizeof(struct virtio_input_absinfo), "ABS_INFO still selected");
	struct virtio_input_absinfo abs;
	memcpy(&abs, u, sizeof(abs));
	cr_assert_eq(abs.max, HEIGHT - 1);
	/* The loaded device runs (its event waits for buffers the new guest memory lacks). */
	cr_assert(virtio_input_ready(dev));
	virtio_tablet_pointer(dev, 0, 3, 4);
	free(loaded);
	state_writer_free(&w);
}
