#include "accel/accel.h"

#include <string.h>

static const struct accel_ops *const backends[] = {
    &kvm_accel_ops,
    &emu_accel_ops,
};

const struct accel_ops *accel_find(const char *name)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

const char *accel_names(void)
{
	return "kvm, emu";
}
