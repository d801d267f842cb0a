/* The device options of gureum run (--disk, --net, --rng, --balloon, --console-device,
 * --api-socket): what a user types becomes the right configuration, and every mistake is
 * refused with a message naming the option. */
#include "run_args_harness.h"
#include "virtio/virtio_devices.h"
#include "vmm/config_devices.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

Test(device_options, disks_keep_their_order_and_properties)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--disk", "/a.img", "--disk",
			   "/b.qcow2,readonly=on,serial=SN-42,format=qcow2,cache=none"),
		     RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.nr_disks, 2);
	cr_assert_str_eq(c.disks[0].path, "/a.img");
	cr_assert_not(c.disks[0].readonly);
	cr_assert_null(c.disks[0].format);
	cr_assert_str_eq(c.disks[0].serial, "");
	cr_assert_str_eq(c.disks[1].path, "/b.qcow2");
	cr_assert(c.disks[1].readonly);
	cr_assert(c.disks[1].direct);
	cr_assert_str_eq(c.disks[1].format, "qcow2");
	cr_assert_str_eq(c.disks[1].serial, "SN-42");
	config_free(&c);
}

Test(device_options, disks_take_io_limits_with_size_suffixes)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--disk", "/a.img,bps=8M,bps-burst=512K,iops=200,iops-burst=20",
			   "--disk", "/b.img,iops=1000", "--disk", "/c.img,bps=0"),
		     RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.disks[0].limits.bps, 8u << 20);
	cr_assert_eq(c.disks[0].limits.bps_burst, 512u << 10);
	cr_assert_eq(c.disks[0].limits.iops, 200);
	cr_assert_eq(c.disks[0].limits.iops_burst, 20);
	cr_assert_eq(c.disks[1].limits.bps, 0, "no bandwidth limit unless bps= says one");
	cr_assert_eq(c.disks[1].limits.iops, 1000);
	cr_assert_eq(c.disks[1].limits.iops_burst, 0, "0: one second's worth");
	cr_assert_eq(c.disks[2].limits.bps, 0, "bps=0 is no limit");
	config_free(&c);
}

Test(device_options, cards_take_rate_limits_per_direction)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--net", "user,rx-bps=1M,rx-bps-burst=64K,tx-pps=500", "--net",
			   "tap=t0,tx-bps=2M,tx-pps=100,tx-pps-burst=10,rx-pps=7"),
		     RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.nics[0].rx_limits.bps, 1u << 20);
	cr_assert_eq(c.nics[0].rx_limits.bps_burst, 64u << 10);
	cr_assert_eq(c.nics[0].tx_limits.iops, 500, "pps counts frames");
	cr_assert_eq(c.nics[0].tx_limits.bps, 0, "no tx bandwidth limit unless tx-bps= says one");
	cr_assert_eq(c.nics[1].tx_limits.bps, 2u << 20);
	cr_assert_eq(c.nics[1].tx_limits.iops_burst, 10);
	cr_assert_eq(c.nics[1].rx_limits.iops, 7);
	/* The recorded --net value carries them, and a change on the running VM replaces them. */
	struct io_limits rx = {.bps = 4096}, tx = {0};
	cr_assert_eq(config_set_net_limits(&c, 0, &rx, &tx), 0);
	char *json = config_to_json_text(&c, NULL);
	cr_assert(strstr(json, ",rx-bps=4096\""), "%s", json);
	cr_assert(!strstr(json, "tx-pps=500"), "the old tx limit is gone: %s", json);
	cr_assert(strstr(json, "\"user,net=10.0.2.0/24,mac=52:54:00:"), "its own MAC: %s", json);
	cr_assert(strstr(json, "\"tap=t0,tx-bps=2M,tx-pps=100,tx-pps-burst=10,rx-pps=7\""),
		  "the other card's stays: %s", json);
	free(json);
	cr_assert_eq(config_set_net_limits(&c, 2, &rx, &tx), -1, "there is no third card");
	config_free(&c);
}

