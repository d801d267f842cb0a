/* The VMM's confinement beyond its seccomp filters (as Firecracker's jailer does, but done by
 * the VMM itself once it has opened what its VM needs):
 *   - --jail DIR: a mount namespace of its own whose root is DIR. Nothing else of the host's
 *     file system is mounted in it, except a /dev with the few nodes a VM uses (null, zero,
 *     urandom, random, net/tun, kvm, vhost-net, vhost-vsock) and an /etc with the resolver's
 *     files (resolv.conf, hosts) that user-mode networking reads. Paths in later requests (a
 *     disk added, a snapshot written) are paths inside DIR.
 *   - --user UID[:GID]: the VMM then runs as that uid and gid, with no supplementary groups
 *     and no capabilities.
 * The namespace is made at the start, while the VMM has one thread (a namespace is per
 * thread until then); the move into DIR and the change of user come after the first boot's
 * devices are open and before the guest runs, and apply to every thread (pivot_root moves
 * each thread's root, glibc changes each thread's ids). */
#ifndef GUREUM_VMM_JAIL_H
#define GUREUM_VMM_JAIL_H

#include "vmm/config.h"

#include <stdbool.h>
#include <stddef.h>

/* Whether the configuration asks for any confinement. */
bool jail_wanted(const struct vm_config *config);
/* At the start, with one thread: the private mount namespace. 0, or -1 with a sentence. */
int jail_prepare(const struct vm_config *config, char *err, size_t err_len);
/* Into DIR, then the user: 0, or -1 with a sentence (the VM must not start then). */
int jail_enter(const struct vm_config *config, char *err, size_t err_len);

#endif
