/* A VNC client's pointer as the guest's virtio-input driver gets it: a real libvncclient client
 * moves and clicks on the display's VNC server, the display passes the events to a real virtio
 * tablet, and the test reads them from the eventq buffers it posted as Linux's driver does. */
#include "../display/vnc_test_client.h"
#include "display/display.h"
#include "fake_driver.h"
#include "virtio/virtio_devices.h"
#include "virtio/virtio_input.h"

#include <criterion/criterion.h>
#include <linux/input-event-codes.h>
#include <rfb/rfbclient.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define WIDTH	1024
#define HEIGHT	768
#define BUF_GPA 0x100000ULL

static char dir[] = "/tmp/gureum-vnc-tablet-XXXXXX";
static char sock_path[96];
static struct display *display;
static struct fake_driver driver;
static struct virtio_device *tablet;
static uint16_t events_read;

static void quiet(const char *fmt, ...)
{
	(void)fmt;
}

static void to_tablet(void *opaque, unsigned buttons, uint32_t x, uint32_t y)
{
	virtio_tablet_pointer(opaque, buttons, x, y);
}

static void no_keys(void *opaque, unsigned key, bool down)
{
	(void)opaque, (void)key, (void)down;
}

/* Keeps the eventq full of 8-byte buffers, as the driver does after each event it reads. */
static void post_buffers(void)
{
	uint16_t posted = driver.avail_idx[0];
	while ((uint16_t)(posted - events_read) < FAKE_QUEUE_SIZE) {
		struct fake_buf b = {BUF_GPA + (posted % FAKE_QUEUE_SIZE) * 0x100, 8, true};
		fake_driver_add(&driver, 0, &b, 1);
		posted++;
	}
	virtio_device_kick(tablet, 0);
}

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	rfbClientLog = rfbClientErr = quiet;
	cr_assert_not_null(mkdtemp(dir));
	snprintf(sock_path, sizeof(sock_path), "%s/vnc.sock", dir);
	char spec[256], err[512];
	snprintf(spec, sizeof(spec), "vnc=unix:%s", sock_path);
	struct display_options o;
	display_options_init(&o);
	cr_assert_eq(display_options_parse(&o, spec, err, sizeof(err)), 0, "%s", err);
	display = display_open(&o, err, sizeof(err));
	cr_assert_not_null(display, "%s", err);
	tablet = virtio_tablet_create(o.width, o.height, err, sizeof(err));
	cr_assert_not_null(tablet, "%s", err);
	fake_driver_init(&driver, 4 << 20, tablet);
	fake_driver_setup_queues(&driver, 0, 3);
	events_read = 0;
	post_buffers();
	fake_driver_ok(&driver);
	display_attach_input(display, no_keys, to_tablet, tablet);
}

static void teardown(void)
{
	display_close(display); /* no client, no event from here on */
	fake_driver_destroy(&driver);
	rmdir(dir);
	strcpy(dir, "/tmp/gureum-vnc-tablet-XXXXXX");
}

TestSuite(vnc_tablet, .init = setup, .fini = teardown, .timeout = 60);

static struct virtio_input_event next_event(void)
{
	cr_assert(fake_wait_used(&driver, 0, (uint16_t)(events_read + 1), 3000),
		  "an event arrives (%u so far)", events_read);
	struct virtq_used_elem e = fake_used_elem(&driver, 0, events_read++);
	struct virtio_input_event ev;
	cr_assert(guest_memory_read(&driver.mem, BUF_GPA + (e.id % FAKE_QUEUE_SIZE) * 0x100, &ev,
				    sizeof(ev)));
	post_buffers();
	return ev;
}

static void expect_event(unsigned type, unsigned code, int32_t value)
{
	struct virtio_input_event ev = next_event();
	cr_assert(ev.type == type && ev.code == code && (int32_t)ev.value == value,
		  "event %u: got type %u code %u value %d, expected %u %u %d", events_read - 1,
		  ev.type, ev.code, (int32_t)ev.value, type, code, value);
}

static rfbClient *connect_client(void)
{
	rfbClient *rfb = vnc_test_client_new(sock_path, 0);
	cr_assert(rfbInitClient(rfb, NULL, NULL));
	return rfb;
}

Test(vnc_tablet, a_click_and_a_drag_reach_the_guest_and_a_leaving_client_lets_go)
{
	rfbClient *rfb = connect_client();
	SendPointerEvent(rfb, 512, 384, 0);
	expect_event(EV_ABS, ABS_X, 512);
	expect_event(EV_ABS, ABS_Y, 384);
	expect_event(EV_SYN, SYN_REPORT, 0);
	SendPointerEvent(rfb, 512, 384, rfbButton1Mask);
	expect_event(EV_KEY, BTN_LEFT, 1);
	expect_event(EV_SYN, SYN_REPORT, 0);
	SendPointerEvent(rfb, 600, 384, rfbButton1Mask); /* a drag */
	expect_event(EV_ABS, ABS_X, 600);
	expect_event(EV_SYN, SYN_REPORT, 0);
	SendPointerEvent(rfb, 600, 384, rfbButton1Mask | rfbWheelDownMask);
	expect_event(EV_REL, REL_WHEEL, -1);
	expect_event(EV_SYN, SYN_REPORT, 0);
	vnc_test_client_free(rfb); /* gone with the left button down */
	expect_event(EV_KEY, BTN_LEFT, 0);
	expect_event(EV_SYN, SYN_REPORT, 0);
	struct virtio_input_stats s;
	virtio_input_get_stats(tablet, &s);
	cr_assert_eq(s.frames_dropped + s.short_buffers + s.bad_selects, 0);
}

Test(vnc_tablet, many_moves_while_the_guest_reads_none_keep_the_latest)
{
	rfbClient *rfb = connect_client();
	/* The guest stops reading: the buffers it posted fill, the rest waits (bounded). */
	for (int x = 0; x < 300; x++)
		SendPointerEvent(rfb, x, 10, 0);
	SendPointerEvent(rfb, 1000, 700, 0);
	struct virtio_input_stats s;
	for (int i = 0; i < 3000; i++) {
		virtio_input_get_stats(tablet, &s);
		if (s.frames_dropped > 0 && fake_used_idx(&driver, 0) == FAKE_QUEUE_SIZE)
			break;
		usleep(1000);
	}
	cr_assert_gt(s.frames_dropped, 0);
	/* It reads again: the last position arrives. (The server may still be passing the
	 * client's later moves on while the guest reads: up to two events each.) */
	struct virtio_input_event ev;
	int32_t x = -1, y = -1;
	for (int i = 0; i < 1000 && !(x == 1000 && y == 700); i++) {
		ev = next_event();
		if (ev.type == EV_ABS && ev.code == ABS_X)
			x = (int32_t)ev.value;
		if (ev.type == EV_ABS && ev.code == ABS_Y)
			y = (int32_t)ev.value;
	}
	cr_assert(x == 1000 && y == 700, "the pointer ended at %d,%d", x, y);
	vnc_test_client_free(rfb);
}