/* What the operator changes on a running VM (disk-limit) goes into the recorded --disk value,
 * which a snapshot, a migration or a reboot builds the disk from. */
Test(device_options, changed_limits_are_recorded_with_the_disk)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--disk", "/a.img,serial=S1,bps=1M", "--disk", "/b.img"),
		     RUN_ARGS_OK, "%s", err);
	char *json = config_to_json_text(&c, NULL);
	cr_assert(strstr(json, "/a.img,serial=S1,bps=1M"), "%s", json);
	free(json);
	struct io_limits l = {.bps = 16 << 20, .bps_burst = 1 << 20, .iops = 50};
	cr_assert_eq(config_set_disk_limits(&c, 1, &l), 0);
	cr_assert_eq(c.disks[1].limits.bps, 16u << 20);
	json = config_to_json_text(&c, NULL);
	cr_assert(strstr(json, "\"/b.img,readonly=off,cache=writeback,bps=16777216,"
			       "bps-burst=1048576,iops=50\""),
		  "%s", json);
	cr_assert(strstr(json, "/a.img,serial=S1,bps=1M"), "the other disk's stays: %s", json);
	free(json);
	l = (struct io_limits){0};
	cr_assert_eq(config_set_disk_limits(&c, 1, &l), 0);
	json = config_to_json_text(&c, NULL);
	cr_assert(strstr(json, "\"/b.img,readonly=off,cache=writeback\""), "%s", json);
	free(json);
	cr_assert_eq(config_set_disk_limits(&c, 2, &l), -1, "there is no third disk");
	config_free(&c);
}

Test(device_options, nics_parse_mac_and_vhost)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--net", "tap=tap0,mac=52:54:00:ab:CD:ef,vhost=off", "--net",
			   "tap=tap1"),
		     RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.nr_nics, 2);
	cr_assert_str_eq(c.nics[0].tap, "tap0");
	cr_assert(c.nics[0].has_mac);
	uint8_t mac[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};
	cr_assert_arr_eq(c.nics[0].mac, mac, 6);
	cr_assert_eq(c.nics[0].vhost, VHOST_OFF);
	cr_assert_not(c.nics[1].has_mac);
	cr_assert_eq(c.nics[1].vhost, VHOST_AUTO);
	config_free(&c);
}

Test(device_options, nics_take_queue_pairs)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--net", "tap=tap0,queues=4", "--net",
			   "switch=sw0,vlan=10,queues=8", "--net", "tap=tap1"),
		     RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.nics[0].queues, 4);
	cr_assert_eq(c.nics[1].queues, 8);
	cr_assert_eq(c.nics[2].queues, 0, "unset: one pair");
	config_free(&c);
}

Test(device_options, user_network_cards_take_qemus_settings)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(
	    PARSE(&c, err, "--net", "user", "--net",
		  "user,net=10.9.0.0/16,hostfwd=tcp::2222-:22,hostfwd=udp:127.0.0.1:53-:53,"
		  "mac=52:54:00:00:00:07",
		  "--net", "tap=tap0"),
	    RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.nr_nics, 3);
	cr_assert_eq(c.nics[0].backend, NET_BACKEND_USER);
	cr_assert_null(c.nics[0].tap);
	cr_assert_eq(c.nics[0].user.prefix, 24, "QEMU's 10.0.2.0/24 by default");
	cr_assert_eq(c.nics[0].user.nr_forwards, 0);
	cr_assert_eq(c.nics[1].backend, NET_BACKEND_USER);
	cr_assert_eq(c.nics[1].user.prefix, 16);
	cr_assert_eq(c.nics[1].user.nr_forwards, 2);
	cr_assert(c.nics[1].user.forwards[1].udp);
	cr_assert(c.nics[1].has_mac);
	cr_assert_eq(c.nics[2].backend, NET_BACKEND_TAP);
	cr_assert_str_eq(c.nics[2].tap, "tap0");
	config_free(&c);
}

