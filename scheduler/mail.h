/*
 * mail.h — mail transports behind one small interface (STYLE §11).
 *
 *   mail_outbox.c  the embedded default: each message becomes
 *                  <outbox>/<attempt id>.eml, written atomically (temp file,
 *                  fsync, rename, fsync of the folder), so a crash never
 *                  leaves half a message and "was it delivered?" has an exact
 *                  answer (the file exists).
 *   mail_smtp.c    SMTP through libcurl (smtp:// with STARTTLS required by
 *                  default, or smtps://), auth, timeouts.
 *
 * send() blocks (worker threads only) and classifies its outcome so the
 * caller can keep its exactly-once promise: OK (accepted), TEMP (definitely
 * not accepted: connect failure or a 4xx; may be retried), PERM (5xx or a
 * configuration/security failure; never retried), UNCERTAIN (the transfer
 * broke after the message may have been accepted).
 */
#ifndef SB_MAIL_H
#define SB_MAIL_H

#include <stdbool.h>
#include <stddef.h>

#include "sb_err.h"

typedef enum { MAIL_OK, MAIL_TEMP, MAIL_PERM, MAIL_UNCERTAIN } mail_result;

/* One message: envelope plus the raw RFC 5322 text (CRLF line ends). Borrowed. */
typedef struct mail_msg {
	const char *id;   /* the attempt id: names the outbox file */
	const char *from; /* envelope sender, bare address */
	const char *to;   /* envelope recipient, bare address */
	const char *data;
	size_t      len;
} mail_msg;

/* The outcome of one send: why (no secrets) and the SMTP reply code when there was one. */
typedef struct mail_status {
	int  code;
	char why[200];
} mail_status;

typedef struct mail_transport mail_transport;
struct mail_transport {
	const char *name; /* "outbox" or "smtp" */
	/* Send m; blocking. */
	mail_result (*send)(mail_transport *t, const mail_msg *m, mail_status *st);
	/* 1 if message id was certainly delivered, 0 if certainly not, -1 if unknowable. */
	int (*delivered)(mail_transport *t, const char *id);
	void (*free)(mail_transport *t);
};

typedef struct mail_smtp_opts {
	const char *url;        /* smtp://host:port[/ehlo-name] or smtps://... */
	const char *user, *password;
	const char *ca_file;    /* extra CA bundle (tests: a self-signed server); NULL = system */
	bool        starttls;   /* smtp://: require STARTTLS (CURLUSESSL_ALL), never a clear-text fallback */
	long        timeout_ms, connect_timeout_ms;
} mail_smtp_opts;

/* The outbox transport writing into dir (created if missing); stale temp files are removed. NULL with err. */
mail_transport *mail_outbox_new(const char *dir, sb_error *err);
/* The SMTP transport. NULL with err on a bad URL. */
mail_transport *mail_smtp_new(const mail_smtp_opts *o, sb_error *err);

#endif
