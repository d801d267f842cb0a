/* The control protocol's disk hotplug commands (api_protocol.h): disks, disk-add and
 * disk-remove, parsed and checked here, done by the VM behind api_ops. */
#include "vmm/api_protocol.h"

#include "vmm/api_reply.h"

#include <stdlib.h>
#include <string.h>

static json_t *disk_json(const struct api_disk *d)
{
	return json_pack("{s:i,s:i,s:s,s:s,s:b,s:s,s:s}", "index", (int)d->index, "slot",
			 (int)d->slot, "name", d->name, "path", d->path, "readonly", d->readonly,
			 "serial", d->serial, "state", d->state ? d->state : "attached");
}

json_t *api_do_disks(const struct api_ops *ops)
{
	char err[API_ERR_LEN] = "";
	struct api_disks *list = calloc(1, sizeof(*list));
	if (!list)
		return NULL;
	json_t *reply = NULL;
	if (ops->disks_info(ops->opaque, list, err, sizeof(err)) < 0) {
		reply = refused_reply(err);
	} else {
		json_t *disks = json_array();
		for (unsigned i = 0; i < list->nr && i < API_MAX_DISKS; i++)
			json_array_append_new(disks, disk_json(&list->disks[i]));
		reply = json_pack("{s:b,s:o}", "ok", 1, "disks", disks);
	}
	free(list);
	return reply;
}

/* A string field: absent (NULL, fine), or a string without commas (which would split the
 * --disk setting it becomes); -1 for anything else. */
static int string_field(const json_t *request, const char *name, const char **out)
{
	const json_t *v = json_object_get(request, name);
	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 || strchr(json_string_value(v), ','))
		return -1;
	*out = json_string_value(v);
	return 0;
}

static json_t *parse_disk_add(const json_t *request, struct api_disk_add *req)
{
	static const char *const names[] = {"path", "serial", "format", "cache"};
	const char **fields[] = {&req->path, &req->serial, &req->format, &req->cache};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (string_field(request, names[i], fields[i]) < 0)
			return error_replyf("disk-add: \"%s\" must be a non-empty string without "
					    "commas",
					    names[i]);
	if (!req->path || req->path[0] != '/')
		return error_reply("disk-add: give \"path\", the image's absolute path");
	if (req->serial && strlen(req->serial) > 20)
		return error_reply("disk-add: \"serial\" is at most 20 bytes");
	if (req->format && strcmp(req->format, "raw") != 0 && strcmp(req->format, "qcow2") != 0)
		return error_reply("disk-add: \"format\" is raw or qcow2");
	if (req->cache && strcmp(req->cache, "none") != 0 && strcmp(req->cache, "writeback") != 0)
		return error_reply("disk-add: \"cache\" is none or writeback");
	const json_t *readonly = json_object_get(request, "readonly");
	if (readonly && !json_is_boolean(readonly))
		return error_reply("disk-add: \"readonly\" must be true or false");
	req->readonly = json_is_true(readonly);
	return NULL;
}

json_t *api_do_disk_add(const struct api_ops *ops, const json_t *request)
{
	struct api_disk_add req = {0};
	json_t *bad = parse_disk_add(request, &req);
	if (bad)
		return bad;
	char err[API_ERR_LEN] = "";
	struct api_disk *disk = calloc(1, sizeof(*disk));
	if (!disk)
		return NULL;
	json_t *reply = ops->disk_add(ops->opaque, &req, disk, err, sizeof(err)) < 0
			    ? refused_reply(err)
			    : json_pack("{s:b,s:o}", "ok", 1, "disk", disk_json(disk));
	free(disk);
	return reply;
}

json_t *api_do_disk_remove(const struct api_ops *ops, const json_t *request)
{
	const json_t *id = json_object_get(request, "disk");
	int index = -1;
	const char *serial = NULL;
	if (json_is_integer(id) && json_integer_value(id) >= 0 && json_integer_value(id) < 256)
		index = (int)json_integer_value(id);
	else if (json_is_string(id) && json_string_length(id) > 0)
		serial = json_string_value(id);
	else
		return error_reply("disk-remove: give \"disk\": its index (0 for the first) or its "
				   "serial");
	char err[API_ERR_LEN] = "";
	struct api_disk *disk = calloc(1, sizeof(*disk));
	if (!disk)
		return NULL;
	json_t *reply = ops->disk_remove(ops->opaque, index, serial, disk, err, sizeof(err)) < 0
			    ? refused_reply(err)
			    : json_pack("{s:b,s:o}", "ok", 1, "disk", disk_json(disk));
	free(disk);
	return reply;
}
