/* The control API's commands (api_protocol.h: a JSON request object, a JSON reply) against a
 * fake VM. The HTTP server around them is test_api_server.c's. */
#include "api_fake_vm.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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
	    /* what sscanf's %x alone took: a sign, a space */
	    "{\"command\":\"net-mac\",\"card\":0,\"mac\":\"+2:54:00:12:34:56\"}",
	    "{\"command\":\"net-mac\",\"card\":0,\"mac\":\"52:54:00:12:34:-6\"}",
	    "{\"command\":\"net-mac\",\"card\":0,\"mac\":\" 2:54:00:12:34:56\"}",
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

static long long counter(const json_t *object, const char *key)
{
	const json_t *value = json_object_get(object, key);
	cr_assert(json_is_integer(value), "\"%s\" is an integer", key);
	return (long long)json_integer_value(value);
}

Test(api_protocol, counters_per_vcpu_and_per_device)
{
	json_t *r = ask("{\"command\":\"counters\"}");
	cr_assert(reply_ok(r));
	cr_assert_eq(counter(r, "boots"), 1);
	const json_t *vcpus = json_object_get(r, "vcpus");
	cr_assert_eq(json_array_size(vcpus), 2);
	const json_t *v1 = json_array_get(vcpus, 1);
	cr_assert_eq(counter(v1, "index"), 1);
	const json_t *exits = json_object_get(v1, "exits");
	cr_assert_eq(counter(exits, "io"), 101);
	cr_assert_eq(counter(exits, "hlt"), 7);
	cr_assert_eq(counter(exits, "mmio"), 0, "every kind is there, even at 0");
	cr_assert_eq(counter(exits, "interrupted"), 0);
	cr_assert_eq(counter(exits, "other"), 0);
	cr_assert_eq(counter(json_object_get(v1, "accel"), "exits"), 1000);
	const json_t *devices = json_object_get(r, "devices");
	cr_assert_eq(json_array_size(devices), 3);
	const json_t *blk = json_array_get(devices, 0);
	cr_assert_str_eq(json_string_value(json_object_get(blk, "name")), "virtio-blk0");
	cr_assert_eq(counter(blk, "kicks"), 5);
	cr_assert_eq(counter(json_object_get(blk, "blk"), "read_bytes"), 4096);
	cr_assert_eq(counter(json_object_get(blk, "blk"), "errors"), 1);
	cr_assert_eq(counter(json_object_get(blk, "blk"), "flush_requests"), 0);
	cr_assert_null(json_object_get(blk, "net"));
	const json_t *net = json_object_get(json_array_get(devices, 1), "net");
	cr_assert_eq(counter(net, "rx_bytes"), 1500);
	cr_assert_eq(counter(net, "tx_packets"), 0);
	const json_t *rng = json_array_get(devices, 2);
	cr_assert_null(json_object_get(rng, "blk"), "a device of another kind: notifications only");
	cr_assert_null(json_object_get(rng, "net"));
	cr_assert_eq(counter(rng, "interrupts"), 0);
	json_decref(r);
}

