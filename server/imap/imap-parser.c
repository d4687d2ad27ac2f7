/*
 * IMAP command parser: a byte-driven state machine. Lists live on an explicit stack (bounded by
 * max_depth), so hostile nesting costs one pointer per level and never recursion.
 */
#include "server/imap/imap-parser.h"
#include "server/imap/imap-parser-test.h"

#include "common/buf.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>

const struct imap_parser_limits imap_parser_limits_prelogin = {
    .max_line = 8192,
    .max_literal = 0,
    .max_depth = 16,
    .max_args = 64,
    .allow_literals = false,
};

const struct imap_parser_limits imap_parser_limits_default = {
    .max_line = 65536,
    .max_literal = 64 * 1024 * 1024,
    .max_depth = 100,
    .max_args = 10000,
    .allow_literals = true,
};

enum parser_state {
	ST_TAG,
	ST_NAME,
	ST_ARG_START,
	ST_AFTER_ARG,
	ST_ATOM,
	ST_QUOTED,
	ST_QUOTED_ESC,
	ST_TILDE,
	ST_LIT_SIZE,
	ST_LIT_CLOSE,
	ST_LIT_CR,
	ST_LIT_LF,
	ST_LIT_DATA,
	ST_SECTION,
	ST_SECTION_LIST,
	ST_SECTION_CLOSE,
	ST_PARTIAL_START,
	ST_PARTIAL_OFFSET,
	ST_PARTIAL_SIZE,
	ST_EOL_LF,
	ST_SKIP_LINE,
};

struct imap_parser {
	struct imap_parser_limits limits, next_limits;
	enum parser_state state;
	enum imap_parse_result last;
	struct buf tok;
	char *tag, *name;
	struct imap_arg root;
	struct imap_arg **stack; /* stack[0] is &root */
	unsigned int depth;
	unsigned int stack_alloc;
	unsigned int nargs;
	bool list_opened; /* ARG_START right after '(' (so ')' may follow) */
	size_t line_len;

	uint64_t lit_size, lit_left;
	uint64_t lit_held; /* literal octets of this command kept in the argument tree */
	bool lit_sync;
	bool lit8; /* ~{n}: a literal8 (RFC 3516) */
	unsigned int digits;

	struct imap_arg *section; /* the section being read */
	uint64_t num;

	bool done;   /* the command's line end was read */
	bool secret; /* pre-login (no literals): tokens may be passwords, wipe what is dropped */
	const char *error;
	bool fatal;
	bool error_mid_line;
};

/* --- argument tree --- */

/* Zeroes the text of arg and of everything below it; the tree itself stays. */
static void arg_wipe(struct imap_arg *arg)
{
	for (unsigned int i = 0; i < arg->count; i++)
		arg_wipe(&arg->list[i]);
	if (arg->str != NULL)
		sodium_memzero(arg->str, arg->str_len);
	if (arg->section != NULL)
		sodium_memzero(arg->section, strlen(arg->section));
}

static void arg_free_contents(struct imap_arg *arg)
{
	for (unsigned int i = 0; i < arg->count; i++)
		arg_free_contents(&arg->list[i]);
	xfree(&arg->list);
	xfree(&arg->str);
	xfree(&arg->section);
	memset(arg, 0, sizeof(*arg));
}

/* Drops the argument tree, wiping it first before login. */
static void args_drop(struct imap_parser *p)
{
	if (p->secret)
		arg_wipe(&p->root);
	arg_free_contents(&p->root);
	p->root.type = IMAP_ARG_LIST;
}

/* The mode of the command about to be read; the token buffer is wiped on its way out of
 * secret mode, since it may still hold the last pre-login token. */
static void apply_limits(struct imap_parser *p, const struct imap_parser_limits *limits)
{
	p->limits = *limits;
	p->secret = !limits->allow_literals;
	buf_reset(&p->tok);
	p->tok.secret = p->secret;
}

static struct imap_arg *top(struct imap_parser *p)
{
	return p->stack[p->depth];
}

static bool fail(struct imap_parser *p, const char *msg)
{
	/* a half-read token (an unterminated quoted password) is of no further use */
	if (p->secret)
		buf_reset(&p->tok);
	p->error = msg;
	return false;
}

