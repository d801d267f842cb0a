/* The control socket: the protocol (one JSON request per line, one reply per line) against a
 * fake VM, and the unix socket server on a real event loop (several clients, partial and
 * pipelined lines, stale and live socket files, clean-up at close). */
#include "vmm/api_protocol.h"
#include "vmm/api_server.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* A VM as the protocol sees it: records what it was asked, answers from fields. */
struct fake_vm {
	int balloon_calls, quit_calls;
	bool paused;
	uint64_t balloon_bytes;
	int snapshot_calls, migrate_calls;
	uint64_t migrate_downtime, migrate_bandwidth;
	bool migrate_compress, migrate_converge, migrate_postcopy;
	unsigned migrate_postcopy_after;
	bool hold_migrate; /* migrate waits until this is false (under hold_lock) */
	int cancel_calls, reconnect_calls;
	int link_calls;
	unsigned link_card;
	bool link_up;
	int mac_calls;
	uint8_t mac[6];
	int screendump_calls;
	char screendump_path[256];
	char snapshot_dir[256];
	bool snapshot_resume;
	bool refuse; /* every operation fails, as between two boots */
	struct balloon_info info;
};

static int fake_balloon_set(void *opaque, uint64_t bytes, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (vm->refuse) {
		snprintf(err, err_len, "the VM is rebooting");
		return -1;
	}
	vm->balloon_calls++;
	vm->balloon_bytes = bytes;
	return 0;
}

static int fake_balloon_info(void *opaque, struct balloon_info *info, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (vm->refuse) {
		snprintf(err, err_len, "this VM has no balloon device");
		return -1;
	}
	*info = vm->info;
	return 0;
}

static int fake_status(void *opaque, struct api_status *status, char *err, size_t err_len)
{
	(void)opaque;
	(void)err;
	(void)err_len;
	status->state = "running";
	status->accel = "emu";
	status->vcpus = 2;
	status->memory = 512ULL << 20;
	status->boots = 1;
	status->nr_devices = 2;
	strcpy(status->devices[0], "virtio-console");
	strcpy(status->devices[1], "virtio-balloon");
	return 0;
}

static int fake_quit(void *opaque, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	(void)err;
	(void)err_len;
	vm->quit_calls++;
	return 0;
}

/* Pause and resume as the VM answers them: each only from the other state. */
static int fake_pause(void *opaque, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (vm->paused) {
		snprintf(err, err_len, "the VM is already paused");
		return -1;
	}
	vm->paused = true;
	return 0;
}

static int fake_resume(void *opaque, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (!vm->paused) {
		snprintf(err, err_len, "the VM is not paused");
		return -1;
	}
	vm->paused = false;
	return 0;
}

/* A snapshot as the session answers it: pauses, "writes", resumes when asked. */
static int fake_snapshot(void *opaque, struct api_snapshot *snapshot, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (vm->refuse) {
		snprintf(err, err_len, "snapshot: cannot create the directory");
		return -1;
	}
	vm->snapshot_calls++;
	snprintf(vm->snapshot_dir, sizeof(vm->snapshot_dir), "%s", snapshot->dir);
	vm->snapshot_resume = snapshot->resume;
	snapshot->paused = vm->paused || !snapshot->resume;
	snapshot->ms = 12;
	snapshot->memory_bytes = 4096;
	snapshot->state_bytes = 100;
	if (snapshot->disk_snapshot) /* disk 1 moves; disk 0 (read-only) does not */
		snapshot->overlays[1] = strdup("/img/data.ovl1.qcow2");
	return 0;
}

static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_changed = PTHREAD_COND_INITIALIZER;

static void release_migrate(struct fake_vm *vm)
{
	pthread_mutex_lock(&hold_lock);
	vm->hold_migrate = false;
	pthread_cond_broadcast(&hold_changed);
	pthread_mutex_unlock(&hold_lock);
}

static int fake_migrate_status(void *opaque, struct api_migration_status *status, char *err,
			       size_t err_len)
{
	(void)opaque, (void)err, (void)err_len;
	status->state = "active";
	snprintf(status->uri, sizeof(status->uri), "unix:/run/m.sock");
	status->transferred_bytes = 123456;
	status->rounds = 2;
	status->expected_downtime_ms = 17;
	return 0;
}

static int fake_migrate_reconnect(void *opaque, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (vm->refuse) {
		snprintf(err, err_len, "no post-copy is under way");
		return -1;
	}
	vm->reconnect_calls++;
	return 0;
}

static int fake_net_link(void *opaque, unsigned card, bool up, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (card > 1) {
		snprintf(err, err_len, "net-link: the VM has 2 network cards; card %u is not one",
			 card);
		return -1;
	}
	vm->link_calls++;
	vm->link_card = card;
	vm->link_up = up;
	return 0;
}

static int fake_net_mac(void *opaque, unsigned card, const uint8_t mac[6], char *err,
			size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (card > 1) {
		snprintf(err, err_len, "net-mac: the VM has 2 network cards; card %u is not one",
			 card);
		return -1;
	}
	vm->mac_calls++;
	memcpy(vm->mac, mac, 6);
	return 0;
}

static int fake_net_info(void *opaque, unsigned card, struct virtio_net_info *info, char *err,
			 size_t err_len)
{
	(void)opaque;
	if (card > 1) {
		snprintf(err, err_len, "net-info: the VM has 2 network cards; card %u is not one",
			 card);
		return -1;
	}
	memset(info, 0, sizeof(*info));
	uint8_t mac[6] = {0x52, 0x54, 0, 0xab, 0xcd, (uint8_t)card};
	memcpy(info->mac, mac, 6);
	memcpy(info->assigned_mac, mac, 6);
	info->link_up = true;
	info->pairs = 2;
	info->active_pairs = 2;
	info->pair_rx_packets[0] = 10, info->pair_rx_packets[1] = 20;
	info->pair_tx_packets[0] = 3, info->pair_tx_packets[1] = 4;
	info->ctrl_errors = 1;
	return 0;
}

