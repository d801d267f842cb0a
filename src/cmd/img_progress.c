#include "cmd/img_progress.h"

#include <stdio.h>
#include <unistd.h>

#define BAR_WIDTH 40

void img_progress_start(struct img_progress *p, bool force)
{
	p->enabled = force || isatty(STDOUT_FILENO);
	p->shown = -1;
}

void img_progress_update(struct img_progress *p, uint64_t done, uint64_t total)
{
	if (!p->enabled)
		return;
	int permille = total ? (int)(done * 1000 / total) : 1000;
	if (permille > 1000)
		permille = 1000;
	if (permille == p->shown)
		return;
	p->shown = permille;
	char bar[BAR_WIDTH + 1];
	int filled = permille * BAR_WIDTH / 1000;
	for (int i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < filled ? '#' : ' ';
	bar[BAR_WIDTH] = '\0';
	printf("\r    [%s] %3d.%d%%", bar, permille / 10, permille % 10);
	fflush(stdout);
}

void img_progress_end(struct img_progress *p)
{
	if (!p->enabled)
		return;
	img_progress_update(p, 1, 1);
	printf("\n");
	fflush(stdout);
}
