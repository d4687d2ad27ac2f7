/*
 * SEARCH: the program parser (RETURN, CHARSET, every RFC 3501 key) and the result renderer.
 * Keys become a tree of struct skey; the top level and each parenthesised group is an AND node.
 * Recursion follows the client's nesting and is bounded by SEARCH_MAX_DEPTH.
 */
#include "server/imap/imap-search-private.h"
#include "server/imap/imap-condstore.h"

#include "common/buf.h"
#include "common/text.h"
#include "common/xalloc.h"
#include "storage/storage.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct parse_ctx {
	const struct imap_arg *args;
	unsigned int count, pos;
	const char *error;
	bool modseq; /* a MODSEQ key was parsed */
};

/* --- the key tree --- */

static struct skey *skey_new(enum skey_type type)
{
	struct skey *key = xcalloc(1, sizeof(*key));

	key->type = type;
	return key;
}

static void skey_add(struct skey *parent, struct skey *child)
{
	if (parent->child_count == parent->child_alloc) {
		parent->child_alloc = parent->child_alloc == 0 ? 4 : parent->child_alloc * 2;
		parent->children =
		    xreallocarray(parent->children, parent->child_alloc, sizeof(*parent->children));
	}
	parent->children[parent->child_count++] = child;
}

/* Recursion is bounded by SEARCH_MAX_DEPTH (the parser builds no deeper tree). */
static void skey_free(struct skey **keyp)
{
	struct skey *key = *keyp;

	if (key == NULL)
		return;
	for (unsigned int i = 0; i < key->child_count; i++)
		skey_free(&key->children[i]);
	xfree(&key->children);
	xfree(&key->field);
	xfree(&key->str);
	xfree(&key->ranges);
	xfree(keyp);
}

bool search_key_reads_file(const struct skey *key)
{
	switch (key->type) {
	case SKEY_SENTBEFORE:
	case SKEY_SENTON:
	case SKEY_SENTSINCE:
	case SKEY_HEADER:
	case SKEY_BODY:
	case SKEY_TEXT:
		return true;
	default:
		break;
	}
	for (unsigned int i = 0; i < key->child_count; i++) {
		if (search_key_reads_file(key->children[i]))
			return true;
	}
	return false;
}

/* --- arguments --- */

static const struct imap_arg *next_arg(struct parse_ctx *p)
{
	if (p->pos >= p->count) {
		p->error = "Missing search argument";
		return NULL;
	}
	return &p->args[p->pos++];
}

static bool next_string(struct parse_ctx *p, char **str_r, size_t *len_r)
{
	const struct imap_arg *arg = next_arg(p);
	const char *s;

	if (arg == NULL)
		return false;
	if (!imap_arg_get_astring(arg, &s) || strlen(s) != arg->str_len) {
		p->error = "Invalid search string";
		return false;
	}
	if (!text_is_utf8(s, arg->str_len)) {
		p->error = "Search string is not valid UTF-8";
		return false;
	}
	*str_r = xstrdup(s);
	if (len_r != NULL)
		*len_r = arg->str_len;
	return true;
}

static bool next_atom(struct parse_ctx *p, const char **str_r)
{
	const struct imap_arg *arg = next_arg(p);

	if (arg == NULL)
		return false;
	if (!imap_arg_get_astring(arg, str_r) || strlen(*str_r) != arg->str_len) {
		p->error = "Invalid search argument";
		return false;
	}
	return true;
}

static bool next_number(struct parse_ctx *p, uint64_t *num_r)
{
	const char *s;
	char *end;

	if (!next_atom(p, &s))
		return false;
	if (!isdigit((unsigned char)s[0]) || strlen(s) > 19 ||
	    (*num_r = strtoull(s, &end, 10), *end != '\0')) {
		p->error = "Invalid number";
		return false;
	}
	return true;
}

/* --- keys --- */

