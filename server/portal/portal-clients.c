#include "server/portal/portal-clients.h"
#include "common/config.h"
#include "server/portal/portal-html.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* The port of the first "ADDR:PORT" of a listen key: the port every address of that protocol
 * is reached on from outside, in the usual one-address setup. */
static void clients_port(const struct config_listen *l, char out[6])
{
	const char *colon = l->count > 0 ? strrchr(l->addrs[0], ':') : NULL;

	out[0] = '\0';
	if (colon != NULL && strlen(colon + 1) < 6)
		snprintf(out, 6, "%s", colon + 1);
}

int clients_site_init(const struct config *cfg, struct clients_site *s)
{
	char *origin_host = cfg->portal_origin != NULL ? config_origin_host(cfg->portal_origin) : NULL;
	const char *host = cfg->clients_host != NULL ? cfg->clients_host : origin_host;

	memset(s, 0, sizeof(*s));
	if (host == NULL || strlen(host) >= sizeof(s->host)) {
		free(origin_host);
		return -1;
	}
	snprintf(s->host, sizeof(s->host), "%s", host);
	free(origin_host);
	clients_port(&cfg->imap_listen, s->imap_port);
	clients_port(&cfg->pop3_listen, s->pop3_port);
	if (cfg->clients_submission != NULL) {
		size_t n = strcspn(cfg->clients_submission, ":");

		snprintf(s->smtp_host, sizeof(s->smtp_host), "%.*s", (int)n, cfg->clients_submission);
		snprintf(s->smtp_port, sizeof(s->smtp_port), "%s", cfg->clients_submission + n + 1);
	}
	s->localpart = cfg->clients_localpart;
	s->origin = cfg->portal_origin;
	return 0;
}

