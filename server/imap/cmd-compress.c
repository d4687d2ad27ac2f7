/* COMPRESS (RFC 4978): DEFLATE both ways from the CRLF of the tagged OK on. Only after login:
 * before it, the code a client's bytes reach stays small. */
#include "server/imap/imap-client.h"
#include "server/imap/imap-reply.h"
#include "server/compress.h"
#include "server/conn.h"

#include <strings.h>

enum imap_cmd_result imap_cmd_compress(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	const char *mechanism;

	if (n != 1 || !imap_arg_get_atom(&a[0], &mechanism))
		return imap_bad(c, "COMPRESS needs a mechanism.");
	if (strcasecmp(mechanism, "DEFLATE") != 0)
		return imap_bad(c, "Unknown compression mechanism.");
	if (c->compressed) {
		imap_tagged(c, "NO", "[COMPRESSIONACTIVE] DEFLATE is active already.");
		return IMAP_CMD_OK;
	}
	/* untagged updates go first, uncompressed; the layer starts after the OK's CRLF */
	imap_ok(c, "DEFLATE active");
	if (conn_push_layer(c->conn, &compress_deflate_layer) < 0)
		return IMAP_CMD_END;
	c->compressed = true;
	return IMAP_CMD_OK;
}