static bool fail_fatal(struct imap_parser *p, const char *msg)
{
	p->fatal = true;
	return fail(p, msg);
}

/* Appends an argument to the innermost open list. */
static struct imap_arg *add_arg(struct imap_parser *p, enum imap_arg_type type)
{
	struct imap_arg *parent = top(p);
	struct imap_arg *arg;

	if (p->nargs >= p->limits.max_args) {
		fail(p, "Too many arguments");
		return NULL;
	}
	p->nargs++;
	if (parent->count == parent->alloc) {
		parent->alloc = parent->alloc == 0 ? 4 : parent->alloc * 2;
		parent->list = xreallocarray(parent->list, parent->alloc, sizeof(*parent->list));
	}
	arg = &parent->list[parent->count++];
	memset(arg, 0, sizeof(*arg));
	arg->type = type;
	return arg;
}

static struct imap_arg *add_token_arg(struct imap_parser *p, enum imap_arg_type type)
{
	struct imap_arg *arg = add_arg(p, type);

	if (arg == NULL)
		return NULL;
	arg->str = xmalloc(p->tok.len + 1);
	if (p->tok.len > 0)
		memcpy(arg->str, p->tok.data, p->tok.len);
	arg->str[p->tok.len] = '\0';
	arg->str_len = p->tok.len;
	buf_reset(&p->tok);
	return arg;
}

static bool push(struct imap_parser *p, struct imap_arg *list)
{
	if (p->depth >= p->limits.max_depth)
		return fail(p, "Too deeply nested lists");
	if (p->depth + 1 >= p->stack_alloc) {
		p->stack_alloc = p->depth + 8;
		p->stack = xreallocarray(p->stack, p->stack_alloc, sizeof(*p->stack));
	}
	p->stack[++p->depth] = list;
	p->list_opened = true;
	return true;
}

static void tok_add(struct imap_parser *p, unsigned char c)
{
	buf_append(&p->tok, &c, 1);
}

/* --- character classes --- */

static bool is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return c != '(' && c != ')' && c != '"';
}

static bool is_tag_char(unsigned char c)
{
	return is_atom_char(c) && c != '{' && c != '%' && c != '*' && c != '\\' && c != '+';
}

static bool is_section_name(const struct buf *tok)
{
	static const char *const names[] = {"BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK",
	                                    "BINARY.SIZE"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (tok->len == strlen(names[i]) && strncasecmp(tok->data, names[i], tok->len) == 0)
			return true;
	}
	return false;
}

/* --- section specs --- */

static bool section_text_parse(const char *s, bool has_parts, enum imap_section_text *text_r)
{
	static const struct {
		const char *name;
		enum imap_section_text text;
	} texts[] = {
	    {"HEADER", IMAP_SECTION_HEADER},
	    {"HEADER.FIELDS", IMAP_SECTION_HEADER_FIELDS},
	    {"HEADER.FIELDS.NOT", IMAP_SECTION_HEADER_FIELDS_NOT},
	    {"TEXT", IMAP_SECTION_TEXT},
	    {"MIME", IMAP_SECTION_MIME},
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		if (strcasecmp(s, texts[i].name) != 0)
			continue;
		if (texts[i].text == IMAP_SECTION_MIME && !has_parts)
			return false;
		*text_r = texts[i].text;
		return true;
	}
	return false;
}

/* section-spec = section-msgtext / (section-part ["." section-text]) */
static bool section_spec_parse(struct imap_arg *arg, const char *s)
{
	arg->part_count = 0;
	arg->text = IMAP_SECTION_NONE;
	while (*s >= '1' && *s <= '9') {
		uint64_t n = 0;

		while (isdigit((unsigned char)*s)) {
			n = n * 10 + (uint64_t)(*s++ - '0');
			if (n > UINT32_MAX)
				return false;
		}
		if (arg->part_count == IMAP_SECTION_MAX_PARTS)
			return false;
		arg->parts[arg->part_count++] = (uint32_t)n;
		if (*s == '\0')
			return true;
		if (*s++ != '.' || *s == '\0')
			return false;
	}
	if (*s == '\0')
		return arg->part_count == 0;
	return section_text_parse(s, arg->part_count > 0, &arg->text);
}

