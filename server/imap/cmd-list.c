/* LIST (RFC 3501, LIST-EXTENDED RFC 5258, SPECIAL-USE RFC 6154, LIST-STATUS RFC 5819) and LSUB. */
#include "server/imap/imap-client.h"
#include "server/imap/imap-reply.h"
#include "common/buf.h"
#include "common/xalloc.h"
#include "server/conn.h"
#include "storage/storage.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IMAP_PATTERN_MAX  1024
#define IMAP_PATTERNS_MAX 32

enum imap_list_sel {
	LIST_SEL_SUBSCRIBED = 1 << 0,
	LIST_SEL_RECURSIVEMATCH = 1 << 1,
	LIST_SEL_SPECIAL_USE = 1 << 2,
};

enum imap_list_ret {
	LIST_RET_SUBSCRIBED = 1 << 0,
	LIST_RET_CHILDREN = 1 << 1,
	LIST_RET_SPECIAL_USE = 1 << 2,
	LIST_RET_STATUS = 1 << 3,
};

struct imap_list_box {
	char *name;
	unsigned special;
	bool subscribed, has_children, nonexistent;
};

struct imap_list {
	bool extended, lsub;
	unsigned sel, ret;
	uint64_t status_items;
	char *patterns[IMAP_PATTERNS_MAX];
	unsigned n_patterns;
	struct imap_list_box *boxes;
	size_t n_boxes, alloc;
};

/* --- pattern matching: '*' anything, '%' anything but the separator --- */

/* Dynamic programming over the name (no recursion, O(pattern x name)). */
static bool imap_list_match(const char *pattern, const char *name)
{
	size_t nlen = strlen(name);
	bool *row = xcalloc(nlen + 1, sizeof(bool)), *next = xcalloc(nlen + 1, sizeof(bool));
	bool result;

	row[0] = true;
	for (const char *p = pattern; *p != '\0'; p++) {
		bool *t;

		memset(next, 0, nlen + 1);
		for (size_t j = 0; j <= nlen; j++) {
			if (*p == '*' || *p == '%') {
				/* empty match, or extend a match by one octet */
				next[j] = row[j] || (j > 0 && next[j - 1] &&
				                     (*p == '*' || name[j - 1] != '.'));
			} else {
				next[j] = j > 0 && row[j - 1] && name[j - 1] == *p;
			}
		}
		t = row;
		row = next;
		next = t;
	}
	result = row[nlen];
	xfree(&row);
	xfree(&next);
	return result;
}

/* reference + pattern, with a leading "INBOX" in any case written as INBOX */
static char *imap_list_pattern(const char *ref, const char *pattern)
{
	char *p = xasprintf("%s%s", ref, pattern);

	if (strncasecmp(p, "INBOX", 5) == 0 && (p[5] == '\0' || p[5] == '.'))
		memcpy(p, "INBOX", 5);
	return p;
}

/* --- the mailbox list --- */

static struct imap_list_box *imap_list_box_add(struct imap_list *l, const char *name)
{
	struct imap_list_box *b;

	if (l->n_boxes == l->alloc) {
		l->alloc = l->alloc == 0 ? 16 : l->alloc * 2;
		l->boxes = xreallocarray(l->boxes, l->alloc, sizeof(*l->boxes));
	}
	b = &l->boxes[l->n_boxes++];
	memset(b, 0, sizeof(*b));
	b->name = xstrdup(strcasecmp(name, "INBOX") == 0 ? "INBOX" : name);
	return b;
}

static void imap_list_collect(const struct mailbox_info *info, void *ctx)
{
	struct imap_list_box *b = imap_list_box_add(ctx, info->name);

	b->special = info->special;
	b->subscribed = info->subscribed;
	b->has_children = info->has_children;
	b->nonexistent = info->nonexistent;
}

static bool imap_list_has_box(const struct imap_list *l, const char *name)
{
	for (size_t i = 0; i < l->n_boxes; i++) {
		if (strcmp(l->boxes[i].name, name) == 0)
			return true;
	}
	return false;
}

