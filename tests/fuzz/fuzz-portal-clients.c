/* Fuzz target: what the portal takes from mail programs, an Autodiscover request body or an
 * autoconfig emailaddress, and the documents rendered for it. An accepted address must not
 * change the structure of a document: the same number of tags as for a plain address. */
#include "common/config.h"
#include "common/xalloc.h"
#include "server/portal/portal-clients.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t tags(const struct buf *b)
{
	size_t n = 0;

	for (size_t i = 0; i < b->len; i++)
		n += b->data[i] == '<';
	return n;
}

static void render(const struct clients_site *s, const char *address, size_t counts[2])
{
	struct buf b;

	buf_init(&b);
	clients_autoconfig(&b, s, address);
	counts[0] = tags(&b);
	buf_reset(&b);
	clients_autodiscover(&b, s, address);
	counts[1] = tags(&b);
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config *cfg;
	static struct clients_site site;
	char address[CLIENTS_ADDRESS_MAX + 1];
	size_t got[2], want[2];

	if (cfg == NULL) {
		cfg = config_defaults();
		cfg->clients_host = xstrdup("mail.example.org");
		cfg->clients_submission = xstrdup("smtp.example.org:587");
		cfg->imap_listen.addrs[cfg->imap_listen.count++] = xstrdup("[::]:993");
		cfg->pop3_listen.addrs[cfg->pop3_listen.count++] = xstrdup("[::]:995");
		if (clients_site_init(cfg, &site) < 0)
			abort();
	}
	if (clients_autodiscover_address((const char *)data, size, address) == 0) {
		if (address[0] != '\0')
			abort();
		(void)clients_address_ok((const char *)data, size);
		return 0;
	}
	if (!clients_address_ok(address, strlen(address)))
		abort();
	render(&site, address, got);
	render(&site, "a@b.example", want);
	if (got[0] != want[0] || got[1] != want[1])
		abort();
	return 0;
}
