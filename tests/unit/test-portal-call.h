/* The portal's requests to the auth service, as the unit tests send them. */
#ifndef TWOFOLD_TEST_PORTAL_CALL_H
#define TWOFOLD_TEST_PORTAL_CALL_H

#include "test-auth-env.h"

#include "auth/service-portal.h"
#include "common/ipc.h"

struct answer {
	uint32_t status, delay_ms, rows, cols;
	const char *message;
	const char *cells[64];
};

static struct ipc_msg pc_in, pc_out;
/* The client address the portal reports with each request. */
static const char *pc_ip = "192.0.2.1";

/* Sends op through auth_service_portal; returns its result, *a decoded from the reply. */
static int call(struct env *e, const char *op, const char *sid, const char *csrf, unsigned argc,
                const char *const *argv, struct answer *a)
{
	ipc_msg_init(&pc_in, IPC_PORTAL_REQUEST, 7);
	ipc_put_str(&pc_in, op);
	ipc_put_str(&pc_in, sid);
	ipc_put_str(&pc_in, csrf);
	ipc_put_str(&pc_in, pc_ip);
	ipc_put_u32(&pc_in, argc);
	for (unsigned i = 0; i < argc; i++)
		ipc_put_str(&pc_in, argv[i]);
	pc_in.pos = 0;
	if (auth_service_portal(e->p, &pc_in, &pc_out) < 0)
		return -1;
	pc_out.pos = 0;
	memset(a, 0, sizeof(*a));
	assert_int_equal(pc_out.hdr.type, IPC_PORTAL_REPLY);
	assert_int_equal(pc_out.hdr.request_id, 7);
	assert_int_equal(ipc_get_u32(&pc_out, &a->status), 0);
	assert_int_equal(ipc_get_u32(&pc_out, &a->delay_ms), 0);
	assert_int_equal(ipc_get_str(&pc_out, &a->message), 0);
	assert_int_equal(ipc_get_u32(&pc_out, &a->rows), 0);
	assert_int_equal(ipc_get_u32(&pc_out, &a->cols), 0);
	assert_true(a->rows * a->cols <= 64);
	for (uint32_t i = 0; i < a->rows * a->cols; i++)
		assert_int_equal(ipc_get_str(&pc_out, &a->cells[i]), 0);
	assert_int_equal(ipc_end(&pc_out), 0);
	return 0;
}

#endif
