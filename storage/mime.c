/*
 * Streaming MIME structure parser. Input is cut into lines with memchr; only the first
 * LINE_KEEP octets of a body line are kept (enough to recognise a boundary), header lines go to
 * a bounded header buffer. Line ends are counted per line, so sizes, line counts and bare-LF
 * counts of every region come from three counters sampled at region edges.
 */
#include "storage/mime.h"

#include "common/xalloc.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

#define LINE_KEEP      256
#define BOUNDARY_MAX   200
#define MAX_RAW_PARAMS 64

const struct mime_limits mime_limits_default = {
    .max_depth = 32,
    .max_parts = 1000,
    .max_header_size = 256 * 1024,
};

struct boundary {
	struct mime_part *part;
	char *str;
	size_t len;
};

struct counters {
	uint64_t offset, lines, bare;
};

struct mime_parser {
	struct mime_limits limits;
	struct mime_part *root, *cur;
	bool in_header;
	unsigned int part_count;
	struct boundary *bounds;
	unsigned int bound_count, bound_alloc;

	struct buf hdr;
	size_t hdr_line_start;
	bool hdr_full; /* max_header_size reached: the rest of this header is not kept */

	struct counters now; /* after the last complete line */
	size_t line_len;     /* octets of the current line so far */
	unsigned char keep[LINE_KEEP];
	unsigned char last2[2];
	unsigned int prev_eol; /* line end length of the previous line */
};

/* Defined in the header-parsing part below. */
static void part_parse_header(struct mime_part *part, const char *hdr, size_t len, bool message);

/* --- tree --- */

static unsigned int part_depth(const struct mime_part *part)
{
	unsigned int depth = 0;

	while ((part = part->parent) != NULL)
		depth++;
	return depth;
}

static struct mime_part *part_new(struct mime_parser *p, struct mime_part *parent)
{
	struct mime_part *part = xcalloc(1, sizeof(*part));
	struct mime_part **tail;

	p->part_count++;
	part->parent = parent;
	if (parent != NULL) {
		for (tail = &parent->children; *tail != NULL; tail = &(*tail)->next)
			;
		*tail = part;
		parent->child_count++;
	}
	return part;
}

static void params_free(struct mime_param **params, unsigned int count)
{
	for (unsigned int i = 0; i < count; i++) {
		xfree(&(*params)[i].name);
		xfree(&(*params)[i].value);
	}
	xfree(params);
}

static void envelope_free(struct mime_envelope **envp)
{
	struct mime_envelope *env = *envp;

	if (env == NULL)
		return;
	xfree(&env->date);
	xfree(&env->subject);
	xfree(&env->from);
	xfree(&env->sender);
	xfree(&env->reply_to);
	xfree(&env->to);
	xfree(&env->cc);
	xfree(&env->bcc);
	xfree(&env->in_reply_to);
	xfree(&env->message_id);
	xfree(envp);
}

/* Recursion is bounded by the parser's max_depth. */
void mime_part_free(struct mime_part **rootp)
{
	struct mime_part *part = *rootp, *child, *next;

	if (part == NULL)
		return;
	for (child = part->children; child != NULL; child = next) {
		next = child->next;
		mime_part_free(&child);
	}
	xfree(&part->type);
	xfree(&part->subtype);
	params_free(&part->params, part->param_count);
	xfree(&part->id);
	xfree(&part->description);
	xfree(&part->encoding);
	xfree(&part->md5);
	xfree(&part->location);
	xfree(&part->disposition);
	params_free(&part->disp_params, part->disp_param_count);
	for (unsigned int i = 0; i < part->language_count; i++)
		xfree(&part->languages[i]);
	xfree(&part->languages);
	envelope_free(&part->envelope);
	xfree(rootp);
}

/* --- regions --- */

static void header_begin(struct mime_parser *p, struct mime_part *part, const struct counters *at)
{
	part->header_offset = at->offset;
	part->header_bare_lf = at->bare; /* start value until the header ends */
	p->cur = part;
	p->in_header = true;
	buf_reset(&p->hdr);
	p->hdr_line_start = 0;
	p->hdr_full = false;
}

static bool part_is_message(const struct mime_part *part)
{
	return part->parent == NULL || part->parent->message_rfc822;
}

static bool type_is(const struct mime_part *part, const char *type, const char *subtype)
{
	return part->type != NULL && strcasecmp(part->type, type) == 0 &&
	       (subtype == NULL ||
	        (part->subtype != NULL && strcasecmp(part->subtype, subtype) == 0));
}

static void part_default_type(struct mime_part *part)
{
	if (part->type != NULL)
		return;
	if (part->parent != NULL && type_is(part->parent, "multipart", "digest")) {
		part->type = xstrdup("message");
		part->subtype = xstrdup("rfc822");
	}
}

static void push_boundary(struct mime_parser *p, struct mime_part *part, const char *str)
{
	size_t len = strlen(str);

	if (len == 0 || len > BOUNDARY_MAX)
		return;
	if (p->bound_count == p->bound_alloc) {
		p->bound_alloc = p->bound_alloc == 0 ? 4 : p->bound_alloc * 2;
		p->bounds = xreallocarray(p->bounds, p->bound_alloc, sizeof(*p->bounds));
	}
	p->bounds[p->bound_count].part = part;
	p->bounds[p->bound_count].str = xstrdup(str);
	p->bounds[p->bound_count++].len = len;
}

static void drop_boundaries(struct mime_parser *p, unsigned int keep)
{
	while (p->bound_count > keep)
		xfree(&p->bounds[--p->bound_count].str);
}