static struct skey *key_folded(struct parse_ctx *p, enum skey_type type, const char *field)
{
	struct skey *key;
	struct buf folded;
	char *s;
	size_t len;

	if (!next_string(p, &s, &len))
		return NULL;
	buf_init(&folded);
	search_fold(s, len, &folded);
	buf_append_str(&folded, "");
	xfree(&s);
	key = skey_new(type);
	key->str = folded.data;
	key->str_len = folded.len;
	key->field = field != NULL ? xstrdup(field) : NULL;
	return key;
}

static struct skey *key_header(struct parse_ctx *p)
{
	char *field;
	struct skey *key;

	if (!next_string(p, &field, NULL))
		return NULL;
	key = key_folded(p, SKEY_HEADER, field);
	xfree(&field);
	return key;
}

static struct skey *key_date(struct parse_ctx *p, enum skey_type type)
{
	struct skey *key;
	const char *s;
	uint32_t date;

	if (!next_atom(p, &s))
		return NULL;
	if ((date = search_date_parse(s)) == 0) {
		p->error = "Invalid search date";
		return NULL;
	}
	key = skey_new(type);
	key->number = date;
	return key;
}

static struct skey *key_number(struct parse_ctx *p, enum skey_type type)
{
	struct skey *key;
	uint64_t n;

	if (!next_number(p, &n))
		return NULL;
	key = skey_new(type);
	key->number = n;
	return key;
}

static struct skey *key_set(struct parse_ctx *p, enum skey_type type, const char *set)
{
	struct skey *key = skey_new(type);

	if (imap_seqset_parse(set, &key->ranges, &key->range_count, &p->error) < 0) {
		skey_free(&key);
		return NULL;
	}
	return key;
}

static struct skey *key_keyword(struct parse_ctx *p, bool negate)
{
	struct skey *key;
	char *name;

	if (!next_string(p, &name, NULL))
		return NULL;
	key = skey_new(SKEY_KEYWORD);
	key->str = name;
	key->negate = negate;
	return key;
}

static struct skey *key_flag(unsigned flag, bool negate)
{
	struct skey *key = skey_new(SKEY_FLAG);

	key->flag = flag;
	key->negate = negate;
	return key;
}

static struct skey *key_not(struct skey *child)
{
	struct skey *key = skey_new(SKEY_NOT);

	skey_add(key, child);
	return key;
}

static const struct {
	const char *name;
	unsigned flag;
	bool negate;
} flag_keys[] = {
    {"ANSWERED", MAIL_ANSWERED, false},  {"DELETED", MAIL_DELETED, false},
    {"DRAFT", MAIL_DRAFT, false},        {"FLAGGED", MAIL_FLAGGED, false},
    {"RECENT", MAIL_RECENT, false},      {"SEEN", MAIL_SEEN, false},
    {"UNANSWERED", MAIL_ANSWERED, true}, {"UNDELETED", MAIL_DELETED, true},
    {"UNDRAFT", MAIL_DRAFT, true},       {"UNFLAGGED", MAIL_FLAGGED, true},
    {"UNSEEN", MAIL_SEEN, true},         {"OLD", MAIL_RECENT, true},
};

static const struct {
	const char *name;
	enum skey_type type;
} arg_keys[] = {
    {"BEFORE", SKEY_BEFORE}, {"ON", SKEY_ON},
    {"SINCE", SKEY_SINCE},   {"SENTBEFORE", SKEY_SENTBEFORE},
    {"SENTON", SKEY_SENTON}, {"SENTSINCE", SKEY_SENTSINCE},
    {"LARGER", SKEY_LARGER}, {"SMALLER", SKEY_SMALLER},
    {"BODY", SKEY_BODY},     {"TEXT", SKEY_TEXT},
};

static const char *const header_keys[] = {"FROM", "TO", "CC", "BCC", "SUBJECT"};

static struct skey *parse_key(struct parse_ctx *p, unsigned int depth);

