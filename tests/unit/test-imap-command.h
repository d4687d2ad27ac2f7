/* For the tests of what runs on a parsed IMAP command (FETCH, SEARCH): a whole command read by
 * the real parser as a session feeds it (literals included), and a message's size as sent.
 * Include after cmocka.h. */
#ifndef TWOFOLD_TEST_IMAP_COMMAND_H
#define TWOFOLD_TEST_IMAP_COMMAND_H

#include "server/imap/imap-parser.h"
#include "storage/storage.h"

#include <stddef.h>
#include <stdint.h>

/* The command's arguments, or NULL when the parser did not finish it. */
static inline const struct imap_arg *test_imap_command_parse(struct imap_parser *p, const char *cmd,
                                                             size_t len)
{
	size_t pos = 0;
	enum imap_parse_result r;

	imap_parser_reset(p);
	do {
		size_t used = 0;

		r = imap_parser_feed(p, cmd + pos, len - pos, &used);
		pos += used;
	} while (r == IMAP_PARSE_LITERAL || (r == IMAP_PARSE_NEED_MORE && pos < len));
	return r == IMAP_PARSE_DONE ? imap_parser_args(p) : NULL;
}

/* The size message i is sent with (CRLF line ends), as RFC822.SIZE and LARGER see it. */
static inline uint64_t test_imap_crlf_size(struct mailbox *box, size_t i)
{
	const char *error = NULL;
	uint64_t size = 0;

	assert_int_equal(mailbox_msg_crlf_size(box, i, &size, &error), 1);
	return size;
}

#endif
