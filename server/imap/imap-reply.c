/* Response writer: replies, strings, flag lists, modified UTF-7 checks. */
#include "server/imap/imap-reply.h"
#include "common/buf.h"
#include "common/xalloc.h"
#include "server/conn.h"
#include "storage/storage.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define IMAP_QUOTED_MAX 1024

/* Formats into a heap string (replies may carry long COPYUID sets). */
char *imap_vformat(const char *fmt, va_list ap)
{
	va_list copy;
	char *text;
	int n;

	va_copy(copy, ap);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		n = 0;
	text = xmalloc((size_t)n + 1);
	vsnprintf(text, (size_t)n + 1, fmt, ap);
	return text;
}

static void imap_vreply(struct imap_client *c, const char *prefix, const char *status,
                        const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

static void imap_vreply(struct imap_client *c, const char *prefix, const char *status,
                        const char *fmt, va_list ap)
{
	char *text = imap_vformat(fmt, ap);

	if (status != NULL)
		conn_printf(c->conn, "%s %s %s\r\n", prefix, status, text);
	else
		conn_printf(c->conn, "%s %s\r\n", prefix, text);
	xfree(&text);
}

void imap_tagged(struct imap_client *c, const char *status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	imap_vreply(c, c->tag != NULL ? c->tag : "*", status, fmt, ap);
	va_end(ap);
}

void imap_untagged(struct imap_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	imap_vreply(c, "*", NULL, fmt, ap);
	va_end(ap);
}

enum imap_cmd_result imap_bad(struct imap_client *c, const char *msg)
{
	if (c->state == IMAP_STATE_NOAUTH && ++c->bad_commands >= IMAP_MAX_BAD_COMMANDS_PRELOGIN) {
		imap_tagged(c, "BAD", "%s", msg);
		imap_untagged(c, "BYE Too many invalid commands.");
		return IMAP_CMD_END;
	}
	imap_tagged(c, "BAD", "%s", msg);
	return IMAP_CMD_BAD;
}

static bool imap_quotable(const char *s, size_t len)
{
	if (len > IMAP_QUOTED_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '\0' || ch == '\r' || ch == '\n' || ch >= 0x80)
			return false;
	}
	return true;
}

void imap_append_string(struct buf *out, const char *s, size_t len)
{
	if (!imap_quotable(s, len)) {
		buf_printf(out, "{%zu}\r\n", len);
		buf_append(out, s, len);
		return;
	}
	buf_append_str(out, "\"");
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_append_str(out, "\\");
		buf_append(out, s + i, 1);
	}
	buf_append_str(out, "\"");
}

void imap_append_mailbox(struct buf *out, const char *name)
{
	if (strcasecmp(name, "INBOX") == 0)
		name = "INBOX";
	imap_append_string(out, name, strlen(name));
}

void imap_append_nstring(struct buf *out, const char *s)
{
	size_t len;
	bool literal = false;

	if (s == NULL) {
		buf_append_str(out, "NIL");
		return;
	}
	len = strlen(s);
	for (size_t i = 0; i < len && !literal; i++) {
		unsigned char c = (unsigned char)s[i];

		literal = c == '\r' || c == '\n' || c >= 0x80;
	}
	if (literal) {
		buf_printf(out, "{%zu}\r\n", len);
		buf_append(out, s, len);
		return;
	}
	buf_append_str(out, "\"");
	for (const char *c = s; *c != '\0'; c++) {
		if (*c == '"' || *c == '\\')
			buf_append_str(out, "\\");
		buf_append(out, c, 1);
	}
	buf_append_str(out, "\"");
}

/* --- modified UTF-7 --- */

static int imap_b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == ',')
		return 63;
	return -1;
}

/* Checks one UTF-16 code unit of a shifted run. */
static bool imap_mutf7_unit(unsigned unit, unsigned *high)
{
	if (*high != 0) {
		if (unit < 0xdc00 || unit > 0xdfff)
			return false;
		*high = 0;
		return true;
	}
	if (unit >= 0xd800 && unit <= 0xdbff) {
		*high = unit;
		return true;
	}
	/* low surrogate alone, or printable ASCII that must not be encoded */
	return !(unit >= 0xdc00 && unit <= 0xdfff) && !(unit >= 0x20 && unit <= 0x7e);
}

/* Checks the run after '&' up to '-'; *len_r = octets used including '-'. */
static bool imap_mutf7_run(const char *s, size_t *len_r)
{
	unsigned bits = 0, nbits = 0, high = 0;
	size_t i;
	int v;

	for (i = 0; (v = imap_b64_value((unsigned char)s[i])) >= 0; i++) {
		bits = (bits << 6) | (unsigned)v;
		nbits += 6;
		if (nbits >= 16) {
			nbits -= 16;
			if (!imap_mutf7_unit((bits >> nbits) & 0xffff, &high))
				return false;
		}
	}
	if (s[i] != '-' || i == 0 || high != 0 || nbits >= 6)
		return false;
	if ((bits & ((1u << nbits) - 1)) != 0)
		return false;
	*len_r = i + 1;
	return true;
}

