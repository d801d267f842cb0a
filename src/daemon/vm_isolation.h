/* Each VM's own user and jail directory (what gureum run's --user and --jail get from the
 * daemon): VM number N (its row in the store) runs as uid and gid UID_BASE + N, so no two VMs
 * share a user, and its VMM's whole file system, once its files are open, is
 * STATE-DIR/jails/NAME (owned by that user, 0700): where an operator puts the files the VM
 * opens later (a disk to add, a snapshot it writes). A daemon not started as root cannot
 * change users or make namespaces: its VMs then run as the daemon's user, and GET /daemon
 * says why. */
#ifndef GUREUM_DAEMON_VM_ISOLATION_H
#define GUREUM_DAEMON_VM_ISOLATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Above the ranges /etc/subuid and systemd give out (up to 0x6FFFFFFF), under 2^31. */
#define VM_UID_BASE_DEFAULT 2000000000u

enum isolation_mode { ISOLATION_AUTO, ISOLATION_ON, ISOLATION_OFF };

struct vm_isolation {
	bool enabled;
	uint32_t uid_base;
	char reason[160]; /* why not, when not enabled */
};

/* AUTO: on when the daemon is root. ON as another user: -1 with a sentence. */
int vm_isolation_init(struct vm_isolation *iso, enum isolation_mode mode, uint32_t uid_base,
		      char *err, size_t err_len);
/* The VM's uid (and gid), or 0 with a sentence when its number is beyond the range. */
uint32_t vm_isolation_uid(const struct vm_isolation *iso, int64_t vm_id);
/* STATE-DIR/jails/NAME in `dir`. */
void vm_isolation_jail_path(const char *state_dir, const char *name, char *dir, size_t dir_len);
/* The jail directory made (or kept) and given to `uid`: 0, or -1 with a sentence. */
int vm_isolation_make_jail(const char *dir, uint32_t uid, char *err, size_t err_len);

#endif
