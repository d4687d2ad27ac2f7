/* Fuzz target: the config loader (libinih + our typed handler) on arbitrary file contents. */
#include "common/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	char path[64];
	struct config *cfg = NULL;
	char *err = NULL;

	if (fd < 0)
		fd = memfd_create("fuzz-config", 0);
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (config_load(path, &cfg, &err) == 0) {
		char *m = config_maildir_for(cfg, "alice@example.org");

		free(m);
		config_free(&cfg);
	} else {
		if (err == NULL || cfg != NULL)
			abort(); /* a refusal always says why, and leaves nothing behind */
		free(err);
	}
	return 0;
}