static struct skey *key_with_arg(struct parse_ctx *p, enum skey_type type)
{
	switch (type) {
	case SKEY_LARGER:
	case SKEY_SMALLER:
		return key_number(p, type);
	case SKEY_BODY:
	case SKEY_TEXT:
		return key_folded(p, type, NULL);
	default:
		return key_date(p, type);
	}
}

static struct skey *key_or(struct parse_ctx *p, unsigned int depth)
{
	struct skey *key = skey_new(SKEY_OR), *child;

	for (int i = 0; i < 2; i++) {
		if ((child = parse_key(p, depth + 1)) == NULL) {
			skey_free(&key);
			return NULL;
		}
		skey_add(key, child);
	}
	return key;
}

/* MODSEQ [entry-name entry-type] n: p->pos is past "MODSEQ". */
static struct skey *key_modseq(struct parse_ctx *p)
{
	struct skey *key;
	uint64_t modseq;
	int took = imap_search_modseq_parse(&p->args[p->pos - 1], p->count - (p->pos - 1), &modseq);

	if (took < 0) {
		p->error = "Invalid MODSEQ search key";
		return NULL;
	}
	p->pos += (unsigned)took - 1;
	p->modseq = true;
	key = skey_new(SKEY_MODSEQ);
	key->number = modseq;
	return key;
}

static struct skey *key_new_flags(void)
{
	struct skey *key = skey_new(SKEY_AND);

	skey_add(key, key_flag(MAIL_RECENT, false));
	skey_add(key, key_flag(MAIL_SEEN, true));
	return key;
}

/* Keys that take no argument or a fixed kind of argument. NULL with p->error unset: unknown. */
static struct skey *key_named(struct parse_ctx *p, const char *name, unsigned int depth)
{
	struct skey *child;
	const char *set;

	for (size_t i = 0; i < sizeof(flag_keys) / sizeof(flag_keys[0]); i++) {
		if (strcasecmp(name, flag_keys[i].name) == 0)
			return key_flag(flag_keys[i].flag, flag_keys[i].negate);
	}
	for (size_t i = 0; i < sizeof(arg_keys) / sizeof(arg_keys[0]); i++) {
		if (strcasecmp(name, arg_keys[i].name) == 0)
			return key_with_arg(p, arg_keys[i].type);
	}
	for (size_t i = 0; i < sizeof(header_keys) / sizeof(header_keys[0]); i++) {
		if (strcasecmp(name, header_keys[i]) == 0) {
			struct skey *key = key_folded(p, SKEY_HEADER, header_keys[i]);

			if (key != NULL)
				key->address = strcasecmp(name, "SUBJECT") != 0;
			return key;
		}
	}
	if (strcasecmp(name, "ALL") == 0)
		return skey_new(SKEY_ALL);
	if (strcasecmp(name, "NEW") == 0)
		return key_new_flags();
	if (strcasecmp(name, "HEADER") == 0)
		return key_header(p);
	if (strcasecmp(name, "KEYWORD") == 0 || strcasecmp(name, "UNKEYWORD") == 0)
		return key_keyword(p, toupper((unsigned char)name[0]) == 'U');
	if (strcasecmp(name, "OR") == 0)
		return key_or(p, depth);
	if (strcasecmp(name, "NOT") == 0)
		return (child = parse_key(p, depth + 1)) != NULL ? key_not(child) : NULL;
	if (strcasecmp(name, "UID") == 0 && next_atom(p, &set))
		return strcmp(set, "$") == 0 ? skey_new(SKEY_SAVED) : key_set(p, SKEY_UIDSET, set);
	if (strcasecmp(name, "UID") == 0)
		return NULL;
	if (strcasecmp(name, "MODSEQ") == 0)
		return key_modseq(p);
	return NULL;
}

