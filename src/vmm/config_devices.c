#include "vmm/config_devices.h"

#include "lib/size.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Splits "first,key=value,key=value" in place: returns the next "key=value" item (or the first
 * field) and advances *cursor; NULL at the end. */
static char *next_item(char **cursor)
{
	if (!*cursor)
		return NULL;
	char *item = *cursor;
	char *comma = strchr(item, ',');
	if (comma) {
		*comma = '\0';
		*cursor = comma + 1;
	} else {
		*cursor = NULL;
	}
	return item;
}

/* Splits "key=value"; returns the value, or NULL when there is no '='. */
static char *split_key(char *item)
{
	char *eq = strchr(item, '=');
	if (!eq)
		return NULL;
	*eq = '\0';
	return eq + 1;
}

/* slot=N of --disk and --net: a PCI slot of bus 0 from 1 to 31. */
static int parse_slot(const char *option, const char *value, unsigned *slot, char *err, size_t len)
{
	char *end;
	unsigned long n = strtoul(value, &end, 10);
	if (*value >= '0' && *value <= '9' && !*end && n >= 1 && n <= 31) {
		*slot = (unsigned)n;
		return 0;
	}
	snprintf(err, len, "%s: slot='%s' is not a PCI slot from 1 to 31", option, value);
	return -1;
}

static int disk_property(struct disk_config *d, const char *key, const char *value, char *err,
			 size_t len)
{
	if (strcmp(key, "readonly") == 0) {
		if (config_parse_bool(value, &d->readonly) == 0)
			return 0;
		snprintf(err, len, "--disk: readonly='%s' is not on or off", value);
	} else if (strcmp(key, "serial") == 0) {
		if (strlen(value) <= CONFIG_DISK_SERIAL_MAX) {
			snprintf(d->serial, sizeof(d->serial), "%s", value);
			return 0;
		}
		snprintf(err, len, "--disk: serial '%s' is longer than %d bytes", value,
			 CONFIG_DISK_SERIAL_MAX);
	} else if (strcmp(key, "format") == 0) {
		if (strcmp(value, "raw") == 0 || strcmp(value, "qcow2") == 0)
			return config_replace_string(&d->format, value);
		snprintf(err, len, "--disk: format '%s' is not raw or qcow2", value);
	} else if (strcmp(key, "cache") == 0) {
		if (strcmp(value, "none") == 0 || strcmp(value, "writeback") == 0) {
			d->direct = strcmp(value, "none") == 0;
			return 0;
		}
		snprintf(err, len, "--disk: cache '%s' is not none or writeback", value);
	} else if (strcmp(key, "overlay") == 0) {
		if (config_parse_bool(value, &d->overlay) == 0)
			return 0;
		snprintf(err, len, "--disk: overlay='%s' is not on or off", value);
	} else if (config_disk_limit_key(key)) {
		return config_parse_disk_limit(&d->limits, key, value, err, len);
	} else if (strcmp(key, "slot") == 0) {
		return parse_slot("--disk", value, &d->slot, err, len);
	} else {
		snprintf(err, len,
			 "--disk: unknown property '%s' (known: readonly, serial, format, cache, "
			 "overlay, bps, bps-burst, iops, iops-burst, slot)",
			 key);
	}
	return -1;
}

static int parse_disk(struct disk_config *d, char *text, char *err, size_t len)
{
	char *cursor = text;
	char *path = next_item(&cursor);
	if (!path || !*path || strchr(path, '=')) {
		snprintf(err, len,
			 "--disk: the value must start with the image path "
			 "(PATH,readonly=on,serial=ID)");
		return -1;
	}
	if (config_replace_string(&d->path, path) < 0)
		return -1;
	for (char *item; (item = next_item(&cursor));) {
		char *value = split_key(item);
		if (!value) {
			snprintf(err, len, "--disk: '%s' is not key=value", item);
			return -1;
		}
		if (disk_property(d, item, value, err, len) < 0)
			return -1;
	}
	return config_check_disk_limits(&d->limits, err, len);
}

int set_disk(struct vm_config *c, const char *v, char *err, size_t len)
{
	if (c->nr_disks >= CONFIG_MAX_DISKS) {
		snprintf(err, len, "--disk: at most %d disks per VM", CONFIG_MAX_DISKS);
		return -1;
	}
	char *text = strdup(v);
	if (!text)
		return -1;
	struct disk_config *d = &c->disks[c->nr_disks];
	memset(d, 0, sizeof(*d));
	int rc = parse_disk(d, text, err, len);
	free(text);
	if (rc < 0) {
		free(d->path);
		free(d->format);
		memset(d, 0, sizeof(*d));
		return -1;
	}
	c->nr_disks++;
	return 0;
}

