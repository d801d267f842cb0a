/* libFuzzer target: an HTTP request to the control API as api_server.c hands it on: the route
 * (api_routes.c) and, when it routes, the command with its fields (api_protocol.c) against a
 * VM that does whatever it is asked. The input is "METHOD\nURL\nCONTENT-TYPE\nBODY". Beyond
 * not crashing: a request is either refused with a 4xx and a message, or routed to a command
 * whose reply is one JSON object with "ok". */
#include "vmm/api_protocol.h"
#include "vmm/api_routes.h"
#include "vmm/config.h"
#include "vmm/config_devices.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* config_io_limits.c records changed limits in the configuration, which only the session
 * does; the request path never gets there. */
int config_disk_setting(const struct disk_config *d, char *out, size_t len)
{
	(void)d, (void)out, (void)len;
	abort();
}

int config_rewrite_setting(struct vm_config *config, const char *key, unsigned index,
			   const char *value)
{
	(void)config, (void)key, (void)index, (void)value;
	abort();
}

static int done(void *opaque, char *err, size_t err_len)
{
	(void)opaque, (void)err, (void)err_len;
	return 0;
}

static int balloon_set(void *opaque, uint64_t bytes, char *err, size_t err_len)
{
	(void)opaque, (void)bytes, (void)err, (void)err_len;
	return 0;
}

static int balloon_info(void *opaque, struct balloon_info *info, char *err, size_t err_len)
{
	(void)opaque, (void)err, (void)err_len;
	memset(info, 0, sizeof(*info));
	return 0;
}

static int status(void *opaque, struct api_status *s, char *err, size_t err_len)
{
	(void)opaque, (void)err, (void)err_len;
	s->state = "running";
	return 0;
}

static int snapshot(void *opaque, struct api_snapshot *s, char *err, size_t err_len)
{
	(void)opaque, (void)s, (void)err, (void)err_len;
	return 0;
}

static int migrate(void *opaque, struct api_migrate *m, char *err, size_t err_len)
{
	(void)opaque, (void)m, (void)err, (void)err_len;
	return 0;
}

static int migrate_status(void *opaque, struct api_migration_status *s, char *err, size_t err_len)
{
	(void)opaque, (void)err, (void)err_len;
	s->state = "none";
	return 0;
}

static int net_link(void *opaque, unsigned card, bool up, char *err, size_t err_len)
{
	(void)opaque, (void)card, (void)up, (void)err, (void)err_len;
	return 0;
}

static int net_mac(void *opaque, unsigned card, const uint8_t mac[6], char *err, size_t err_len)
{
	(void)opaque, (void)card, (void)mac, (void)err, (void)err_len;
	return 0;
}

static int net_info(void *opaque, unsigned card, struct virtio_net_info *info, char *err,
		    size_t err_len)
{
	(void)opaque, (void)card, (void)err, (void)err_len;
	memset(info, 0, sizeof(*info));
	return 0;
}

static int screendump(void *opaque, const char *path, unsigned *width, unsigned *height, char *err,
		      size_t err_len)
{
	(void)opaque, (void)path, (void)err, (void)err_len;
	*width = *height = 1;
	return 0;
}

static int disk_limit(void *opaque, struct api_disk_limit *req, char *err, size_t err_len)
{
	(void)opaque, (void)err, (void)err_len;
	req->disk = 0;
	return 0;
}

static int net_limit(void *opaque, struct api_net_limit *req, char *err, size_t err_len)
{
	(void)opaque, (void)req, (void)err, (void)err_len;
	return 0;
}

static int vcpus_set(void *opaque, unsigned count, char *err, size_t err_len)
{
	(void)opaque, (void)count, (void)err, (void)err_len;
	return 0;
}

static int vcpus_info(void *opaque, struct api_vcpus *info, char *err, size_t err_len)
{
	(void)opaque, (void)err, (void)err_len;
	*info = (struct api_vcpus){.present = 1, .max = 4};
	return 0;
}

static int counters(void *opaque, struct api_counters *c, char *err, size_t err_len)
{
	(void)opaque, (void)err, (void)err_len;
	c->nr_vcpus = 1;
	c->nr_devices = 2;
	c->devices[0].kind = API_DEVICE_BLK;
	c->devices[1].kind = API_DEVICE_NET;
	return 0;
}