/* Ends the current part's header at `at`; with open_body, starts what its type implies. */
static void header_end(struct mime_parser *p, const struct counters *at, bool open_body)
{
	struct mime_part *part = p->cur;
	const struct mime_param *b;
	bool room;

	part->header_size = at->offset - part->header_offset;
	part->header_bare_lf = at->bare - part->header_bare_lf;
	part->body_offset = at->offset;
	part->body_lines = at->lines; /* start values until the body ends */
	part->body_bare_lf = at->bare;
	p->in_header = false;
	part_parse_header(part, p->hdr.data != NULL ? p->hdr.data : "", p->hdr.len,
	                  part_is_message(part));
	part_default_type(part);
	part->multipart = type_is(part, "multipart", NULL);
	part->message_rfc822 = type_is(part, "message", "rfc822");
	room = part_depth(part) + 1 < p->limits.max_depth;
	if (!open_body || !room)
		return;
	b = mime_param_find(part->params, part->param_count, "boundary");
	if (part->multipart && b != NULL)
		push_boundary(p, part, b->value);
	if (part->message_rfc822 && p->part_count < p->limits.max_parts)
		header_begin(p, part_new(p, part), at);
}

static void body_end(struct mime_part *part, const struct counters *end)
{
	if (end->offset <= part->body_offset) {
		part->body_size = part->body_lines = part->body_bare_lf = 0;
		return;
	}
	part->body_size = end->offset - part->body_offset;
	part->body_lines = end->lines - part->body_lines;
	part->body_bare_lf = end->bare - part->body_bare_lf;
}

/* Closes the current part and its ancestors up to (not including) stop. at: the start of the
 * line that closes them; their bodies end before the previous line's end (RFC 2046). */
static void close_parts(struct mime_parser *p, struct mime_part *stop, const struct counters *at,
                        unsigned int eol)
{
	struct counters end = *at;

	if (eol > 0) {
		end.offset -= eol;
		end.lines--;
		end.bare -= eol == 1;
	}
	for (struct mime_part *q = p->cur; q != stop && q != NULL; q = q->parent) {
		if (q == p->cur && p->in_header)
			header_end(p, at, false);
		body_end(q, &end);
	}
}

/* --- lines --- */

static struct boundary *boundary_find(struct mime_parser *p, const unsigned char *line, size_t len,
                                      bool *close_r)
{
	struct boundary *best = NULL;

	if (len < 2 || line[0] != '-' || line[1] != '-')
		return NULL;
	for (unsigned int i = p->bound_count; i-- > 0;) {
		struct boundary *b = &p->bounds[i];

		if (b->len <= len - 2 && memcmp(line + 2, b->str, b->len) == 0 &&
		    (best == NULL || b->len > best->len))
			best = b;
	}
	if (best != NULL)
		*close_r = len >= best->len + 4 && line[2 + best->len] == '-' &&
		           line[3 + best->len] == '-';
	return best;
}

static void on_boundary(struct mime_parser *p, struct boundary *b, bool close,
                        const struct counters *line_start, const struct counters *line_end)
{
	struct mime_part *multi = b->part;
	unsigned int idx = (unsigned int)(b - p->bounds);

	close_parts(p, multi, line_start, p->prev_eol);
	drop_boundaries(p, close ? idx : idx + 1);
	p->cur = multi;
	p->in_header = false;
	if (!close && p->part_count < p->limits.max_parts)
		header_begin(p, part_new(p, multi), line_end);
}

static void line_end(struct mime_parser *p, bool complete)
{
	unsigned int eol = !complete ? 0 : p->line_len >= 2 && p->last2[0] == '\r' ? 2 : 1;
	size_t content = p->line_len - eol;
	struct counters start = p->now, end = p->now;
	struct boundary *b;
	bool close = false;

	end.offset += p->line_len;
	end.lines += complete;
	end.bare += eol == 1;
	b = boundary_find(p, p->keep, content < LINE_KEEP ? content : LINE_KEEP, &close);
	if (b != NULL) {
		if (p->in_header && p->hdr.data != NULL) {
			p->hdr.len = p->hdr_line_start;
			p->hdr.data[p->hdr.len] = '\0';
		}
		on_boundary(p, b, close, &start, &end);
	} else if (p->in_header && content == 0 && complete) {
		header_end(p, &end, true);
	} else if (p->in_header) {
		p->hdr_line_start = p->hdr.len;
	}
	p->now = end;
	p->prev_eol = eol;
	p->line_len = 0;
}

static void line_add(struct mime_parser *p, const unsigned char *data, size_t n)
{
	if (p->line_len < LINE_KEEP) {
		size_t k = LINE_KEEP - p->line_len < n ? LINE_KEEP - p->line_len : n;

		memcpy(p->keep + p->line_len, data, k);
	}
	if (p->in_header && !p->hdr_full) {
		if (p->hdr.len + n <= p->limits.max_header_size)
			buf_append(&p->hdr, data, n);
		else
			p->hdr_full = true;
	}
	if (n >= 2) {
		p->last2[0] = data[n - 2];
		p->last2[1] = data[n - 1];
	} else {
		p->last2[0] = p->last2[1];
		p->last2[1] = data[0];
	}
	p->line_len += n;
}

struct mime_parser *mime_parser_new(const struct mime_limits *limits)
{
	struct mime_parser *p = xcalloc(1, sizeof(*p));

	p->limits = limits != NULL ? *limits : mime_limits_default;
	if (p->limits.max_depth == 0)
		p->limits.max_depth = 1;
	buf_init(&p->hdr);
	p->root = part_new(p, NULL);
	header_begin(p, p->root, &p->now);
	return p;
}

void mime_parser_feed(struct mime_parser *p, const void *data, size_t size)
{
	const unsigned char *d = data;

	while (size > 0) {
		const unsigned char *lf = memchr(d, '\n', size);
		size_t n = lf != NULL ? (size_t)(lf - d) + 1 : size;

		line_add(p, d, n);
		if (lf != NULL)
			line_end(p, true);
		d += n;
		size -= n;
	}
}

struct mime_part *mime_parser_finish(struct mime_parser **parserp)
{
	struct mime_parser *p = *parserp;
	struct mime_part *root = p->root;

	if (p->line_len > 0)
		line_end(p, false);
	close_parts(p, NULL, &p->now, 0);
	drop_boundaries(p, 0);
	xfree(&p->bounds);
	buf_free(&p->hdr);
	xfree(parserp);
	return root;
}

