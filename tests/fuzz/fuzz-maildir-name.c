/* Maildir file names come from a directory anyone with mailbox access can write to. Checks the
 * parse results, the rewritten info, that the key ignores the ,S= ,W= ,U= fields twofold adds,
 * and that the UIDL is within RFC 1939's limits. */
#include "common/xalloc.h"
#include "storage/maildir-name.h"
#include "storage/storage.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A directory entry name ends at its first NUL; the copy is exactly that long (no strndup: it
 * may read past size looking for a NUL that is not there). */
static char *name_from(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t len = nul != NULL ? (size_t)(nul - data) : size;
	char *name = xmalloc(len + 1);

	memcpy(name, data, len);
	name[len] = '\0';
	return name;
}

static void check_uidl(const char *key)
{
	char uidl[MAILDIR_UIDL_HASH_LEN + 1];
	size_t len = strlen(key);

	if (maildir_key_uidl(key, uidl) == 0) {
		if (len == 0 || len > MAILDIR_UIDL_MAX)
			abort();
		for (size_t i = 0; i < len; i++) {
			if (key[i] < 0x21 || key[i] > 0x7e)
				abort();
		}
		return;
	}
	if (strlen(uidl) != 32 || strspn(uidl, "0123456789abcdef") != 32)
		abort();
}

/* The key of base + ",S=..,W=..,U=.." + rest equals the key of the name itself. */
static void check_key_stable(const char *name, const struct maildir_name *n, const char *key)
{
	char *grown = xasprintf("%.*s,S=123,W=125,U=7%s", (int)n->base_len, name, n->rest);
	struct maildir_name g;
	char *gkey;

	if (maildir_name_parse(grown, &g) <= 0 || !g.has_size || g.size != 123 || !g.has_vsize ||
	    g.vsize != 125 || !g.has_uid || g.uid != 7 || g.flags != n->flags)
		abort();
	gkey = xmalloc(g.base_len + 1);
	maildir_name_key_to(grown, &g, gkey);
	if (strcmp(gkey, key) != 0)
		abort();
	xfree(&gkey);
	xfree(&grown);
}

static void check_name(const char *name, const struct maildir_name *n)
{
	char *rest, *key;
	time_t t;

	if (n->base_len == 0 || n->base_len > strlen(name) || n->rest != name + n->base_len ||
	    memchr(name, ':', n->base_len) != NULL || (n->has_uid && n->uid == 0))
		abort();
	rest = maildir_rest_with_flags(n->rest, n->flags ^ MAIL_SEEN);
	if (strncmp(rest, ":2,", 3) != 0 || maildir_info_flags(rest + 3) != (n->flags ^ MAIL_SEEN))
		abort();
	xfree(&rest);
	key = xmalloc(n->base_len + 1); /* exactly the room maildir_name_key_to may use */
	maildir_name_key_to(name, n, key);
	if (strlen(key) > n->base_len)
		abort();
	check_key_stable(name, n, key);
	check_uidl(key);
	xfree(&key);
	if (maildir_name_time(name, &t) > 0 && (t <= 0 || name[0] < '0' || name[0] > '9'))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *name = name_from(data, size);
	struct maildir_name n;

	if (maildir_name_parse(name, &n) > 0)
		check_name(name, &n);
	xfree(&name);
	return 0;
}