Test(device_options, switch_ports_take_a_vlan_or_a_trunk)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--net", "switch=sw0,vlan=10,ip=10.0.0.5,rate=10M", "--net",
			   "switch=sw0,trunk=10:20:4094,tap=port7"),
		     RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.nr_nics, 2);
	cr_assert_eq(c.nics[0].backend, NET_BACKEND_TAP);
	cr_assert_null(c.nics[0].tap, "the VMM names the port's tap");
	cr_assert_str_eq(c.nics[0].port.switch_name, "sw0");
	cr_assert_eq(c.nics[0].port.access_vlan, 10);
	cr_assert_eq(c.nics[0].port.rate, 10 << 20);
	cr_assert_eq(c.nics[0].port.ip.s_addr, htonl(0x0a000005));
	cr_assert_eq(c.nics[1].port.nr_trunk, 3);
	cr_assert_eq(c.nics[1].port.trunk[2], 4094);
	cr_assert_str_eq(c.nics[1].tap, "port7");
	config_free(&c);
}

Test(device_options, flags_and_sizes)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--rng", "--balloon-size", "64M", "--console-device", "virtio",
			   "--api-socket", "/run/vm.sock"),
		     RUN_ARGS_OK, "%s", err);
	cr_assert(c.rng);
	cr_assert(c.balloon, "--balloon-size implies a balloon");
	cr_assert_eq(c.balloon_target, 64ULL << 20);
	cr_assert_eq(c.console_device, CONSOLE_DEVICE_VIRTIO);
	cr_assert_str_eq(c.api_socket, "/run/vm.sock");
	config_free(&c);
}

static void expect_error(const char *option, const char *value, const char *needle)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(parse(&c, err, 3, (char *[]){"run", (char *)option, (char *)value, NULL}),
		     RUN_ARGS_ERROR, "%s %s was accepted", option, value);
	cr_assert(strstr(err, needle), "%s %s: message '%s' lacks '%s'", option, value, err,
		  needle);
	config_free(&c);
}