static bool section_finish_spec(struct imap_parser *p)
{
	struct imap_arg *sec = p->section;

	sec->section = xstrndup(p->tok.data != NULL ? p->tok.data : "", p->tok.len);
	buf_reset(&p->tok);
	if (!section_spec_parse(sec, sec->section))
		return fail(p, "Invalid section");
	if (strncasecmp(sec->str, "BINARY", 6) == 0 && sec->text != IMAP_SECTION_NONE)
		return fail(p, "Invalid section");
	return true;
}

static bool section_wants_list(const struct imap_arg *sec)
{
	return sec->text == IMAP_SECTION_HEADER_FIELDS ||
	       sec->text == IMAP_SECTION_HEADER_FIELDS_NOT;
}

/* --- state handlers: each consumes one byte; false means error --- */

static bool st_tag(struct imap_parser *p, unsigned char c)
{
	if (c == ' ') {
		if (p->tok.len == 0)
			return fail(p, "Missing tag");
		p->tag = xstrndup(p->tok.data, p->tok.len);
		buf_reset(&p->tok);
		p->state = ST_NAME;
		return true;
	}
	if (c == '\r' || c == '\n') {
		if (p->tok.len == 0) {
			p->line_len = 0; /* empty lines are ignored */
			return true;
		}
		return fail(p, "Missing command name");
	}
	if (!is_tag_char(c))
		return fail(p, "Invalid characters in tag");
	tok_add(p, c);
	return true;
}

static bool st_name(struct imap_parser *p, unsigned char c)
{
	if (c == ' ' || c == '\r' || c == '\n') {
		if (p->tok.len == 0)
			return fail(p, "Missing command name");
		p->name = xstrndup(p->tok.data, p->tok.len);
		buf_reset(&p->tok);
		if (c == ' ') {
			p->state = ST_ARG_START;
			p->list_opened = false;
		} else if (c == '\r') {
			p->state = ST_EOL_LF;
		} else {
			p->done = true;
		}
		return true;
	}
	if (!is_atom_char(c) || c == '{' || c == '[')
		return fail(p, "Invalid characters in command name");
	tok_add(p, c);
	return true;
}

static bool close_list(struct imap_parser *p)
{
	struct imap_arg *closed = top(p);

	p->depth--;
	p->list_opened = false;
	if (closed->type == IMAP_ARG_SECTION) {
		if (closed->count == 0)
			return fail(p, "Empty header list");
		p->state = ST_SECTION_CLOSE;
	} else {
		p->state = ST_AFTER_ARG;
	}
	return true;
}

static bool st_arg_start(struct imap_parser *p, unsigned char c)
{
	bool opened = p->list_opened;
	struct imap_arg *arg;

	p->list_opened = false;
	switch (c) {
	case '(':
		if (top(p)->type == IMAP_ARG_SECTION)
			return fail(p, "Invalid header list");
		arg = add_arg(p, IMAP_ARG_LIST);
		return arg != NULL && push(p, arg);
	case ')':
		if (!opened)
			return fail(p, "Unexpected ')'");
		return close_list(p);
	case '"':
		p->state = ST_QUOTED;
		return true;
	case '{':
		p->state = ST_LIT_SIZE;
		p->lit_size = 0;
		p->digits = 0;
		p->lit8 = false;
		return true;
	case '~':
		p->state = ST_TILDE;
		return true;
	case ' ':
		return fail(p, "Unexpected space");
	case '\r':
	case '\n':
		return fail(p, opened ? "Missing ')'" : "Unexpected space at end of line");
	default:
		if (!is_atom_char(c))
			return fail(p, "Invalid characters in atom");
		tok_add(p, c);
		p->state = ST_ATOM;
		return true;
	}
}

static bool st_after_arg(struct imap_parser *p, unsigned char c)
{
	switch (c) {
	case ' ':
		p->state = ST_ARG_START;
		p->list_opened = false;
		return true;
	case ')':
		if (p->depth == 0)
			return fail(p, "Unexpected ')'");
		return close_list(p);
	case '\r':
	case '\n':
		if (p->depth > 0)
			return fail(p, "Missing ')'");
		if (c == '\r')
			p->state = ST_EOL_LF;
		else
			p->done = true;
		return true;
	default:
		return fail(p, "Missing space between arguments");
	}
}