struct mime_part *mime_parse(const void *data, size_t size, const struct mime_limits *limits)
{
	struct mime_parser *p = mime_parser_new(limits);

	mime_parser_feed(p, data, size);
	return mime_parser_finish(&p);
}

const struct mime_part *mime_part_find(const struct mime_part *root, const uint32_t *nums,
                                       unsigned int count)
{
	const struct mime_part *part = root;

	for (unsigned int i = 0; i < count && part != NULL; i++) {
		/* a number below a message/rfc822 part names a part of the enclosed message; the
		 * first number names a part of the message itself, even when that is of type
		 * message/rfc822 (its body, the enclosed message, is then part 1) */
		if (i > 0 && part->message_rfc822)
			part = part->children;
		if (part == NULL)
			break;
		if (part->multipart) {
			part = part->children;
			for (uint32_t n = 1; n < nums[i] && part != NULL; n++)
				part = part->next;
		} else if (nums[i] != 1) {
			part = NULL;
		}
	}
	return part;
}

/* --- RFC 822 / 2045 lexical helpers --- */

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Skips whitespace and comments; the text of the last comment goes to comment (if not NULL). */
static void skip_cfws(const char **sp, struct buf *comment)
{
	const char *s = *sp;
	unsigned int depth = 0;

	for (; *s != '\0'; s++) {
		if (depth == 0 && is_wsp(*s))
			continue;
		if (depth == 0 && *s != '(')
			break;
		if (*s == '(' && depth++ == 0) {
			if (comment != NULL)
				buf_reset(comment);
			continue;
		}
		if (*s == ')' && --depth == 0)
			continue;
		if (*s == '\\' && s[1] != '\0')
			s++;
		if (comment != NULL)
			buf_append(comment, s, 1);
	}
	*sp = s;
}

static bool is_token_char(char c)
{
	return (unsigned char)c > 0x20 && (unsigned char)c < 0x7f &&
	       strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static char *read_token(const char **sp)
{
	const char *start = *sp, *s = start;

	while (is_token_char(*s))
		s++;
	*sp = s;
	return s == start ? NULL : xstrndup(start, (size_t)(s - start));
}

/* At '"': appends the unescaped content to out and moves past the closing quote (or to the
 * end of an unterminated string). */
static void read_quoted(const char **sp, struct buf *out)
{
	const char *s = *sp + 1;

	for (; *s != '\0' && *s != '"'; s++) {
		if (*s == '\\' && s[1] != '\0')
			s++;
		buf_append(out, s, 1);
	}
	*sp = *s == '"' ? s + 1 : s;
}

static char *read_value(const char **sp)
{
	struct buf b;
	char *v;

	if (**sp != '"')
		return read_token(sp);
	buf_init(&b);
	read_quoted(sp, &b);
	v = xstrndup(b.data != NULL ? b.data : "", b.len);
	buf_free(&b);
	return v;
}

static void skip_past(const char **sp, char c)
{
	const char *e = strchr(*sp, c);

	*sp = e != NULL ? e + 1 : *sp + strlen(*sp);
}

/* --- parameters (RFC 2045, RFC 2231) --- */

struct param_list {
	struct mime_param *v;
	unsigned int count, alloc;
};

static void param_add(struct param_list *l, char *name, char *value)
{
	if (l->count == l->alloc) {
		l->alloc = l->alloc == 0 ? 4 : l->alloc * 2;
		l->v = xreallocarray(l->v, l->alloc, sizeof(*l->v));
	}
	l->v[l->count].name = name;
	l->v[l->count++].value = value;
}

static void read_raw_params(const char *s, struct param_list *raw)
{
	while (raw->count < MAX_RAW_PARAMS) {
		char *name, *value;

		skip_cfws(&s, NULL);
		if (*s == '\0')
			return;
		if (*s != ';') {
			skip_past(&s, ';');
			continue;
		}
		s++;
		skip_cfws(&s, NULL);
		name = read_token(&s);
		skip_cfws(&s, NULL);
		if (name == NULL || *s != '=') {
			xfree(&name);
			continue;
		}
		s++;
		skip_cfws(&s, NULL);
		value = read_value(&s);
		param_add(raw, name, value != NULL ? value : xstrdup(""));
	}
}

/* RFC 2231 section name: base, and for "base*N[*]" / "base*" the number and extended flag.
 * Returns the base length, or 0 for a plain name. */
static size_t rfc2231_split(const char *name, int *seg_r, bool *ext_r)
{
	const char *star = strchr(name, '*');
	const char *s;
	int n = 0;

	if (star == NULL || star == name)
		return 0;
	s = star + 1;
	*ext_r = false;
	*seg_r = -1;
	if (*s >= '0' && *s <= '9') {
		while (*s >= '0' && *s <= '9' && n < 1000)
			n = n * 10 + (*s++ - '0');
		*seg_r = n;
	}
	if (*s == '*') {
		*ext_r = true;
		s++;
	}
	if (*s != '\0' || (*seg_r < 0 && !*ext_r))
		return 0;
	return (size_t)(star - name);
}

static void pct_encode(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (is_token_char(*s) && c != '*' && c != '\'' && c != '%')
			buf_append(out, s, 1);
		else
			buf_printf(out, "%%%02X", c);
	}
}

/* Merges the segments of one RFC 2231 parameter (raw[first] is one of them). */
static void rfc2231_merge(const struct param_list *raw, unsigned int first, size_t base_len,
                          bool *done, struct param_list *out)
{
	const char *base = raw->v[first].name;
	struct buf value;
	bool extended = false;

	buf_init(&value);
	buf_append_str(&value, "");
	for (int want = -1; want < 1000; want++) {
		bool found = false;

		for (unsigned int i = first; i < raw->count && !found; i++) {
			int seg;
			bool ext;

			if (done[i] || rfc2231_split(raw->v[i].name, &seg, &ext) != base_len ||
			    strncasecmp(raw->v[i].name, base, base_len) != 0 || seg != want)
				continue;
			done[i] = found = true;
			if (want <= 0)
				extended = ext;
			if (extended && !ext)
				pct_encode(&value, raw->v[i].value);
			else
				buf_append_str(&value, raw->v[i].value);
		}
		if (!found && want >= 0)
			break;
		if (found && want < 0)
			break; /* "name*" stands alone */
	}
	param_add(out, xasprintf("%.*s%s", (int)base_len, base, extended ? "*" : ""),
	          xstrdup(value.data));
	buf_free(&value);
}

