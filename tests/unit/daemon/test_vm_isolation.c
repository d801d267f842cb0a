/* Each VM's user and jail directory (src/daemon/vm_isolation.c). */
#include "daemon/vm_isolation.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

Test(vm_isolation, off_when_asked_and_says_so)
{
	struct vm_isolation iso;
	char err[256] = "";
	cr_assert_eq(vm_isolation_init(&iso, ISOLATION_OFF, VM_UID_BASE_DEFAULT, err, sizeof(err)),
		     0);
	cr_assert_not(iso.enabled);
	cr_assert(strstr(iso.reason, "--isolation off"), "%s", iso.reason);
}

Test(vm_isolation, auto_follows_root_and_on_needs_it)
{
	struct vm_isolation iso;
	char err[256] = "";
	cr_assert_eq(vm_isolation_init(&iso, ISOLATION_AUTO, 5000, err, sizeof(err)), 0);
	cr_assert_eq(iso.enabled, geteuid() == 0);
	cr_assert_eq(iso.uid_base, 5000);
	int rc = vm_isolation_init(&iso, ISOLATION_ON, 5000, err, sizeof(err));
	if (geteuid() == 0) {
		cr_assert_eq(rc, 0);
	} else {
		cr_assert_eq(rc, -1);
		cr_assert(strstr(err, "needs gureumd to run as root"), "%s", err);
	}
}

Test(vm_isolation, each_vm_its_own_uid_within_range)
{
	struct vm_isolation iso = {.enabled = true, .uid_base = VM_UID_BASE_DEFAULT};
	cr_assert_eq(vm_isolation_uid(&iso, 1), VM_UID_BASE_DEFAULT + 1);
	cr_assert_eq(vm_isolation_uid(&iso, 77), VM_UID_BASE_DEFAULT + 77);
	cr_assert_eq(vm_isolation_uid(&iso, 0), 0); /* no number: no user */
	cr_assert_eq(vm_isolation_uid(&iso, -3), 0);
	/* (uid_t)-1 means "unchanged" to the kernel: never given out. */
	iso.uid_base = UINT32_MAX - 10;
	cr_assert_eq(vm_isolation_uid(&iso, 9), UINT32_MAX - 1);
	cr_assert_eq(vm_isolation_uid(&iso, 10), 0);
	cr_assert_eq(vm_isolation_uid(&iso, 1ll << 40), 0);
}

Test(vm_isolation, the_jail_is_made_private_and_given_to_the_vm)
{
	char state[] = "/tmp/gureum-isolation-unit.XXXXXX";
	cr_assert_not_null(mkdtemp(state));
	char dir[4200], err[256] = "";
	vm_isolation_jail_path(state, "web-1", dir, sizeof(dir));
	char expected[4200];
	snprintf(expected, sizeof(expected), "%s/jails/web-1", state);
	cr_assert_str_eq(dir, expected);
	uid_t uid = geteuid() == 0 ? 2000000042 : geteuid(); /* only root gives files away */
	cr_assert_eq(vm_isolation_make_jail(dir, uid, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(vm_isolation_make_jail(dir, uid, err, sizeof(err)), 0, "again: %s", err);
	struct stat st;
	cr_assert_eq(stat(dir, &st), 0);
	cr_assert_eq(st.st_uid, uid);
	cr_assert_eq(st.st_mode & 07777, 0700);
	char parent[4200];
	snprintf(parent, sizeof(parent), "%s/jails", state);
	cr_assert_eq(stat(parent, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0700, "jails/ must be the daemon's alone");
	rmdir(dir);
	rmdir(parent);
	rmdir(state);
	/* A parent that cannot be made: the sentence names the directory. */
	cr_assert_eq(vm_isolation_make_jail("/proc/no/such/jail", uid, err, sizeof(err)), -1);
	cr_assert(strstr(err, "/proc/no/such/jail"), "%s", err);
}