Test(device_options, mistakes_are_refused_with_the_option_named)
{
	expect_error("--disk", "readonly=on", "must start with the image path");
	expect_error("--disk", "/a,readonly=maybe", "readonly");
	expect_error("--disk", "/a,serial=123456789012345678901", "longer than 20");
	expect_error("--disk", "/a,format=vmdk", "format");
	expect_error("--disk", "/a,speed=fast", "unknown property 'speed'");
	expect_error("--disk", "/a,junk", "not key=value");
	expect_error("--disk", "/a,slot=0", "not a PCI slot from 1 to 31");
	expect_error("--disk", "/a,slot=32", "not a PCI slot from 1 to 31");
	expect_error("--disk", "/a,slot=-3", "not a PCI slot from 1 to 31");
	expect_error("--net", "user,slot=40", "--net: slot='40' is not a PCI slot");
	expect_error("--disk", "/a,bps=fast", "bps='fast' is not a number of bytes per second");
	expect_error("--disk", "/a,bps=-1", "bps='-1'");
	expect_error("--disk", "/a,bps=2048T", "from 0 to 1024T");
	expect_error("--disk", "/a,bps=8M,bps-burst=1X", "bps-burst='1X' is not a number of bytes");
	expect_error("--disk", "/a,iops=many", "iops='many' is not a number of requests");
	expect_error("--disk", "/a,iops=10,iops-burst=1.5", "iops-burst='1.5'");
	expect_error("--disk", "/a,iops=", "iops=''");
	expect_error("--disk", "/a,iops=0x10", "iops='0x10' is not a number of requests");
	expect_error("--disk", "/a,iops=+5", "iops='+5'");
	expect_error("--disk", "/a,bps-burst=1M", "bps-burst needs bps=");
	expect_error("--disk", "/a,iops-burst=5", "iops-burst needs iops=");
	expect_error("--net", "user,rx-bps=fast", "--net: rx-bps='fast' is not a number of bytes");
	expect_error("--net", "user,tx-pps=1K", "tx-pps='1K' is not a number of frames");
	expect_error("--net", "user,tx-pps-burst=5", "tx-pps-burst needs tx-pps=");
	expect_error("--net", "user,rx-bps-burst=5", "rx-bps-burst needs rx-bps=");
	expect_error("--net", "user,rx-iops=5", "unknown property 'rx-iops'");
	expect_error("--net", "user,bps=5", "unknown property 'bps'");
	expect_error("--net", "tap=t,vhost=on,rx-bps=1M", "vhost=on and rate limits");
	expect_error("--net", "mac=52:54:00:00:00:01", "tap=NAME");
	expect_error("--net", "tap=t,mac=01:00:5e:00:00:01", "unicast");
	expect_error("--net", "tap=t,mac=52:54:00:00:00", "mac");
	expect_error("--net", "tap=averyveryverylongname", "1 to 15");
	expect_error("--net", "tap=t,vhost=sometimes", "vhost");
	expect_error("--net", "user,tap=t0", "choose one");
	expect_error("--net", "user,vhost=on", "needs a tap");
	expect_error("--net", "user,queues=2", "needs a tap");
	expect_error("--net", "tap=t0,queues=0", "from 1 to 8");
	expect_error("--net", "tap=t0,queues=9", "from 1 to 8");
	expect_error("--net", "tap=t0,queues=2x", "from 1 to 8");
	expect_error("--net", "tap=t0,queues=-1", "from 1 to 8");
	expect_error("--net", "tap=t0,queues=", "from 1 to 8");
	expect_error("--net", "tap=t0,hostfwd=tcp::22-:22", "setting of the user network");
	expect_error("--net", "net=10.0.2.0/24", "setting of the user network");
	expect_error("--net", "mac=52:54:00:00:00:01,user", "user comes first");
	expect_error("--net", "user,net=10.0.2.1/24", "host bits");
	expect_error("--net", "user,hostfwd=tcp:22-22", "example: hostfwd=tcp::2222-:22");
	expect_error("--net", "user,hostfwd=tcp::22-:22,net=10.1.0.0/16", "before hostfwd=");
	expect_error("--net", "switch=sw0", "one VLAN (vlan=ID) or a trunk");
	expect_error("--net", "switch=sw0,vlan=10,trunk=20", "one VLAN (vlan=ID) or a trunk");
	expect_error("--net", "switch=sw0,vlan=4095", "1 to 4094");
	expect_error("--net", "switch=sw0,vlan=0", "1 to 4094");
	expect_error("--net", "switch=sw0,trunk=10:10", "twice");
	expect_error("--net", "switch=sw0,trunk=10:", "joined by ':'");
	expect_error("--net", "switch=sw0,vlan=1,ip=10.0.0", "not an IPv4 address");
	expect_error("--net", "switch=sw0,vlan=1,rate=fast", "bytes per second");
	expect_error("--net", "switch=a/b,vlan=1", "not an interface name");
	expect_error("--net", "tap=t0,vlan=10", "settings of a switch port");
	expect_error("--net", "user,switch=sw0,vlan=1", "two different host sides");
	expect_error("--balloon-size", "1K", "4 KiB");
	expect_error("--balloon-size", "lots", "not a size");
	expect_error("--console-device", "usb", "serial or virtio");
}

Test(device_options, too_many_disks)
{
	struct vm_config c;
	char err[512];
	config_init(&c);
	for (int i = 0; i < CONFIG_MAX_DISKS; i++)
		cr_assert_eq(config_set(&c, "disk", "/x.img", err, sizeof(err)), 0);
	cr_assert_eq(config_set(&c, "disk", "/x.img", err, sizeof(err)), -1);
	cr_assert(strstr(err, "at most 16"), "%s", err);
	config_free(&c);
}

