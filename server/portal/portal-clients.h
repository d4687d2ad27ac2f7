/*
 * What mail programs are told about an account: the IMAP/POP3 servers, their ports and TLS,
 * the login name, and the optional SMTP submission server; and the documents that carry it
 * (Thunderbird autoconfig, Outlook Autodiscover, an Apple configuration profile). Pure: no
 * HTTP here, so the parsers can be fuzzed alone.
 */
#ifndef TWOFOLD_PORTAL_CLIENTS_H
#define TWOFOLD_PORTAL_CLIENTS_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>

struct config;

#define CLIENTS_ADDRESS_MAX 254 /* RFC 5321 path limit less the brackets */
#define CLIENTS_UUID_LEN    37

struct clients_site {
	char host[254];                   /* [clients] host, or the portal origin's host */
	char imap_port[6], pop3_port[6];  /* "" when that protocol is not served */
	char smtp_host[254], smtp_port[6]; /* [clients] submission, "" when none */
	bool localpart;                   /* log in with the local part of the address */
	const char *origin;               /* the portal, for links */
};

/* Fills s from cfg. -1 when there is no name to tell clients (no [clients] host and no
 * [portal] origin). */
int clients_site_init(const struct config *cfg, struct clients_site *s);

/* True when the len bytes at addr are an address mail programs may be configured for:
 * local@domain, dot-atom local part of at most 64 bytes, a DNS name after the @. */
bool clients_address_ok(const char *addr, size_t len);

/* The address in an Outlook Autodiscover request (POX schema): the text of its <EMailAddress>
 * element, blanks around it dropped. 1 found and valid (copied to out, NUL-terminated); 0 none
 * or not an address. */
int clients_autodiscover_address(const char *body, size_t len, char out[CLIENTS_ADDRESS_MAX + 1]);

/* Thunderbird's config-v1.1.xml. address may be NULL (placeholders then). */
void clients_autoconfig(struct buf *b, const struct clients_site *s, const char *address);

/* Outlook's Autodiscover response (POX). address may be NULL (no login name then). */
void clients_autodiscover(struct buf *b, const struct clients_site *s, const char *address);

/* An Apple configuration profile (.mobileconfig) with one IMAP mail account for user, logging
 * in with password (an app password minted for that device). Needs s->smtp_host: Apple's mail
 * account payload requires an outgoing server. The two UUIDs name the profile and its payload. */
void clients_mobileconfig(struct buf *b, const struct clients_site *s, const char *user,
                          const char *password, const char profile_uuid[CLIENTS_UUID_LEN],
                          const char account_uuid[CLIENTS_UUID_LEN]);

/* A random (version 4) UUID in upper-case text. */
void clients_uuid(char out[CLIENTS_UUID_LEN]);

#endif
