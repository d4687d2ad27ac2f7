/* Parameters of the CONDSTORE commands (RFC 7162 section 7). Each takes an already parsed
 * argument tree: the bounds are the parser's, and these read a fixed number of elements. */
#include "server/imap/imap-condstore.h"
#include "server/imap/imap-search.h"
#include "common/xalloc.h"

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

static int qresync_uidvalidity(const struct imap_arg *arg, uint32_t *uidvalidity_r)
{
	uint64_t v;

	if (modseq_arg(arg, false, &v) < 0 || v > UINT32_MAX)
		return -1;
	*uidvalidity_r = (uint32_t)v;
	return 0;
}

/* seq-match-data: two sets of as many numbers, without '*'. */
static int qresync_seq_match(const struct imap_arg *arg, struct imap_qresync_params *q)
{
	const char *seqs, *uids;

	if (arg->count != 2 || !imap_arg_get_atom(&arg->list[0], &seqs) ||
	    !imap_arg_get_atom(&arg->list[1], &uids) ||
	    imap_uidset_parse(seqs, 0, &q->seqs, &q->seqs_count) < 0 ||
	    imap_uidset_parse(uids, 0, &q->uids, &q->uids_count) < 0)
		return -1;
	return imap_uidset_size(q->seqs, q->seqs_count) == imap_uidset_size(q->uids, q->uids_count)
	           ? 0
	           : -1;
}

static int qresync_parse(const struct imap_arg *arg, struct imap_qresync_params *q)
{
	const struct imap_arg *a = arg->list;
	unsigned i = 2;
	const char *known;

	if (arg->type != IMAP_ARG_LIST || arg->count < 2 || arg->count > 4 ||
	    qresync_uidvalidity(&a[0], &q->uidvalidity) < 0 ||
	    modseq_arg(&a[1], true, &q->modseq) < 0)
		return -1;
	if (i < arg->count && imap_arg_get_atom(&a[i], &known)) {
		if (imap_uidset_parse(known, 0, &q->known, &q->known_count) < 0)
			return -1;
		i++;
	}
	if (i < arg->count && (a[i].type != IMAP_ARG_LIST || qresync_seq_match(&a[i++], q) < 0))
		return -1;
	return i == arg->count ? 0 : -1;
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
		if (!imap_arg_get_atom(&arg->list[i], &name))
			return -1;
		if (strcasecmp(name, "CONDSTORE") == 0 && !params_r->condstore) {
			params_r->condstore = true;
		} else if (strcasecmp(name, "QRESYNC") == 0 && !params_r->qresync &&
		           i + 1 < arg->count) {
			params_r->qresync = true;
			if (qresync_parse(&arg->list[++i], &params_r->q) < 0) {
				*error_r = "Invalid QRESYNC parameters.";
				return -1;
			}
		} else {
			return -1;
		}
	}
	return 0;
}

void imap_select_params_free(struct imap_select_params *params)
{
	xfree(&params->q.known);
	xfree(&params->q.seqs);
	xfree(&params->q.uids);
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