static struct skey *parse_group(struct parse_ctx *p, const struct imap_arg *list,
                                unsigned int depth)
{
	struct parse_ctx sub = {.args = list->list, .count = list->count};
	struct skey *key = skey_new(SKEY_AND), *child;

	if (list->count == 0) {
		p->error = "Empty search group";
		skey_free(&key);
		return NULL;
	}
	while (sub.pos < sub.count) {
		if ((child = parse_key(&sub, depth + 1)) == NULL) {
			p->error = sub.error;
			skey_free(&key);
			return NULL;
		}
		skey_add(key, child);
	}
	return key;
}

static struct skey *parse_key(struct parse_ctx *p, unsigned int depth)
{
	const struct imap_arg *arg;
	struct skey *key;
	const char *name;

	if (depth > SEARCH_MAX_DEPTH) {
		p->error = "Search program nested too deeply";
		return NULL;
	}
	if ((arg = next_arg(p)) == NULL)
		return NULL;
	if (arg->type == IMAP_ARG_LIST)
		return parse_group(p, arg, depth);
	if (!imap_arg_get_atom(arg, &name)) {
		p->error = "Invalid search key";
		return NULL;
	}
	if (strcmp(name, "$") == 0)
		return skey_new(SKEY_SAVED);
	if (isdigit((unsigned char)name[0]) || name[0] == '*' || name[0] == '$')
		return key_set(p, SKEY_SEQSET, name);
	key = key_named(p, name, depth);
	if (key == NULL && p->error == NULL)
		p->error = "Unknown search key";
	return key;
}

/* --- RETURN and CHARSET --- */

static const struct {
	const char *name;
	unsigned bit;
} return_opts[] = {
    {"MIN", IMAP_SEARCH_RETURN_MIN},         {"MAX", IMAP_SEARCH_RETURN_MAX},
    {"ALL", IMAP_SEARCH_RETURN_ALL},         {"COUNT", IMAP_SEARCH_RETURN_COUNT},
    {"PARTIAL", IMAP_SEARCH_RETURN_PARTIAL}, {"UPDATE", IMAP_SEARCH_RETURN_UPDATE},
    {"CONTEXT", IMAP_SEARCH_RETURN_CONTEXT}, {"SAVE", IMAP_SEARCH_RETURN_SAVE},
};

static int parse_partial_number(const char *s, char **end_r, int64_t *n_r)
{
	bool minus = *s == '-';
	uint64_t n;

	s += minus;
	if (*s < '1' || *s > '9' || strspn(s, "0123456789") > 10)
		return -1;
	n = strtoull(s, end_r, 10);
	if (n > UINT32_MAX)
		return -1;
	*n_r = minus ? -(int64_t)n : (int64_t)n;
	return 0;
}

int imap_search_partial_parse(const char *s, int64_t *lo_r, int64_t *hi_r)
{
	char *end;

	if (parse_partial_number(s, &end, lo_r) < 0 || *end != ':' ||
	    parse_partial_number(end + 1, &end, hi_r) < 0 || *end != '\0')
		return -1;
	return (*lo_r < 0) == (*hi_r < 0) ? 0 : -1;
}

void imap_search_partial_window(int64_t lo, int64_t hi, size_t count, size_t *first_r, size_t *n_r)
{
	uint64_t a = (uint64_t)(lo < 0 ? -lo : lo), b = (uint64_t)(hi < 0 ? -hi : hi), t;

	if (a > b) {
		t = a;
		a = b;
		b = t;
	}
	*first_r = 0;
	*n_r = 0;
	if (a > count)
		return;
	if (b > count)
		b = count;
	/* -1 is the last result: -a:-b counts back from it */
	*first_r = lo < 0 ? count - (size_t)b : (size_t)a - 1;
	*n_r = (size_t)(b - a + 1);
}