Test(device_options, json_arrays_add_several_devices)
{
	char *path = write_temp("{\"disk\": [\"/a.img\", \"/b.img,readonly=on\"],"
				" \"net\": \"tap=tap9\", \"rng\": true}");
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--config", path), RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.nr_disks, 2);
	cr_assert(c.disks[1].readonly);
	cr_assert_eq(c.nr_nics, 1);
	cr_assert(c.rng);
	config_free(&c);
	unlink(path);
	free(path);

	path = write_temp("{\"cpus\": [1, 2]}");
	cr_assert_eq(PARSE(&c, err, "--config", path), RUN_ARGS_ERROR);
	cr_assert(strstr(err, "takes one value"), "%s", err);
	config_free(&c);
	unlink(path);
	free(path);
}

Test(device_options, validation_checks_disks_and_taps)
{
	char *kernel = write_temp("k");
	char *disk = write_temp("disk");
	struct vm_config c;
	char err[512];
	char disk_arg[300];
	snprintf(disk_arg, sizeof(disk_arg), "%s,readonly=on", disk);
	cr_assert_eq(PARSE(&c, err, "--kernel", kernel, "--disk", disk_arg), RUN_ARGS_OK);
	cr_assert_eq(config_validate(&c, err, sizeof(err)), 0, "%s", err);
	config_free(&c);

	cr_assert_eq(PARSE(&c, err, "--kernel", kernel, "--disk", "/nonexistent/disk.img"),
		     RUN_ARGS_OK);
	cr_assert_eq(config_validate(&c, err, sizeof(err)), -1);
	cr_assert(strstr(err, "/nonexistent/disk.img"), "%s", err);
	config_free(&c);

	cr_assert_eq(PARSE(&c, err, "--kernel", kernel, "--disk", "/dev/null"), RUN_ARGS_OK);
	cr_assert_eq(config_validate(&c, err, sizeof(err)), -1);
	cr_assert(strstr(err, "neither a regular file nor a block device"), "%s", err);
	config_free(&c);

	cr_assert_eq(PARSE(&c, err, "--kernel", kernel, "--net", "tap=a", "--net", "tap=a"),
		     RUN_ARGS_OK);
	cr_assert_eq(config_validate(&c, err, sizeof(err)), -1);
	cr_assert(strstr(err, "given twice"), "%s", err);
	config_free(&c);

	cr_assert_eq(PARSE(&c, err, "--kernel", kernel, "--memory", "64M", "--balloon-size", "64M"),
		     RUN_ARGS_OK);
	cr_assert_eq(config_validate(&c, err, sizeof(err)), -1);
	cr_assert(strstr(err, "smaller than --memory"), "%s", err);
	config_free(&c);
	unlink(kernel);
	unlink(disk);
	free(kernel);
	free(disk);
}

/* overlay=on: the VM is given a new overlay beside the image, and the recorded setting (what a
 * snapshot or migration carries) names the overlay, so the next start does not stack another. */
