/* Virtual switches: Linux bridges with VLAN filtering that gureum makes, finds and removes
 * (`gureum net create|delete|list`), marked as gureum's by their interface alias so that no
 * other bridge of the host is touched. VM ports on them: switch_port.h. */
#ifndef GUREUM_HOSTNET_SWITCH_H
#define GUREUM_HOSTNET_SWITCH_H

#include <stdbool.h>
#include <stddef.h>

/* The alias every switch carries (ip link show: "alias gureum-switch"). */
#define SWITCH_ALIAS "gureum-switch"

/* A name the kernel takes for an interface: 1 to 15 characters, no '/', ':', space. */
bool switch_name_valid(const char *name);

/* Makes switch `name` (a bridge with VLAN filtering and no default VLAN, so that a port
 * belongs to no VLAN until it is given one) and sets it up. 0, or -1 with a sentence. */
int switch_create(const char *name, char *err, size_t err_len);

/* Removes switch `name`; a bridge that is not gureum's is refused. */
int switch_delete(const char *name, char *err, size_t err_len);

/* Calls `cb` for every switch with its number of ports. 0, or -1 with a sentence. */
int switch_list(void (*cb)(const char *name, unsigned ports, void *data), void *data, char *err,
		size_t err_len);

/* 0 when `name` is one of gureum's switches, else -1 with a sentence that says what to do. */
int switch_check(const char *name, char *err, size_t err_len);

#endif
