/* What every protocol session does as it starts (server/session.h). */
#include "server/session.h"
#include "common/clock.h"
#include "common/config.h"
#include "server/conn.h"

long session_begin(struct session *s, void (*idle)(void *), void *ctx)
{
	long deadline_ms = clock_now_ms() + (long)session_login_timeout(s) * 1000L;

	conn_set_idle(s->conn, SESSION_IDLE_RELEASE_MS, idle, ctx);
	return deadline_ms;
}
