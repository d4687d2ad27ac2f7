#include "server/admission.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"

#include <netinet/in.h>
#include <string.h>

#define ADMISSION_LOG_INTERVAL_MS 60000

void admission_peer_ip(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

	buf[0] = '\0';
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &sin->sin_addr, buf, size);
	} else if (ss->ss_family == AF_INET6) {
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], buf, size);
		else
			inet_ntop(AF_INET6, &sin6->sin6_addr, buf, size);
	}
}

bool admission_pressure(const struct scoreboard *sb, const struct config *cfg)
{
	struct scoreboard_counts c;

	scoreboard_workers(sb, &c);
	return (uint64_t)c.busy * ADMISSION_PRESSURE_DEN >=
	       (uint64_t)cfg->max_workers * ADMISSION_PRESSURE_NUM;
}

/* One line a minute for all workers, however many clients are turned away. */
static void admission_log_refusal(struct admission *a, const char *what, unsigned limit,
                                  const char *holds, const char *key)
{
	unsigned refused;

	if (!scoreboard_refusal_log_due(a->sb, clock_now_ms(), ADMISSION_LOG_INTERVAL_MS, &refused))
		return;
	log_warn("refused %s from %s: it has %u %s ([server] %s); %u refused by the per-address "
	         "limits since the last such line",
	         what, a->ip, limit, holds, key, refused);
}

bool admission_accept(struct admission *a, const struct sockaddr_storage *ss)
{
	unsigned n, limit = a->cfg->max_prelogin_per_ip;

	admission_peer_ip(ss, a->ip, sizeof(a->ip));
	scoreboard_client_key(ss, &a->key);
	/* before this client is counted busy: the others' load decides */
	a->pressure = admission_pressure(a->sb, a->cfg);
	n = scoreboard_client_enter(a->sb, a->slot, &a->key, PHASE_PRELOGIN);
	if (n <= limit)
		return true;
	scoreboard_client_leave(a->sb, a->slot);
	admission_log_refusal(a, "a connection", limit, "connections not logged in",
	                      "max_prelogin_per_ip");
	return false;
}

bool admission_login(struct admission *a)
{
	unsigned limit = a->cfg->max_sessions_per_ip;

	if (scoreboard_client_enter(a->sb, a->slot, &a->key, PHASE_SESSION) <= limit)
		return true;
	admission_login_failed(a);
	admission_log_refusal(a, "a login", limit, "sessions", "max_sessions_per_ip");
	return false;
}

void admission_login_failed(struct admission *a)
{
	(void)scoreboard_client_enter(a->sb, a->slot, &a->key, PHASE_PRELOGIN);
}

void admission_done(struct admission *a)
{
	scoreboard_client_leave(a->sb, a->slot);
}

unsigned admission_handshake_timeout(const struct admission *a)
{
	unsigned t = a->cfg->handshake_timeout;

	return a->pressure && t > ADMISSION_PRESSURE_HANDSHAKE ? ADMISSION_PRESSURE_HANDSHAKE : t;
}

unsigned admission_login_timeout(const struct admission *a)
{
	unsigned t = a->cfg->login_timeout;

	return a->pressure && t > ADMISSION_PRESSURE_LOGIN ? ADMISSION_PRESSURE_LOGIN : t;
}
