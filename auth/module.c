#include "auth/module.h"
#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>

static const struct auth_module *const auth_modules[] = {
    &auth_module_sqlite,
    NULL,
};

const struct auth_module *auth_module_find(const char *name)
{
	for (size_t i = 0; auth_modules[i] != NULL; i++)
		if (strcmp(auth_modules[i]->name, name) == 0)
			return auth_modules[i];
	return NULL;
}

void auth_user_clear(struct auth_user *user)
{
	free(user->name);
	xfree_secret_str(&user->pwhash);
	memset(user, 0, sizeof(*user));
}

void auth_apppass_clear(struct auth_apppass *ap)
{
	free(ap->label);
	free(ap->proto);
	free(ap->last_ip);
	memset(ap, 0, sizeof(*ap));
}

void auth_webauthn_clear(struct auth_webauthn *k)
{
	free(k->cred_id);
	free(k->pubkey);
	free(k->label);
	free(k->last_ip);
	memset(k, 0, sizeof(*k));
}

void auth_yubikey_clear(struct auth_yubikey *yk)
{
	xfree_secret(yk->sealed, yk->sealed_len);
	memset(yk, 0, sizeof(*yk));
}