static bool finish_atom(struct imap_parser *p)
{
	bool nil = p->tok.len == 3 && strncasecmp(p->tok.data, "NIL", 3) == 0;

	return add_token_arg(p, nil ? IMAP_ARG_NIL : IMAP_ARG_ATOM) != NULL;
}

static bool start_section(struct imap_parser *p)
{
	struct imap_arg *arg = add_token_arg(p, IMAP_ARG_SECTION);

	if (arg == NULL)
		return false;
	p->section = arg;
	p->state = ST_SECTION;
	return true;
}

static bool st_atom(struct imap_parser *p, unsigned char c)
{
	if (c == ' ' || c == '\r' || c == '\n' || c == ')') {
		if (!finish_atom(p))
			return false;
		p->state = ST_AFTER_ARG;
		return st_after_arg(p, c);
	}
	if (c == '[' && top(p)->type != IMAP_ARG_SECTION && is_section_name(&p->tok))
		return start_section(p);
	if (!is_atom_char(c))
		return fail(p, "Invalid characters in atom");
	tok_add(p, c);
	return true;
}

static bool st_quoted(struct imap_parser *p, unsigned char c)
{
	switch (c) {
	case '"':
		if (add_token_arg(p, IMAP_ARG_STRING) == NULL)
			return false;
		p->state = ST_AFTER_ARG;
		return true;
	case '\\':
		p->state = ST_QUOTED_ESC;
		return true;
	case '\r':
	case '\n':
		return fail(p, "Missing '\"'");
	case '\0':
		return fail(p, "NUL in quoted string");
	default:
		tok_add(p, c);
		return true;
	}
}

static bool st_quoted_esc(struct imap_parser *p, unsigned char c)
{
	if (c != '"' && c != '\\')
		return fail(p, "Invalid escape in quoted string");
	tok_add(p, c);
	p->state = ST_QUOTED;
	return true;
}

/* "~{" starts a literal8; any other '~' starts an atom. */
static bool st_tilde(struct imap_parser *p, unsigned char c)
{
	if (c == '{') {
		p->state = ST_LIT_SIZE;
		p->lit_size = 0;
		p->digits = 0;
		p->lit8 = true;
		return true;
	}
	tok_add(p, '~');
	p->state = ST_ATOM;
	return st_atom(p, c);
}

static bool st_lit_size(struct imap_parser *p, unsigned char c)
{
	if (isdigit(c)) {
		if (++p->digits > 19)
			return fail(p, "Literal size too large");
		p->lit_size = p->lit_size * 10 + (uint64_t)(c - '0');
		return true;
	}
	if (p->digits == 0 || (c != '+' && c != '}'))
		return fail(p, "Invalid literal size");
	p->lit_sync = c == '}';
	p->state = p->lit_sync ? ST_LIT_CR : ST_LIT_CLOSE;
	return true;
}

static bool st_lit_close(struct imap_parser *p, unsigned char c)
{
	if (c != '}')
		return fail(p, "Invalid literal size");
	p->state = ST_LIT_CR;
	return true;
}

/* The literal header ended: check it before any of its data is read. */
static bool literal_ready(struct imap_parser *p)
{
	const char *msg = NULL;

	if (!p->limits.allow_literals)
		msg = "Literals are not allowed before login";
	else if (p->lit_size > p->limits.max_literal)
		msg = "Literal too large";
	if (msg != NULL)
		return p->lit_sync ? fail(p, msg) : fail_fatal(p, msg);
	p->lit_left = p->lit_size;
	buf_reset(&p->tok);
	p->state = ST_LIT_DATA;
	return true;
}

static bool st_lit_cr(struct imap_parser *p, unsigned char c)
{
	if (c == '\n')
		return literal_ready(p);
	if (c != '\r')
		return fail(p, "Missing line end after literal size");
	p->state = ST_LIT_LF;
	return true;
}

static bool st_lit_lf(struct imap_parser *p, unsigned char c)
{
	if (c != '\n')
		return fail(p, "Missing line end after literal size");
	return literal_ready(p);
}