/* One option of RETURN (...) at list[*i]; PARTIAL takes the next element too. */
static int parse_return_option(struct parse_ctx *p, const struct imap_arg *list, unsigned count,
                               unsigned *i, struct imap_search *s)
{
	const char *name, *range;

	if (!imap_arg_get_atom(&list[*i], &name))
		return -1;
	for (size_t k = 0; k < sizeof(return_opts) / sizeof(return_opts[0]); k++) {
		if (strcasecmp(name, return_opts[k].name) != 0)
			continue;
		if ((s->ret & return_opts[k].bit) != 0) {
			p->error = "RETURN option given twice";
			return -1;
		}
		s->ret |= return_opts[k].bit;
		if (return_opts[k].bit != IMAP_SEARCH_RETURN_PARTIAL)
			return 0;
		if (++*i >= count || !imap_arg_get_atom(&list[*i], &range) ||
		    imap_search_partial_parse(range, &s->partial_lo, &s->partial_hi) < 0) {
			p->error = "PARTIAL needs a range m:n or -m:-n";
			return -1;
		}
		return 0;
	}
	return -1;
}

static int parse_return(struct parse_ctx *p, struct imap_search *s)
{
	const struct imap_arg *arg;

	p->pos++;
	if ((arg = next_arg(p)) == NULL || arg->type != IMAP_ARG_LIST) {
		p->error = "RETURN needs a list of options";
		return -1;
	}
	s->esearch = true;
	for (unsigned int i = 0; i < arg->count; i++) {
		if (parse_return_option(p, arg->list, arg->count, &i, s) < 0) {
			if (p->error == NULL)
				p->error = "Unsupported RETURN option";
			return -1;
		}
	}
	if ((s->ret & IMAP_SEARCH_RETURN_PARTIAL) != 0 && (s->ret & IMAP_SEARCH_RETURN_ALL) != 0) {
		p->error = "RETURN cannot have both PARTIAL and ALL";
		return -1;
	}
	if (arg->count == 0)
		s->ret = IMAP_SEARCH_RETURN_ALL; /* RFC 4731: () means (ALL) */
	return 0;
}

static bool arg_is(const struct parse_ctx *p, const char *word)
{
	const char *name;

	return p->pos < p->count && imap_arg_get_atom(&p->args[p->pos], &name) &&
	       strcasecmp(name, word) == 0;
}

static int parse_charset(struct parse_ctx *p, bool *bad_charset_r)
{
	const char *charset;

	p->pos++;
	if (!next_atom(p, &charset))
		return -1;
	if (strcasecmp(charset, "US-ASCII") != 0 && strcasecmp(charset, "UTF-8") != 0) {
		*bad_charset_r = true;
		p->error = "Unsupported charset";
		return -1;
	}
	return 0;
}

static int parse_program(struct parse_ctx *p, struct imap_search *s, bool *bad_charset_r)
{
	struct skey *child;

	if (arg_is(p, "RETURN") && parse_return(p, s) < 0)
		return -1;
	if (arg_is(p, "CHARSET") && parse_charset(p, bad_charset_r) < 0)
		return -1;
	if (p->pos >= p->count) {
		p->error = "Missing search keys";
		return -1;
	}
	s->root = skey_new(SKEY_AND);
	while (p->pos < p->count) {
		if ((child = parse_key(p, 1)) == NULL)
			return -1;
		skey_add(s->root, child);
	}
	s->modseq = p->modseq;
	return 0;
}

int imap_search_parse(const struct imap_arg *args, struct imap_search **search_r,
                      bool *bad_charset_r, const char **error_r)
{
	struct imap_search *s = xcalloc(1, sizeof(*s));
	struct parse_ctx p = {.args = args, .count = 1};

	*bad_charset_r = false;
	if (args->type == IMAP_ARG_LIST) {
		p.args = args->list;
		p.count = args->count;
	}
	if (parse_program(&p, s, bad_charset_r) < 0) {
		*error_r = p.error;
		imap_search_free(&s);
		return -1;
	}
	*search_r = s;
	return 0;
}

void imap_search_free(struct imap_search **searchp)
{
	struct imap_search *s = *searchp;

	if (s == NULL)
		return;
	skey_free(&s->root);
	xfree(searchp);
}

