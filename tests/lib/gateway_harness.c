/*
 * gateway_harness.c — start sb-store + sb-gateway, HTTP through libcurl,
 * signed Twilio webhooks (see gateway_harness.h).
 */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gateway_harness.h"
#include "sb_json.h"
#include "sb_time.h"

#define START_TIMEOUT_MS 15000

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The port of the last "http.listening" line written after offset, or 0. */
static int listening_port(const char *log, long offset)
{
	FILE *f = fopen(log, "r");
	if (!f)
		return 0;
	fseek(f, offset, SEEK_SET);
	char line[1024];
	int port = 0;
	while (fgets(line, sizeof line, f)) {
		const char *p = strstr(line, "http.listening");
		if (p && (p = strstr(p, " port=")))
			port = atoi(p + 6);
	}
	fclose(f);
	return port;
}

static void nap_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Poll the gateway's log for its port, then /healthz for 200. */
static int wait_gateway(sbt_gw *g, long offset)
{
	int64_t until = sb_mono_ms() + START_TIMEOUT_MS;
	while (sb_mono_ms() < until && sbt_alive(&g->gw)) {
		if (!g->port && (g->port = listening_port(g->gw.log, offset)))
			snprintf(g->base, sizeof g->base, "http://127.0.0.1:%d", g->port);
		sbt_resp r = {0};
		if (g->port && sbt_http(g, "GET", "/healthz", NULL, NULL, 0, &r) == 0 && r.status == 200) {
			sbt_resp_free(&r);
			return 0;
		}
		sbt_resp_free(&r);
		nap_ms(20);
	}
	fprintf(stderr, "sb-gateway did not become ready (log: %s)\n", g->gw.log);
	return -1;
}

int sbt_gw_start(sbt_gw *g, const char *const *extra)
{
	pthread_once(&curl_once, curl_setup);
	if (g->store.pid <= 0 || !sbt_alive(&g->store)) {
		g->store.pid = 0;
		if (sbt_start_store(&g->store, g->store_url, sizeof g->store_url, NULL) != 0)
			return -1;
	}
	sbt_path(g->run, sizeof g->run, "run");
	const char *args[48] = {"--run-dir", g->run, "--store-url", g->store_url, "--listen", "127.0.0.1:0",
				"--public-url", SBT_PUBLIC_URL, "--twilio-auth-token", SBT_TWILIO_TOKEN,
				"--secret", SBT_SECRET, "--admin-key", SBT_ADMIN_KEY};
	int n = 14;
	for (int i = 0; extra && extra[i] && n < 47; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	char name[64];
	snprintf(name, sizeof name, "sb-gateway-%d", ++g->starts);
	g->port = 0;
	if (sbt_spawn_as(&g->gw, name, sbt_bin("sb-gateway"), args) < 0)
		return -1;
	return wait_gateway(g, 0);
}

int sbt_gw_stop_gateway(sbt_gw *g, int sig)
{
	int rc = g->gw.pid > 0 ? sbt_stop(&g->gw, sig, 20000) : 0;
	g->port = 0;
	return rc;
}

void sbt_gw_stop(sbt_gw *g)
{
	sbt_gw_stop_gateway(g, SIGTERM);
	if (g->store.pid > 0)
		sbt_stop(&g->store, SIGTERM, 10000);
}

/* ---- HTTP ------------------------------------------------------------------------- */

typedef struct growbuf {
	char  *p;
	size_t len;
} growbuf;

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
	growbuf *b = arg;
	size_t add = size * n;
	b->p = realloc(b->p, b->len + add + 1);
	memcpy(b->p + b->len, data, add);
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

int sbt_http(const sbt_gw *g, const char *method, const char *path, const char *const *headers, const char *body,
	     size_t blen, sbt_resp *out)
{
	pthread_once(&curl_once, curl_setup);
	memset(out, 0, sizeof *out);
	char url[2048];
	snprintf(url, sizeof url, "%s%s", g->base, path);
	CURL *c = curl_easy_init();
	struct curl_slist *hl = curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip */
	for (int i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	growbuf b = {0}, h = {0};
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
	} else if (!strcmp(method, "GET")) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	CURLcode rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	out->body = b.p ? b.p : strdup("");
	out->len = b.len;
	out->headers = h.p ? h.p : strdup("");
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return rc == CURLE_OK ? 0 : -1;
}

int sbt_api_key(const sbt_gw *g, const char *key, const char *method, const char *path, const char *json_body,
		sbt_resp *out)
{
	char auth[300];
	const char *h[3] = {NULL};
	int n = 0;
	if (key) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
		h[n++] = auth;
	}
	if (json_body)
		h[n++] = "Content-Type: application/json";
	return sbt_http(g, method, path, h, json_body, json_body ? strlen(json_body) : 0, out);
}

