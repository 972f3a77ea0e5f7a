/*
 * sb_events.c — PUB/SUB over nng. A message body is "<topic> <json>".
 *
 * A PUB socket counts its connected subscribers (pipe events): with none,
 * an event is counted as published and dropped without being encoded, which
 * is what nng would do with it after the encoding. The count goes up before
 * a new pipe can receive anything (NNG_PIPE_EV_ADD_PRE) and down after it is
 * gone (REM_POST, which nng also reports for pipes refused after ADD_PRE),
 * so no event a subscriber could have received is dropped.
 */
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sb_events.h"
#include "sb_fs.h"
#include "sb_json.h"
#include "sb_log.h"
#include "sb_metrics.h"
#include "sb_schema_gen.h"

struct sb_pub {
	nng_socket  sock;
	sb_metric  *published;
	atomic_int  subscribers; /* connected pipes */
};

struct sb_sub {
	nng_socket sock;
};

static void on_pipe(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	sb_pub *p = arg;
	atomic_fetch_add(&p->subscribers, ev == NNG_PIPE_EV_ADD_PRE ? 1 : -1);
}

sb_pub *sb_pub_open(const char *url, sb_error *err)
{
	sb_pub *p = calloc(1, sizeof *p);
	sb_ipc_mkdir(url);
	int rv = nng_pub0_open(&p->sock);
	if (rv == 0)
		rv = nng_pipe_notify(p->sock, NNG_PIPE_EV_ADD_PRE, on_pipe, p);
	if (rv == 0)
		rv = nng_pipe_notify(p->sock, NNG_PIPE_EV_REM_POST, on_pipe, p);
	if (rv == 0)
		rv = nng_listen(p->sock, url, NULL, 0);
	if (rv != 0) {
		sb_error_set(err, SB_UNAVAILABLE, "cannot publish on %s: %s", url, nng_strerror(rv));
		nng_close(p->sock);
		free(p);
		return NULL;
	}
	p->published = sb_counter("sb_events_published_total", "Events published on this daemon's PUB socket.", NULL);
	sb_info("events.listening", "url=%s", url);
	return p;
}

void sb_pub_close(sb_pub *p)
{
	if (!p)
		return;
	nng_close(p->sock);
	free(p);
}

bool sb_pub_wanted(sb_pub *p)
{
	if (!p)
		return false;
	if (atomic_load(&p->subscribers) > 0)
		return true;
	sb_counter_inc(p->published);
	return false;
}

void sb_publish(sb_pub *p, int ev, json_t *body)
{
	if (!p || ev < 0 || ev >= SB_EV__COUNT || !sb_pub_wanted(p)) {
		json_decref(body);
		return;
	}
	size_t len = 0;
	char *js = body ? sb_json_dump(body, &len) : NULL;
	json_decref(body);
	if (!js)
		return;
	const char *topic = SB_EVENTS[ev].topic;
	size_t tl = strlen(topic);
	nng_msg *msg;
	if (nng_msg_alloc(&msg, 0) == 0 && nng_msg_append(msg, topic, tl) == 0 &&
	    nng_msg_append(msg, " ", 1) == 0 && nng_msg_append(msg, js, len) == 0) {
		if (nng_sendmsg(p->sock, msg, NNG_FLAG_NONBLOCK) != 0)
			nng_msg_free(msg);
		else
			sb_counter_inc(p->published);
	}
	free(js);
}

sb_sub *sb_sub_open(const char *const *urls, int nurls, const char *const *prefixes, int nprefixes, sb_error *err)
{
	sb_sub *s = calloc(1, sizeof *s);
	int rv = nng_sub0_open(&s->sock);
	if (rv != 0)
		goto fail;
	nng_socket_set_ms(s->sock, NNG_OPT_RECONNMINT, 100);
	nng_socket_set_ms(s->sock, NNG_OPT_RECONNMAXT, 1000);
	nng_socket_set_int(s->sock, NNG_OPT_RECVBUF, 1024);
	if (nprefixes == 0)
		rv = nng_socket_set(s->sock, NNG_OPT_SUB_SUBSCRIBE, "", 0);
	for (int i = 0; rv == 0 && i < nprefixes; i++)
		rv = nng_socket_set(s->sock, NNG_OPT_SUB_SUBSCRIBE, prefixes[i], strlen(prefixes[i]));
	for (int i = 0; rv == 0 && i < nurls; i++)
		rv = nng_dial(s->sock, urls[i], NULL, NNG_FLAG_NONBLOCK);
	if (rv != 0)
		goto fail;
	return s;
fail:
	sb_error_set(err, SB_INVALID_ARGUMENT, "cannot subscribe: %s", nng_strerror(rv));
	nng_close(s->sock);
	free(s);
	return NULL;
}

int sb_sub_recv(sb_sub *s, int timeout_ms, char **topic, char **json)
{
	nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, timeout_ms);
	nng_msg *msg;
	int rv = nng_recvmsg(s->sock, &msg, 0);
	if (rv == NNG_ETIMEDOUT)
		return 1;
	if (rv != 0)
		return -1;
	const char *b = nng_msg_body(msg);
	size_t n = nng_msg_len(msg);
	const char *sp = memchr(b, ' ', n);
	size_t tl = sp ? (size_t)(sp - b) : n;
	*topic = strndup(b, tl);
	*json = sp ? strndup(sp + 1, n - tl - 1) : strdup("{}");
	nng_msg_free(msg);
	return 0;
}

void sb_sub_close(sb_sub *s)
{
	if (!s)
		return;
	nng_close(s->sock);
	free(s);
}

int sb_sub_socket_id(const sb_sub *s)
{
	return nng_socket_id(s->sock);
}