Test(api_protocol, counters_between_two_boots_are_refused)
{
	vm.refuse = true;
	json_t *r = ask("{\"command\":\"counters\"}");
	cr_assert(strstr(reply_error(r), "between two boots"));
	cr_assert(json_is_true(json_object_get(r, "refused")),
		  "a 409: the VM's state, not the request");
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
	cr_assert_str_eq(json_string_value(json_object_get(r, "name")), "web-1");
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

Test(api_protocol, reset_asks_the_vm_once)
{
	json_t *r = ask("{\"command\":\"reset\"}");
	cr_assert(reply_ok(r));
	cr_assert_eq(vm.reset_calls, 1);
	cr_assert_eq(vm.quit_calls, 0, "a reset is not a stop");
	json_decref(r);
}

Test(api_protocol, power_button_presses_unless_paused)
{
	json_t *r = ask("{\"command\":\"power-button\"}");
	cr_assert(reply_ok(r));
	cr_assert_eq(vm.power_button_presses, 1);
	json_decref(r);
	vm.paused = true;
	r = ask("{\"command\":\"power-button\"}");
	cr_assert_str_eq(reply_error(r), "the VM is paused: resume it first");
	cr_assert(json_is_true(json_object_get(r, "refused")), "a refusal, not a bad request");
	cr_assert_eq(vm.power_button_presses, 1);
	json_decref(r);
}

Test(api_protocol, vcpus_takes_a_count_and_reports_how_they_stand)
{
	vm.vcpus = 1;
	vm.max_vcpus = 4;
	json_t *r = ask("{\"command\":\"vcpus\",\"count\":3}");
	cr_assert(reply_ok(r));
	cr_assert_eq(vm.vcpus, 3);
	json_decref(r);
	r = ask("{\"command\":\"vcpus-info\"}");
	cr_assert(reply_ok(r));
	cr_assert_eq(json_integer_value(json_object_get(r, "present")), 3);
	cr_assert_eq(json_integer_value(json_object_get(r, "max")), 4);
	cr_assert_eq(json_integer_value(json_object_get(r, "removing")), 0);
	json_decref(r);
	r = ask("{\"command\":\"vcpus\",\"count\":5}");
	cr_assert(json_is_true(json_object_get(r, "refused")), "beyond max: the VM refuses");
	cr_assert_eq(vm.vcpus, 3);
	json_decref(r);
	const char *bad[] = {"{\"command\":\"vcpus\"}", "{\"command\":\"vcpus\",\"count\":0}",
			     "{\"command\":\"vcpus\",\"count\":256}",
			     "{\"command\":\"vcpus\",\"count\":\"2\"}",
			     "{\"command\":\"vcpus\",\"count\":2.5}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = ask(bad[i]);
		cr_assert_not(reply_ok(r), "%s", bad[i]);
		cr_assert_not(json_is_true(json_object_get(r, "refused")), "%s: a bad request",
			      bad[i]);
		json_decref(r);
	}
	cr_assert_eq(vm.vcpus, 3, "bad requests change nothing");
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

/* The HTTP layer answers 409 for what the VM refused and 400 for a request it never saw. */
Test(api_protocol, the_vm_refusing_is_told_apart_from_a_bad_request)
{
	json_t *r = ask("{\"command\":\"balloon\",\"size\":\"lots\"}");
	reply_error(r);
	cr_assert_null(json_object_get(r, "refused"), "a bad size never reached the VM");
	json_decref(r);
	vm.refuse = true;
	r = ask("{\"command\":\"balloon\",\"size\":\"64M\"}");
	reply_error(r);
	cr_assert(json_is_true(json_object_get(r, "refused")));
	json_decref(r);
	vm.paused = true;
	r = ask("{\"command\":\"pause\"}");
	cr_assert(json_is_true(json_object_get(r, "refused")), "already paused");
	json_decref(r);
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
	     "unknown field \"bandwidth\" (known: disk, bps, bps_burst, iops, iops_burst)"},
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
	struct io_limits old = {.bps = 100, .bps_burst = 50, .iops = 10, .iops_burst = 2}, out;
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
	struct io_limits none = {0};
	req = (struct api_disk_limit){.given = API_LIMIT_IOPS_BURST, .limits = {.iops_burst = 3}};
	cr_assert_eq(api_disk_limits_merge(&none, &req, &out, err, sizeof(err)), -1);
	cr_assert(strstr(err, "\"iops\" is 0"), "%s", err);
}

Test(api_protocol, net_limit_takes_a_card_and_the_limits_per_direction)
{
	json_t *r = ask("{\"command\":\"net-limit\",\"card\":1,\"rx_bps\":\"1M\","
			"\"tx_pps\":\"500\",\"tx_pps_burst\":20}");
	cr_assert(reply_ok(r), "%s", reply_error(r));
	cr_assert_eq(last_net_limit.card, 1);
	cr_assert_eq(last_net_limit.given, API_LIMIT_BPS | (API_LIMIT_IOPS | API_LIMIT_IOPS_BURST)
							       << API_LIMIT_TX_SHIFT);
	cr_assert_eq(last_net_limit.limits[0].bps, 1u << 20);
	cr_assert_eq(last_net_limit.limits[1].iops, 500);
	cr_assert_eq(json_integer_value(json_object_get(r, "card")), 1);
	cr_assert_eq(json_integer_value(json_object_get(r, "rx_bps_burst")), 1 << 20);
	cr_assert_eq(json_integer_value(json_object_get(r, "tx_pps_burst")), 20);
	cr_assert_eq(json_integer_value(json_object_get(r, "tx_bps")), 0);
	json_decref(r);
	const char *bad[][2] = {
	    {"{\"command\":\"net-limit\",\"rx_bps\":1}", "\"card\""},
	    {"{\"command\":\"net-limit\",\"card\":256}", "\"card\""},
	    {"{\"command\":\"net-limit\",\"card\":2}", "2 network cards"},
	    {"{\"command\":\"net-limit\",\"card\":0,\"rx_pps\":\"1K\"}",
	     "\"rx_pps\" must be frames"},
	    {"{\"command\":\"net-limit\",\"card\":0,\"tx_bps\":-1}", "\"tx_bps\" must be bytes"},
	    {"{\"command\":\"net-limit\",\"card\":0,\"bps\":1}",
	     "unknown field \"bps\" (known: card, rx_bps, rx_bps_burst, rx_pps, rx_pps_burst, "
	     "tx_bps, tx_bps_burst, tx_pps, tx_pps_burst)"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = ask(bad[i][0]);
		cr_assert(strstr(reply_error(r), bad[i][1]), "%s: %s", bad[i][0], reply_error(r));
		json_decref(r);
	}
}

Test(api_protocol, net_limits_merge_each_direction_on_its_own)
{
	const struct io_limits old[2] = {{.bps = 100, .bps_burst = 50},
					 {.iops = 10, .iops_burst = 2}};
	struct io_limits out[2];
	char err[256] = "";
	struct api_net_limit req = {.given = API_LIMIT_BPS << API_LIMIT_TX_SHIFT,
				    .limits = {{0}, {.bps = 7}}};
	cr_assert_eq(api_net_limits_merge(old, &req, out, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(out[0].bps, 100, "rx untouched");
	cr_assert_eq(out[0].bps_burst, 50);
	cr_assert_eq(out[1].bps, 7);
	cr_assert_eq(out[1].iops, 10, "tx's frame limit untouched");
	req = (struct api_net_limit){.given = API_LIMIT_BPS, .limits = {{.bps = 0}}};
	cr_assert_eq(api_net_limits_merge(old, &req, out, err, sizeof(err)), 0);
	cr_assert_eq(out[0].bps_burst, 0, "0 lifts rx's limit and its burst");
	req = (struct api_net_limit){.given = API_LIMIT_IOPS << API_LIMIT_TX_SHIFT,
				     .limits = {{0}, {.iops = 0}}};
	cr_assert_eq(api_net_limits_merge(old, &req, out, err, sizeof(err)), 0);
	req = (struct api_net_limit){.given = API_LIMIT_IOPS_BURST, .limits = {{.iops_burst = 3}}};
	cr_assert_eq(api_net_limits_merge(old, &req, out, err, sizeof(err)), -1);
	cr_assert(strstr(err, "\"rx_pps\" is 0"), "%s", err);
}

Test(api_protocol, disks_are_added_listed_and_asked_to_go)
{
	json_t *r = ask("{\"command\":\"disk-add\",\"path\":\"/img/data.qcow2\",\"readonly\":true,"
			"\"serial\":\"data\",\"format\":\"qcow2\",\"cache\":\"none\"}");
	cr_assert(reply_ok(r));
	json_t *disk = json_object_get(r, "disk");
	cr_assert_str_eq(json_string_value(json_object_get(disk, "path")), "/img/data.qcow2");
	cr_assert(json_is_true(json_object_get(disk, "readonly")));
	cr_assert_eq(json_integer_value(json_object_get(disk, "slot")), 1);
	json_decref(r);
	r = ask("{\"command\":\"disks\"}");
	cr_assert(reply_ok(r));
	json_t *disks = json_object_get(r, "disks");
	cr_assert_eq(json_array_size(disks), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(disks, 0), "state")),
			 "attached");
	json_decref(r);
	r = ask("{\"command\":\"disk-remove\",\"disk\":0}");
	cr_assert(reply_ok(r));
	cr_assert_eq(vm.removed_disk, 0);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "disk"), "state")),
			 "removing");
	json_decref(r);
}

