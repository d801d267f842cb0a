/* A MAC address as users and the control API write it. On its own so that the API's request
 * fuzzer (tests/fuzz/fuzz_api_request.c) links it without the rest of the configuration. */
#include "vmm/config_devices.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Exactly "xx:xx:xx:xx:xx:xx" in hex digits: sscanf's %x alone would also take a sign or a
 * space ("+2:54:..." or "52:54:00:12:34:-6"). */
static bool mac_shaped(const char *text)
{
	if (strlen(text) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? text[i] != ':' : !isxdigit((unsigned char)text[i]))
			return false;
	return true;
}

int config_parse_mac(const char *text, uint8_t mac[6])
{
	unsigned b[6];
	if (!mac_shaped(text) ||
	    sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}
