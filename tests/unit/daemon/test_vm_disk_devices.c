/* The block devices under a VM's disks (src/daemon/vm_disk_devices.c), which its cgroup's I/O
 * limits name: real files on this host's file systems. */
#include "daemon/vm_disk_devices.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* A directory on a block device: the build directory, or failing that "/" or /boot. */
static const char *directory_on_a_disk(void)
{
	static char cwd[PATH_MAX];
	const char *candidates[] = {getcwd(cwd, sizeof(cwd)), "/", "/boot"};
	for (size_t i = 0; i < 3; i++) {
		struct stat st;
		if (candidates[i] && stat(candidates[i], &st) == 0 && major(st.st_dev) != 0)
			return candidates[i];
	}
	cr_skip_test("neither the build directory, / nor /boot is on a block device here");
	return NULL;
}

static void make_file(const char *path)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "cannot write %s", path);
	fclose(f);
}

Test(vm_disk_devices, disks_in_one_file_system_name_its_whole_disk_once)
{
	const char *dir = directory_on_a_disk();
	char a[PATH_MAX], b[PATH_MAX], args[3 * PATH_MAX];
	snprintf(a, sizeof(a), "%s/gureum-disk-a.%d", dir, (int)getpid());
	snprintf(b, sizeof(b), "%s/gureum-disk-b.%d", dir, (int)getpid());
	make_file(a);
	make_file(b);
	snprintf(args, sizeof(args),
		 "[\"--memory\", \"64M\", \"--disk\", \"%s,cache=none\", \"--disk=%s\", "
		 "\"--kernel\", \"/nonexistent\"]",
		 a, b);
	struct vm_disk_devices found;
	char err[512] = "";
	int rc = vm_disk_devices_find(args, &found, err, sizeof(err));
	unlink(a);
	unlink(b);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(found.count, 1, "two files on one file system gave %zu devices", found.count);
	char sys[96];
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u", major(found.devices[0]),
		 minor(found.devices[0]));
	cr_assert_eq(access(sys, F_OK), 0, "%s is not a block device", sys);
	strcat(sys, "/partition");
	cr_assert_neq(access(sys, F_OK), 0, "a partition, not its disk: %s", sys);
}

Test(vm_disk_devices, a_disk_on_a_file_system_without_a_device_is_refused_by_name)
{
	const char *file = access("/dev/shm", W_OK) == 0 ? "/dev/shm/gureum-disk" : "/proc/version";
	if (strncmp(file, "/dev/shm", 8) == 0)
		make_file(file);
	char args[256], err[512] = "";
	snprintf(args, sizeof(args), "[\"--disk\", \"%s\"]", file);
	struct vm_disk_devices found;
	int rc = vm_disk_devices_find(args, &found, err, sizeof(err));
	if (strncmp(file, "/dev/shm", 8) == 0)
		unlink(file);
	cr_assert_eq(rc, -1);
	cr_assert(strstr(err, file) && strstr(err, "without a block device"), "%s", err);
}

Test(vm_disk_devices, a_missing_disk_and_no_disks)
{
	struct vm_disk_devices found;
	char err[512] = "";
	cr_assert_eq(vm_disk_devices_find("[\"--disk\", \"/nonexistent/x.img,readonly=on\"]",
					  &found, err, sizeof(err)),
		     -1);
	cr_assert_str_eq(err, "disk /nonexistent/x.img: No such file or directory");
	cr_assert_eq(vm_disk_devices_find("[\"--memory\", \"64M\"]", &found, err, sizeof(err)), 0);
	cr_assert_eq(found.count, 0);
	cr_assert_eq(vm_disk_devices_find("not json", &found, err, sizeof(err)), 0);
	cr_assert_eq(found.count, 0);
}