Test(api_protocol, bad_disk_hotplug_requests_are_refused_before_the_vm)
{
	const char *bad[][2] = {
	    {"{\"command\":\"disk-add\"}", "\"path\""},
	    {"{\"command\":\"disk-add\",\"path\":\"relative.img\"}", "absolute"},
	    {"{\"command\":\"disk-add\",\"path\":\"/a,b\"}", "without commas"},
	    {"{\"command\":\"disk-add\",\"path\":7}", "\"path\""},
	    {"{\"command\":\"disk-add\",\"path\":\"/a\",\"serial\":\"\"}", "\"serial\""},
	    {"{\"command\":\"disk-add\",\"path\":\"/a\",\"format\":\"raw,slot=3\"}", "\"format\""},
	    {"{\"command\":\"disk-add\",\"path\":\"/a\",\"format\":\"vmdk\"}", "\"format\""},
	    {"{\"command\":\"disk-add\",\"path\":\"/a\",\"cache\":\"unsafe\"}", "\"cache\""},
	    {"{\"command\":\"disk-add\",\"path\":\"/a\",\"serial\":\"123456789012345678901\"}",
	     "20 bytes"},
	    {"{\"command\":\"disk-add\",\"path\":\"/a\",\"readonly\":\"yes\"}", "\"readonly\""},
	    {"{\"command\":\"disk-remove\"}", "\"disk\""},
	    {"{\"command\":\"disk-remove\",\"disk\":-2}", "\"disk\""},
	    {"{\"command\":\"disk-remove\",\"disk\":[0]}", "\"disk\""},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *r = ask(bad[i][0]);
		cr_assert(strstr(reply_error(r), bad[i][1]), "%s: %s", bad[i][0], reply_error(r));
		cr_assert_null(vm.disk_paths[0], "%s reached the VM", bad[i][0]);
		json_decref(r);
	}
	json_t *r = ask("{\"command\":\"disk-remove\",\"disk\":3}");
	cr_assert(json_is_true(json_object_get(r, "refused")), "no such disk: the VM says so");
	json_decref(r);
}

