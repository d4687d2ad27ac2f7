#include "common/config.h"
#include "common/xalloc.h"
#include "server/listen.h"
#include "server/portal/portal.h"
#include "server/privdrop.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define PORTAL_AUTH_BACKLOG 64

/* As root the directory becomes the portal's chroot (root-owned, 0755); else it only holds the
 * socket, private to the account we run as. */
static int portal_master_dir(const struct config *cfg, const struct privdrop *priv,
                             struct portal_master *pm, char **error_r)
{
	pm->dir = xasprintf("%s/portal", cfg->state_dir);
	if (priv->root)
		return privdrop_open_chroot(pm->dir, &pm->dir_fd, error_r);
	if (mkdir(pm->dir, 0700) < 0 && errno != EEXIST) {
		*error_r = xasprintf("cannot create %s: %s", pm->dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int portal_master_socket(const struct privdrop *priv, struct portal_master *pm,
                                char **error_r)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	pm->sock_path = xasprintf("%s/%s", pm->dir, PORTAL_AUTH_SOCKET);
	if (strlen(pm->sock_path) >= sizeof(sa.sun_path)) {
		*error_r = xasprintf("portal socket path too long (%zu > %zu bytes): %s: use a "
		                     "shorter [server] state_dir",
		                     strlen(pm->sock_path), sizeof(sa.sun_path) - 1, pm->sock_path);
		return -1;
	}
	memcpy(sa.sun_path, pm->sock_path, strlen(pm->sock_path) + 1);
	(void)unlink(pm->sock_path); /* left by a daemon that was killed */
	pm->auth_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (pm->auth_fd < 0 || bind(pm->auth_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(pm->auth_fd, PORTAL_AUTH_BACKLOG) < 0 ||
	    (priv->root && chown(pm->sock_path, priv->uid, priv->gid) < 0) ||
	    chmod(pm->sock_path, 0600) < 0) {
		*error_r = xasprintf("portal socket %s: %s", pm->sock_path, strerror(errno));
		return -1;
	}
	return 0;
}

int portal_master_open(const struct config *cfg, const struct privdrop *priv,
                       struct portal_master *pm, char **error_r)
{
	*pm = (struct portal_master)PORTAL_MASTER_INIT;
	if (cfg->portal_listen.count == 0)
		return 0;
	pm->listen_fd = listen_bind(cfg->portal_listen.addrs[0], error_r);
	if (pm->listen_fd < 0 || portal_master_dir(cfg, priv, pm, error_r) < 0 ||
	    portal_master_socket(priv, pm, error_r) < 0) {
		portal_master_close(pm);
		return -1;
	}
	return 0;
}

void portal_master_close_listener(struct portal_master *pm)
{
	if (pm->listen_fd >= 0)
		close(pm->listen_fd);
	if (pm->dir_fd >= 0)
		close(pm->dir_fd);
	pm->listen_fd = pm->dir_fd = -1;
}

void portal_master_close_fds(struct portal_master *pm)
{
	portal_master_close_listener(pm);
	if (pm->auth_fd >= 0)
		close(pm->auth_fd);
	pm->auth_fd = -1;
}

void portal_master_close(struct portal_master *pm)
{
	if (pm->auth_fd >= 0 && pm->sock_path != NULL)
		(void)unlink(pm->sock_path);
	portal_master_close_fds(pm);
	xfree(&pm->sock_path);
	xfree(&pm->dir);
}