static bool st_section(struct imap_parser *p, unsigned char c)
{
	if (c == ']' || c == ' ') {
		if (!section_finish_spec(p))
			return false;
		if (section_wants_list(p->section) != (c == ' '))
			return fail(p, c == ' ' ? "Invalid section" : "Missing header list");
		p->state = c == ']' ? ST_PARTIAL_START : ST_SECTION_LIST;
		return true;
	}
	if (!isalnum(c) && c != '.')
		return fail(p, "Invalid section");
	tok_add(p, c);
	return true;
}

static bool st_section_list(struct imap_parser *p, unsigned char c)
{
	if (c != '(')
		return fail(p, "Missing header list");
	if (!push(p, p->section))
		return false;
	p->state = ST_ARG_START;
	return true;
}

static bool st_section_close(struct imap_parser *p, unsigned char c)
{
	if (c != ']')
		return fail(p, "Missing ']'");
	p->state = ST_PARTIAL_START;
	return true;
}

static bool st_partial_start(struct imap_parser *p, unsigned char c)
{
	if (c != '<') {
		p->state = ST_AFTER_ARG;
		return st_after_arg(p, c);
	}
	p->num = 0;
	p->digits = 0;
	p->state = ST_PARTIAL_OFFSET;
	return true;
}

static bool partial_digit(struct imap_parser *p, unsigned char c)
{
	if (++p->digits > 19)
		return fail(p, "Invalid partial");
	p->num = p->num * 10 + (uint64_t)(c - '0');
	return true;
}

static bool st_partial_offset(struct imap_parser *p, unsigned char c)
{
	if (isdigit(c))
		return partial_digit(p, c);
	if (c != '.' || p->digits == 0)
		return fail(p, "Invalid partial");
	p->section->partial_offset = p->num;
	p->num = 0;
	p->digits = 0;
	p->state = ST_PARTIAL_SIZE;
	return true;
}

static bool st_partial_size(struct imap_parser *p, unsigned char c)
{
	if (isdigit(c))
		return partial_digit(p, c);
	if (c != '>' || p->digits == 0 || p->num == 0)
		return fail(p, "Invalid partial");
	p->section->partial_size = p->num;
	p->section->has_partial = true;
	p->state = ST_AFTER_ARG;
	return true;
}

static bool st_eol_lf(struct imap_parser *p, unsigned char c)
{
	if (c != '\n')
		return fail(p, "Missing LF after CR");
	p->done = true;
	return true;
}

typedef bool state_fn(struct imap_parser *p, unsigned char c);

static state_fn *const state_fns[] = {
    [ST_TAG] = st_tag,
    [ST_NAME] = st_name,
    [ST_ARG_START] = st_arg_start,
    [ST_AFTER_ARG] = st_after_arg,
    [ST_ATOM] = st_atom,
    [ST_QUOTED] = st_quoted,
    [ST_QUOTED_ESC] = st_quoted_esc,
    [ST_TILDE] = st_tilde,
    [ST_LIT_SIZE] = st_lit_size,
    [ST_LIT_CLOSE] = st_lit_close,
    [ST_LIT_CR] = st_lit_cr,
    [ST_LIT_LF] = st_lit_lf,
    [ST_SECTION] = st_section,
    [ST_SECTION_LIST] = st_section_list,
    [ST_SECTION_CLOSE] = st_section_close,
    [ST_PARTIAL_START] = st_partial_start,
    [ST_PARTIAL_OFFSET] = st_partial_offset,
    [ST_PARTIAL_SIZE] = st_partial_size,
    [ST_EOL_LF] = st_eol_lf,
};

/* --- feeding --- */

static bool literal_finish(struct imap_parser *p)
{
	struct imap_arg *arg = add_token_arg(p, IMAP_ARG_LITERAL);

	if (arg == NULL)
		return false;
	p->lit_held += arg->str_len;
	arg->literal_sync = p->lit_sync;
	arg->literal8 = p->lit8;
	p->state = ST_AFTER_ARG;
	return true;
}

static size_t literal_take(struct imap_parser *p, const unsigned char *data, size_t size)
{
	size_t n = p->lit_left < size ? (size_t)p->lit_left : size;

	buf_append(&p->tok, data, n);
	p->lit_left -= n;
	return n;
}