static void parse_params(const char *s, struct mime_param **params_r, unsigned int *count_r)
{
	struct param_list raw = {0}, out = {0};
	bool done[MAX_RAW_PARAMS] = {false};

	read_raw_params(s, &raw);
	for (unsigned int i = 0; i < raw.count; i++) {
		int seg;
		bool ext;
		size_t base_len;

		if (done[i])
			continue;
		base_len = rfc2231_split(raw.v[i].name, &seg, &ext);
		if (base_len == 0) {
			param_add(&out, xstrdup(raw.v[i].name), xstrdup(raw.v[i].value));
			done[i] = true;
		} else {
			rfc2231_merge(&raw, i, base_len, done, &out);
			done[i] = true;
		}
	}
	params_free(&raw.v, raw.count);
	*params_r = out.v;
	*count_r = out.count;
}

const struct mime_param *mime_param_find(const struct mime_param *params, unsigned int count,
                                         const char *name)
{
	for (unsigned int i = 0; i < count; i++) {
		if (strcasecmp(params[i].name, name) == 0)
			return &params[i];
	}
	return NULL;
}

/* --- header fields --- */

static void parse_content_type(struct mime_part *part, const char *s)
{
	char *type, *subtype = NULL;

	skip_cfws(&s, NULL);
	type = read_token(&s);
	skip_cfws(&s, NULL);
	if (type != NULL && *s == '/') {
		s++;
		skip_cfws(&s, NULL);
		subtype = read_token(&s);
	}
	if (subtype == NULL) {
		xfree(&type); /* invalid: the defaults apply */
		return;
	}
	part->type = type;
	part->subtype = subtype;
	parse_params(s, &part->params, &part->param_count);
}

static void parse_disposition(struct mime_part *part, const char *s)
{
	skip_cfws(&s, NULL);
	part->disposition = read_token(&s);
	if (part->disposition != NULL)
		parse_params(s, &part->disp_params, &part->disp_param_count);
}

static void parse_languages(struct mime_part *part, const char *s)
{
	unsigned int alloc = 0;

	while (*s != '\0' && part->language_count < MAX_RAW_PARAMS) {
		char *tag;

		skip_cfws(&s, NULL);
		tag = read_token(&s);
		skip_cfws(&s, NULL);
		if (tag != NULL) {
			if (part->language_count == alloc) {
				alloc = alloc == 0 ? 4 : alloc * 2;
				part->languages =
				    xreallocarray(part->languages, alloc, sizeof(*part->languages));
			}
			part->languages[part->language_count++] = tag;
		}
		if (*s != '\0')
			s++; /* ',' or junk */
	}
}

static void parse_encoding(struct mime_part *part, const char *s)
{
	skip_cfws(&s, NULL);
	part->encoding = read_token(&s);
	skip_cfws(&s, NULL);
	if (*s != '\0')
		xfree(&part->encoding);
}

static void set_once(char **field, const char *value)
{
	if (*field == NULL)
		*field = xstrdup(value);
}

static char **envelope_field(struct mime_envelope *env, const char *name)
{
	static const struct {
		const char *name;
		size_t offset;
	} fields[] = {
	    {"date", offsetof(struct mime_envelope, date)},
	    {"subject", offsetof(struct mime_envelope, subject)},
	    {"from", offsetof(struct mime_envelope, from)},
	    {"sender", offsetof(struct mime_envelope, sender)},
	    {"reply-to", offsetof(struct mime_envelope, reply_to)},
	    {"to", offsetof(struct mime_envelope, to)},
	    {"cc", offsetof(struct mime_envelope, cc)},
	    {"bcc", offsetof(struct mime_envelope, bcc)},
	    {"in-reply-to", offsetof(struct mime_envelope, in_reply_to)},
	    {"message-id", offsetof(struct mime_envelope, message_id)},
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (strcasecmp(name, fields[i].name) == 0)
			return (char **)((char *)env + fields[i].offset);
	}
	return NULL;
}

static void header_field(struct mime_part *part, const char *name, const char *value)
{
	char **env;

	if (strncasecmp(name, "content-", 8) == 0) {
		const char *n = name + 8;

		if (strcasecmp(n, "type") == 0 && part->type == NULL)
			parse_content_type(part, value);
		else if (strcasecmp(n, "transfer-encoding") == 0 && part->encoding == NULL)
			parse_encoding(part, value);
		else if (strcasecmp(n, "disposition") == 0 && part->disposition == NULL)
			parse_disposition(part, value);
		else if (strcasecmp(n, "language") == 0 && part->languages == NULL)
			parse_languages(part, value);
		else if (strcasecmp(n, "id") == 0)
			set_once(&part->id, value);
		else if (strcasecmp(n, "description") == 0)
			set_once(&part->description, value);
		else if (strcasecmp(n, "md5") == 0)
			set_once(&part->md5, value);
		else if (strcasecmp(n, "location") == 0)
			set_once(&part->location, value);
		return;
	}
	if (part->envelope != NULL && (env = envelope_field(part->envelope, name)) != NULL)
		set_once(env, value);
}

