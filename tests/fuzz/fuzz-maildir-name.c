/* Maildir file names come from a directory anyone with mailbox access can write to. */
#include "common/xalloc.h"
#include "storage/maildir-name.h"
#include "storage/storage.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *name = xstrndup((const char *)data, size);
	struct maildir_name n;
	char *rest;

	if (maildir_name_parse(name, &n) > 0) {
		if (n.base_len == 0 || n.base_len > strlen(name) || n.rest != name + n.base_len)
			abort();
		rest = maildir_rest_with_flags(n.rest, n.flags ^ MAIL_SEEN);
		if (strncmp(rest, ":2,", 3) != 0 ||
		    maildir_info_flags(rest + 3) != (n.flags ^ MAIL_SEEN))
			abort();
		xfree(&rest);
	}
	xfree(&name);
	return 0;
}
