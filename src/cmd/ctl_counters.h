/* `gureum ctl SOCKET counters`: the reply of GET /api/v1/vm/counters for people (ctl.c sends
 * the request; --json prints the body instead). */
#ifndef GUREUM_CMD_CTL_COUNTERS_H
#define GUREUM_CMD_CTL_COUNTERS_H

#include <jansson.h>

void ctl_print_counters(const json_t *reply);

#endif