static int fake_migrate_cancel(void *opaque, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (vm->refuse) {
		snprintf(err, err_len, "no migration is under way");
		return -1;
	}
	vm->cancel_calls++;
	return 0;
}

static int fake_migrate(void *opaque, struct api_migrate *migrate, char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (vm->refuse) {
		snprintf(err, err_len, "migration: cannot connect to %s", migrate->uri);
		return -1;
	}
	pthread_mutex_lock(&hold_lock);
	while (vm->hold_migrate)
		pthread_cond_wait(&hold_changed, &hold_lock);
	pthread_mutex_unlock(&hold_lock);
	vm->migrate_calls++;
	vm->migrate_downtime = migrate->max_downtime_ms;
	vm->migrate_compress = migrate->compress;
	vm->migrate_bandwidth = migrate->max_bytes_per_s;
	vm->migrate_converge = migrate->auto_converge;
	vm->migrate_postcopy = migrate->postcopy;
	vm->migrate_postcopy_after = migrate->postcopy_after_rounds;
	migrate->throttle_pct = migrate->auto_converge ? 40 : 0;
	if (migrate->postcopy) { /* as if it switched */
		migrate->postcopy_ms = 700;
		migrate->postcopy_pages = 5000;
		migrate->postcopy_requested = 12;
		migrate->postcopy_recoveries = 2;
	}
	migrate->ms = 900;
	migrate->downtime_ms = 40;
	migrate->rounds = 3;
	migrate->precopy = true;
	return 0;
}

static int fake_screendump(void *opaque, const char *path, unsigned *width, unsigned *height,
			   char *err, size_t err_len)
{
	struct fake_vm *vm = opaque;
	if (vm->refuse) {
		snprintf(err, err_len, "screendump: this VM has no display");
		return -1;
	}
	vm->screendump_calls++;
	snprintf(vm->screendump_path, sizeof(vm->screendump_path), "%s", path);
	*width = 1024;
	*height = 768;
	return 0;
}

/* Two disks, the second with the serial "data"; the request's limits are kept as given. */
static struct api_disk_limit last_limit;
static int fake_disk_limit(void *opaque, struct api_disk_limit *req, char *err, size_t err_len)
{
	(void)opaque;
	if (req->index < 0 && strcmp(req->serial, "data") == 0)
		req->index = 1;
	if (req->index < 0 || req->index > 1) {
		snprintf(err, err_len, "disk-limit: the VM has 2 disks; no disk with that index");
		return -1;
	}
	last_limit = *req;
	req->disk = (unsigned)req->index;
	if (!req->limits.bps_burst)
		req->limits.bps_burst = req->limits.bps;
	return 0;
}

static struct fake_vm vm;
static struct api_ops ops = {.balloon_set = fake_balloon_set,
			     .balloon_info = fake_balloon_info,
			     .status = fake_status,
			     .quit = fake_quit,
			     .pause = fake_pause,
			     .resume = fake_resume,
			     .snapshot = fake_snapshot,
			     .migrate = fake_migrate,
			     .migrate_status = fake_migrate_status,
			     .migrate_cancel = fake_migrate_cancel,
			     .migrate_reconnect = fake_migrate_reconnect,
			     .net_link = fake_net_link,
			     .net_mac = fake_net_mac,
			     .net_info = fake_net_info,
			     .screendump = fake_screendump,
			     .disk_limit = fake_disk_limit,
			     .opaque = &vm};

static void reset_vm(void)
{
	memset(&vm, 0, sizeof(vm));
}

/* Sends `request` to the dispatcher and parses the reply, which must be one JSON object. */
static json_t *ask(const char *request)
{
	char *text = api_handle_request(&ops, request, strlen(request));
	cr_assert_not_null(text);
	cr_assert_null(strchr(text, '\n'), "a reply is exactly one line: %s", text);
	json_error_t error;
	json_t *reply = json_loads(text, 0, &error);
	cr_assert(json_is_object(reply), "reply is not a JSON object: %s", text);
	free(text);
	return reply;
}

static bool reply_ok(const json_t *reply)
{
	return json_is_true(json_object_get(reply, "ok"));
}

static const char *reply_error(const json_t *reply)
{
	cr_assert(json_is_false(json_object_get(reply, "ok")));
	const char *error = json_string_value(json_object_get(reply, "error"));
	cr_assert_not_null(error, "an error reply says what is wrong");
	return error;
}

TestSuite(api_protocol, .init = reset_vm);

Test(api_protocol, balloon_size_as_text_or_bytes)
{
	json_t *r = ask("{\"command\":\"balloon\",\"size\":\"512M\"}");
	cr_assert(reply_ok(r));
	cr_assert_eq(vm.balloon_bytes, 512ULL << 20);
	json_decref(r);
	r = ask("{\"command\":\"balloon\",\"size\":1073741824}");
	cr_assert(reply_ok(r));
	cr_assert_eq(vm.balloon_bytes, 1ULL << 30);
	json_decref(r);
	r = ask("{\"size\":\"0\",\"command\":\"balloon\"}");
	cr_assert(reply_ok(r));
	cr_assert_eq(vm.balloon_bytes, 0);
	cr_assert_eq(vm.balloon_calls, 3);
	json_decref(r);
}