Test(api_protocol, cards_are_added_from_a_net_setting_and_asked_to_go)
{
	json_t *r = ask("{\"command\":\"nic-add\",\"net\":\"user,hostfwd=tcp::2222-:22\"}");
	cr_assert(reply_ok(r));
	cr_assert_str_eq(vm.nic_settings[0], "user,hostfwd=tcp::2222-:22");
	json_t *nic = json_object_get(r, "nic");
	cr_assert_eq(json_integer_value(json_object_get(nic, "slot")), 5);
	cr_assert_str_eq(json_string_value(json_object_get(nic, "state")), "inserting");
	json_decref(r);
	r = ask("{\"command\":\"nics\"}");
	cr_assert_eq(json_array_size(json_object_get(r, "nics")), 1);
	cr_assert_str_eq(json_string_value(
			     json_object_get(json_array_get(json_object_get(r, "nics"), 0), "mac")),
			 "52:54:00:00:00:00");
	json_decref(r);
	r = ask("{\"command\":\"nic-remove\",\"card\":0}");
	cr_assert(reply_ok(r));
	cr_assert_eq(vm.removed_nic, 0);
	json_decref(r);
	const char *bad[] = {"{\"command\":\"nic-add\"}",
			     "{\"command\":\"nic-add\",\"net\":\"\"}",
			     "{\"command\":\"nic-add\",\"net\":5}",
			     "{\"command\":\"nic-add\",\"net\":\"user\\u0000x\"}",
			     "{\"command\":\"nic-remove\",\"card\":-1}",
			     "{\"command\":\"nic-remove\",\"card\":\"0\"}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = ask(bad[i]);
		cr_assert_not(reply_ok(r), "%s", bad[i]);
		cr_assert_null(json_object_get(r, "refused"), "%s reached the VM", bad[i]);
		json_decref(r);
	}
	cr_assert_eq(vm.nr_nics_added, 1);
	r = ask("{\"command\":\"nic-remove\",\"card\":3}");
	cr_assert(json_is_true(json_object_get(r, "refused")));
	json_decref(r);
}

Test(api_protocol, memory_takes_a_total_and_reports_how_it_stands)
{
	json_t *r = ask("{\"command\":\"memory\",\"size\":\"1G\"}");
	cr_assert(reply_ok(r));
	cr_assert_eq(vm.memory_total, 1u << 30);
	json_decref(r);
	r = ask("{\"command\":\"memory-info\"}");
	cr_assert_eq(json_integer_value(json_object_get(r, "requested")), 512 << 20);
	cr_assert_eq(json_integer_value(json_object_get(r, "boot")), 512 << 20);
	json_decref(r);
	r = ask("{\"command\":\"memory\",\"size\":\"256M\"}");
	cr_assert(json_is_true(json_object_get(r, "refused")));
	json_decref(r);
	const char *bad[] = {"{\"command\":\"memory\"}", "{\"command\":\"memory\",\"size\":-1}",
			     "{\"command\":\"memory\",\"size\":\"lots\"}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = ask(bad[i]);
		cr_assert_not(reply_ok(r), "%s", bad[i]);
		cr_assert_null(json_object_get(r, "refused"), "%s reached the VM", bad[i]);
		json_decref(r);
	}
	cr_assert_eq(vm.memory_total, 1u << 30);
}
