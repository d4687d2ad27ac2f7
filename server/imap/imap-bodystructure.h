/* FETCH BODY / BODYSTRUCTURE: the structure of a message's MIME parts. */
#ifndef TWOFOLD_IMAP_BODYSTRUCTURE_H
#define TWOFOLD_IMAP_BODYSTRUCTURE_H

struct buf;
struct mime_part;

enum imap_bodystructure_flags {
	IMAP_BODYSTRUCTURE_EXTENDED = 1 << 0, /* BODYSTRUCTURE rather than BODY */
	IMAP_BODYSTRUCTURE_CRLF = 1 << 1,     /* report sizes as sent with CRLF line ends */
};

/* Appends the BODY / BODYSTRUCTURE value of a part (normally the root). */
void imap_bodystructure_append(struct buf *out, const struct mime_part *part,
                               enum imap_bodystructure_flags flags);

#endif