unsigned imap_search_return(const struct imap_search *search)
{
	return search->ret;
}

bool imap_search_is_esearch(const struct imap_search *search)
{
	return search->esearch;
}

void imap_search_partial_range(const struct imap_search *search, int64_t *lo_r, int64_t *hi_r)
{
	*lo_r = search->partial_lo;
	*hi_r = search->partial_hi;
}

bool imap_search_has_reply(const struct imap_search *search)
{
	return !search->esearch || (search->ret & IMAP_SEARCH_RETURN_SAVE) == 0 ||
	       (search->ret & ~(unsigned)IMAP_SEARCH_RETURN_SAVE) != 0;
}

void imap_search_set_saved(struct imap_search *search, const uint32_t *uids, size_t count)
{
	search->saved = uids;
	search->saved_count = count;
}

void imap_search_force_esearch(struct imap_search *search)
{
	if (search->esearch)
		return;
	search->esearch = true;
	search->ret = IMAP_SEARCH_RETURN_ALL;
}

bool imap_search_has_modseq(const struct imap_search *search)
{
	return search->modseq;
}

/* --- rendering --- */

/* Ranges only where the numbers ascend by one: in SORT's order a range would read as
 * ascending (RFC 5267 section 3.2). */
void imap_search_render_set(struct buf *out, const uint32_t *v, size_t count)
{
	for (size_t i = 0; i < count;) {
		size_t j = i;

		while (j + 1 < count && v[j + 1] == v[j] + 1)
			j++;
		buf_printf(out, "%s%u", i > 0 ? "," : "", v[i]);
		if (j > i)
			buf_printf(out, ":%u", v[j]);
		i = j + 1;
	}
}

void imap_search_render_tag(struct buf *out, const char *tag)
{
	buf_append_str(out, "* ESEARCH (TAG \"");
	for (; *tag != '\0'; tag++) {
		if (*tag == '"' || *tag == '\\')
			buf_append_str(out, "\\");
		buf_append(out, tag, 1);
	}
	buf_append_str(out, "\")");
}

/* " PARTIAL (lo:hi set)", the range as the client wrote it; NIL when the window is empty. */
static void render_partial(const struct imap_search *search, const uint32_t *matches, size_t count,
                           struct buf *out)
{
	size_t first, n;

	imap_search_partial_window(search->partial_lo, search->partial_hi, count, &first, &n);
	buf_printf(out, " PARTIAL (%lld:%lld ", (long long)search->partial_lo,
	           (long long)search->partial_hi);
	if (n == 0)
		buf_append_str(out, "NIL");
	else
		imap_search_render_set(out, matches + first, n);
	buf_append_str(out, ")");
}

void imap_search_render(const struct imap_search *search, const char *tag, bool uid,
                        const uint32_t *matches, size_t count, struct buf *out)
{
	if (!search->esearch) {
		buf_append_str(out, "* SEARCH");
		for (size_t i = 0; i < count; i++)
			buf_printf(out, " %u", matches[i]);
		return;
	}
	imap_search_render_tag(out, tag);
	if (uid)
		buf_append_str(out, " UID");
	if (count > 0 && (search->ret & IMAP_SEARCH_RETURN_MIN) != 0)
		buf_printf(out, " MIN %u", matches[0]);
	if (count > 0 && (search->ret & IMAP_SEARCH_RETURN_MAX) != 0)
		buf_printf(out, " MAX %u", matches[count - 1]);
	if (count > 0 && (search->ret & IMAP_SEARCH_RETURN_ALL) != 0) {
		buf_append_str(out, " ALL ");
		imap_search_render_set(out, matches, count);
	}
	if ((search->ret & IMAP_SEARCH_RETURN_PARTIAL) != 0)
		render_partial(search, matches, count, out);
	if ((search->ret & IMAP_SEARCH_RETURN_COUNT) != 0)
		buf_printf(out, " COUNT %zu", count);
}
