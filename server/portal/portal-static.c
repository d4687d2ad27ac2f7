#include "server/portal/portal-assets.h"
#include "server/portal/portal-pages.h"

#include <microhttpd.h>
#include <string.h>

static const char *portal_static_type(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (dot != NULL && strcmp(dot, ".js") == 0)
		return "text/javascript; charset=utf-8";
	if (dot != NULL && strcmp(dot, ".css") == 0)
		return "text/css; charset=utf-8";
	return "application/octet-stream";
}

void portal_static(struct portal_req *r)
{
	for (const struct portal_asset *a = portal_assets; a->path != NULL; a++) {
		if (strcmp(a->path, r->path) != 0)
			continue;
		portal_respond_static(r, a->data, a->len, portal_static_type(a->path));
		return;
	}
	portal_respond_error(r, MHD_HTTP_NOT_FOUND, "Page not found");
}
