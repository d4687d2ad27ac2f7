/* The checks of a configuration that need the daemon's view of it, beyond the parser's: listen
 * addresses that bind, a state dir apart from the mail tree, a portal with an origin. */
#include "server/master.h"
#include "auth/statedir.h"
#include "common/config.h"
#include "common/xalloc.h"
#include "server/listen.h"

#include <stdlib.h>

int master_config_check(const struct config *cfg, char **error_r)
{
	const char *path = cfg->path != NULL ? cfg->path : "config";
	char *error;

	if (cfg->imap_listen.count == 0 && cfg->pop3_listen.count == 0) {
		*error_r = xasprintf("%s:0: no listen address: set [imap] or [pop3] listen", path);
		return -1;
	}
	if (listen_check(cfg, error_r) < 0)
		return -1;
	if (auth_statedir_overlaps_mail(cfg, &error) > 0) {
		*error_r = xasprintf("%s:%u: [storage] maildir: %s", path,
		                     config_line_of(cfg, "storage", "maildir"), error);
		free(error);
		return -1;
	}
	if (cfg->portal_listen.count > 0 && cfg->portal_origin == NULL) {
		*error_r = xasprintf("%s:%u: [portal] listen needs [portal] origin = https://HOST[:PORT] "
		                     "(the address browsers use)",
		                     path, config_line_of(cfg, "portal", "listen"));
		return -1;
	}
	return 0;
}
