/* The kinds of storage error the protocols tell apart: one message each, known by its address
 * (the text is for people; the kind is for the reply code). */
#include "storage/storage.h"

#include <stddef.h>

const char mail_error_no_mailbox[] = "no such mailbox";
const char mail_error_no_message[] = "no such message";
const char mail_error_exists[] = "mailbox already exists";
const char mail_error_nospace[] = "not enough disk space";
const char mail_error_unavailable[] = "message is unavailable";

static const struct {
	const char *text;
	enum mail_error kind;
} mail_errors[] = {
    {mail_error_no_mailbox, MAIL_ERROR_NOTFOUND},     {mail_error_no_message, MAIL_ERROR_NOTFOUND},
    {mail_error_exists, MAIL_ERROR_EXISTS},           {mail_error_nospace, MAIL_ERROR_NOSPACE},
    {mail_error_unavailable, MAIL_ERROR_UNAVAILABLE},
};

enum mail_error mail_error_of(const char *error)
{
	for (size_t i = 0; i < sizeof(mail_errors) / sizeof(mail_errors[0]); i++)
		if (error == mail_errors[i].text)
			return mail_errors[i].kind;
	return MAIL_ERROR_OTHER;
}