int sbt_api(const sbt_gw *g, const char *method, const char *path, const char *json_body, sbt_resp *out)
{
	return sbt_api_key(g, SBT_ADMIN_KEY, method, path, json_body, out);
}

const char *sbt_resp_header(const sbt_resp *r, const char *name, char *buf, size_t len)
{
	size_t n = strlen(name);
	for (const char *line = r->headers; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;
			while (*v == ' ')
				v++;
			snprintf(buf, len, "%.*s", (int)strcspn(v, "\r\n"), v);
			return buf;
		}
	}
	return NULL;
}

json_t *sbt_resp_json(const sbt_resp *r)
{
	return json_loadb(r->body, r->len, JSON_DECODE_ANY, NULL);
}

void sbt_resp_free(sbt_resp *r)
{
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof *r);
}

/* ---- Twilio ---------------------------------------------------------------------- */

static int post_form(const sbt_gw *g, const char *sig, const char *path_query, const sb_form *form, sbt_resp *out)
{
	char *body = sb_form_encode(form), sh[128];
	const char *h[3] = {"Content-Type: application/x-www-form-urlencoded", NULL, NULL};
	if (sig) {
		snprintf(sh, sizeof sh, "X-Twilio-Signature: %s", sig);
		h[1] = sh;
	}
	int rc = sbt_http(g, "POST", path_query, h, body, strlen(body), out);
	free(body);
	return rc;
}

int sbt_twilio_signed_for(const sbt_gw *g, const char *signed_url, const char *path_query, const sb_form *form,
			  sbt_resp *out)
{
	char sig[SB_TWILIO_SIG_LEN + 1];
	sb_twilio_signature(SBT_TWILIO_TOKEN, signed_url, form, sig);
	return post_form(g, sig, path_query, form, out);
}

int sbt_twilio(const sbt_gw *g, const char *token, const char *path_query, const sb_form *form, sbt_resp *out)
{
	if (!token)
		return post_form(g, NULL, path_query, form, out);
	char url[1024], sig[SB_TWILIO_SIG_LEN + 1];
	snprintf(url, sizeof url, "%s%s", SBT_PUBLIC_URL, path_query);
	sb_twilio_signature(token, url, form, sig);
	return post_form(g, sig, path_query, form, out);
}

int sbt_gw_business(const sbt_gw *g, const char *name, const char *number, char *id)
{
	char body[512];
	sbt_resp r;
	snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
	if (sbt_api(g, "POST", "/api/businesses", body, &r) < 0 || r.status != 201) {
		fprintf(stderr, "create business: %ld %s\n", r.status, r.body);
		sbt_resp_free(&r);
		return -1;
	}
	json_t *j = sbt_resp_json(&r);
	snprintf(id, 64, "%s", sb_json_str(j, "id"));
	json_decref(j);
	sbt_resp_free(&r);
	if (!number)
		return 0;
	snprintf(body, sizeof body, "{\"number\":\"%s\",\"businessId\":\"%s\"}", number, id);
	int ok = sbt_api(g, "POST", "/api/phone-numbers", body, &r) == 0 && r.status == 201;
	if (!ok)
		fprintf(stderr, "bind number: %ld %s\n", r.status, r.body);
	sbt_resp_free(&r);
	return ok ? 0 : -1;
}
