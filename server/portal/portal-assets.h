/* The portal's static files, compiled in (see server/portal/assets/embed.cmake). */
#ifndef TWOFOLD_PORTAL_ASSETS_H
#define TWOFOLD_PORTAL_ASSETS_H

#include <stddef.h>

struct portal_asset {
	const char *path; /* "/static/NAME" */
	const unsigned char *data;
	size_t len;
};

/* Ends with an entry whose path is NULL. */
extern const struct portal_asset portal_assets[];

#endif