Test(api_protocol, bad_balloon_sizes_are_refused_without_touching_the_vm)
{
	const char *bad[] = {
	    "{\"command\":\"balloon\"}",
	    "{\"command\":\"balloon\",\"size\":-4096}",
	    "{\"command\":\"balloon\",\"size\":\"lots\"}",
	    "{\"command\":\"balloon\",\"size\":\"99999999999T\"}",
	    "{\"command\":\"balloon\",\"size\":1.5}",
	    "{\"command\":\"balloon\",\"size\":null}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *r = ask(bad[i]);
		cr_assert(strstr(reply_error(r), "size"), "%s", bad[i]);
		json_decref(r);
	}
	cr_assert_eq(vm.balloon_calls, 0);
}

Test(api_protocol, net_link_takes_a_card_and_a_state)
{
	json_t *r = ask("{\"command\":\"net-link\",\"card\":1,\"up\":false}");
	cr_assert(reply_ok(r));
	cr_assert_eq(vm.link_card, 1);
	cr_assert_not(vm.link_up);
	json_decref(r);
	r = ask("{\"command\":\"net-link\",\"card\":0,\"up\":true}");
	cr_assert(reply_ok(r));
	cr_assert(vm.link_up);
	json_decref(r);
	r = ask("{\"command\":\"net-link\",\"card\":5,\"up\":true}");
	cr_assert(strstr(reply_error(r), "card 5 is not one"));
	json_decref(r);
	const char *bad[] = {
	    "{\"command\":\"net-link\",\"up\":true}",
	    "{\"command\":\"net-link\",\"card\":0}",
	    "{\"command\":\"net-link\",\"card\":-1,\"up\":true}",
	    "{\"command\":\"net-link\",\"card\":\"0\",\"up\":true}",
	    "{\"command\":\"net-link\",\"card\":0,\"up\":\"down\"}",
	    "{\"command\":\"net-link\",\"card\":99999999999,\"up\":true}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = ask(bad[i]);
		cr_assert(strstr(reply_error(r), "\"card\""), "%s", bad[i]);
		json_decref(r);
	}
	cr_assert_eq(vm.link_calls, 2, "refused requests reach no card");
}