bool clients_address_ok(const char *addr, size_t len)
{
	static const char atext[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	                            "!#$%&'*+/=?^_`{|}~-.";
	const char *at = len > 0 ? memchr(addr, '@', len) : NULL;
	size_t local;

	if (at == NULL || len > CLIENTS_ADDRESS_MAX)
		return false;
	local = (size_t)(at - addr);
	if (local == 0 || local > 64 || addr[0] == '.' || addr[local - 1] == '.')
		return false;
	for (size_t i = 0; i < local; i++)
		if (addr[i] == '\0' || strchr(atext, addr[i]) == NULL ||
		    (addr[i] == '.' && addr[i + 1] == '.'))
			return false;
	return config_hostname_ok(at + 1, len - local - 1);
}

int clients_autodiscover_address(const char *body, size_t len, char out[CLIENTS_ADDRESS_MAX + 1])
{
	static const char open[] = "<EMailAddress>", close[] = "</EMailAddress>";
	const char *start = memmem(body, len, open, sizeof(open) - 1), *end;

	out[0] = '\0';
	if (start == NULL)
		return 0;
	start += sizeof(open) - 1;
	end = memmem(start, len - (size_t)(start - body), close, sizeof(close) - 1);
	if (end == NULL)
		return 0;
	while (start < end && strchr(" \t\r\n", *start) != NULL && *start != '\0')
		start++;
	while (end > start && strchr(" \t\r\n", end[-1]) != NULL && end[-1] != '\0')
		end--;
	if (!clients_address_ok(start, (size_t)(end - start)))
		return 0;
	memcpy(out, start, (size_t)(end - start));
	out[end - start] = '\0';
	return 1;
}

/* The login name for address: the address itself, or its local part. */
static void clients_login(const struct clients_site *s, const char *address,
                          char out[CLIENTS_ADDRESS_MAX + 1])
{
	size_t n = s->localpart ? strcspn(address, "@") : strlen(address);

	snprintf(out, CLIENTS_ADDRESS_MAX + 1, "%.*s", (int)n, address);
}

static void clients_xml_element(struct buf *b, const char *indent, const char *name,
                                const char *text)
{
	buf_printf(b, "%s<%s>", indent, name);
	html_text(b, text);
	buf_printf(b, "</%s>\n", name);
}

/* ---- Thunderbird autoconfig (config-v1.1.xml) ---- */

static void clients_autoconfig_server(struct buf *b, const struct clients_site *s,
                                      const char *kind, const char *type, const char *host,
                                      const char *port, const char *socket_type)
{
	buf_printf(b, "    <%s type=\"%s\">\n", kind, type);
	clients_xml_element(b, "      ", "hostname", host);
	clients_xml_element(b, "      ", "port", port);
	clients_xml_element(b, "      ", "socketType", socket_type);
	clients_xml_element(b, "      ", "username",
	                    s->localpart ? "%EMAILLOCALPART%" : "%EMAILADDRESS%");
	clients_xml_element(b, "      ", "authentication", "password-cleartext");
	buf_printf(b, "    </%s>\n", kind);
}

void clients_autoconfig(struct buf *b, const struct clients_site *s, const char *address)
{
	const char *domain = address != NULL ? strchr(address, '@') + 1 : s->host;

	buf_append_str(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	                  "<clientConfig version=\"1.1\">\n  <emailProvider id=\"");
	html_text(b, s->host);
	buf_append_str(b, "\">\n");
	clients_xml_element(b, "    ", "domain", domain);
	clients_xml_element(b, "    ", "displayName", s->host);
	clients_xml_element(b, "    ", "displayShortName", s->host);
	/* implicit TLS only: twofold has no STARTTLS port, on purpose */
	if (s->imap_port[0] != '\0')
		clients_autoconfig_server(b, s, "incomingServer", "imap", s->host, s->imap_port,
		                          "SSL");
	if (s->pop3_port[0] != '\0')
		clients_autoconfig_server(b, s, "incomingServer", "pop3", s->host, s->pop3_port,
		                          "SSL");
	if (s->smtp_host[0] != '\0')
		clients_autoconfig_server(b, s, "outgoingServer", "smtp", s->smtp_host, s->smtp_port,
		                          strcmp(s->smtp_port, "465") == 0 ? "SSL" : "STARTTLS");
	if (s->origin != NULL) {
		buf_append_str(b, "    <documentation url=\"");
		html_text(b, s->origin);
		buf_append_str(b, "/\">\n      <descr lang=\"en\">Security keys, authenticator app, "
		                  "app passwords: your account page</descr>\n    </documentation>\n");
	}
	buf_append_str(b, "  </emailProvider>\n</clientConfig>\n");
}

/* ---- Outlook Autodiscover (POX) ---- */

static void clients_autodiscover_protocol(struct buf *b, const char *type, const char *host,
                                          const char *port, const char *login, bool smtp)
{
	buf_append_str(b, "      <Protocol>\n");
	clients_xml_element(b, "        ", "Type", type);
	clients_xml_element(b, "        ", "Server", host);
	clients_xml_element(b, "        ", "Port", port);
	clients_xml_element(b, "        ", "DomainRequired", "off");
	if (login != NULL)
		clients_xml_element(b, "        ", "LoginName", login);
	clients_xml_element(b, "        ", "SPA", "off");
	if (smtp && strcmp(port, "465") != 0)
		clients_xml_element(b, "        ", "Encryption", "TLS");
	else
		clients_xml_element(b, "        ", "SSL", "on");
	clients_xml_element(b, "        ", "AuthRequired", "on");
	buf_append_str(b, "      </Protocol>\n");
}

void clients_autodiscover(struct buf *b, const struct clients_site *s, const char *address)
{
	char login[CLIENTS_ADDRESS_MAX + 1];
	const char *name = NULL;

	if (address != NULL) {
		clients_login(s, address, login);
		name = login;
	}
	buf_append_str(
	    b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	       "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/"
	       "responseschema/2006\">\n"
	       "  <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/"
	       "responseschema/2006a\">\n    <Account>\n"
	       "      <AccountType>email</AccountType>\n      <Action>settings</Action>\n");
	if (s->imap_port[0] != '\0')
		clients_autodiscover_protocol(b, "IMAP", s->host, s->imap_port, name, false);
	if (s->pop3_port[0] != '\0')
		clients_autodiscover_protocol(b, "POP3", s->host, s->pop3_port, name, false);
	if (s->smtp_host[0] != '\0')
		clients_autodiscover_protocol(b, "SMTP", s->smtp_host, s->smtp_port, name, true);
	buf_append_str(b, "    </Account>\n  </Response>\n</Autodiscover>\n");
}

/* ---- Apple configuration profile ---- */

static void clients_plist_string(struct buf *b, const char *key, const char *value)
{
	buf_append_str(b, "\t\t\t<key>");
	html_text(b, key);
	buf_append_str(b, "</key>\n\t\t\t<string>");
	html_text(b, value);
	buf_append_str(b, "</string>\n");
}

static void clients_plist_other(struct buf *b, const char *key, const char *element)
{
	buf_printf(b, "\t\t\t<key>%s</key>\n\t\t\t%s\n", key, element);
}

/* port: digits only (from a checked listen address or HOST:PORT) */
static void clients_plist_port(struct buf *b, const char *key, const char *port)
{
	buf_printf(b, "\t\t\t<key>%s</key>\n\t\t\t<integer>%s</integer>\n", key, port);
}

static void clients_mobileconfig_account(struct buf *b, const struct clients_site *s,
                                         const char *user, const char *password,
                                         const char uuid[CLIENTS_UUID_LEN])
{
	char id[300];

	snprintf(id, sizeof(id), "%s.twofold.mail.%s", s->host, uuid);
	buf_append_str(b, "\t\t<dict>\n");
	clients_plist_string(b, "PayloadType", "com.apple.mail.managed");
	clients_plist_other(b, "PayloadVersion", "<integer>1</integer>");
	clients_plist_string(b, "PayloadIdentifier", id);
	clients_plist_string(b, "PayloadUUID", uuid);
	clients_plist_string(b, "PayloadDisplayName", s->host);
	clients_plist_string(b, "EmailAccountDescription", s->host);
	clients_plist_string(b, "EmailAccountType", "EmailTypeIMAP");
	if (strchr(user, '@') != NULL)
		clients_plist_string(b, "EmailAddress", user);
	clients_plist_string(b, "IncomingMailServerHostName", s->host);
	clients_plist_port(b, "IncomingMailServerPortNumber", s->imap_port);
	clients_plist_other(b, "IncomingMailServerUseSSL", "<true/>");
	clients_plist_string(b, "IncomingMailServerAuthentication", "EmailAuthPassword");
	clients_plist_string(b, "IncomingMailServerUsername", user);
	clients_plist_string(b, "IncomingPassword", password);
	clients_plist_string(b, "OutgoingMailServerHostName", s->smtp_host);
	clients_plist_port(b, "OutgoingMailServerPortNumber", s->smtp_port);
	clients_plist_other(b, "OutgoingMailServerUseSSL", "<true/>");
	clients_plist_string(b, "OutgoingMailServerAuthentication", "EmailAuthPassword");
	clients_plist_string(b, "OutgoingMailServerUsername", user);
	/* the app password is twofold's; the SMTP server asks for its own */
	clients_plist_other(b, "OutgoingPasswordSameAsIncomingPassword", "<false/>");
	buf_append_str(b, "\t\t</dict>\n");
}

void clients_mobileconfig(struct buf *b, const struct clients_site *s, const char *user,
                          const char *password, const char profile_uuid[CLIENTS_UUID_LEN],
                          const char account_uuid[CLIENTS_UUID_LEN])
{
	char id[300];

	snprintf(id, sizeof(id), "%s.twofold.%s", s->host, profile_uuid);
	buf_append_str(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	                  "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
	                  "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
	                  "<plist version=\"1.0\">\n\t<dict>\n"
	                  "\t\t<key>PayloadContent</key>\n\t\t<array>\n");
	clients_mobileconfig_account(b, s, user, password, account_uuid);
	buf_append_str(b, "\t\t</array>\n");
	buf_append_str(b, "\t\t<key>PayloadType</key>\n\t\t<string>Configuration</string>\n"
	                  "\t\t<key>PayloadVersion</key>\n\t\t<integer>1</integer>\n"
	                  "\t\t<key>PayloadIdentifier</key>\n\t\t<string>");
	html_text(b, id);
	buf_append_str(b, "</string>\n\t\t<key>PayloadUUID</key>\n\t\t<string>");
	html_text(b, profile_uuid);
	buf_append_str(b, "</string>\n\t\t<key>PayloadDisplayName</key>\n\t\t<string>Mail: ");
	html_text(b, user);
	buf_append_str(b, "</string>\n\t\t<key>PayloadRemovalDisallowed</key>\n\t\t<false/>\n"
	                  "\t</dict>\n</plist>\n");
}

void clients_uuid(char out[CLIENTS_UUID_LEN])
{
	unsigned char u[16];

	randombytes_buf(u, sizeof(u));
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4 */
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, CLIENTS_UUID_LEN,
	         "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X", u[0], u[1],
	         u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
	         u[15]);
}
