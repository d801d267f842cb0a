#include "daemon/vm_record.h"

#include "lib/name_chars.h"

#include <stdlib.h>
#include <string.h>

static const char *const policy_names[] = {
    [RESTART_NEVER] = "never",
    [RESTART_ON_FAILURE] = "on-failure",
    [RESTART_ALWAYS] = "always",
};

bool vm_name_valid(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > VM_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!name_char(name[i]))
			return false;
	return true;
}

const char *restart_policy_name(enum restart_policy policy)
{
	return policy_names[policy];
}

int restart_policy_parse(const char *name, enum restart_policy *out)
{
	for (size_t i = 0; i < sizeof(policy_names) / sizeof(policy_names[0]); i++)
		if (strcmp(name, policy_names[i]) == 0) {
			*out = (enum restart_policy)i;
			return 0;
		}
	return -1;
}

bool vm_limits_any(const struct vm_limits *limits)
{
	return limits->cpu_percent || limits->cpu_weight || limits->memory_max ||
	       vm_limits_any_io(limits);
}

const struct vm_io_limit_field vm_io_limit_fields[VM_IO_LIMIT_FIELDS] = {
    {"io_read_bps", LIMIT_IO_READ_BPS, true, offsetof(struct vm_limits, io_read_bps)},
    {"io_write_bps", LIMIT_IO_WRITE_BPS, true, offsetof(struct vm_limits, io_write_bps)},
    {"io_read_iops", LIMIT_IO_READ_IOPS, false, offsetof(struct vm_limits, io_read_iops)},
    {"io_write_iops", LIMIT_IO_WRITE_IOPS, false, offsetof(struct vm_limits, io_write_iops)},
};

uint64_t *vm_io_limit(struct vm_limits *limits, const struct vm_io_limit_field *field)
{
	return (uint64_t *)((char *)limits + field->offset);
}

uint64_t vm_io_limit_value(const struct vm_limits *limits, const struct vm_io_limit_field *field)
{
	return *(const uint64_t *)((const char *)limits + field->offset);
}

bool vm_limits_any_io(const struct vm_limits *limits)
{
	return limits->io_read_bps || limits->io_write_bps || limits->io_read_iops ||
	       limits->io_write_iops;
}

void vm_record_free(struct vm_record *record)
{
	free(record->args);
	record->args = NULL;
}