static int disks_info(void *opaque, struct api_disks *out, char *err, size_t err_len)
{
	(void)opaque, (void)err, (void)err_len;
	out->nr = 1;
	snprintf(out->disks[0].path, sizeof(out->disks[0].path), "/a");
	return 0;
}

static int disk_add(void *opaque, const struct api_disk_add *req, struct api_disk *out, char *err,
		    size_t err_len)
{
	(void)opaque, (void)err, (void)err_len;
	snprintf(out->path, sizeof(out->path), "%s", req->path);
	return 0;
}

static int disk_remove(void *opaque, int index, const char *serial, struct api_disk *out, char *err,
		       size_t err_len)
{
	(void)opaque, (void)serial;
	out->index = index < 0 ? 0 : (unsigned)index;
	snprintf(err, err_len, "no such disk");
	return index < 0 ? -1 : 0;
}

static int nics_info(void *opaque, struct api_nics *out, char *err, size_t err_len)
{
	(void)opaque, (void)err, (void)err_len;
	out->nr = 1;
	return 0;
}

static int nic_add(void *opaque, const char *setting, struct api_nic *out, char *err,
		   size_t err_len)
{
	(void)opaque, (void)out;
	snprintf(err, err_len, "%.32s", setting);
	return setting[0] == 'u' ? 0 : -1;
}

static int nic_remove(void *opaque, unsigned card, struct api_nic *out, char *err, size_t err_len)
{
	(void)opaque, (void)err, (void)err_len;
	out->index = card;
	return 0;
}

static int memory_set(void *opaque, uint64_t total, char *err, size_t err_len)
{
	(void)opaque;
	snprintf(err, err_len, "memory: %llu", (unsigned long long)total);
	return total % 2 ? -1 : 0;
}

static int memory_info(void *opaque, struct api_memory *info, char *err, size_t err_len)
{
	(void)opaque, (void)err, (void)err_len;
	info->boot = 1 << 30;
	return 0;
}

static const struct api_ops ops = {.balloon_set = balloon_set,
				   .balloon_info = balloon_info,
				   .status = status,
				   .quit = done,
				   .reset = done,
				   .pause = done,
				   .resume = done,
				   .power_button = done,
				   .vcpus_set = vcpus_set,
				   .vcpus_info = vcpus_info,
				   .snapshot = snapshot,
				   .migrate = migrate,
				   .migrate_status = migrate_status,
				   .migrate_cancel = done,
				   .migrate_reconnect = done,
				   .net_link = net_link,
				   .net_mac = net_mac,
				   .net_info = net_info,
				   .screendump = screendump,
				   .disk_limit = disk_limit,
				   .net_limit = net_limit,
				   .counters = counters,
				   .disks_info = disks_info,
				   .disk_add = disk_add,
				   .disk_remove = disk_remove,
				   .nics_info = nics_info,
				   .nic_add = nic_add,
				   .nic_remove = nic_remove,
				   .memory_set = memory_set,
				   .memory_info = memory_info};

/* The next line of the input (NUL-terminated in place); NULL when none is left. */
static char *next_line(char **cursor, char *end)
{
	if (*cursor >= end)
		return NULL;
	char *line = *cursor, *nl = memchr(line, '\n', (size_t)(end - line));
	*cursor = nl ? nl + 1 : end;
	if (nl)
		*nl = '\0';
	return line;
}

static void check_routed(struct api_routing *routing)
{
	json_t *reply = api_dispatch(&ops, routing->command); /* as api_server.c calls it */
	if (!json_is_object(reply) || !json_is_boolean(json_object_get(reply, "ok")))
		abort();
	json_decref(reply);
	json_decref(routing->command);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	char *cursor = copy, *end = copy + size;
	struct api_http_request request = {.method = next_line(&cursor, end),
					   .url = next_line(&cursor, end),
					   .content_type = next_line(&cursor, end)};
	request.body = cursor;
	request.body_len = (size_t)(end - cursor);
	struct api_routing routing;
	api_route(&request, &routing);
	if (routing.status) {
		if (routing.status < 400 || routing.status > 499 || !routing.error[0] ||
		    routing.command)
			abort();
	} else {
		check_routed(&routing);
	}
	free(copy);
	return 0;
}
