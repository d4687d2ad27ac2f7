/* What every protocol session does as it starts (server/session.h). */
#include "server/session.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "server/conn.h"
#include "storage/index-memory.h"

long session_begin(struct session *s, const char *proto_name, void (*idle)(void *), void *ctx)
{
	long deadline_ms = clock_now_ms() + (long)session_login_timeout(s) * 1000L;
	const char *error;

	if (mail_index_memory_setup(&error) < 0)
		log_debug("%s: %s", proto_name, error);
	conn_set_idle(s->conn, SESSION_IDLE_RELEASE_MS, idle, ctx);
	return deadline_ms;
}
