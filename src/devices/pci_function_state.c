/* A PCI function's configuration space through a state record (see the header). */
#include "devices/pci_function_state.h"

#include "devices/pci.h"
#include "lib/state_record.h"

#include <stdio.h>
#include <string.h>

void pci_function_save_config(const struct pci_function *f, struct state_writer *w, const char *key)
{
	state_put_bytes(w, key, f->config, sizeof(f->config), STATE_ESSENTIAL);
}

/* Vendor, device, revision, class code, header type and subsystem: what makes the function the
 * function it is. */
static bool same_identity(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a + PCI_VENDOR_ID, b + PCI_VENDOR_ID, 4) == 0 &&
	       memcmp(a + PCI_REVISION_ID, b + PCI_REVISION_ID, 4) == 0 &&
	       a[PCI_HEADER_TYPE] == b[PCI_HEADER_TYPE] &&
	       memcmp(a + PCI_SUBSYSTEM_VENDOR_ID, b + PCI_SUBSYSTEM_VENDOR_ID, 4) == 0;
}

int pci_function_load_config(struct pci_function *f, const struct state_record *rec,
			     const char *key, char *err, size_t err_len)
{
	const void *data;
	uint32_t len;
	if (state_get_bytes(rec, key, &data, &len) < 0 || len != sizeof(f->config)) {
		snprintf(err, err_len,
			 "%s state: \"%s\" is missing or not a %zu-byte configuration "
			 "space",
			 rec->name, key, sizeof(f->config));
		return -1;
	}
	const uint8_t *saved = data;
	if (!same_identity(saved, f->config)) {
		snprintf(
		    err, err_len,
		    "%s state: \"%s\" belongs to another PCI function (%02x%02x:%02x%02x, this "
		    "one is %02x%02x:%02x%02x)",
		    rec->name, key, saved[1], saved[0], saved[3], saved[2], f->config[1],
		    f->config[0], f->config[3], f->config[2]);
		return -1;
	}
	for (size_t i = 0; i < sizeof(f->config); i++)
		f->config[i] =
		    (uint8_t)((saved[i] & f->write_mask[i]) | (f->config[i] & ~f->write_mask[i]));
	return 0;
}
