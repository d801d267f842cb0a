/* A PCI function's configuration space in saved state (lib/state_record.h): what the guest
 * programmed (command register, BARs, interrupt line, capability registers such as MSI-X
 * control), restored over the function the VMM has just built. */
#ifndef GUREUM_DEVICES_PCI_FUNCTION_STATE_H
#define GUREUM_DEVICES_PCI_FUNCTION_STATE_H

#include "devices/pci_host.h"

#include <stddef.h>

struct state_writer;
struct state_record;

/* Adds the field `key` (the whole configuration space) to the record being written. */
void pci_function_save_config(const struct pci_function *f, struct state_writer *w,
			      const char *key);
/* Takes the writable bits of `key` from the record; read-only bits (IDs, class, capability
 * layout) stay as the function was built, so a record from another kind of function is
 * refused (its IDs differ) and none can forge them. Returns 0, or -1 with one sentence in err
 * and the function unchanged. The caller holds whatever lock guards f. */
int pci_function_load_config(struct pci_function *f, const struct state_record *rec,
			     const char *key, char *err, size_t err_len);

#endif