/* Emits the field collected in name/value (unfolded), trimmed of outer whitespace. */
static void field_flush(struct mime_part *part, struct buf *name, struct buf *value)
{
	const char *v = value->data != NULL ? value->data : "";
	size_t len = value->len;

	if (name->len > 0) {
		while (len > 0 && is_wsp(v[len - 1]))
			len--;
		while (len > 0 && is_wsp(*v)) {
			v++;
			len--;
		}
		{
			char *tmp = xstrndup(v, len);

			header_field(part, name->data, tmp);
			xfree(&tmp);
		}
	}
	buf_reset(name);
	buf_reset(value);
}

static void field_start(struct buf *name, struct buf *value, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	size_t nlen;

	if (colon == NULL)
		return;
	nlen = (size_t)(colon - line);
	while (nlen > 0 && (line[nlen - 1] == ' ' || line[nlen - 1] == '\t'))
		nlen--;
	if (nlen == 0 || memchr(line, ' ', nlen) != NULL || memchr(line, '\0', nlen) != NULL)
		return;
	buf_append(name, line, nlen);
	buf_append(value, colon + 1, len - (size_t)(colon - line) - 1);
}

static void part_parse_header(struct mime_part *part, const char *hdr, size_t len, bool message)
{
	struct buf name, value;
	size_t pos = 0;

	if (message)
		part->envelope = xcalloc(1, sizeof(*part->envelope));
	buf_init(&name);
	buf_init(&value);
	while (pos < len) {
		const char *line = hdr + pos, *lf = memchr(line, '\n', len - pos);
		size_t n = lf != NULL ? (size_t)(lf - line) : len - pos;

		pos += n + (lf != NULL);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n > 0 && (line[0] == ' ' || line[0] == '\t')) {
			if (name.len > 0)
				buf_append(&value, line, n);
			continue;
		}
		field_flush(part, &name, &value);
		field_start(&name, &value, line, n);
	}
	field_flush(part, &name, &value);
	buf_free(&name);
	buf_free(&value);
}

/* --- IMAP rendering --- */

void mime_render_nstring(struct buf *out, const char *s)
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

/* --- addresses (RFC 5322, leniently) --- */

/* A header can hold tens of thousands of one-character "addresses" ("@@@@..."): each becomes
 * a 4-tuple, so ENVELOPE of a 256 KiB header would be tens of MB. Real mail stays far below. */
#define MIME_MAX_ADDRESSES 1000

struct addr_ctx {
	struct buf *out;
	unsigned int count;
	unsigned int max; /* addresses rendered at most (a group's end marker may add one) */
	bool text;        /* as mime_addresses_text, not as ENVELOPE */
	struct buf phrase, local, comment, domain;
};

static void emit_addr_text(struct addr_ctx *a, const char *name, const char *mailbox,
                           const char *host)
{
	if (host == NULL) {
		/* a group's start (its name as mailbox) or end (all NULL) */
		if (mailbox != NULL)
			buf_printf(a->out, "%s:\n", mailbox);
		return;
	}
	if (name != NULL)
		buf_printf(a->out, "%s ", name);
	buf_append_str(a->out, "<");
	if (strcmp(mailbox, "MISSING_MAILBOX") != 0)
		buf_append_str(a->out, mailbox);
	if (strcmp(host, "MISSING_DOMAIN") != 0)
		buf_printf(a->out, "@%s", host);
	buf_append_str(a->out, ">\n");
}

static void emit_addr(struct addr_ctx *a, const char *name, const char *route, const char *mailbox,
                      const char *host)
{
	if (a->text) {
		a->count++;
		emit_addr_text(a, name, mailbox, host);
		return;
	}
	if (a->count++ == 0)
		buf_append_str(a->out, "(");
	buf_append_str(a->out, "(");
	mime_render_nstring(a->out, name);
	buf_append_str(a->out, " ");
	mime_render_nstring(a->out, route);
	buf_append_str(a->out, " ");
	mime_render_nstring(a->out, mailbox);
	buf_append_str(a->out, " ");
	mime_render_nstring(a->out, host);
	buf_append_str(a->out, ")");
}

static bool is_atext(char c)
{
	return (unsigned char)c > 0x20 && c != 0x7f && strchr("()<>[]:;@\\,\"", c) == NULL;
}

/* Reads words (atoms with dots, quoted strings) into phrase (space-joined) and local (joined as
 * written). Stops at a special character. */
static void read_words(const char **sp, struct addr_ctx *a)
{
	const char *s = *sp;

	for (;;) {
		skip_cfws(&s, &a->comment);
		if (*s == '"') {
			size_t before;

			if (a->phrase.len > 0)
				buf_append_str(&a->phrase, " ");
			before = a->phrase.len;
			read_quoted(&s, &a->phrase);
			/* a quoted local part is kept unquoted; an empty one ("") may leave the
			 * phrase unallocated, so only a non-empty one is copied */
			if (a->phrase.len > before)
				buf_append(&a->local, a->phrase.data + before,
				           a->phrase.len - before);
		} else if (is_atext(*s)) {
			const char *start = s;

			while (is_atext(*s))
				s++;
			if (a->phrase.len > 0)
				buf_append_str(&a->phrase, " ");
			buf_append(&a->phrase, start, (size_t)(s - start));
			buf_append(&a->local, start, (size_t)(s - start));
			continue;
		} else {
			break;
		}
	}
	*sp = s;
}

/* Reads a domain (dot-atoms, domain literals); a comment after it goes to comment. */
static void read_domain(const char **sp, struct buf *domain, struct buf *comment)
{
	const char *s = *sp;

	buf_reset(domain);
	for (;;) {
		skip_cfws(&s, comment);
		if (*s == '[') {
			const char *e = strchr(s, ']');
			size_t n = e != NULL ? (size_t)(e - s) + 1 : strlen(s);

			buf_append(domain, s, n);
			s += n;
		} else if (is_atext(*s)) {
			const char *start = s;

			while (is_atext(*s))
				s++;
			buf_append(domain, start, (size_t)(s - start));
		} else {
			break;
		}
		skip_cfws(&s, comment);
		if (*s != '.')
			break;
	}
	*sp = s;
}

static const char *or_missing(const struct buf *b, const char *missing)
{
	return b->len > 0 ? b->data : missing;
}

