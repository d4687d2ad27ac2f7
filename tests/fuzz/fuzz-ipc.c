/*
 * The IPC decoder and its typed getters, fed arbitrary bytes as a peer process could send them.
 * Each message type is read the way its receiver reads it (the auth service for requests, a
 * worker for replies; the key process's requests have their own target, fuzz-key-request). Whatever parses completely must re-encode to exactly the same payload
 * with the put helpers: the decoder accepts nothing the encoder could not have produced.
 */
#include "common/ipc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IPC_MAX_FIELDS 5

struct fields {
	const char *str[IPC_MAX_FIELDS];
	size_t nstr;
	uint32_t u32[2];
	size_t nu32;
	const unsigned char *data; /* a signature */
	size_t data_len;
	bool has_data;
};

/* nstr strings, then nu32 numbers (the notice process's messages), to the end. */
static int fuzz_read_notice(struct ipc_msg *m, struct fields *f, size_t nstr, size_t nu32)
{
	for (f->nstr = 0; f->nstr < nstr; f->nstr++)
		if (ipc_get_str(m, &f->str[f->nstr]) < 0)
			return -1;
	for (f->nu32 = 0; f->nu32 < nu32; f->nu32++)
		if (ipc_get_u32(m, &f->u32[f->nu32]) < 0)
			return -1;
	return ipc_end(m);
}

/* Reads the payload of m as its receiver would. 0 when complete and well-formed. */
static int fuzz_read_fields(struct ipc_msg *m, struct fields *f)
{
	switch ((enum ipc_type)m->hdr.type) {
	case IPC_LOGIN_REQUEST: /* user, secret, proto, ip, client id */
		for (f->nstr = 0; f->nstr < IPC_MAX_FIELDS; f->nstr++)
			if (ipc_get_str(m, &f->str[f->nstr]) < 0)
				return -1;
		break;
	case IPC_LOGIN_OK:
		if (ipc_get_str(m, &f->str[0]) < 0)
			return -1;
		f->nstr = 1;
		break;
	case IPC_LOGIN_FAIL: /* delay, hint */
		if (ipc_get_u32(m, &f->u32[0]) < 0 || ipc_get_u32(m, &f->u32[1]) < 0)
			return -1;
		f->nu32 = 2;
		break;
	case IPC_LOGIN_TEMPFAIL:
		if (ipc_get_u32(m, &f->u32[0]) < 0)
			return -1;
		f->nu32 = 1;
		break;
	case IPC_KEY_SIGNATURE:
		if (ipc_get_data(m, &f->data, &f->data_len) < 0)
			return -1;
		f->has_data = true;
		break;
	case IPC_KEY_FAIL:
		break;
	case IPC_NOTICE_POST: /* user, proto, ip, client id; request id, seconds held */
		return fuzz_read_notice(m, f, 4, 2);
	case IPC_NOTICE_REMOVE: /* user; uid */
		return fuzz_read_notice(m, f, 1, 1);
	case IPC_NOTICE_DONE: /* uid */
		return fuzz_read_notice(m, f, 0, 1);
	default:
		return -1;
	}
	return ipc_end(m);
}

static void fuzz_check_roundtrip(const struct ipc_msg *m, const struct fields *f)
{
	static struct ipc_msg out;

	ipc_msg_init(&out, (enum ipc_type)m->hdr.type, m->hdr.request_id);
	for (size_t i = 0; i < f->nstr; i++) {
		/* every string must lie inside the payload and be NUL-terminated there */
		if ((const unsigned char *)f->str[i] < m->data ||
		    (const unsigned char *)f->str[i] + strlen(f->str[i]) >= m->data + m->hdr.length)
			abort();
		ipc_put_str(&out, f->str[i]);
	}
	for (size_t i = 0; i < f->nu32; i++)
		ipc_put_u32(&out, f->u32[i]);
	if (f->has_data) {
		if (f->data < m->data || f->data + f->data_len > m->data + m->hdr.length)
			abort();
		ipc_put_data(&out, f->data, f->data_len);
	}
	if (out.overflow || out.hdr.length != m->hdr.length ||
	    memcmp(out.data, m->data, m->hdr.length) != 0)
		abort();
	ipc_msg_wipe(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ipc_msg m;
	struct fields f = {.nstr = 0};

	if (ipc_decode(&m, data, size) < 0)
		return 0;
	if (m.hdr.version != IPC_VERSION || m.hdr.length != size - 8 || m.pos != 0)
		abort();
	if (fuzz_read_fields(&m, &f) == 0)
		fuzz_check_roundtrip(&m, &f);
	/* a getter past the end must fail, never read beyond hdr.length */
	m.pos = m.hdr.length;
	if (ipc_get_u32(&m, &f.u32[0]) == 0 || ipc_get_str(&m, &f.str[0]) == 0 ||
	    ipc_get_data(&m, &f.data, &f.data_len) == 0)
		abort();
	ipc_msg_wipe(&m);
	return 0;
}
