/* The portal's questions to the auth service: one connection and one message per operation. */
#ifndef TWOFOLD_PORTAL_AUTH_H
#define TWOFOLD_PORTAL_AUTH_H

#include <stdint.h>

struct portal_answer {
	uint32_t status; /* enum ipc_portal_status */
	uint32_t delay_ms;
	char message[256]; /* for the user when status is IPC_PORTAL_REFUSED */
	uint32_t rows, cols;
	char **cells; /* rows x cols, row by row; wiped on free (may hold secrets) */
};

/* Asks op with the session id and CSRF token from the browser ("" if none). Never fails:
 * an unreachable or misbehaving auth service is an IPC_PORTAL_TEMPFAIL answer (logged). */
void portal_auth_call(const char *op, const char *session, const char *csrf, const char *ip,
                      unsigned argc, const char *const *argv, struct portal_answer *a);
/* The cell at (row, col), or "" outside the table. */
const char *portal_answer_cell(const struct portal_answer *a, uint32_t row, uint32_t col);
void portal_answer_free(struct portal_answer *a);

#endif
