#include "cmd/ctl_hotplug.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One "key=value" of disk-add's options into the body; false for an unknown key or value. */
static bool add_option(json_t *body, const char *item)
{
	static const char *const keys[] = {"serial", "format", "cache"};
	const char *eq = strchr(item, '=');
	if (!eq)
		return false;
	size_t n = (size_t)(eq - item);
	if (n == 8 && strncmp(item, "readonly", 8) == 0 &&
	    (strcmp(eq + 1, "on") == 0 || strcmp(eq + 1, "off") == 0))
		return json_object_set_new(body, "readonly",
					   json_boolean(strcmp(eq + 1, "on") == 0)) == 0;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strlen(keys[i]) == n && strncmp(item, keys[i], n) == 0)
			return json_object_set_new(body, keys[i], json_string(eq + 1)) == 0;
	return false;
}

/* PATH[,key=value...]: the path made absolute, as the VMM runs in another directory. */
static json_t *disk_add_body(const char *arg)
{
	char *text = strdup(arg), *cursor = text, cwd[4096], path[8200];
	if (!text)
		return NULL;
	char *first = strsep(&cursor, ",");
	if (first[0] != '/' && getcwd(cwd, sizeof(cwd)))
		snprintf(path, sizeof(path), "%s/%s", cwd, first);
	else
		snprintf(path, sizeof(path), "%s", first);
	json_t *body = json_pack("{s:s}", "path", path);
	for (char *item; body && (item = strsep(&cursor, ","));) {
		if (!add_option(body, item)) {
			fprintf(stderr,
				"gureum ctl: disk-add: '%s' is not readonly=on|off, serial=ID, "
				"format=raw|qcow2 or cache=none|writeback\n",
				item);
			json_decref(body);
			body = NULL;
		}
	}
	free(text);
	return body;
}

bool ctl_is_hotplug_command(const char *command)
{
	static const char *const commands[] = {"disks", "disk-add", "disk-remove",
					       "nics",	"nic-add",  "nic-remove"};
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(command, commands[i]) == 0)
			return true;
	return false;
}

/* nics, nic-add NET (as --net takes it), nic-remove CARD */
static bool nic_request(int argc, char **argv, char *path, size_t path_len, const char **method,
			json_t **body)
{
	const char *command = argv[0];
	if (strcmp(command, "nics") == 0 && argc == 1) {
		*method = "GET";
		snprintf(path, path_len, "/vm/net");
		return true;
	}
	if (strcmp(command, "nic-add") == 0 && argc == 2 && argv[1][0]) {
		*method = "POST";
		snprintf(path, path_len, "/vm/net");
		*body = json_pack("{s:s}", "net", argv[1]);
		return *body != NULL;
	}
	char *end;
	unsigned long card = argc == 2 ? strtoul(argv[1], &end, 10) : 256;
	if (strcmp(command, "nic-remove") == 0 && argc == 2 && argv[1][0] >= '0' &&
	    argv[1][0] <= '9' && !*end && card < 256) {
		*method = "DELETE";
		snprintf(path, path_len, "/vm/net/%lu", card);
		return true;
	}
	fprintf(stderr, "gureum ctl: %s: wrong arguments (nics | nic-add NET | nic-remove CARD)\n",
		command);
	return false;
}

bool ctl_hotplug_request(int argc, char **argv, char *path, size_t path_len, const char **method,
			 json_t **body)
{
	const char *command = argv[0];
	*body = NULL;
	if (strncmp(command, "nic", 3) == 0)
		return nic_request(argc, argv, path, path_len, method, body);
	if (strcmp(command, "disks") == 0 && argc == 1) {
		*method = "GET";
		snprintf(path, path_len, "/vm/disks");
		return true;
	}
	if (strcmp(command, "disk-add") == 0 && argc == 2 && argv[1][0]) {
		*method = "POST";
		snprintf(path, path_len, "/vm/disks");
		*body = disk_add_body(argv[1]);
		return *body != NULL;
	}
	if (strcmp(command, "disk-remove") == 0 && argc == 2 && argv[1][0] &&
	    strlen(argv[1]) < 32 && !strchr(argv[1], '/')) {
		*method = "DELETE";
		snprintf(path, path_len, "/vm/disks/%s", argv[1]);
		return true;
	}
	fprintf(stderr,
		"gureum ctl: %s: wrong arguments (disks | disk-add PATH[,options] | "
		"disk-remove DISK)\n",
		command);
	return false;
}

static void print_disk(const json_t *d)
{
	const char *serial = json_string_value(json_object_get(d, "serial"));
	printf("disk %lld: %s in PCI slot %lld (%s)%s%s%s, %s\n",
	       (long long)json_integer_value(json_object_get(d, "index")),
	       json_string_value(json_object_get(d, "path")),
	       (long long)json_integer_value(json_object_get(d, "slot")),
	       json_string_value(json_object_get(d, "name")),
	       json_is_true(json_object_get(d, "readonly")) ? ", read-only" : "",
	       serial && *serial ? ", serial " : "", serial && *serial ? serial : "",
	       json_string_value(json_object_get(d, "state")));
}

static void print_nic(const json_t *n)
{
	printf("card %lld: %s in PCI slot %lld (%s), MAC %s, %s\n",
	       (long long)json_integer_value(json_object_get(n, "index")),
	       json_string_value(json_object_get(n, "backend")),
	       (long long)json_integer_value(json_object_get(n, "slot")),
	       json_string_value(json_object_get(n, "name")),
	       json_string_value(json_object_get(n, "mac")),
	       json_string_value(json_object_get(n, "state")));
}

static void print_nics(const char *command, const json_t *reply)
{
	if (strcmp(command, "nics") == 0) {
		size_t i;
		json_t *n;
		json_array_foreach(json_object_get(reply, "nics"), i, n) print_nic(n);
		return;
	}
	print_nic(json_object_get(reply, "nic"));
	if (strcmp(command, "nic-add") == 0)
		printf("the guest is told; it finds the card on its PCI bus\n");
	else
		printf("the guest is asked to let it go; the card leaves once it has (see nics)\n");
}

void ctl_print_hotplug(const char *command, const json_t *reply)
{
	if (strncmp(command, "nic", 3) == 0) {
		print_nics(command, reply);
		return;
	}
	if (strcmp(command, "disks") == 0) {
		size_t i;
		json_t *d;
		json_array_foreach(json_object_get(reply, "disks"), i, d) print_disk(d);
		return;
	}
	print_disk(json_object_get(reply, "disk"));
	if (strcmp(command, "disk-add") == 0)
		printf("the guest is told; it finds the disk on its PCI bus\n");
	else
		printf(
		    "the guest is asked to let it go; the disk leaves once it has (see disks)\n");
}
