/* Running the real VMM from a guest test: `timeout 60 gureum run ARGS...` with stdin on
 * /dev/null, its exit status and both output streams collected. The paths come from meson's
 * environment (GUREUM, GUEST_PAYLOAD_DIR). */
#ifndef TESTS_GUESTS_VMM_RUN_H
#define TESTS_GUESTS_VMM_RUN_H

#include <stdio.h>

#define VMM_TIMEOUT    "60" /* seconds; coreutils timeout(1) exits 124 when it strikes */
#define TIMEOUT_STATUS 124

struct vmm_run {
	int status;
	char *out; /* the guest's serial output */
	char *err; /* gureum's own messages */
};

/* The value of environment variable `name`, which meson sets (the test fails without it). */
const char *env_path(const char *name);
/* Fails the test when the accelerator is KVM (GUREUM_ACCEL unset or "kvm") and /dev/kvm is
 * not usable; the software CPU needs none. */
void require_kvm(void);
/* Runs gureum with `args` (NULL-terminated, after "run"); fails the test if it was killed or
 * timed out. */
struct vmm_run run_vmm(const char *const *args);
void free_run(struct vmm_run *run);
/* The whole content of `f` as a string (malloc'd); closes `f`. */
char *read_whole(FILE *f);

#endif
