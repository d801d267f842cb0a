/* --jail DIR and --user UID[:GID]: where the VMM confines itself once its VM's files are open
 * (vmm/jail.h). */
#include "vmm/config_devices.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int set_jail(struct vm_config *c, const char *v, char *err, size_t len)
{
	if (v[0] != '/' || strlen(v) >= 4096) {
		snprintf(err, len, "--jail: '%s' is not an absolute directory path", v);
		return -1;
	}
	return config_replace_string(&c->jail_dir, v);
}

/* A uid or gid: decimal, not (uid_t)-1, which the kernel reads as "unchanged". */
static int parse_id(const char *text, char **end, uint32_t *out)
{
	if (*text < '0' || *text > '9')
		return -1;
	errno = 0;
	unsigned long long n = strtoull(text, end, 10);
	if (errno || n >= UINT32_MAX)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

int set_user(struct vm_config *c, const char *v, char *err, size_t len)
{
	char *end = NULL;
	uint32_t uid = 0, gid = 0;
	int rc = parse_id(v, &end, &uid);
	gid = uid;
	if (rc == 0 && *end == ':')
		rc = parse_id(end + 1, &end, &gid);
	if (rc < 0 || *end) {
		snprintf(err, len,
			 "--user: '%s' is not UID or UID:GID (numbers below 4294967295; the VMM "
			 "looks up no user names, since it runs where there may be none)",
			 v);
		return -1;
	}
	c->drop_user = true;
	c->uid = uid;
	c->gid = gid;
	return 0;
}