Test(api_protocol, net_mac_takes_a_card_and_a_unicast_address)
{
	json_t *r = ask("{\"command\":\"net-mac\",\"card\":1,\"mac\":\"02:11:22:33:44:55\"}");
	cr_assert(reply_ok(r));
	uint8_t want[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
	cr_assert_eq(memcmp(vm.mac, want, 6), 0);
	json_decref(r);
	r = ask("{\"command\":\"net-mac\",\"card\":4,\"mac\":\"02:11:22:33:44:55\"}");
	cr_assert(strstr(reply_error(r), "card 4 is not one"));
	json_decref(r);
	const char *bad[] = {
	    "{\"command\":\"net-mac\",\"card\":0}",
	    "{\"command\":\"net-mac\",\"mac\":\"02:11:22:33:44:55\"}",
	    "{\"command\":\"net-mac\",\"card\":0,\"mac\":\"01:00:5e:00:00:01\"}",
	    "{\"command\":\"net-mac\",\"card\":0,\"mac\":\"02:11:22:33:44\"}",
	    "{\"command\":\"net-mac\",\"card\":0,\"mac\":\"02:11:22:33:44:55:66\"}",
	    "{\"command\":\"net-mac\",\"card\":0,\"mac\":\"02-11-22-33-44-55\"}",
	    "{\"command\":\"net-mac\",\"card\":0,\"mac\":\"0g:11:22:33:44:55\"}",
	    "{\"command\":\"net-mac\",\"card\":0,\"mac\":2}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = ask(bad[i]);
		cr_assert(strstr(reply_error(r), "\"mac\""), "%s", bad[i]);
		json_decref(r);
	}
	cr_assert_eq(vm.mac_calls, 1, "refused requests change no card");
}

Test(api_protocol, net_info_reports_addresses_and_frames_per_pair)
{
	json_t *r = ask("{\"command\":\"net-info\",\"card\":1}");
	cr_assert(reply_ok(r));
	cr_assert_str_eq(json_string_value(json_object_get(r, "mac")), "52:54:00:ab:cd:01");
	cr_assert_eq(json_integer_value(json_object_get(r, "active_pairs")), 2);
	json_t *rx = json_object_get(r, "rx_packets");
	cr_assert_eq(json_array_size(rx), 2);
	cr_assert_eq(json_integer_value(json_array_get(rx, 1)), 20);
	cr_assert_eq(json_integer_value(json_array_get(json_object_get(r, "tx_packets"), 0)), 3);
	cr_assert_eq(json_integer_value(json_object_get(r, "control_errors")), 1);
	json_decref(r);
	r = ask("{\"command\":\"net-info\",\"card\":7}");
	cr_assert(strstr(reply_error(r), "card 7 is not one"));
	json_decref(r);
	r = ask("{\"command\":\"net-info\"}");
	cr_assert(strstr(reply_error(r), "\"card\""));
	json_decref(r);
}

Test(api_protocol, screendump_takes_an_absolute_file_and_reports_the_size)
{
	json_t *r = ask("{\"command\":\"screendump\",\"file\":\"/tmp/shot.png\"}");
	cr_assert(reply_ok(r));
	cr_assert_eq(json_integer_value(json_object_get(r, "width")), 1024);
	cr_assert_eq(json_integer_value(json_object_get(r, "height")), 768);
	cr_assert_str_eq(vm.screendump_path, "/tmp/shot.png");
	json_decref(r);
	const char *bad[] = {"{\"command\":\"screendump\"}",
			     "{\"command\":\"screendump\",\"file\":\"shot.png\"}",
			     "{\"command\":\"screendump\",\"file\":7}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = ask(bad[i]);
		cr_assert(strstr(reply_error(r), "absolute path"), "%s", bad[i]);
		json_decref(r);
	}
	cr_assert_eq(vm.screendump_calls, 1, "refused before reaching the VM");
	vm.refuse = true;
	r = ask("{\"command\":\"screendump\",\"file\":\"/tmp/x.png\"}");
	cr_assert_str_eq(reply_error(r), "screendump: this VM has no display");
	json_decref(r);
}

Test(api_protocol, vm_errors_are_passed_on)
{
	vm.refuse = true;
	json_t *r = ask("{\"command\":\"balloon\",\"size\":\"1M\"}");
	cr_assert_str_eq(reply_error(r), "the VM is rebooting");
	json_decref(r);
	r = ask("{\"command\":\"balloon-info\"}");
	cr_assert_str_eq(reply_error(r), "this VM has no balloon device");
	json_decref(r);
}

Test(api_protocol, balloon_info_without_and_with_guest_statistics)
{
	vm.info = (struct balloon_info){
	    .target = 400ULL << 20, .actual = 100ULL << 20, .reported = 8ULL << 20};
	json_t *r = ask("{\"command\":\"balloon-info\"}");
	cr_assert(reply_ok(r));
	cr_assert_eq(json_integer_value(json_object_get(r, "target")), 400LL << 20);
	cr_assert_eq(json_integer_value(json_object_get(r, "actual")), 100LL << 20);
	cr_assert_eq(json_integer_value(json_object_get(r, "reported")), 8LL << 20);
	cr_assert(json_is_null(json_object_get(r, "stats")));
	json_decref(r);

	vm.info.stats_valid = true;
	vm.info.free_memory = 300ULL << 20;
	vm.info.total_memory = 480ULL << 20;
	vm.info.available_memory = 350ULL << 20;
	r = ask("{\"command\":\"balloon-info\"}");
	json_t *stats = json_object_get(r, "stats");
	cr_assert_eq(json_integer_value(json_object_get(stats, "free")), 300LL << 20);
	cr_assert_eq(json_integer_value(json_object_get(stats, "total")), 480LL << 20);
	cr_assert_eq(json_integer_value(json_object_get(stats, "available")), 350LL << 20);
	json_decref(r);
}

Test(api_protocol, status_lists_the_devices)
{
	json_t *r = ask("{\"command\":\"status\"}");
	cr_assert(reply_ok(r));
	cr_assert_str_eq(json_string_value(json_object_get(r, "state")), "running");
	cr_assert_str_eq(json_string_value(json_object_get(r, "accel")), "emu");
	cr_assert_eq(json_integer_value(json_object_get(r, "vcpus")), 2);
	cr_assert_eq(json_integer_value(json_object_get(r, "memory")), 512LL << 20);
	json_t *devices = json_object_get(r, "devices");
	cr_assert_eq(json_array_size(devices), 2);
	cr_assert_str_eq(json_string_value(json_array_get(devices, 1)), "virtio-balloon");
	json_decref(r);
}

Test(api_protocol, quit_stops_the_vm)
{
	json_t *r = ask("{\"command\":\"quit\"}");
	cr_assert(reply_ok(r));
	cr_assert_eq(vm.quit_calls, 1);
	json_decref(r);
}

Test(api_protocol, pause_and_resume_reach_the_vm_and_its_refusals_come_back)
{
	json_t *r = ask("{\"command\":\"resume\"}");
	cr_assert_str_eq(reply_error(r), "the VM is not paused");
	json_decref(r);
	r = ask("{\"command\":\"pause\"}");
	cr_assert(reply_ok(r));
	cr_assert(vm.paused);
	json_decref(r);
	r = ask("{\"command\":\"pause\"}");
	cr_assert_str_eq(reply_error(r), "the VM is already paused");
	json_decref(r);
	r = ask("{\"command\":\"resume\"}");
	cr_assert(reply_ok(r));
	cr_assert_not(vm.paused);
	json_decref(r);
}

Test(api_protocol, snapshot_takes_an_absolute_dir_and_reports_what_it_wrote)
{
	json_t *r = ask("{\"command\":\"snapshot\",\"dir\":\"/var/snap\"}");
	cr_assert(reply_ok(r));
	cr_assert_str_eq(vm.snapshot_dir, "/var/snap");
	cr_assert(vm.snapshot_resume, "a snapshot resumes the VM unless asked not to");
	cr_assert_eq(json_integer_value(json_object_get(r, "memory_bytes")), 4096);
	cr_assert_eq(json_integer_value(json_object_get(r, "state_bytes")), 100);
	cr_assert_eq(json_integer_value(json_object_get(r, "ms")), 12);
	cr_assert(json_is_false(json_object_get(r, "paused")));
	json_decref(r);
	r = ask("{\"command\":\"snapshot\",\"dir\":\"/var/snap\",\"resume\":false}");
	cr_assert(reply_ok(r));
	cr_assert_not(vm.snapshot_resume);
	cr_assert(json_is_true(json_object_get(r, "paused")));
	cr_assert_eq(json_array_size(json_object_get(r, "overlays")), 0);
	json_decref(r);
	r = ask("{\"command\":\"snapshot\",\"dir\":\"/var/snap\",\"disk_snapshot\":true}");
	cr_assert(reply_ok(r));
	json_t *overlays = json_object_get(r, "overlays");
	cr_assert_eq(json_array_size(overlays), 1, "one disk moved");
	cr_assert_str_eq(json_string_value(json_array_get(overlays, 0)), "/img/data.ovl1.qcow2");
	json_decref(r);
	cr_assert_eq(vm.snapshot_calls, 3);
}

Test(api_protocol, snapshot_requests_without_a_usable_dir_are_refused_before_the_vm)
{
	const char *bad[] = {
	    "{\"command\":\"snapshot\"}",
	    "{\"command\":\"snapshot\",\"dir\":\"relative/dir\"}",
	    "{\"command\":\"snapshot\",\"dir\":7}",
	    "{\"command\":\"snapshot\",\"dir\":\"/d\",\"resume\":\"yes\"}",
	    "{\"command\":\"snapshot\",\"dir\":\"/d\",\"disk_snapshot\":1}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *r = ask(bad[i]);
		cr_assert_not(reply_ok(r), "accepted: %s", bad[i]);
		cr_assert(strstr(reply_error(r), "snapshot: "), "%s", reply_error(r));
		json_decref(r);
	}
	cr_assert_eq(vm.snapshot_calls, 0);
	vm.refuse = true;
	json_t *r = ask("{\"command\":\"snapshot\",\"dir\":\"/d\"}");
	cr_assert_str_eq(reply_error(r), "snapshot: cannot create the directory");
	json_decref(r);
}

Test(api_protocol, migrate_takes_a_uri_and_a_downtime_and_reports_the_pause)
{
	json_t *r = ask("{\"command\":\"migrate\",\"uri\":\"unix:/run/m.sock\"}");
	cr_assert(reply_ok(r));
	cr_assert_eq(vm.migrate_downtime, API_DEFAULT_DOWNTIME_MS);
	cr_assert_eq(json_integer_value(json_object_get(r, "downtime_ms")), 40);
	cr_assert_eq(json_integer_value(json_object_get(r, "rounds")), 3);
	cr_assert(json_is_true(json_object_get(r, "precopy")));
	json_decref(r);
	cr_assert_not(vm.migrate_compress, "raw unless asked");
	r = ask("{\"command\":\"migrate\",\"uri\":\"tcp:h:1\",\"downtime_ms\":50,"
		"\"compress\":true}");
	cr_assert(reply_ok(r));
	cr_assert_eq(vm.migrate_downtime, 50);
	cr_assert(vm.migrate_compress);
	json_decref(r);
	const char *bad[] = {
	    "{\"command\":\"migrate\"}",
	    "{\"command\":\"migrate\",\"uri\":\"ftp:x\"}",
	    "{\"command\":\"migrate\",\"uri\":\"unix:/s\",\"downtime_ms\":0}",
	    "{\"command\":\"migrate\",\"uri\":\"unix:/s\",\"downtime_ms\":\"5\"}",
	    "{\"command\":\"migrate\",\"uri\":\"unix:/s\",\"compress\":\"yes\"}",
	    "{\"command\":\"migrate\",\"uri\":\"unix:/s\",\"max_bandwidth\":0}",
	    "{\"command\":\"migrate\",\"uri\":\"unix:/s\",\"max_bandwidth\":-5}",
	    "{\"command\":\"migrate\",\"uri\":\"unix:/s\",\"max_bandwidth\":\"1M\"}",
	    "{\"command\":\"migrate\",\"uri\":\"unix:/s\",\"auto_converge\":1}",
	    "{\"command\":\"migrate\",\"uri\":\"unix:/s\",\"postcopy\":\"on\"}",
	    "{\"command\":\"migrate\",\"uri\":\"unix:/s\",\"postcopy_after_rounds\":31}",
	    "{\"command\":\"migrate\",\"uri\":\"unix:/s\",\"postcopy_after_rounds\":-1}",
	    "{\"command\":\"migrate\",\"uri\":\"unix:/s\",\"postcopy_after_rounds\":1.5}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = ask(bad[i]);
		cr_assert_not(reply_ok(r), "accepted: %s", bad[i]);
		cr_assert(strstr(reply_error(r), "migrate: "), "%s", reply_error(r));
		json_decref(r);
	}
	cr_assert_eq(vm.migrate_calls, 2);
	cr_assert_eq(vm.migrate_bandwidth, 0, "no limit unless asked");
	r = ask("{\"command\":\"migrate\",\"uri\":\"unix:/s\",\"max_bandwidth\":16777216}");
	cr_assert(reply_ok(r));
	cr_assert_eq(vm.migrate_bandwidth, 16777216);
	cr_assert_not(vm.migrate_converge, "no throttling unless asked");
	json_decref(r);
	r = ask("{\"command\":\"migrate\",\"uri\":\"unix:/s\",\"auto_converge\":true}");
	cr_assert(reply_ok(r));
	cr_assert(vm.migrate_converge);
	cr_assert_eq(json_integer_value(json_object_get(r, "throttle_pct")), 40);
	cr_assert(json_is_false(json_object_get(r, "postcopy")), "no post-copy unless asked");
	cr_assert_not(vm.migrate_postcopy);
	json_decref(r);
	r = ask("{\"command\":\"migrate\",\"uri\":\"unix:/s\",\"postcopy\":true}");
	cr_assert(reply_ok(r));
	cr_assert(vm.migrate_postcopy);
	cr_assert_eq(vm.migrate_postcopy_after, 5, "5 pre-copy rounds unless told");
	cr_assert(json_is_true(json_object_get(r, "postcopy")));
	cr_assert_eq(json_integer_value(json_object_get(r, "postcopy_pages")), 5000);
	cr_assert_eq(json_integer_value(json_object_get(r, "postcopy_requested")), 12);
	cr_assert_eq(json_integer_value(json_object_get(r, "postcopy_recoveries")), 2);
	cr_assert_eq(json_integer_value(json_object_get(r, "postcopy_ms")), 700);
	json_decref(r);
	r = ask("{\"command\":\"migrate\",\"uri\":\"unix:/s\",\"postcopy\":true,"
		"\"postcopy_after_rounds\":0}");
	cr_assert(reply_ok(r));
	cr_assert_eq(vm.migrate_postcopy_after, 0);
	json_decref(r);
}

Test(api_protocol, migrate_status_and_cancel)
{
	json_t *r = ask("{\"command\":\"migrate-status\"}");
	cr_assert(reply_ok(r));
	cr_assert_str_eq(json_string_value(json_object_get(r, "state")), "active");
	cr_assert_eq(json_integer_value(json_object_get(r, "transferred_bytes")), 123456);
	cr_assert_eq(json_integer_value(json_object_get(r, "expected_downtime_ms")), 17);
	cr_assert(json_is_false(json_object_get(r, "paused")));
	cr_assert(json_is_false(json_object_get(r, "postcopy_reconnecting")));
	json_decref(r);
	r = ask("{\"command\":\"migrate-cancel\"}");
	cr_assert(reply_ok(r));
	cr_assert_eq(vm.cancel_calls, 1);
	json_decref(r);
	r = ask("{\"command\":\"migrate-reconnect\"}");
	cr_assert(reply_ok(r));
	cr_assert_eq(vm.reconnect_calls, 1);
	json_decref(r);
	vm.refuse = true;
	r = ask("{\"command\":\"migrate-cancel\"}");
	cr_assert_str_eq(reply_error(r), "no migration is under way");
	json_decref(r);
	r = ask("{\"command\":\"migrate-reconnect\"}");
	cr_assert_str_eq(reply_error(r), "no post-copy is under way");
	json_decref(r);
	static const char *const long_one = "{\"command\":\"migrate\",\"uri\":\"unix:/s\"}";
	static const char *const short_ones[] = {"{\"command\":\"migrate-status\"}",
						 "{\"command\":", "[\"migrate\"]"};
	cr_assert(api_request_runs_long(long_one, strlen(long_one)));
	for (size_t i = 0; i < sizeof(short_ones) / sizeof(short_ones[0]); i++)
		cr_assert_not(api_request_runs_long(short_ones[i], strlen(short_ones[i])), "%s",
			      short_ones[i]);
}

Test(api_protocol, malformed_requests_get_error_replies)
{
	const char *bad[] = {
	    "",
	    "{",
	    "not json",
	    "[\"status\"]",
	    "\"status\"",
	    "42",
	    "{\"command\":7}",
	    "{}",
	    "{\"command\":\"reboot-the-moon\"}",
	    "{\"command\":\"status\",\"command\":\"quit\"}",
	    "{\"command\":\"status\"} trailing",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *r = ask(bad[i]);
		reply_error(r);
		json_decref(r);
	}
	cr_assert_eq(vm.quit_calls, 0);
	cr_assert_eq(vm.balloon_calls, 0);
}

Test(api_protocol, binary_garbage_is_an_error_not_a_crash)
{
	char garbage[512];
	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (char)(i * 37 + 11);
	char *text = api_handle_request(&ops, garbage, sizeof(garbage));
	cr_assert(strstr(text, "\"ok\":false"));
	free(text);
}

/* --- the socket server --------------------------------------------------------------- */

static struct event_loop loop;
static struct api_server *server;
static char socket_path[108];

static void server_setup(void)
{
	reset_vm();
	snprintf(socket_path, sizeof(socket_path), "/tmp/gureum-test-api-%d.sock", getpid());
	unlink(socket_path);
	cr_assert_eq(event_loop_init(&loop), 0);
	cr_assert_eq(event_loop_start(&loop), 0);
	server = NULL;
}

static void server_teardown(void)
{
	event_loop_stop(&loop);
	api_server_close(server);
	event_loop_destroy(&loop);
	unlink(socket_path);
}

static struct api_server *open_server(char *err, size_t err_len)
{
	return api_server_open(socket_path, &loop, &ops, err, err_len);
}

static int connect_client(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	strcpy(addr.sun_path, socket_path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0, "connect: %s",
		     strerror(errno));
	struct timeval timeout = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	return fd;
}

static void send_text(int fd, const char *text)
{
	cr_assert_eq(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

/* Reads one reply line (without the newline) into buf. */
static void read_line(int fd, char *buf, size_t size)
{
	size_t len = 0;
	while (len < size - 1) {
		ssize_t n = recv(fd, buf + len, 1, 0);
		cr_assert_eq(n, 1, "no complete reply line (got \"%.*s\")", (int)len, buf);
		if (buf[len] == '\n')
			break;
		len++;
	}
	buf[len] = '\0';
}

TestSuite(api_server, .init = server_setup, .fini = server_teardown);

Test(api_server, answers_each_line_of_several_clients)
{
	char err[256] = "", line[512];
	server = open_server(err, sizeof(err));
	cr_assert_not_null(server, "%s", err);
	int a = connect_client(), b = connect_client();
	send_text(a, "{\"command\":\"balloon\",");		  /* half a request ... */
	send_text(b, "{\"command\":\"status\"}\n{\"command\"\n"); /* two, pipelined */
	read_line(b, line, sizeof(line));
	cr_assert(strstr(line, "\"state\":\"running\""), "%s", line);
	read_line(b, line, sizeof(line));
	cr_assert(strstr(line, "\"ok\":false"), "%s", line);
	send_text(a, "\"size\":\"64M\"}\r\n"); /* ... and the rest, with CR LF */
	read_line(a, line, sizeof(line));
	cr_assert_str_eq(line, "{\"ok\":true}");
	cr_assert_eq(vm.balloon_bytes, 64ULL << 20);
	close(a);
	close(b);
}

/* A migration takes its time on a thread of its own: meanwhile other clients are answered, and
 * its own reply comes when it ends. */
Test(api_server, a_migration_does_not_hold_up_other_requests)
{
	char err[256] = "", line[512];
	server = open_server(err, sizeof(err));
	cr_assert_not_null(server, "%s", err);
	vm.hold_migrate = true;
	int a = connect_client(), b = connect_client();
	send_text(a, "{\"command\":\"migrate\",\"uri\":\"unix:/run/m.sock\"}\n");
	send_text(b, "{\"command\":\"migrate-status\"}\n");
	read_line(b, line, sizeof(line));
	cr_assert(strstr(line, "\"state\":\"active\""), "%s", line);
	send_text(b, "{\"command\":\"status\"}\n");
	read_line(b, line, sizeof(line));
	cr_assert(strstr(line, "\"ok\":true"), "%s", line);
	cr_assert_eq(vm.migrate_calls, 0, "the migration is still held");
	release_migrate(&vm);
	read_line(a, line, sizeof(line));
	cr_assert(strstr(line, "\"rounds\":3"), "%s", line);
	cr_assert_eq(vm.migrate_calls, 1);
	close(a);
	close(b);
}

Test(api_server, an_overlong_line_is_refused_and_the_server_lives_on)
{
	char err[256] = "", line[512];
	server = open_server(err, sizeof(err));
	cr_assert_not_null(server, "%s", err);
	int fd = connect_client();
	char big[API_MAX_LINE + 100];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	send(fd, big, strlen(big), MSG_NOSIGNAL);
	read_line(fd, line, sizeof(line));
	cr_assert(strstr(line, "too long"), "%s", line);
	close(fd);
	fd = connect_client();
	send_text(fd, "{\"command\":\"quit\"}\n");
	read_line(fd, line, sizeof(line));
	cr_assert_str_eq(line, "{\"ok\":true}");
	cr_assert_eq(vm.quit_calls, 1);
	close(fd);
}

Test(api_server, more_clients_than_slots_get_an_error)
{
	char err[256] = "", line[512];
	server = open_server(err, sizeof(err));
	cr_assert_not_null(server, "%s", err);
	int fds[API_MAX_CLIENTS + 1];
	for (int i = 0; i < API_MAX_CLIENTS; i++) {
		fds[i] = connect_client();
		send_text(fds[i], "{\"command\":\"status\"}\n");
		read_line(fds[i], line, sizeof(line));
	}
	fds[API_MAX_CLIENTS] = connect_client();
	read_line(fds[API_MAX_CLIENTS], line, sizeof(line));
	cr_assert(strstr(line, "too many"), "%s", line);
	for (int i = 0; i <= API_MAX_CLIENTS; i++)
		close(fds[i]);
}

Test(api_server, close_removes_the_socket_file)
{
	char err[256] = "";
	server = open_server(err, sizeof(err));
	cr_assert_not_null(server, "%s", err);
	struct stat st;
	cr_assert_eq(stat(socket_path, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	event_loop_stop(&loop);
	api_server_close(server);
	server = NULL;
	cr_assert_eq(stat(socket_path, &st), -1, "the socket file is gone after close");
}

Test(api_server, a_stale_socket_file_is_replaced)
{
	/* What a killed VMM leaves behind: a bound socket file nobody listens on. */
	int stale = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	strcpy(addr.sun_path, socket_path);
	cr_assert_eq(bind(stale, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(stale);
	char err[256] = "", line[512];
	server = open_server(err, sizeof(err));
	cr_assert_not_null(server, "%s", err);
	int fd = connect_client();
	send_text(fd, "{\"command\":\"status\"}\n");
	read_line(fd, line, sizeof(line));
	cr_assert(strstr(line, "\"ok\":true"), "%s", line);
	close(fd);
}

Test(api_server, a_live_socket_is_not_taken_over)
{
	char err[256] = "";
	server = open_server(err, sizeof(err));
	cr_assert_not_null(server, "%s", err);
	struct api_server *second = open_server(err, sizeof(err));
	cr_assert_null(second);
	cr_assert(strstr(err, "another VMM is listening"), "%s", err);
	cr_assert(strstr(err, socket_path), "the error names the path: %s", err);
	/* The first server still answers. */
	char line[512];
	int fd = connect_client();
	send_text(fd, "{\"command\":\"status\"}\n");
	read_line(fd, line, sizeof(line));
	cr_assert(strstr(line, "\"ok\":true"), "%s", line);
	close(fd);
}

Test(api_server, a_regular_file_is_never_removed)
{
	FILE *f = fopen(socket_path, "w");
	cr_assert_not_null(f);
	fputs("precious", f);
	fclose(f);
	char err[256] = "";
	server = open_server(err, sizeof(err));
	cr_assert_null(server);
	cr_assert(strstr(err, "not a socket"), "%s", err);
	struct stat st;
	cr_assert_eq(stat(socket_path, &st), 0);
	cr_assert(S_ISREG(st.st_mode));
}

Test(api_server, a_path_too_long_is_explained)
{
	char path[300];
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	char err[512] = "";
	cr_assert_null(api_server_open(path, &loop, &ops, err, sizeof(err)));
	cr_assert(strstr(err, "too long"), "%s", err);
}

Test(api_protocol, disk_limit_takes_a_disk_and_the_limits_given)
{
	json_t *r = ask("{\"command\":\"disk-limit\",\"disk\":0,\"bps\":\"8M\",\"iops\":500}");
	cr_assert(reply_ok(r));
	cr_assert_eq(last_limit.index, 0);
	cr_assert_eq(last_limit.given, API_LIMIT_BPS | API_LIMIT_IOPS);
	cr_assert_eq(last_limit.limits.bps, 8u << 20);
	cr_assert_eq(last_limit.limits.iops, 500);
	cr_assert_eq(json_integer_value(json_object_get(r, "disk")), 0);
	cr_assert_eq(json_integer_value(json_object_get(r, "bps")), 8 << 20);
	cr_assert_eq(json_integer_value(json_object_get(r, "bps_burst")), 8 << 20);
	cr_assert_eq(json_integer_value(json_object_get(r, "iops")), 500);
	json_decref(r);
	r = ask("{\"command\":\"disk-limit\",\"disk\":\"data\",\"bps_burst\":4096,"
		"\"iops_burst\":\"7\"}");
	cr_assert(reply_ok(r));
	cr_assert_eq(json_integer_value(json_object_get(r, "disk")), 1);
	cr_assert_eq(last_limit.given, API_LIMIT_BPS_BURST | API_LIMIT_IOPS_BURST);
	cr_assert_eq(last_limit.limits.iops_burst, 7);
	json_decref(r);
	r = ask("{\"command\":\"disk-limit\",\"disk\":1}");
	cr_assert(reply_ok(r));
	cr_assert_eq(last_limit.given, 0, "no field given: a question");
	json_decref(r);
}

Test(api_protocol, disk_limit_refuses_bad_requests_naming_the_field)
{
	const char *bad[][2] = {
	    {"{\"command\":\"disk-limit\",\"bps\":1}", "\"disk\""},
	    {"{\"command\":\"disk-limit\",\"disk\":-1}", "\"disk\""},
	    {"{\"command\":\"disk-limit\",\"disk\":true}", "\"disk\""},
	    {"{\"command\":\"disk-limit\",\"disk\":5}", "2 disks"},
	    {"{\"command\":\"disk-limit\",\"disk\":\"nope\"}", "2 disks"},
	    {"{\"command\":\"disk-limit\",\"disk\":0,\"bps\":-5}", "\"bps\" must be bytes"},
	    {"{\"command\":\"disk-limit\",\"disk\":0,\"bps\":\"fast\"}", "\"bps\""},
	    {"{\"command\":\"disk-limit\",\"disk\":0,\"bps\":1.5}", "\"bps\""},
	    {"{\"command\":\"disk-limit\",\"disk\":0,\"bps\":2251799813685248}", "2^50"},
	    {"{\"command\":\"disk-limit\",\"disk\":0,\"iops\":\"1K\"}",
	     "\"iops\" must be requests"},
	    {"{\"command\":\"disk-limit\",\"disk\":0,\"iops_burst\":null}", "\"iops_burst\""},
	    {"{\"command\":\"disk-limit\",\"disk\":0,\"bandwidth\":1}",
	     "unknown field \"bandwidth\""},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&last_limit, 0, sizeof(last_limit));
		json_t *r = ask(bad[i][0]);
		cr_assert(strstr(reply_error(r), bad[i][1]), "%s: %s", bad[i][0], reply_error(r));
		json_decref(r);
	}
}

Test(api_protocol, disk_limits_merge_keeps_what_is_not_given)
{
	struct disk_limits old = {.bps = 100, .bps_burst = 50, .iops = 10, .iops_burst = 2}, out;
	char err[256] = "";
	struct api_disk_limit req = {.given = API_LIMIT_IOPS, .limits = {.iops = 20}};
	cr_assert_eq(api_disk_limits_merge(&old, &req, &out, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(out.bps, 100);
	cr_assert_eq(out.bps_burst, 50, "untouched");
	cr_assert_eq(out.iops, 20);
	cr_assert_eq(out.iops_burst, 0, "a new rate takes the default burst");
	req = (struct api_disk_limit){.given = API_LIMIT_BPS_BURST, .limits = {.bps_burst = 7}};
	cr_assert_eq(api_disk_limits_merge(&old, &req, &out, err, sizeof(err)), 0);
	cr_assert_eq(out.bps, 100);
	cr_assert_eq(out.bps_burst, 7);
	cr_assert_eq(out.iops_burst, 2);
	req = (struct api_disk_limit){.given = API_LIMIT_BPS, .limits = {.bps = 0}};
	cr_assert_eq(api_disk_limits_merge(&old, &req, &out, err, sizeof(err)), 0);
	cr_assert_eq(out.bps, 0, "0 lifts the limit");
	cr_assert_eq(out.bps_burst, 0, "and its burst");
	req = (struct api_disk_limit){.given = API_LIMIT_BPS | API_LIMIT_BPS_BURST,
				      .limits = {.bps_burst = 9}};
	cr_assert_eq(api_disk_limits_merge(&old, &req, &out, err, sizeof(err)), -1);
	cr_assert(strstr(err, "a burst needs its rate"), "%s", err);
	struct disk_limits none = {0};
	req = (struct api_disk_limit){.given = API_LIMIT_IOPS_BURST, .limits = {.iops_burst = 3}};
	cr_assert_eq(api_disk_limits_merge(&none, &req, &out, err, sizeof(err)), -1);
	cr_assert(strstr(err, "\"iops\" is 0"), "%s", err);
}
