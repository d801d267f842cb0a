/* --vsock cid=N[,socket=PATH] (or "vsock": "cid=3,socket=/path" in --config): the guest's CID
 * and, with socket=, the Unix socket of gureum's own host side (virtio/virtio_vsock.c); without
 * it the host kernel's vhost-vsock is the host side (virtio/virtio_vsock_vhost.c). The text is
 * recorded as given (snapshots, migrations), so a setting parses the same way everywhere. */
#include "vmm/config_devices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_cid(const char *v, uint64_t *cid)
{
	char *end;
	if (*v < '0' || *v > '9')
		return -1;
	unsigned long long n = strtoull(v, &end, 10);
	/* 0-2 are the hypervisor, local and host; U32_MAX is "any" to Linux. */
	if (*end || n < 3 || n >= UINT32_MAX)
		return -1;
	*cid = n;
	return 0;
}

static int vsock_property(struct vsock_config *vc, const char *key, const char *value, char *err,
			  size_t len)
{
	if (strcmp(key, "cid") == 0) {
		if (parse_cid(value, &vc->cid) == 0)
			return 0;
		snprintf(err, len, "--vsock: cid '%s' is not a number from 3 to 4294967294", value);
	} else if (strcmp(key, "socket") == 0) {
		if (*value && strlen(value) <= VSOCK_SOCKET_PATH_MAX)
			return config_replace_string(&vc->socket, value);
		snprintf(err, len,
			 "--vsock: socket '%s' is empty or longer than %d bytes (PATH_PORT must "
			 "fit a Unix socket address)",
			 value, VSOCK_SOCKET_PATH_MAX);
	} else {
		snprintf(err, len, "--vsock: unknown property '%s' (known: cid, socket)", key);
	}
	return -1;
}

static int parse_vsock(struct vsock_config *vc, char *text, char *err, size_t len)
{
	char *save = NULL;
	for (char *item = strtok_r(text, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		if (!eq) {
			snprintf(err, len, "--vsock: '%s' is not key=value (cid=N[,socket=PATH])",
				 item);
			return -1;
		}
		*eq = '\0';
		if (vsock_property(vc, item, eq + 1, err, len) < 0)
			return -1;
	}
	if (vc->cid == 0) {
		snprintf(err, len,
			 "--vsock: needs cid=N (with socket=PATH for gureum's own host side, "
			 "without it the host kernel's vhost-vsock)");
		return -1;
	}
	return 0;
}

int set_vsock(struct vm_config *c, const char *v, char *err, size_t len)
{
	char *text = strdup(v);
	if (!text)
		return -1;
	struct vsock_config vc = {0};
	int rc = parse_vsock(&vc, text, err, len);
	free(text);
	if (rc < 0) {
		free(vc.socket);
		return -1;
	}
	free(c->vsock.socket);
	c->vsock = vc;
	return 0;
}
