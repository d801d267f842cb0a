/* A MAC address as users and the control API write it. On its own so that the API's request
 * fuzzer (tests/fuzz/fuzz_api_request.c) links it without the rest of the configuration. */
#include "vmm/config_devices.h"

#include <stdio.h>
#include <string.h>

int config_parse_mac(const char *text, uint8_t mac[6])
{
	unsigned b[6];
	char tail;
	if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6 ||
	    strlen(text) != 17)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}
