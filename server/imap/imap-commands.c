/* The IMAP command table: which handler runs a command, in which states, with which flags. */
#include "server/imap/imap-client.h"
#include "common/config.h"
#include "server/session.h"

#include <stdint.h>
#include <stdio.h>
#include <strings.h>

#define S_NOAUTH   IMAP_STATE_NOAUTH
#define S_AUTH     (IMAP_STATE_AUTH | IMAP_STATE_SELECTED)
#define S_ANY      (S_NOAUTH | S_AUTH)
#define S_SELECTED IMAP_STATE_SELECTED

static const struct imap_command imap_commands[] = {
    {"CAPABILITY", imap_cmd_capability, S_ANY, 0},
    {"NOOP", imap_cmd_noop, S_ANY, 0},
    {"LOGOUT", imap_cmd_logout, S_ANY, 0},
    {"ID", imap_cmd_id, S_ANY, 0},
    {"LOGIN", imap_cmd_login, S_NOAUTH, 0},
    {"AUTHENTICATE", imap_cmd_authenticate, S_NOAUTH, 0},
    {"ENABLE", imap_cmd_enable, S_AUTH, 0},
    {"NAMESPACE", imap_cmd_namespace, S_AUTH, 0},
    {"SELECT", imap_cmd_select, S_AUTH, 0},
    {"EXAMINE", imap_cmd_examine, S_AUTH, 0},
    {"CREATE", imap_cmd_create, S_AUTH, 0},
    {"DELETE", imap_cmd_delete, S_AUTH, 0},
    {"RENAME", imap_cmd_rename, S_AUTH, 0},
    {"SUBSCRIBE", imap_cmd_subscribe, S_AUTH, 0},
    {"UNSUBSCRIBE", imap_cmd_unsubscribe, S_AUTH, 0},
    {"LIST", imap_cmd_list, S_AUTH, 0},
    {"LSUB", imap_cmd_lsub, S_AUTH, 0},
    {"STATUS", imap_cmd_status, S_AUTH, 0},
    {"APPEND", imap_cmd_append, S_AUTH, 0},
    {"IDLE", imap_cmd_idle, S_AUTH, 0},
    {"COMPRESS", imap_cmd_compress, S_AUTH, 0},
    {"CHECK", imap_cmd_check, S_SELECTED, 0},
    {"CLOSE", imap_cmd_close, S_SELECTED, 0},
    {"UNSELECT", imap_cmd_unselect, S_SELECTED, 0},
    {"EXPUNGE", imap_cmd_expunge, S_SELECTED, IMAP_CMD_FLAG_UID},
    {"FETCH", imap_cmd_fetch, S_SELECTED, IMAP_CMD_FLAG_NO_EXPUNGE | IMAP_CMD_FLAG_UID},
    {"STORE", imap_cmd_store, S_SELECTED, IMAP_CMD_FLAG_NO_EXPUNGE | IMAP_CMD_FLAG_UID},
    {"SEARCH", imap_cmd_search, S_SELECTED, IMAP_CMD_FLAG_NO_EXPUNGE | IMAP_CMD_FLAG_UID},
    {"SORT", imap_cmd_sort, S_SELECTED, IMAP_CMD_FLAG_NO_EXPUNGE | IMAP_CMD_FLAG_UID},
    {"CANCELUPDATE", imap_cmd_cancelupdate, S_SELECTED, 0},
    {"THREAD", imap_cmd_thread, S_SELECTED, IMAP_CMD_FLAG_NO_EXPUNGE | IMAP_CMD_FLAG_UID},
    {"COPY", imap_cmd_copy, S_SELECTED, IMAP_CMD_FLAG_UID},
    {"MOVE", imap_cmd_move, S_SELECTED, IMAP_CMD_FLAG_UID},
};

const struct imap_command *imap_command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(imap_commands) / sizeof(imap_commands[0]); i++) {
		if (strcasecmp(imap_commands[i].name, name) == 0)
			return &imap_commands[i];
	}
	return NULL;
}

const char *imap_capabilities(struct imap_client *c)
{
	static char caps[512];

	snprintf(caps, sizeof(caps),
	         "IMAP4rev1 LITERAL+ SASL-IR IDLE UIDPLUS MOVE NAMESPACE ID ENABLE UNSELECT "
	         "BINARY MULTIAPPEND "
	         "SPECIAL-USE LIST-EXTENDED LIST-STATUS ESEARCH CONDSTORE QRESYNC SORT SORT=DISPLAY "
	         "THREAD=ORDEREDSUBJECT THREAD=REFERENCES ESORT "
	         "CONTEXT=SEARCH CONTEXT=SORT SEARCHRES PARTIAL APPENDLIMIT=%llu%s",
	         /* RFC 7889: a 32-bit number */
	         c->s->cfg->imap_append_limit > UINT32_MAX
	             ? (unsigned long long)UINT32_MAX
	             : (unsigned long long)c->s->cfg->imap_append_limit,
	         /* RFC 4978 allows it before login; we do not: less for a stranger to reach */
	         c->state == IMAP_STATE_NOAUTH ? "" : " COMPRESS=DEFLATE");
	return caps;
}