bool imap_mutf7_is_valid(const char *name)
{
	for (size_t i = 0; name[i] != '\0';) {
		unsigned char ch = (unsigned char)name[i];
		size_t used;

		if (ch < 0x20 || ch > 0x7e)
			return false;
		if (ch != '&') {
			i++;
			continue;
		}
		if (name[i + 1] == '-') {
			i += 2;
			continue;
		}
		if (!imap_mutf7_run(name + i + 1, &used))
			return false;
		i += 1 + used;
	}
	return true;
}

/* --- flags --- */

static const struct {
	const char *name;
	unsigned flag;
} imap_system_flags[] = {
    {"\\Answered", MAIL_ANSWERED}, {"\\Flagged", MAIL_FLAGGED}, {"\\Deleted", MAIL_DELETED},
    {"\\Seen", MAIL_SEEN},         {"\\Draft", MAIL_DRAFT},
};

#define IMAP_N_SYSTEM_FLAGS (sizeof(imap_system_flags) / sizeof(imap_system_flags[0]))

void imap_append_flag_names(struct buf *out, const struct mailbox *box)
{
	for (size_t i = 0; i < IMAP_N_SYSTEM_FLAGS; i++)
		buf_printf(out, "%s%s", i > 0 ? " " : "", imap_system_flags[i].name);
	for (unsigned k = 0; k < mailbox_keyword_count(box); k++)
		buf_printf(out, " %s", mailbox_keyword_name(box, k));
}

void imap_append_flags(struct buf *out, const struct mailbox *box, const struct mail *m)
{
	const char *sep = "";

	buf_append_str(out, "(");
	for (size_t i = 0; i < IMAP_N_SYSTEM_FLAGS; i++) {
		if ((m->flags & imap_system_flags[i].flag) != 0) {
			buf_printf(out, "%s%s", sep, imap_system_flags[i].name);
			sep = " ";
		}
	}
	if ((m->flags & MAIL_RECENT) != 0) {
		buf_printf(out, "%s\\Recent", sep);
		sep = " ";
	}
	for (unsigned k = 0; k < 64 && k < mailbox_keyword_count(box); k++) {
		if ((m->keywords & (UINT64_C(1) << k)) != 0) {
			buf_printf(out, "%s%s", sep, mailbox_keyword_name(box, k));
			sep = " ";
		}
	}
	buf_append_str(out, ")");
}

static bool imap_keyword_valid(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (strchr("(){ %*\"\\]", *s) != NULL || (unsigned char)*s <= 0x20 ||
		    (unsigned char)*s >= 0x7f)
			return false;
	}
	return true;
}

static int imap_parse_flag(struct mailbox *box, const char *name, bool create, unsigned *flags,
                           uint64_t *keywords, const char **error_r)
{
	int bit;

	if (name[0] == '\\') {
		for (size_t i = 0; i < IMAP_N_SYSTEM_FLAGS; i++) {
			if (strcasecmp(name, imap_system_flags[i].name) == 0) {
				*flags |= imap_system_flags[i].flag;
				return 0;
			}
		}
		*error_r = strcasecmp(name, "\\Recent") == 0 ? "The \\Recent flag cannot be set."
		                                             : "Unknown system flag.";
		return -1;
	}
	if (!imap_keyword_valid(name)) {
		*error_r = "Invalid keyword.";
		return -1;
	}
	bit = mailbox_keyword_index(box, name, create);
	if (bit >= 0 && bit < 64)
		*keywords |= UINT64_C(1) << bit;
	else if (create)
		return -2;
	return 0;
}

int imap_parse_flags(struct mailbox *box, const struct imap_arg *arg, bool create,
                     unsigned *flags_r, uint64_t *keywords_r, const char **error_r)
{
	const struct imap_arg *list = arg;
	unsigned count = 1;
	const char *name;

	*flags_r = 0;
	*keywords_r = 0;
	if (arg->type == IMAP_ARG_LIST)
		imap_arg_get_list(arg, &list, &count);
	for (unsigned i = 0; i < count; i++) {
		int r;

		/* NIL is an atom here: the keyword "NIL" */
		if (list[i].type == IMAP_ARG_NIL)
			name = list[i].str;
		else if (!imap_arg_get_atom(&list[i], &name)) {
			*error_r = "Flags must be atoms.";
			return -1;
		}
		r = imap_parse_flag(box, name, create, flags_r, keywords_r, error_r);
		if (r < 0)
			return r;
	}
	return 0;
}

void imap_append_numset(struct buf *out, const uint32_t *nums, size_t count)
{
	size_t i = 0;

	while (i < count) {
		size_t j = i;

		while (j + 1 < count && nums[j + 1] == nums[j] + 1)
			j++;
		if (i > 0)
			buf_append_str(out, ",");
		if (j > i)
			buf_printf(out, "%u:%u", nums[i], nums[j]);
		else
			buf_printf(out, "%u", nums[i]);
		i = j + 1;
	}
}