int config_disk_setting(const struct disk_config *d, char *out, size_t len)
{
	if (strchr(d->path, ','))
		return -1; /* the comma would split the path when the value is read back */
	char limits[128], slot[24] = "";
	if (config_disk_limits_text(&d->limits, limits, sizeof(limits)) < 0)
		return -1;
	if (d->slot)
		snprintf(slot, sizeof(slot), ",slot=%u", d->slot);
	int n = snprintf(out, len, "%s%s%s,readonly=%s,cache=%s%s%s%s%s%s", d->path,
			 d->format ? ",format=" : "", d->format ? d->format : "",
			 d->readonly ? "on" : "off", d->direct ? "none" : "writeback",
			 d->serial[0] ? ",serial=" : "", d->serial, d->overlay ? ",overlay=on" : "",
			 limits, slot);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* net= and hostfwd= of --net user. */
static int user_net_property(struct net_config *n, const char *key, const char *value, char *err,
			     size_t len)
{
	if (n->backend != NET_BACKEND_USER) {
		snprintf(err, len, "--net: %s= is a setting of the user network (--net user,%s=%s)",
			 key, key, value);
		return -1;
	}
	if (strcmp(key, "net") == 0)
		return user_net_parse_network(&n->user, value, err, len);
	return user_net_parse_forward(&n->user, value, err, len);
}

/* queues=N: queue pairs, each a queue of a multi-queue tap (and a vCPU's to transmit on). */
static int parse_queue_pairs(struct net_config *n, const char *value, char *err, size_t len)
{
	char *end;
	unsigned long pairs = strtoul(value, &end, 10);
	if (*value >= '0' && *value <= '9' && !*end && pairs >= 1 && pairs <= NET_MAX_QUEUE_PAIRS) {
		n->queues = (unsigned)pairs;
		return 0;
	}
	snprintf(err, len, "--net: queues '%s' is not a number of queue pairs from 1 to %d", value,
		 NET_MAX_QUEUE_PAIRS);
	return -1;
}

static int net_property(struct net_config *n, const char *key, const char *value, char *err,
			size_t len)
{
	if (strcmp(key, "tap") == 0) {
		if (*value && strlen(value) < 16) /* IFNAMSIZ */
			return config_replace_string(&n->tap, value);
		snprintf(err, len, "--net: tap name '%s' must be 1 to 15 characters", value);
	} else if (strcmp(key, "mac") == 0) {
		if (config_parse_mac(value, n->mac) == 0 && !(n->mac[0] & 1)) {
			n->has_mac = true;
			return 0;
		}
		snprintf(err, len,
			 "--net: mac '%s' is not a unicast address like 52:54:00:12:34:56", value);
	} else if (strcmp(key, "vhost") == 0) {
		bool on;
		if (strcmp(value, "auto") == 0) {
			n->vhost = VHOST_AUTO;
			return 0;
		}
		if (config_parse_bool(value, &on) == 0) {
			n->vhost = on ? VHOST_ON : VHOST_OFF;
			return 0;
		}
		snprintf(err, len, "--net: vhost '%s' is not auto, on or off", value);
	} else if (strcmp(key, "queues") == 0) {
		return parse_queue_pairs(n, value, err, len);
	} else if (strcmp(key, "slot") == 0) {
		return parse_slot("--net", value, &n->slot, err, len);
	} else if (config_net_limit_key(key)) {
		return config_parse_net_limit(n, key, value, err, len);
	} else if (strcmp(key, "net") == 0 || strcmp(key, "hostfwd") == 0) {
		return user_net_property(n, key, value, err, len);
	} else if (strcmp(key, "switch") == 0 || strcmp(key, "vlan") == 0 ||
		   strcmp(key, "trunk") == 0 || strcmp(key, "ip") == 0 ||
		   strcmp(key, "rate") == 0) {
		return switch_port_parse(&n->port, key, value, err, len);
	} else {
		snprintf(err, len,
			 "--net: unknown property '%s' (known: tap, mac, vhost, queues, slot, "
			 "rx-bps, rx-bps-burst, rx-pps, rx-pps-burst, tx-bps, tx-bps-burst, "
			 "tx-pps, tx-pps-burst; with user: net, hostfwd; with switch: vlan, "
			 "trunk, ip, rate)",
			 key);
	}
	return -1;
}

/* What only makes sense for one of the two backends. */
static int check_net_backend(const struct net_config *n, char *err, size_t len)
{
	if (n->backend == NET_BACKEND_TAP && !n->tap && !n->port.switch_name[0]) {
		snprintf(err, len,
			 "--net: name the host side with tap=NAME or switch=NAME, or use "
			 "the user network (--net user)");
		return -1;
	}
	if (n->backend == NET_BACKEND_USER && n->port.switch_name[0]) {
		snprintf(err, len,
			 "--net: user and switch=%s are two different host sides: choose "
			 "one",
			 n->port.switch_name);
		return -1;
	}
	if (switch_port_check(&n->port, err, len) < 0 || config_check_net_limits(n, err, len) < 0)
		return -1;
	if (n->backend == NET_BACKEND_USER && n->tap) {
		snprintf(err, len,
			 "--net: user and tap=%s are two different host sides: choose one", n->tap);
		return -1;
	}
	if (n->backend == NET_BACKEND_USER && n->queues > 1) {
		snprintf(err, len,
			 "--net user: queues=%u needs a tap (the user network has one queue "
			 "pair)",
			 n->queues);
		return -1;
	}
	if (n->backend == NET_BACKEND_USER && n->vhost == VHOST_ON) {
		snprintf(err, len,
			 "--net user: vhost=on needs a tap (the user network runs in "
			 "gureum itself)");
		return -1;
	}
	return 0;
}

int config_parse_net(struct net_config *n, char *text, char *err, size_t len)
{
	char *cursor = text;
	bool first = true;
	for (char *item; (item = next_item(&cursor)); first = false) {
		char *value = split_key(item);
		if (!value && first && strcmp(item, "user") == 0) {
			n->backend = NET_BACKEND_USER;
			user_net_default_options(&n->user);
			continue;
		}
		if (!value) {
			snprintf(err, len,
				 "--net: '%s' is not key=value (examples: tap=tap0; user comes "
				 "first: user,hostfwd=tcp::2222-:22)",
				 item);
			return -1;
		}
		if (net_property(n, item, value, err, len) < 0)
			return -1;
	}
	return check_net_backend(n, err, len);
}

int set_net(struct vm_config *c, const char *v, char *err, size_t len)
{
	if (c->nr_nics >= CONFIG_MAX_NICS) {
		snprintf(err, len, "--net: at most %d network cards per VM", CONFIG_MAX_NICS);
		return -1;
	}
	char *text = strdup(v);
	if (!text)
		return -1;
	struct net_config *n = &c->nics[c->nr_nics];
	memset(n, 0, sizeof(*n));
	int rc = config_parse_net(n, text, err, len);
	free(text);
	if (rc < 0) {
		free(n->tap);
		memset(n, 0, sizeof(*n));
		return -1;
	}
	c->nr_nics++;
	return 0;
}

int set_rng(struct vm_config *c, const char *v, char *err, size_t len)
{
	if (config_parse_bool(v, &c->rng) == 0)
		return 0;
	snprintf(err, len, "--rng: '%s' is not true or false", v);
	return -1;
}

int set_balloon(struct vm_config *c, const char *v, char *err, size_t len)
{
	if (config_parse_bool(v, &c->balloon) == 0)
		return 0;
	snprintf(err, len, "--balloon: '%s' is not true or false", v);
	return -1;
}

int set_balloon_size(struct vm_config *c, const char *v, char *err, size_t len)
{
	uint64_t bytes;
	if (!parse_size(v, true, &bytes) || bytes % 4096) {
		snprintf(err, len,
			 "--balloon-size: '%s' is not a size in 4 KiB pages (examples: 0, 128M)",
			 v);
		return -1;
	}
	c->balloon = true;
	c->balloon_target = bytes;
	return 0;
}

int set_console_device(struct vm_config *c, const char *v, char *err, size_t len)
{
	if (strcmp(v, "serial") == 0)
		c->console_device = CONSOLE_DEVICE_SERIAL;
	else if (strcmp(v, "virtio") == 0)
		c->console_device = CONSOLE_DEVICE_VIRTIO;
	else {
		snprintf(err, len, "--console-device: '%s' is not serial or virtio", v);
		return -1;
	}
	return 0;
}

/* A unix socket's path for `option`: one that fits sun_path. */
static int set_socket_path(char **field, const char *option, const char *v, char *err, size_t len)
{
	if (!*v || strlen(v) >= 108) { /* sun_path */
		snprintf(err, len, "%s: the path must be 1 to 107 bytes", option);
		return -1;
	}
	return config_replace_string(field, v);
}

int set_console_socket(struct vm_config *c, const char *v, char *err, size_t len)
{
	return set_socket_path(&c->console_socket, "--console-socket", v, err, len);
}

int set_api_socket(struct vm_config *c, const char *v, char *err, size_t len)
{
	return set_socket_path(&c->api_socket, "--api-socket", v, err, len);
}

/* --debug-exit PORT[,iosize=1|2|4]: each value is a whole setting (iosize back to 1 unless
 * given), applied only if all of it is valid. */
static int parse_debug_exit(char *text, uint64_t *port, unsigned *iosize, char *err, size_t len)
{
	char *cursor = text;
	char *first = next_item(&cursor);
	if (!parse_uint(first, 0, 0xffff, port)) {
		snprintf(err, len, "--debug-exit: '%s' is not an I/O port number (0 to 0xffff)",
			 first);
		return -1;
	}
	*iosize = DEBUG_EXIT_DEFAULT_IOSIZE;
	for (char *item; (item = next_item(&cursor));) {
		char *value = split_key(item);
		if (!value) {
			snprintf(err, len,
				 "--debug-exit: '%s' is not key=value (example: 0xf4,iosize=4)",
				 item);
			return -1;
		}
		if (strcmp(item, "iosize") != 0) {
			snprintf(err, len, "--debug-exit: unknown property '%s' (known: iosize)",
				 item);
			return -1;
		}
		if (strcmp(value, "1") != 0 && strcmp(value, "2") != 0 && strcmp(value, "4") != 0) {
			snprintf(err, len, "--debug-exit: iosize '%s' is not 1, 2 or 4", value);
			return -1;
		}
		*iosize = (unsigned)(value[0] - '0');
	}
	if (!debug_exit_ports_valid((uint32_t)*port, *iosize)) {
		snprintf(err, len,
			 "--debug-exit: %u ports from 0x%x run past the last port, 0xffff", *iosize,
			 (unsigned)*port);
		return -1;
	}
	return 0;
}

int set_debug_exit(struct vm_config *c, const char *v, char *err, size_t len)
{
	char *text = strdup(v);
	if (!text)
		return -1;
	uint64_t port;
	unsigned iosize;
	int rc = parse_debug_exit(text, &port, &iosize, err, len);
	free(text);
	if (rc < 0)
		return -1;
	c->has_debug_exit = true;
	c->debug_exit_port = (uint16_t)port;
	c->debug_exit_iosize = iosize;
	return 0;
}

static int validate_disk(const struct disk_config *d, char *err, size_t len)
{
	struct stat st;
	if (stat(d->path, &st) < 0) {
		snprintf(err, len, "--disk '%s': %s", d->path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		snprintf(err, len, "--disk '%s' is neither a regular file nor a block device",
			 d->path);
		return -1;
	}
	if (access(d->path, d->readonly ? R_OK : R_OK | W_OK) < 0) {
		snprintf(err, len, "--disk '%s': %s%s", d->path, strerror(errno),
			 d->readonly ? "" : " (add readonly=on to attach it read-only)");
		return -1;
	}
	return 0;
}

int validate_devices(const struct vm_config *c, char *err, size_t len)
{
	for (unsigned i = 0; i < c->nr_disks; i++)
		if (validate_disk(&c->disks[i], err, len) < 0)
			return -1;
	for (unsigned i = 0; i < c->nr_nics; i++)
		for (unsigned j = 0; j < i; j++)
			if (c->nics[i].tap && c->nics[j].tap &&
			    strcmp(c->nics[i].tap, c->nics[j].tap) == 0) {
				snprintf(err, len, "--net: tap '%s' is given twice",
					 c->nics[i].tap);
				return -1;
			}
	if (c->balloon_target >= c->memory) {
		snprintf(err, len, "--balloon-size must be smaller than --memory");
		return -1;
	}
	return 0;
}