/* INBOX first, then by name: the order of the storage's listing. */
static int imap_list_box_cmp(const void *a, const void *b)
{
	const struct imap_list_box *x = a, *y = b;
	bool xi = strcmp(x->name, "INBOX") == 0, yi = strcmp(y->name, "INBOX") == 0;

	if (xi != yi)
		return xi ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The parents of subscribed names that the storage does not list (a stale subscription's
 * parent), as non-existent mailboxes: LSUB and RECURSIVEMATCH may have to report them. */
static void imap_list_add_subscribed_parents(struct imap_list *l)
{
	size_t n = l->n_boxes, before = n;

	for (size_t i = 0; i < n; i++) {
		char *copy;

		if (!l->boxes[i].subscribed)
			continue;
		copy = xstrdup(l->boxes[i].name);
		for (char *dot = strrchr(copy, '.'); dot != NULL; dot = strrchr(copy, '.')) {
			*dot = '\0';
			if (strcasecmp(copy, "INBOX") != 0 && !imap_list_has_box(l, copy)) {
				struct imap_list_box *b = imap_list_box_add(l, copy);

				b->nonexistent = b->has_children = true;
			}
		}
		xfree(&copy);
	}
	if (l->n_boxes > before)
		qsort(l->boxes, l->n_boxes, sizeof(*l->boxes), imap_list_box_cmp);
}

static void imap_list_free(struct imap_list *l)
{
	for (size_t i = 0; i < l->n_boxes; i++)
		xfree(&l->boxes[i].name);
	xfree(&l->boxes);
	for (unsigned i = 0; i < l->n_patterns; i++)
		xfree(&l->patterns[i]);
}

static bool imap_list_matches(const struct imap_list *l, const char *name)
{
	for (unsigned i = 0; i < l->n_patterns; i++) {
		if (imap_list_match(l->patterns[i], name))
			return true;
	}
	return false;
}

enum imap_list_children {
	LIST_CHILD_SUBSCRIBED = 1 << 0, /* a subscribed mailbox lies beneath */
	LIST_CHILD_UNMATCHED = 1 << 1,  /* ... and one of them matches no pattern */
};

/* What lies beneath b (LSUB's \Noselect parents, RECURSIVEMATCH's CHILDINFO). */
static unsigned imap_list_subscribed_children(const struct imap_list *l,
                                              const struct imap_list_box *b)
{
	size_t len = strlen(b->name);
	unsigned found = 0;

	for (size_t i = 0; i < l->n_boxes; i++) {
		const struct imap_list_box *o = &l->boxes[i];

		if (!o->subscribed || strncmp(o->name, b->name, len) != 0 || o->name[len] != '.')
			continue;
		found |= LIST_CHILD_SUBSCRIBED;
		if (!imap_list_matches(l, o->name))
			found |= LIST_CHILD_UNMATCHED;
	}
	return found;
}

static const struct {
	unsigned special;
	const char *attr;
} imap_special_attrs[] = {
    {MAILBOX_SPECIAL_SENT, "\\Sent"},       {MAILBOX_SPECIAL_DRAFTS, "\\Drafts"},
    {MAILBOX_SPECIAL_TRASH, "\\Trash"},     {MAILBOX_SPECIAL_JUNK, "\\Junk"},
    {MAILBOX_SPECIAL_ARCHIVE, "\\Archive"},
};

/* How a mailbox is listed. */
enum imap_list_how {
	LIST_SKIP,
	LIST_PLAIN,
	LIST_CHILDINFO, /* with ("CHILDINFO" ("SUBSCRIBED")) */
	LIST_NOSELECT,  /* LSUB: not subscribed, but the parent of a subscribed one */
};

static void imap_list_attrs(const struct imap_list *l, const struct imap_list_box *b,
                            enum imap_list_how how, struct buf *out)
{
	size_t start = out->len;

	if (b->nonexistent || how == LIST_NOSELECT)
		buf_append_str(out, l->extended ? " \\NonExistent" : " \\Noselect");
	if (!l->lsub)
		buf_append_str(out, b->has_children ? " \\HasChildren" : " \\HasNoChildren");
	if (b->subscribed && (l->sel & LIST_SEL_SUBSCRIBED || l->ret & LIST_RET_SUBSCRIBED))
		buf_append_str(out, " \\Subscribed");
	for (size_t i = 0;
	     !l->lsub && i < sizeof(imap_special_attrs) / sizeof(imap_special_attrs[0]); i++) {
		if ((b->special & imap_special_attrs[i].special) != 0)
			buf_printf(out, " %s", imap_special_attrs[i].attr);
	}
	if (out->len > start) {
		/* drop the first space */
		memmove(out->data + start, out->data + start + 1, out->len - start - 1);
		out->len--;
		out->data[out->len] = '\0';
	}
}

/* A mailbox that is not subscribed itself is listed by LSUB (as \Noselect, RFC 3501 6.3.9)
 * and by RECURSIVEMATCH (with CHILDINFO) only for a subscribed mailbox beneath it that the
 * response does not hold itself (RFC 5258 3.5); a subscribed one gets CHILDINFO for any. */
static enum imap_list_how imap_list_selected(const struct imap_list *l,
                                             const struct imap_list_box *b)
{
	bool sub_only = (l->sel & LIST_SEL_SUBSCRIBED) != 0 || l->lsub;
	bool recursive = (l->sel & LIST_SEL_RECURSIVEMATCH) != 0;
	unsigned children;

	if (!imap_list_matches(l, b->name))
		return LIST_SKIP;
	if ((l->sel & LIST_SEL_SPECIAL_USE) != 0 && b->special == 0)
		return LIST_SKIP;
	if (sub_only && !b->subscribed) {
		if ((!l->lsub && !recursive) ||
		    (imap_list_subscribed_children(l, b) & LIST_CHILD_UNMATCHED) == 0)
			return LIST_SKIP;
		return l->lsub ? LIST_NOSELECT : LIST_CHILDINFO;
	}
	if (!sub_only && b->nonexistent && b->subscribed && !b->has_children)
		return LIST_SKIP; /* a stale subscription: only LSUB and LIST (SUBSCRIBED) show it
		                   */
	children = recursive && sub_only ? imap_list_subscribed_children(l, b) : 0;
	return (children & LIST_CHILD_SUBSCRIBED) != 0 ? LIST_CHILDINFO : LIST_PLAIN;
}

static void imap_list_write_one(struct imap_client *c, const struct imap_list *l,
                                const struct imap_list_box *b, enum imap_list_how how)
{
	struct buf out;
	const char *error;

	buf_init(&out);
	buf_printf(&out, "* %s (", l->lsub ? "LSUB" : "LIST");
	imap_list_attrs(l, b, how, &out);
	buf_append_str(&out, ") \".\" ");
	imap_append_mailbox(&out, b->name);
	if (how == LIST_CHILDINFO)
		buf_append_str(&out, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	buf_append_str(&out, "\r\n");
	conn_write(c->conn, out.data, out.len);
	buf_free(&out);
	if ((l->ret & LIST_RET_STATUS) != 0 && !b->nonexistent)
		imap_status_write(c, b->name, l->status_items, &error);
}

static void imap_list_write(struct imap_client *c, struct imap_list *l)
{
	if (l->lsub || (l->sel & LIST_SEL_RECURSIVEMATCH) != 0)
		imap_list_add_subscribed_parents(l);
	for (size_t i = 0; i < l->n_boxes; i++) {
		enum imap_list_how how = imap_list_selected(l, &l->boxes[i]);

		if (how != LIST_SKIP)
			imap_list_write_one(c, l, &l->boxes[i], how);
	}
}

/* --- arguments --- */

static int imap_list_sel_parse(struct imap_list *l, const struct imap_arg *arg)
{
	const struct imap_arg *list;
	unsigned count;
	const char *opt;

	l->extended = true;
	imap_arg_get_list(arg, &list, &count);
	for (unsigned i = 0; i < count; i++) {
		if (!imap_arg_get_atom(&list[i], &opt))
			return -1;
		if (strcasecmp(opt, "SUBSCRIBED") == 0)
			l->sel |= LIST_SEL_SUBSCRIBED;
		else if (strcasecmp(opt, "RECURSIVEMATCH") == 0)
			l->sel |= LIST_SEL_RECURSIVEMATCH;
		else if (strcasecmp(opt, "SPECIAL-USE") == 0)
			l->sel |= LIST_SEL_SPECIAL_USE;
		else if (strcasecmp(opt, "REMOTE") != 0)
			return -1;
	}
	/* RECURSIVEMATCH alone is an error (RFC 5258 3) */
	if ((l->sel & LIST_SEL_RECURSIVEMATCH) != 0 &&
	    (l->sel & (LIST_SEL_SUBSCRIBED | LIST_SEL_SPECIAL_USE)) == 0)
		return -1;
	return 0;
}

static int imap_list_ret_parse(struct imap_list *l, const struct imap_arg *arg)
{
	const struct imap_arg *list;
	unsigned count;
	const char *opt;

	l->extended = true;
	if (!imap_arg_get_list(arg, &list, &count))
		return -1;
	for (unsigned i = 0; i < count; i++) {
		if (!imap_arg_get_atom(&list[i], &opt))
			return -1;
		if (strcasecmp(opt, "SUBSCRIBED") == 0)
			l->ret |= LIST_RET_SUBSCRIBED;
		else if (strcasecmp(opt, "CHILDREN") == 0)
			l->ret |= LIST_RET_CHILDREN;
		else if (strcasecmp(opt, "SPECIAL-USE") == 0)
			l->ret |= LIST_RET_SPECIAL_USE;
		else if (strcasecmp(opt, "STATUS") == 0 && i + 1 < count &&
		         imap_status_items_parse(&list[i + 1], &l->status_items) == 0) {
			l->ret |= LIST_RET_STATUS;
			i++;
		} else {
			return -1;
		}
	}
	return 0;
}

static int imap_list_add_pattern(struct imap_list *l, const char *ref, const struct imap_arg *a)
{
	const char *pattern;

	if (!imap_arg_get_astring(a, &pattern) || strlen(pattern) > IMAP_PATTERN_MAX ||
	    l->n_patterns == IMAP_PATTERNS_MAX)
		return -1;
	l->patterns[l->n_patterns++] = imap_list_pattern(ref, pattern);
	return 0;
}

static int imap_list_patterns_parse(struct imap_list *l, const char *ref,
                                    const struct imap_arg *arg)
{
	const struct imap_arg *list;
	unsigned count;

	if (arg->type != IMAP_ARG_LIST)
		return imap_list_add_pattern(l, ref, arg);
	l->extended = true;
	imap_arg_get_list(arg, &list, &count);
	for (unsigned i = 0; i < count; i++) {
		if (imap_list_add_pattern(l, ref, &list[i]) < 0)
			return -1;
	}
	return count > 0 ? 0 : -1;
}

static int imap_list_args(struct imap_list *l, const struct imap_arg *a, unsigned n)
{
	unsigned i = 0;
	const char *ref, *word;

	if (n > 0 && a[0].type == IMAP_ARG_LIST && !l->lsub) {
		if (imap_list_sel_parse(l, &a[0]) < 0)
			return -1;
		i++;
	}
	if (i + 2 > n || !imap_arg_get_astring(&a[i], &ref) || strlen(ref) > IMAP_PATTERN_MAX)
		return -1;
	if ((l->lsub && a[i + 1].type == IMAP_ARG_LIST) ||
	    imap_list_patterns_parse(l, ref, &a[i + 1]) < 0)
		return -1;
	i += 2;
	if (i < n && !l->lsub) {
		if (i + 2 != n || !imap_arg_get_atom(&a[i], &word) ||
		    strcasecmp(word, "RETURN") != 0 || imap_list_ret_parse(l, &a[i + 1]) < 0)
			return -1;
		i += 2;
	}
	return i == n ? 0 : -1;
}

static enum imap_cmd_result imap_list_run(struct imap_client *c, const struct imap_arg *a,
                                          unsigned n, bool lsub)
{
	struct imap_list l;
	const char *error;

	memset(&l, 0, sizeof(l));
	l.lsub = lsub;
	if (imap_list_args(&l, a, n) < 0) {
		imap_list_free(&l);
		return imap_bad(c, lsub ? "LSUB takes a reference and a pattern."
		                        : "Invalid LIST arguments.");
	}
	if (!l.extended && l.n_patterns == 1 && l.patterns[0][0] == '\0') {
		/* the hierarchy delimiter query */
		imap_untagged(c, "%s (\\Noselect) \".\" \"\"", lsub ? "LSUB" : "LIST");
	} else if (mail_storage_list(c->storage, imap_list_collect, &l, &error) < 0) {
		imap_list_free(&l);
		imap_storage_error(c, lsub ? "Lsub" : "List", error);
		return IMAP_CMD_OK;
	} else {
		imap_list_write(c, &l);
	}
	imap_list_free(&l);
	imap_ok(c, "%s completed.", lsub ? "Lsub" : "List");
	return IMAP_CMD_OK;
}

void imap_list_selected_mailbox(struct imap_client *c, const char *name)
{
	const char *error, *want = strcasecmp(name, "INBOX") == 0 ? "INBOX" : name;
	struct imap_list l;

	memset(&l, 0, sizeof(l));
	if (mail_storage_list(c->storage, imap_list_collect, &l, &error) == 0) {
		for (size_t i = 0; i < l.n_boxes; i++) {
			if (strcmp(l.boxes[i].name, want) == 0) {
				imap_list_write_one(c, &l, &l.boxes[i], LIST_PLAIN);
				break;
			}
		}
	}
	imap_list_free(&l);
}

bool imap_list_only_parent(struct imap_client *c, const char *name)
{
	const char *error;
	struct imap_list l;
	bool parent = false;

	memset(&l, 0, sizeof(l));
	if (mail_storage_list(c->storage, imap_list_collect, &l, &error) == 0) {
		for (size_t i = 0; i < l.n_boxes && !parent; i++) {
			parent = strcmp(l.boxes[i].name, name) == 0 && l.boxes[i].nonexistent &&
			         l.boxes[i].has_children;
		}
	}
	imap_list_free(&l);
	return parent;
}

enum imap_cmd_result imap_cmd_list(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	return imap_list_run(c, a, n, false);
}

enum imap_cmd_result imap_cmd_lsub(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	return imap_list_run(c, a, n, true);
}
