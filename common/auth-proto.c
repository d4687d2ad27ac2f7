#include "common/auth-proto.h"

#include <string.h>

const char *auth_proto_name(enum auth_proto proto)
{
	switch (proto) {
	case AUTH_PROTO_IMAP:
		return "imap";
	case AUTH_PROTO_POP3:
		return "pop3";
	case AUTH_PROTO_PORTAL:
		return "portal";
	case AUTH_PROTO_OTHER:
		break;
	}
	return "other";
}

int auth_proto_parse(const char *name, enum auth_proto *proto_r)
{
	if (strcmp(name, "imap") == 0)
		*proto_r = AUTH_PROTO_IMAP;
	else if (strcmp(name, "pop3") == 0)
		*proto_r = AUTH_PROTO_POP3;
	else if (strcmp(name, "portal") == 0)
		*proto_r = AUTH_PROTO_PORTAL;
	else
		return -1;
	return 0;
}
