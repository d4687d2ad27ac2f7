/*
 * The key process's request decoder (server/key.c) fed arbitrary bytes, as a peer could send
 * them: whatever it accepts lies inside the message, within the bounds, and re-encodes to
 * exactly the same payload.
 */
#include "common/ipc.h"
#include "server/key.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(const struct ipc_msg *m, const struct key_request *r)
{
	static struct ipc_msg out;
	const unsigned char *end = m->data + m->hdr.length;

	if (r->token < m->data || r->token + KEY_TOKEN_LEN > end || r->input < m->data ||
	    r->input + r->len > end || r->len == 0 || r->len > KEY_SIGN_MAX ||
	    (r->kind != KEY_SIGN_HASH && r->kind != KEY_SIGN_DATA))
		abort();
	ipc_msg_init(&out, IPC_KEY_SIGN, m->hdr.request_id);
	ipc_put_data(&out, r->token, KEY_TOKEN_LEN);
	ipc_put_u32(&out, r->kind);
	ipc_put_u32(&out, r->algo);
	ipc_put_u32(&out, r->flags);
	ipc_put_data(&out, r->input, r->len);
	if (out.overflow || out.hdr.length != m->hdr.length ||
	    memcmp(out.data, m->data, m->hdr.length) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ipc_msg m;
	struct key_request r;

	if (ipc_decode(&m, data, size) < 0)
		return 0;
	m.fd = -1;
	if (key_request_decode(&m, &r) == 0)
		fuzz_check(&m, &r);
	ipc_msg_wipe(&m);
	return 0;
}
