/* Parameters of the CONDSTORE commands (RFC 7162 section 7). Each takes an already parsed
 * argument tree: the bounds are the parser's, and these read a fixed number of elements. */
#include "server/imap/imap-condstore.h"
#include "server/imap/imap-search.h"

#include <string.h>
#include <strings.h>

#define MODSEQ_DIGITS_MAX 19 /* 2^63-1 has 19 digits */

int imap_modseq_parse(const char *s, bool zero_ok, uint64_t *modseq_r)
{
	uint64_t v = 0;
	size_t len = strlen(s);

	if (len == 0 || len > MODSEQ_DIGITS_MAX || (len > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > INT64_MAX || (v == 0 && !zero_ok))
		return -1;
	*modseq_r = v;
	return 0;
}

static int modseq_arg(const struct imap_arg *arg, bool zero_ok, uint64_t *modseq_r)
{
	const char *s;

	if (!imap_arg_get_atom(arg, &s))
		return -1;
	return imap_modseq_parse(s, zero_ok, modseq_r);
}

int imap_fetch_mods_parse(const struct imap_arg *arg, struct imap_fetch_mods *mods_r,
                          const char **error_r)
{
	const char *name;

	memset(mods_r, 0, sizeof(*mods_r));
	*error_r = "Invalid FETCH modifiers.";
	if (arg->type != IMAP_ARG_LIST || arg->count == 0)
		return -1;
	for (unsigned i = 0; i < arg->count; i++) {
		if (!imap_arg_get_atom(&arg->list[i], &name))
			return -1;
		if (strcasecmp(name, "VANISHED") == 0 && !mods_r->vanished) {
			mods_r->vanished = true;
		} else if (strcasecmp(name, "CHANGEDSINCE") == 0 && !mods_r->changedsince_set &&
		           i + 1 < arg->count) {
			/* 0 is not a mod-sequence-value, but clients send it for "all" */
			if (modseq_arg(&arg->list[++i], true, &mods_r->changedsince) < 0)
				return -1;
			mods_r->changedsince_set = true;
		} else if (strcasecmp(name, "PARTIAL") == 0 && !mods_r->partial_set &&
		           i + 1 < arg->count) {
			if (!imap_arg_get_atom(&arg->list[++i], &name) ||
			    imap_search_partial_parse(name, &mods_r->partial_lo,
			                              &mods_r->partial_hi) < 0)
				return -1;
			mods_r->partial_set = true;
		} else {
			return -1;
		}
	}
	if (!mods_r->changedsince_set && (mods_r->vanished || !mods_r->partial_set)) {
		*error_r = "FETCH modifiers need CHANGEDSINCE.";
		return -1;
	}
	return 0;
}

int imap_store_mods_parse(const struct imap_arg *arg, uint64_t *unchangedsince_r,
                          const char **error_r)
{
	const char *name;

	*error_r = "Invalid STORE modifiers.";
	if (arg->type != IMAP_ARG_LIST || arg->count != 2 ||
	    !imap_arg_get_atom(&arg->list[0], &name) || strcasecmp(name, "UNCHANGEDSINCE") != 0)
		return -1;
	return modseq_arg(&arg->list[1], true, unchangedsince_r);
}

int imap_select_params_parse(const struct imap_arg *arg, struct imap_select_params *params_r,
                             const char **error_r)
{
	const char *name;

	memset(params_r, 0, sizeof(*params_r));
	*error_r = "Invalid SELECT parameters.";
	if (arg->type != IMAP_ARG_LIST)
		return -1;
	for (unsigned i = 0; i < arg->count; i++) {
		if (!imap_arg_get_atom(&arg->list[i], &name) || strcasecmp(name, "CONDSTORE") != 0)
			return -1;
		params_r->condstore = true;
	}
	return 0;
}

/* entry-type-req: only "all" means anything to a server without private flags; "priv" and
 * "shared" name the same values here (RFC 7162 3.1.5 lets a server treat them alike). */
static bool entry_type_valid(const char *s)
{
	return strcasecmp(s, "priv") == 0 || strcasecmp(s, "shared") == 0 ||
	       strcasecmp(s, "all") == 0;
}

int imap_search_modseq_parse(const struct imap_arg *args, unsigned count, uint64_t *modseq_r)
{
	const char *entry, *type;

	if (count >= 2 && modseq_arg(&args[1], true, modseq_r) == 0)
		return 2;
	if (count < 4 || !imap_arg_get_string(&args[1], &entry) ||
	    strncasecmp(entry, "/flags/", 7) != 0 || !imap_arg_get_atom(&args[2], &type) ||
	    !entry_type_valid(type) || modseq_arg(&args[3], true, modseq_r) < 0)
		return -1;
	return 4;
}