Test(device_options, overlay_on_gives_the_vm_a_new_overlay)
{
	char dir[] = "/tmp/gureum-ovlopt-XXXXXX", image[64], want[96], err[512];
	cr_assert_not_null(mkdtemp(dir));
	snprintf(image, sizeof(image), "%s/golden.img", dir);
	FILE *f = fopen(image, "w");
	cr_assert_eq(ftruncate(fileno(f), 1 << 20), 0);
	fclose(f);
	char value[128];
	snprintf(value, sizeof(value), "%s,format=raw,serial=G1,overlay=on", image);
	struct vm_config c;
	cr_assert_eq(PARSE(&c, err, "--disk", value), RUN_ARGS_OK, "%s", err);
	cr_assert(c.disks[0].overlay);
	cr_assert_eq(config_apply_disk_overlays(&c, err, sizeof(err)), 0, "%s", err);
	snprintf(want, sizeof(want), "%s/golden.ovl1.qcow2", dir);
	cr_assert_str_eq(c.disks[0].path, want);
	cr_assert_str_eq(c.disks[0].format, "qcow2");
	cr_assert_not(c.disks[0].overlay);
	char *json = config_to_json_text(&c, NULL);
	cr_assert(strstr(json, "golden.ovl1.qcow2,format=qcow2,readonly=off,cache=writeback,"
			       "serial=G1\""),
		  "%s", json);
	cr_assert_null(strstr(json, "overlay=on"), "%s", json);
	free(json);
	config_free(&c);

	snprintf(value, sizeof(value), "%s,readonly=on,overlay=on", image);
	cr_assert_eq(PARSE(&c, err, "--disk", value), RUN_ARGS_OK, "%s", err);
	cr_assert_eq(config_apply_disk_overlays(&c, err, sizeof(err)), -1);
	cr_assert(strstr(err, "readonly"), "%s", err);
	config_free(&c);
	cr_assert_eq(PARSE(&c, err, "--disk", "/x.img,overlay=maybe"), RUN_ARGS_ERROR);
	cr_assert(strstr(err, "overlay='maybe' is not on or off"), "%s", err);
	config_free(&c);
	unlink(want);
	unlink(image);
	rmdir(dir);
}

/* slot=N pins a disk to a PCI slot (a disk added while the guest ran); a removed disk leaves
 * the configuration and its recorded setting, and the later disks move down an index. */
Test(device_options, disks_keep_their_slot_and_can_be_removed)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(
	    PARSE(&c, err, "--disk", "/a.img", "--disk", "/b.img,slot=9", "--disk", "/c.img"),
	    RUN_ARGS_OK, "%s", err);
	cr_assert_eq(c.disks[1].slot, 9);
	cr_assert_eq(c.disks[0].slot, 0, "no slot given: the next free one at boot");
	char value[256];
	cr_assert_eq(config_disk_setting(&c.disks[1], value, sizeof(value)), 0);
	cr_assert(strstr(value, ",slot=9"), "%s", value);
	config_remove_disk(&c, 0);
	cr_assert_eq(c.nr_disks, 2);
	cr_assert_str_eq(c.disks[0].path, "/b.img");
	cr_assert_eq(c.disks[0].slot, 9);
	char *json = config_to_json_text(&c, NULL);
	cr_assert_null(strstr(json, "/a.img"), "%s", json);
	cr_assert(strstr(json, "\"/b.img,slot=9\""), "%s", json);
	cr_assert(strstr(json, "\"/c.img\""), "%s", json);
	free(json);
	config_free(&c);
}

/* A card pinned (a card added while the guest ran, or one after a card that left) keeps its MAC
 * and slot in its recorded setting; a removed card leaves the configuration. */
Test(device_options, cards_are_pinned_and_can_be_removed)
{
	struct vm_config c;
	char err[512];
	cr_assert_eq(PARSE(&c, err, "--net", "user", "--net", "user,net=10.0.9.0/24"), RUN_ARGS_OK,
		     "%s", err);
	uint8_t mac1[6];
	virtio_net_card_mac(&c.nics[1], 1, mac1);
	cr_assert_eq(config_pin_net_card(&c, 1, 7), 0);
	config_remove_nic(&c, 0);
	cr_assert_eq(c.nr_nics, 1);
	uint8_t now[6];
	virtio_net_card_mac(&c.nics[0], 0, now);
	cr_assert_arr_eq(now, mac1, 6, "the card kept the MAC it had as card 1");
	cr_assert_eq(c.nics[0].slot, 7);
	char *json = config_to_json_text(&c, NULL);
	cr_assert(strstr(json, ",slot=7\""), "%s", json);
	cr_assert(strstr(json, "net=10.0.9.0/24"), "%s", json);
	free(json);
	config_free(&c);
}