static enum imap_parse_result step(struct imap_parser *p, unsigned char c)
{
	enum parser_state before = p->state;

	if (before == ST_SKIP_LINE) {
		if (c == '\n')
			p->state = ST_TAG;
		return IMAP_PARSE_NEED_MORE;
	}
	if (++p->line_len > p->limits.max_line) {
		fail_fatal(p, "Line too long");
		return IMAP_PARSE_ERROR;
	}
	if (!state_fns[before](p, c)) {
		p->error_mid_line = c != '\n';
		return IMAP_PARSE_ERROR;
	}
	if (p->done)
		return IMAP_PARSE_DONE;
	if (p->state == ST_LIT_DATA && before != ST_LIT_DATA)
		return IMAP_PARSE_LITERAL;
	return IMAP_PARSE_NEED_MORE;
}

static enum imap_parse_result feed_literal(struct imap_parser *p, const unsigned char *data,
                                           size_t size, size_t *used_r)
{
	*used_r = literal_take(p, data, size);
	if (p->lit_left > 0)
		return IMAP_PARSE_NEED_MORE;
	if (!literal_finish(p)) {
		p->error_mid_line = true;
		return IMAP_PARSE_ERROR;
	}
	return IMAP_PARSE_NEED_MORE;
}

enum imap_parse_result imap_parser_feed(struct imap_parser *p, const void *data, size_t size,
                                        size_t *consumed_r)
{
	const unsigned char *d = data;
	enum imap_parse_result r = IMAP_PARSE_NEED_MORE;
	size_t i = 0;

	if (p->last == IMAP_PARSE_DONE || p->last == IMAP_PARSE_ERROR)
		imap_parser_reset(p);
	while (r == IMAP_PARSE_NEED_MORE) {
		if (p->state == ST_LIT_DATA) {
			size_t used;

			if (p->lit_left > 0 && i == size)
				break;
			r = feed_literal(p, d + i, size - i, &used);
			i += used;
		} else {
			if (i == size)
				break;
			r = step(p, d[i++]);
		}
	}
	*consumed_r = i;
	p->last = r;
	return r;
}

/* --- lifecycle and accessors --- */

struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits)
{
	struct imap_parser *p = xcalloc(1, sizeof(*p));

	p->next_limits = *limits;
	buf_init(&p->tok);
	p->tok.secret = true; /* until apply_limits says otherwise */
	apply_limits(p, limits);
	p->stack_alloc = 8;
	p->stack = xcalloc(p->stack_alloc, sizeof(*p->stack));
	p->root.type = IMAP_ARG_LIST;
	p->stack[0] = &p->root;
	p->state = ST_TAG;
	return p;
}

void imap_parser_free(struct imap_parser **parser)
{
	struct imap_parser *p = *parser;

	if (p == NULL)
		return;
	args_drop(p);
	xfree(&p->tag);
	xfree(&p->name);
	buf_free(&p->tok);
	xfree(&p->stack);
	xfree(parser);
}

void imap_parser_set_limits(struct imap_parser *p, const struct imap_parser_limits *limits)
{
	p->next_limits = *limits;
}

void imap_parser_reset(struct imap_parser *p)
{
	bool skip = p->last == IMAP_PARSE_ERROR
	                ? p->error_mid_line
	                : p->last == IMAP_PARSE_NEED_MORE && p->state != ST_TAG;

	args_drop(p);
	xfree(&p->tag);
	xfree(&p->name);
	buf_reset(&p->tok);
	p->depth = 0;
	p->nargs = 0;
	p->line_len = 0;
	p->section = NULL;
	p->lit_left = 0;
	p->lit_held = 0;
	p->done = false;
	apply_limits(p, &p->next_limits);
	p->error = NULL;
	p->fatal = false;
	p->error_mid_line = false;
	p->last = IMAP_PARSE_NEED_MORE;
	p->state = skip ? ST_SKIP_LINE : ST_TAG;
}

void imap_parser_wipe(struct imap_parser *p)
{
	arg_wipe(&p->root);
	if (p->tok.data != NULL)
		sodium_memzero(p->tok.data, p->tok.cap);
	p->tok.len = 0;
}

