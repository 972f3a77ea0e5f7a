/*
 * mail_outbox.c — the embedded mail transport: one .eml file per message.
 *
 * <dir>/<attempt id>.eml is written as <dir>/.<attempt id>.tmp, fsync'd,
 * renamed into place and the folder fsync'd, so the file either exists
 * whole or not at all, even after kill -9 or a power cut. That makes
 * delivered() exact: after a crash the scheduler asks whether the attempt's
 * file exists instead of guessing, so the outbox never holds a duplicate.
 * The envelope goes into X-Envelope-From/-To lines at the top, as an MTA's
 * pickup folder expects. Temp files left by a crash are removed at start.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail.h"

typedef struct outbox {
	mail_transport t; /* first: the interface */
	char           dir[900];
	int            dirfd;
} outbox;

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Write header + data into a temp file and fsync it. 0 or -1 (errno). */
static int write_temp(const char *path, const mail_msg *m)
{
	char env[600];
	int n = snprintf(env, sizeof env, "X-Envelope-From: <%s>\r\nX-Envelope-To: <%s>\r\n", m->from, m->to);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	int rc = write_all(fd, env, (size_t)n) < 0 || write_all(fd, m->data, m->len) < 0 || fsync(fd) < 0 ? -1 : 0;
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

static mail_result outbox_send(mail_transport *t, const mail_msg *m, mail_status *st)
{
	outbox *o = (outbox *)t;
	char tmp[1024], final[1024];
	snprintf(tmp, sizeof tmp, "%s/.%s.tmp", o->dir, m->id);
	snprintf(final, sizeof final, "%s/%s.eml", o->dir, m->id);
	st->code = 0;
	if (write_temp(tmp, m) < 0 || rename(tmp, final) < 0 || fsync(o->dirfd) < 0) {
		snprintf(st->why, sizeof st->why, "outbox %.100s: %.80s", o->dir, strerror(errno));
		unlink(tmp);
		return MAIL_TEMP; /* nothing visible was written: safe to retry */
	}
	snprintf(st->why, sizeof st->why, "written to %.180s", final);
	return MAIL_OK;
}

static int outbox_delivered(mail_transport *t, const char *id)
{
	outbox *o = (outbox *)t;
	char final[1024];
	struct stat sb;
	snprintf(final, sizeof final, "%s/%s.eml", o->dir, id);
	if (stat(final, &sb) == 0)
		return 1;
	return errno == ENOENT ? 0 : -1;
}

static void outbox_free(mail_transport *t)
{
	outbox *o = (outbox *)t;
	if (o->dirfd >= 0)
		close(o->dirfd);
	free(o);
}

/* mkdir -p */
static int make_dirs(const char *path)
{
	char buf[900];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, 0750) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	return mkdir(buf, 0750) < 0 && errno != EEXIST ? -1 : 0;
}

/* Remove ".<id>.tmp" files a crash left behind. */
static void remove_stale(outbox *o)
{
	DIR *d = fdopendir(dup(o->dirfd));
	struct dirent *e;
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (e->d_name[0] == '.' && n > 5 && !strcmp(e->d_name + n - 4, ".tmp"))
			unlinkat(o->dirfd, e->d_name, 0);
	}
	if (d)
		closedir(d);
}

mail_transport *mail_outbox_new(const char *dir, sb_error *err)
{
	outbox *o = calloc(1, sizeof *o);
	snprintf(o->dir, sizeof o->dir, "%s", dir);
	if (make_dirs(dir) < 0 || (o->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		sb_error_set(err, SB_INVALID_ARGUMENT, "outbox %s: %s", dir, strerror(errno));
		free(o);
		return NULL;
	}
	remove_stale(o);
	o->t = (mail_transport){.name = "outbox", .send = outbox_send, .delivered = outbox_delivered,
				.free = outbox_free};
	return &o->t;
}
