#include "daemon/vm_isolation.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int vm_isolation_init(struct vm_isolation *iso, enum isolation_mode mode, uint32_t uid_base,
		      char *err, size_t err_len)
{
	memset(iso, 0, sizeof(*iso));
	iso->uid_base = uid_base;
	if (mode == ISOLATION_OFF) {
		snprintf(iso->reason, sizeof(iso->reason),
			 "gureumd was started with --isolation off");
		return 0;
	}
	if (geteuid() != 0) {
		if (mode == ISOLATION_ON) {
			snprintf(err, err_len,
				 "--isolation on needs gureumd to run as root (to give each VM "
				 "its own user and mount namespace); run it as root, or with "
				 "--isolation off");
			return -1;
		}
		snprintf(iso->reason, sizeof(iso->reason),
			 "gureumd does not run as root, so its VMs run as its own user");
		return 0;
	}
	iso->enabled = true;
	return 0;
}

uint32_t vm_isolation_uid(const struct vm_isolation *iso, int64_t vm_id)
{
	if (vm_id <= 0 || (uint64_t)iso->uid_base + (uint64_t)vm_id >= UINT32_MAX)
		return 0;
	return iso->uid_base + (uint32_t)vm_id;
}

void vm_isolation_jail_path(const char *state_dir, const char *name, char *dir, size_t dir_len)
{
	snprintf(dir, dir_len, "%s/jails/%s", state_dir, name);
}

int vm_isolation_make_jail(const char *dir, uint32_t uid, char *err, size_t err_len)
{
	char parent[4200];
	snprintf(parent, sizeof(parent), "%s", dir);
	char *slash = strrchr(parent, '/');
	if (slash)
		*slash = '\0';
	/* jails/ is the daemon's (0700): no VM's user finds another VM's directory. */
	if ((slash && mkdir(parent, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(dir, 0700) < 0 && errno != EEXIST) || chown(dir, uid, uid) < 0 ||
	    chmod(dir, 0700) < 0) {
		snprintf(err, err_len, "cannot make its jail directory %s: %s", dir,
			 strerror(errno));
		return -1;
	}
	return 0;
}