static bool mem_holds(const void *hay, size_t hay_len, const void *needle, size_t len)
{
	return hay != NULL && len > 0 && memmem(hay, hay_len, needle, len) != NULL;
}

static bool arg_holds(const struct imap_arg *arg, const void *bytes, size_t len)
{
	for (unsigned int i = 0; i < arg->count; i++)
		if (arg_holds(&arg->list[i], bytes, len))
			return true;
	return mem_holds(arg->str, arg->str_len, bytes, len) ||
	       (arg->section != NULL && mem_holds(arg->section, strlen(arg->section), bytes, len));
}

bool imap_parser_holds(const struct imap_parser *p, const void *bytes, size_t len)
{
	return mem_holds(p->tok.data, p->tok.cap, bytes, len) || arg_holds(&p->root, bytes, len);
}

const char *imap_parser_error(const struct imap_parser *p)
{
	return p->error;
}

bool imap_parser_error_is_fatal(const struct imap_parser *p)
{
	return p->fatal;
}

const char *imap_parser_tag(const struct imap_parser *p)
{
	return p->tag;
}

const char *imap_parser_name(const struct imap_parser *p)
{
	return p->name;
}

const struct imap_arg *imap_parser_args(const struct imap_parser *p)
{
	return &p->root;
}

uint64_t imap_parser_literal_size(const struct imap_parser *p)
{
	return p->lit_size;
}

bool imap_parser_literal_is_sync(const struct imap_parser *p)
{
	return p->lit_sync;
}

bool imap_parser_literal_is_binary(const struct imap_parser *p)
{
	return p->lit8;
}

bool imap_parser_literal_top_level(const struct imap_parser *p, unsigned int *index_r)
{
	if (p->depth != 0)
		return false;
	*index_r = p->root.count;
	return true;
}

enum imap_parse_result imap_parser_literal_taken(struct imap_parser *p)
{
	struct imap_arg *arg;

	if (p->last != IMAP_PARSE_LITERAL || p->lit_left != p->lit_size) {
		fail(p, "No literal to take");
		arg = NULL;
	} else {
		arg = add_arg(p, IMAP_ARG_LITERAL_TAKEN);
	}
	if (arg == NULL) {
		p->error_mid_line = true;
		p->last = IMAP_PARSE_ERROR;
		return IMAP_PARSE_ERROR;
	}
	arg->str_len = (size_t)p->lit_size;
	arg->literal_sync = p->lit_sync;
	arg->literal8 = p->lit8;
	p->lit_left = 0;
	p->state = ST_AFTER_ARG;
	p->last = IMAP_PARSE_NEED_MORE;
	return IMAP_PARSE_NEED_MORE;
}

uint64_t imap_parser_command_size(const struct imap_parser *p)
{
	/* a literal being read is in tok; other tokens are counted in line_len already */
	return p->line_len + p->lit_held + (p->state == ST_LIT_DATA ? p->tok.len : 0);
}

bool imap_arg_get_atom(const struct imap_arg *arg, const char **str_r)
{
	if (arg->type != IMAP_ARG_ATOM)
		return false;
	*str_r = arg->str;
	return true;
}

bool imap_arg_get_string(const struct imap_arg *arg, const char **str_r)
{
	if ((arg->type != IMAP_ARG_STRING && arg->type != IMAP_ARG_LITERAL) || arg->literal8)
		return false;
	*str_r = arg->str;
	return true;
}

bool imap_arg_get_astring(const struct imap_arg *arg, const char **str_r)
{
	if (arg->type == IMAP_ARG_NIL) {
		*str_r = arg->str;
		return true;
	}
	return imap_arg_get_atom(arg, str_r) || imap_arg_get_string(arg, str_r);
}

bool imap_arg_get_nstring(const struct imap_arg *arg, const char **str_r)
{
	if (arg->type == IMAP_ARG_NIL) {
		*str_r = NULL;
		return true;
	}
	return imap_arg_get_string(arg, str_r);
}

bool imap_arg_get_list(const struct imap_arg *arg, const struct imap_arg **list_r,
                       unsigned int *count_r)
{
	if (arg->type != IMAP_ARG_LIST)
		return false;
	*list_r = arg->list;
	*count_r = arg->count;
	return true;
}