static void parse_angle_addr(const char **sp, struct addr_ctx *a, const char *name)
{
	const char *s = *sp + 1, *route_start;
	char *route = NULL;

	skip_cfws(&s, NULL);
	route_start = s;
	if (*s == '@') {
		const char *colon = strchr(s, ':'), *gt = strchr(s, '>');

		if (colon != NULL && (gt == NULL || colon < gt)) {
			route = xstrndup(route_start, (size_t)(colon - route_start));
			s = colon + 1;
		}
	}
	buf_reset(&a->local);
	buf_reset(&a->phrase);
	read_words(&s, a);
	buf_reset(&a->domain);
	if (*s == '@') {
		s++;
		read_domain(&s, &a->domain, NULL);
	}
	skip_past(&s, '>');
	emit_addr(a, name, route, or_missing(&a->local, "MISSING_MAILBOX"),
	          or_missing(&a->domain, "MISSING_DOMAIN"));
	xfree(&route);
	*sp = s;
}

/* One mailbox, or a group with its mailboxes. Always consumes input unless at ',', ';' or the
 * end. */
static void parse_mailbox(const char **sp, struct addr_ctx *a, bool in_group)
{
	const char *s = *sp;
	char *phrase;

	buf_reset(&a->phrase);
	buf_reset(&a->local);
	buf_reset(&a->comment);
	read_words(&s, a);
	phrase = a->phrase.len > 0 ? xstrdup(a->phrase.data) : NULL;
	if (*s == '<') {
		parse_angle_addr(&s, a, phrase);
	} else if (*s == ':' && !in_group) {
		s++;
		emit_addr(a, NULL, NULL, phrase != NULL ? phrase : "", NULL);
		while (*s != '\0' && *s != ';' && a->count < a->max) {
			if (*s == ',') {
				s++;
				continue;
			}
			parse_mailbox(&s, a, true);
		}
		if (*s == ';')
			s++;
		emit_addr(a, NULL, NULL, NULL, NULL);
	} else if (*s == '@' || a->local.len > 0) {
		char *local = xstrdup(or_missing(&a->local, "MISSING_MAILBOX"));

		buf_reset(&a->domain);
		if (*s == '@') {
			s++;
			buf_reset(&a->comment);
			read_domain(&s, &a->domain, &a->comment);
		}
		skip_cfws(&s, &a->comment);
		emit_addr(a, a->comment.len > 0 ? a->comment.data : NULL, NULL, local,
		          or_missing(&a->domain, "MISSING_DOMAIN"));
		xfree(&local);
	} else if (*s != '\0' && *s != ';' && *s != ',') {
		s++; /* a stray special character */
	}
	xfree(&phrase);
	*sp = s;
}

static void parse_addresses(struct addr_ctx *a, const char *value)
{
	const char *s = value;

	buf_init(&a->phrase);
	buf_init(&a->local);
	buf_init(&a->comment);
	buf_init(&a->domain);
	while (s != NULL && *s != '\0' && a->count < a->max) {
		if (*s == ',' || *s == ';') {
			s++;
			continue;
		}
		parse_mailbox(&s, a, false);
	}
	buf_free(&a->phrase);
	buf_free(&a->local);
	buf_free(&a->comment);
	buf_free(&a->domain);
}

static void render_addresses_max(struct buf *out, const char *value, unsigned int max)
{
	struct addr_ctx a = {.out = out, .max = max};

	parse_addresses(&a, value);
	buf_append_str(out, a.count > 0 ? ")" : "NIL");
}

void mime_addresses_text(const char *value, struct buf *out)
{
	struct addr_ctx a = {.out = out, .max = MIME_MAX_ADDRESSES, .text = true};

	parse_addresses(&a, value);
}

static void render_addresses(struct buf *out, const char *value)
{
	render_addresses_max(out, value, MIME_MAX_ADDRESSES);
}

static bool has_address(const char *value)
{
	struct buf tmp;
	bool yes;

	if (value == NULL)
		return false;
	buf_init(&tmp);
	render_addresses_max(&tmp, value, 1); /* the first one tells */
	yes = strcmp(tmp.data, "NIL") != 0;
	buf_free(&tmp);
	return yes;
}

void mime_render_envelope(struct buf *out, const struct mime_envelope *env)
{
	static const struct mime_envelope empty;
	const char *sender, *reply_to;

	if (env == NULL)
		env = &empty;
	sender = has_address(env->sender) ? env->sender : env->from;
	reply_to = has_address(env->reply_to) ? env->reply_to : env->from;
	buf_append_str(out, "(");
	mime_render_nstring(out, env->date);
	buf_append_str(out, " ");
	mime_render_nstring(out, env->subject);
	buf_append_str(out, " ");
	render_addresses(out, env->from);
	buf_append_str(out, " ");
	render_addresses(out, sender);
	buf_append_str(out, " ");
	render_addresses(out, reply_to);
	buf_append_str(out, " ");
	render_addresses(out, env->to);
	buf_append_str(out, " ");
	render_addresses(out, env->cc);
	buf_append_str(out, " ");
	render_addresses(out, env->bcc);
	buf_append_str(out, " ");
	mime_render_nstring(out, env->in_reply_to);
	buf_append_str(out, " ");
	mime_render_nstring(out, env->message_id);
	buf_append_str(out, ")");
}

/* --- BODY / BODYSTRUCTURE --- */

static void render_params(struct buf *out, const struct mime_param *params, unsigned int count,
                          bool default_charset)
{
	if (count == 0 && !default_charset) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_append_str(out, "(");
	if (default_charset)
		buf_append_str(out, count > 0 ? "\"charset\" \"us-ascii\" "
		                              : "\"charset\" \"us-ascii\"");
	for (unsigned int i = 0; i < count; i++) {
		if (i > 0)
			buf_append_str(out, " ");
		mime_render_nstring(out, params[i].name);
		buf_append_str(out, " ");
		mime_render_nstring(out, params[i].value);
	}
	buf_append_str(out, ")");
}

