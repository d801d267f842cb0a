/* The counters reply, one paragraph per vCPU and per device: the few numbers people look for
 * first on the first line (exits; requests and bytes), the accelerator's many after. */
#include "cmd/ctl_counters.h"

#include <stdio.h>
#include <string.h>

#define LINE_WIDTH 96

static long long count(const json_t *object, const char *key)
{
	return (long long)json_integer_value(json_object_get(object, key));
}

/* "1.5 MiB" for people, the exact count when below 1 KiB. */
static void format_bytes(long long bytes, char *out, size_t len)
{
	static const char *units[] = {"KiB", "MiB", "GiB", "TiB"};
	if (bytes < 1024) {
		snprintf(out, len, "%lld bytes", bytes);
		return;
	}
	double value = (double)bytes / 1024;
	unsigned unit = 0;
	while (value >= 1024 && unit < 3) {
		value /= 1024;
		unit++;
	}
	snprintf(out, len, "%.1f %s", value, units[unit]);
}

/* The accelerator's counters as "name value" pairs, wrapped under an indent. */
static void print_accel(const json_t *accel)
{
	const char *key;
	const json_t *value;
	int column = printf("  accel:");
	json_object_foreach((json_t *)accel, key, value)
	{
		char pair[96];
		int n = snprintf(pair, sizeof(pair), " %s %lld", key,
				 (long long)json_integer_value(value));
		if (column + n > LINE_WIDTH)
			column = printf("\n        ");
		column += printf("%s", pair);
	}
	printf("\n");
}

static void print_vcpu(const json_t *vcpu)
{
	const json_t *exits = json_object_get(vcpu, "exits");
	printf("vCPU %lld: exits to the VMM: io %lld, mmio %lld, hlt %lld, interrupted %lld, "
	       "other %lld\n",
	       count(vcpu, "index"), count(exits, "io"), count(exits, "mmio"), count(exits, "hlt"),
	       count(exits, "interrupted"), count(exits, "other"));
	const json_t *accel = json_object_get(vcpu, "accel");
	if (json_object_size(accel))
		print_accel(accel);
}

static void print_blk(const json_t *blk)
{
	char read[32], written[32];
	format_bytes(count(blk, "read_bytes"), read, sizeof(read));
	format_bytes(count(blk, "write_bytes"), written, sizeof(written));
	printf("  reads %lld (%s), writes %lld (%s), flushes %lld\n", count(blk, "read_requests"),
	       read, count(blk, "write_requests"), written, count(blk, "flush_requests"));
	printf("  discards %lld, write-zeroes %lld, errors %lld\n", count(blk, "discard_requests"),
	       count(blk, "write_zeroes_requests"), count(blk, "errors"));
}

static void print_net(const json_t *net)
{
	char rx[32], tx[32];
	format_bytes(count(net, "rx_bytes"), rx, sizeof(rx));
	format_bytes(count(net, "tx_bytes"), tx, sizeof(tx));
	printf("  received %lld frames (%s), sent %lld frames (%s)\n", count(net, "rx_packets"), rx,
	       count(net, "tx_packets"), tx);
	printf("  dropped %lld received, %lld sent; control errors %lld\n",
	       count(net, "rx_dropped"), count(net, "tx_dropped"), count(net, "control_errors"));
	if (json_is_true(json_object_get(net, "vhost")))
		printf("  (vhost-net runs the card: the host kernel's traffic is not in these)\n");
}

static void print_device(const json_t *device)
{
	printf("%s: kicks %lld, interrupts %lld\n",
	       json_string_value(json_object_get(device, "name")) ?: "?", count(device, "kicks"),
	       count(device, "interrupts"));
	if (json_object_get(device, "blk"))
		print_blk(json_object_get(device, "blk"));
	if (json_object_get(device, "net"))
		print_net(json_object_get(device, "net"));
}

void ctl_print_counters(const json_t *reply)
{
	long long boots = count(reply, "boots");
	printf("since the VM started (%lld boot%s):\n", boots, boots == 1 ? "" : "s");
	size_t i;
	const json_t *item;
	json_array_foreach(json_object_get(reply, "vcpus"), i, item)
	{
		print_vcpu(item);
	}
	json_array_foreach(json_object_get(reply, "devices"), i, item)
	{
		print_device(item);
	}
}
