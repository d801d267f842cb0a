/* Which keyboard a VNC client's keys reach (vm_input.c): the PS/2 keyboard behind the i8042
 * until the guest's virtio-input driver runs the virtio keyboard, the virtio keyboard after,
 * never both; a key pressed on PS/2 keeps its repeats and release there. A real libvncclient
 * client types on the display's VNC server; the i8042's queue and the virtio keyboard's
 * eventq (driven as Linux's driver does) show where each key went. */
#include "../display/vnc_test_client.h"
#include "../virtio/fake_driver.h"
#include "display/display.h"
#include "virtio/virtio_devices.h"
#include "virtio/virtio_input.h"
#include "vmm/vm.h"

#include <criterion/criterion.h>
#include <linux/input-event-codes.h>
#include <rfb/rfbclient.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define BUF_GPA 0x100000ULL

static char dir[] = "/tmp/gureum-vm-input-XXXXXX";
static char sock_path[96];
static struct vm *vm;
static struct fake_driver driver;
static rfbClient *client;

static void quiet(const char *fmt, ...)
{
	(void)fmt;
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
	vm = calloc(1, sizeof(*vm));
	vm->display = display_open(&o, err, sizeof(err));
	cr_assert_not_null(vm->display, "%s", err);
	vm->display_attached = true;
	cr_assert_eq(i8042_init(&vm->kbc, NULL, I8042_KBD_GSI, (struct power_callbacks){0}), 0);
	vm->virtio_keyboard = virtio_keyboard_create(err, sizeof(err));
	cr_assert_not_null(vm->virtio_keyboard, "%s", err);
	fake_driver_init(&driver, 4 << 20, vm->virtio_keyboard);
	vm_input_attach(vm);
	client = vnc_test_client_new(sock_path, 0);
	cr_assert(rfbInitClient(client, NULL, NULL));
}

static void teardown(void)
{
	vnc_test_client_free(client);
	display_close(vm->display); /* no key from here on */
	fake_driver_destroy(&driver);
	i8042_destroy(&vm->kbc);
	free(vm);
	rmdir(dir);
	strcpy(dir, "/tmp/gureum-vm-input-XXXXXX");
}

TestSuite(vm_input, .init = setup, .fini = teardown, .timeout = 60);

static unsigned ps2_bytes(void)
{
	pthread_mutex_lock(&vm->kbc.lock);
	unsigned n = vm->kbc.queue_count;
	pthread_mutex_unlock(&vm->kbc.lock);
	return n;
}

/* The guest's driver starts: eventq buffers posted, DRIVER_OK. */
static void start_driver(void)
{
	fake_driver_setup_queues(&driver, 0, 3);
	for (unsigned i = 0; i < FAKE_QUEUE_SIZE; i++) {
		struct fake_buf b = {BUF_GPA + i * 0x100, 8, true};
		fake_driver_add(&driver, 0, &b, 1);
	}
	fake_driver_ok(&driver);
}

static struct virtio_input_event virtio_event(uint16_t i)
{
	struct virtq_used_elem e = fake_used_elem(&driver, 0, i);
	struct virtio_input_event ev;
	cr_assert(guest_memory_read(&driver.mem, BUF_GPA + e.id * 0x100, &ev, sizeof(ev)));
	return ev;
}

/* Waits until the client's key events were handled: the display counts them. */
static void wait_keys(uint64_t n)
{
	struct display_stats s;
	for (int i = 0; i < 3000; i++) {
		display_get_stats(vm->display, &s);
		if (s.keys >= n)
			return;
		usleep(1000);
	}
	cr_assert_fail("the display passed %llu keys, not %llu", (unsigned long long)s.keys,
		       (unsigned long long)n);
}

Test(vm_input, keys_go_to_ps2_until_the_virtio_driver_runs_then_only_there)
{
	SendKeyEvent(client, 'a', TRUE);
	SendKeyEvent(client, 'a', FALSE);
	wait_keys(2);
	unsigned before = ps2_bytes();
	cr_assert_gt(before, 0, "no driver: the PS/2 keyboard typed it");
	start_driver();
	SendKeyEvent(client, 'b', TRUE);
	SendKeyEvent(client, 'b', FALSE);
	wait_keys(4);
	cr_assert(fake_wait_used(&driver, 0, 4, 2000), "the virtio keyboard got the key");
	cr_assert_eq(ps2_bytes(), before, "and the PS/2 keyboard did not");
	struct virtio_input_event down = virtio_event(0), up = virtio_event(2);
	cr_assert(down.type == EV_KEY && down.code == KEY_B && down.value == 1);
	cr_assert(up.type == EV_KEY && up.code == KEY_B && up.value == 0);
}

Test(vm_input, a_key_held_on_ps2_is_released_there)
{
	SendKeyEvent(client, 0xffe1, TRUE); /* Shift_L, before the driver */
	wait_keys(1);
	unsigned held = ps2_bytes();
	cr_assert_gt(held, 0);
	start_driver();
	SendKeyEvent(client, 0xffe1, TRUE); /* the client's autorepeat */
	SendKeyEvent(client, 'c', TRUE);
	SendKeyEvent(client, 'c', FALSE);
	SendKeyEvent(client, 0xffe1, FALSE);
	wait_keys(5);
	cr_assert(fake_wait_used(&driver, 0, 4, 2000));
	usleep(50000);
	cr_assert_eq(fake_used_idx(&driver, 0), 4, "only c's press and release (with SYNs)");
	cr_assert_eq(virtio_event(0).code, KEY_C);
	cr_assert_gt(ps2_bytes(), held, "Shift's repeat and release went to PS/2");
}