static void render_disposition(struct buf *out, const struct mime_part *part)
{
	if (part->disposition == NULL) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_append_str(out, "(");
	mime_render_nstring(out, part->disposition);
	buf_append_str(out, " ");
	render_params(out, part->disp_params, part->disp_param_count, false);
	buf_append_str(out, ")");
}

static void render_languages(struct buf *out, const struct mime_part *part)
{
	if (part->language_count == 0) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_append_str(out, "(");
	for (unsigned int i = 0; i < part->language_count; i++) {
		if (i > 0)
			buf_append_str(out, " ");
		mime_render_nstring(out, part->languages[i]);
	}
	buf_append_str(out, ")");
}

/* disposition, language, location: the extension data common to both part kinds */
static void render_ext_tail(struct buf *out, const struct mime_part *part)
{
	buf_append_str(out, " ");
	render_disposition(out, part);
	buf_append_str(out, " ");
	render_languages(out, part);
	buf_append_str(out, " ");
	mime_render_nstring(out, part->location);
}

static uint64_t part_size(const struct mime_part *part, enum mime_render_flags flags)
{
	return part->body_size + ((flags & MIME_RENDER_CRLF) != 0 ? part->body_bare_lf : 0);
}

/* A multipart with no parts is not valid IMAP: show one empty text/plain part (as Dovecot). */
static void render_empty_part(struct buf *out, enum mime_render_flags flags)
{
	buf_append_str(out, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0");
	if ((flags & MIME_RENDER_EXTENDED) != 0)
		buf_append_str(out, " NIL NIL NIL NIL");
	buf_append_str(out, ")");
}

static void render_part(struct buf *out, const struct mime_part *part,
                        enum mime_render_flags flags);

static void render_multipart(struct buf *out, const struct mime_part *part,
                             enum mime_render_flags flags)
{
	buf_append_str(out, "(");
	if (part->children == NULL)
		render_empty_part(out, flags);
	for (const struct mime_part *c = part->children; c != NULL; c = c->next)
		render_part(out, c, flags);
	buf_append_str(out, " ");
	mime_render_nstring(out, part->subtype);
	if ((flags & MIME_RENDER_EXTENDED) != 0) {
		buf_append_str(out, " ");
		render_params(out, part->params, part->param_count, false);
		render_ext_tail(out, part);
	}
	buf_append_str(out, ")");
}

static void render_message_body(struct buf *out, const struct mime_part *part,
                                enum mime_render_flags flags)
{
	const struct mime_part *msg = part->children;

	buf_append_str(out, " ");
	mime_render_envelope(out, msg != NULL ? msg->envelope : NULL);
	buf_append_str(out, " ");
	if (msg != NULL)
		render_part(out, msg, flags);
	else
		render_empty_part(out, flags);
	buf_printf(out, " %llu", (unsigned long long)part->body_lines);
}

static void render_single(struct buf *out, const struct mime_part *part,
                          enum mime_render_flags flags)
{
	bool text = part->type == NULL || type_is(part, "text", NULL);
	bool charset = text && mime_param_find(part->params, part->param_count, "charset") == NULL;

	buf_append_str(out, "(");
	if (part->type == NULL)
		buf_append_str(out, "\"text\" \"plain\"");
	else {
		mime_render_nstring(out, part->type);
		buf_append_str(out, " ");
		mime_render_nstring(out, part->subtype);
	}
	buf_append_str(out, " ");
	render_params(out, part->params, part->param_count, charset);
	buf_append_str(out, " ");
	mime_render_nstring(out, part->id);
	buf_append_str(out, " ");
	mime_render_nstring(out, part->description);
	buf_append_str(out, " ");
	mime_render_nstring(out, part->encoding != NULL ? part->encoding : "7bit");
	buf_printf(out, " %llu", (unsigned long long)part_size(part, flags));
	if (part->message_rfc822)
		render_message_body(out, part, flags);
	else if (text)
		buf_printf(out, " %llu", (unsigned long long)part->body_lines);
	if ((flags & MIME_RENDER_EXTENDED) != 0) {
		buf_append_str(out, " ");
		mime_render_nstring(out, part->md5);
		render_ext_tail(out, part);
	}
	buf_append_str(out, ")");
}

/* Recursion is bounded by the parser's max_depth. */
static void render_part(struct buf *out, const struct mime_part *part, enum mime_render_flags flags)
{
	if (part->multipart)
		render_multipart(out, part, flags);
	else
		render_single(out, part, flags);
}

void mime_render_bodystructure(struct buf *out, const struct mime_part *part,
                               enum mime_render_flags flags)
{
	render_part(out, part, flags);
}

/* --- decoding for display (RFC 2047, RFC 2231) --- */

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One charset of each iconv module mail is commonly written in (UTF-8, US-ASCII and UTF-16
 * need none): every alias of a module works once the module is loaded. */
static const char *const mime_preload_names[] = {
    "ISO-8859-1",   "ISO-8859-2",   "ISO-8859-3",   "ISO-8859-4",   "ISO-8859-5",   "ISO-8859-6",
    "ISO-8859-7",   "ISO-8859-8",   "ISO-8859-9",   "ISO-8859-10",  "ISO-8859-11",  "ISO-8859-13",
    "ISO-8859-14",  "ISO-8859-15",  "ISO-8859-16",  "WINDOWS-1250", "WINDOWS-1251", "WINDOWS-1252",
    "WINDOWS-1253", "WINDOWS-1254", "WINDOWS-1255", "WINDOWS-1256", "WINDOWS-1257", "WINDOWS-1258",
    "KOI8-R",       "KOI8-U",       "IBM866",       "MACINTOSH",    "TIS-620",      "ISO-2022-JP",
    "EUC-JP",       "SHIFT_JIS",    "CP932",        "EUC-KR",       "CP949",        "ISO-2022-KR",
    "GB2312",       "GBK",          "GB18030",      "BIG5",         "BIG5-HKSCS",   "UTF-7",
};

/* Kept open: a module stays loaded while a conversion descriptor uses it. */
static iconv_t mime_preloaded[sizeof(mime_preload_names) / sizeof(mime_preload_names[0])];

void mime_charsets_preload(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	for (size_t i = 0; i < sizeof(mime_preload_names) / sizeof(mime_preload_names[0]); i++)
		mime_preloaded[i] = iconv_open("UTF-8", mime_preload_names[i]);
}

/* Appends in[0..len) converted from charset to UTF-8; false if the charset is unknown. */
static bool charset_to_utf8(const char *charset, const char *in, size_t len, struct buf *out)
{
	iconv_t cd;
	char *inp = (char *)in;

	if (strcasecmp(charset, "utf-8") == 0 || strcasecmp(charset, "us-ascii") == 0) {
		buf_append(out, in, len);
		return true;
	}
	cd = iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1)
		return false;
	while (len > 0) {
		char *o = buf_reserve(out, len * 4 + 16);
		size_t olen = len * 4 + 16, before = olen;

		if (iconv(cd, &inp, &len, &o, &olen) == (size_t)-1 && errno != E2BIG) {
			buf_added(out, before - olen);
			buf_append_str(out, "\xef\xbf\xbd"); /* U+FFFD for an invalid byte */
			inp++;
			len--;
			continue;
		}
		buf_added(out, before - olen);
	}
	iconv_close(cd);
	return true;
}

