/* Internal to the block layer: how block_open hands a file to a format driver, and how a driver
 * opens its backing file while the chain is checked for loops and excessive depth. */
#ifndef GUREUM_BLOCK_DRIVER_H
#define GUREUM_BLOCK_DRIVER_H

#include "block/block.h"

#include <sys/types.h>

/* The files opened so far along one backing chain, outermost first. */
struct block_chain {
	int depth;
	dev_t devices[BLOCK_MAX_CHAIN_DEPTH + 1];
	ino_t inodes[BLOCK_MAX_CHAIN_DEPTH + 1];
};

/* Opens a backing file read-only as the next link of chain. */
int block_open_backing(const char *filename, const char *format, struct block_chain *chain,
		       struct block_device **out, struct block_error *err);

/* Drivers take over fd (closing it on failure too). */
int raw_open(struct block_device *dev, int fd, struct block_error *err);
int qcow2_open(struct block_device *dev, int fd, unsigned flags, struct block_chain *chain,
	       struct block_error *err);

#endif