static size_t base64_decode(const char *in, size_t len, char *out)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0;
	unsigned int bits = 0;
	size_t n = 0;

	for (size_t i = 0; i < len && in[i] != '='; i++) {
		const char *pos = strchr(alphabet, in[i]);

		if (pos == NULL || in[i] == '\0')
			continue;
		acc = (acc << 6) | (uint32_t)(pos - alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	return n;
}

static size_t q_decode(const char *in, size_t len, char *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '_') {
			out[n++] = ' ';
		} else if (in[i] == '=' && i + 2 < len && hex_value(in[i + 1]) >= 0 &&
		           hex_value(in[i + 2]) >= 0) {
			out[n++] = (char)(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
			i += 2;
		} else {
			out[n++] = in[i];
		}
	}
	return n;
}

/* At "=?": decodes one encoded-word into out and returns its length, or 0 if it is not one. */
static size_t decode_word(const char *s, struct buf *out)
{
	const char *cs = s + 2, *q1, *q2, *end;
	char charset[64], *bytes;
	size_t cslen, n;
	bool ok;

	q1 = strchr(cs, '?');
	if (q1 == NULL || q1[1] == '\0' || q1[2] != '?')
		return 0;
	q2 = q1 + 2;
	end = strstr(q2 + 1, "?=");
	cslen = (size_t)(q1 - cs);
	if (end == NULL || cslen == 0 || cslen >= sizeof(charset))
		return 0;
	for (const char *c = cs; c < end; c++) {
		if (is_wsp(*c))
			return 0;
	}
	memcpy(charset, cs, cslen);
	charset[cslen] = '\0';
	charset[strcspn(charset, "*")] = '\0'; /* RFC 2231 language suffix */
	bytes = xmalloc((size_t)(end - q2) + 1);
	if (q1[1] == 'B' || q1[1] == 'b')
		n = base64_decode(q2 + 1, (size_t)(end - q2 - 1), bytes);
	else if (q1[1] == 'Q' || q1[1] == 'q')
		n = q_decode(q2 + 1, (size_t)(end - q2 - 1), bytes);
	else {
		xfree(&bytes);
		return 0;
	}
	ok = charset_to_utf8(charset, bytes, n, out);
	xfree(&bytes);
	return ok ? (size_t)(end + 2 - s) : 0;
}

void mime_decode_words(const char *value, struct buf *out)
{
	const char *s = value, *ws = NULL;
	bool after_word = false;

	buf_append_str(out, "");
	while (*s != '\0') {
		size_t n = 0;

		if (s[0] == '=' && s[1] == '?') {
			size_t mark = out->len;

			if (ws != NULL && !after_word)
				buf_append(out, ws, (size_t)(s - ws));
			n = decode_word(s, out);
			if (n == 0)
				out->len = mark;
		}
		if (n > 0) {
			/* whitespace between two encoded-words is dropped */
			s += n;
			ws = NULL;
			after_word = true;
			continue;
		}
		if (is_wsp(*s)) {
			if (ws == NULL)
				ws = s;
			s++;
			continue;
		}
		if (ws != NULL)
			buf_append(out, ws, (size_t)(s - ws));
		ws = NULL;
		after_word = false;
		buf_append(out, s++, 1);
	}
	if (ws != NULL)
		buf_append(out, ws, (size_t)(s - ws));
	if (out->data != NULL)
		out->data[out->len] = '\0';
}

void mime_param_decode(const struct mime_param *param, struct buf *out)
{
	size_t nlen = strlen(param->name);
	const char *q1, *q2;
	char *charset, *bytes;
	size_t n = 0;

	buf_append_str(out, "");
	if (nlen == 0 || param->name[nlen - 1] != '*' ||
	    (q1 = strchr(param->value, '\'')) == NULL || (q2 = strchr(q1 + 1, '\'')) == NULL) {
		mime_decode_words(param->value, out);
		return;
	}
	charset = xstrndup(param->value, (size_t)(q1 - param->value));
	bytes = xmalloc(strlen(q2) + 1);
	for (const char *s = q2 + 1; *s != '\0'; s++) {
		if (*s == '%' && hex_value(s[1]) >= 0 && hex_value(s[2]) >= 0) {
			bytes[n++] = (char)(hex_value(s[1]) * 16 + hex_value(s[2]));
			s += 2;
		} else {
			bytes[n++] = *s;
		}
	}
	if (charset[0] == '\0' || !charset_to_utf8(charset, bytes, n, out))
		buf_append(out, bytes, n);
	xfree(&bytes);
	xfree(&charset);
}
