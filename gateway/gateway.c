/*
 * gateway.c — sb-gateway: main, configuration and wiring.
 *
 * Sockets: HTTP on --listen (gateway_http.c); PUB on --events
 * (http.request, twilio.webhook: schemas/gateway.json); REQ clients to
 * sb-store (admin calls; GW_HOOK_CLIENTS sockets for the webhooks, with the
 * short --webhook-timeout; /healthz with its own 500 ms deadline),
 * sb-rag-worker, sb-media-bridge (session.prepare) and sb-scheduler. No REP
 * socket: the gateway's interface is HTTP.
 *
 * `sb-gateway admin-key [--business ID] [--name NAME]` is a one-shot mode:
 * it creates an API key through the store (apikeys.create), prints the plain
 * key on stdout and exits; the store keeps only its hash.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "sb_daemon.h"
#include "sb_json.h"
#include "sb_log.h"
#include "sb_metrics.h"

#define HEALTH_TIMEOUT_MS  500
#define PREPARE_TIMEOUT_MS 1000 /* session.prepare is fire-and-forget: a short deadline */
#define MIN_SECRET_LEN     16

gw_config gw_cfg;
gw_state  gw;

static const sb_flag flags[] = {
	{"listen", "SB_GATEWAY_LISTEN", SB_FLAG_STR, "127.0.0.1:8080", "HTTP address host:port ([v6]:port; port 0: any free port, logged)", &gw_cfg.listen, 0, 0, false},
	{"events", "SB_GATEWAY_EVENTS", SB_FLAG_STR, "ipc://{run}/gateway-events.sock", "PUB socket for http.request and twilio.webhook events", &gw_cfg.events, 0, 0, false},
	{"public-url", "SB_PUBLIC_URL", SB_FLAG_STR, "http://127.0.0.1:8080", "the base URL Twilio uses to reach this gateway: signatures are checked against it", &gw_cfg.public_url, 0, 0, false},
	{"stream-url", "SB_STREAM_URL", SB_FLAG_STR, NULL, "base ws(s):// URL of media streams in TwiML (default: --public-url with http→ws, https→wss)", &gw_cfg.stream_url, 0, 0, false},
	{"store-url", "SB_STORE_URL", SB_FLAG_STR, "ipc://{run}/store.sock", "sb-store's request socket", &gw_cfg.store_url, 0, 0, false},
	{"rag-url", "SB_RAG_URL", SB_FLAG_STR, "ipc://{run}/rag.sock", "sb-rag-worker's request socket", &gw_cfg.rag_url, 0, 0, false},
	{"bridge-url", "SB_BRIDGE_URL", SB_FLAG_STR, "ipc://{run}/bridge.sock", "sb-media-bridge's request socket (session.prepare)", &gw_cfg.bridge_url, 0, 0, false},
	{"scheduler-url", "SB_SCHEDULER_URL", SB_FLAG_STR, "ipc://{run}/scheduler.sock", "sb-scheduler's request socket (outreach.trigger, outreach.reconcile)", &gw_cfg.scheduler_url, 0, 0, false},
	{"twilio-auth-token", "TWILIO_AUTH_TOKEN", SB_FLAG_STR, NULL, "Twilio auth token: the key of X-Twilio-Signature", &gw_cfg.twilio_token, 0, 0, true},
	{"secret", "SB_SECRET", SB_FLAG_STR, NULL, "signs media-stream tokens; sb-media-bridge needs the same (random if unset)", &gw_cfg.secret, 0, 0, true},
	{"admin-key", "SB_ADMIN_KEY", SB_FLAG_STR, NULL, "an API key with admin rights, for automation and a new install", &gw_cfg.admin_key, 0, 0, true},
	{"insecure-skip-twilio-signature", "SB_INSECURE_SKIP_TWILIO_SIGNATURE", SB_FLAG_BOOL, "false", "accept Twilio webhooks without checking X-Twilio-Signature (never in production)", &gw_cfg.skip_signature, 0, 0, false},
	{"max-body", "SB_GATEWAY_MAX_BODY", SB_FLAG_INT, "1048576", "largest request body in bytes (413 beyond)", &gw_cfg.max_body, 1024, 64L << 20, false},
	{"max-connections", "SB_GATEWAY_MAX_CONNECTIONS", SB_FLAG_INT, "1024", "open HTTP connections at most", &gw_cfg.max_connections, 4, 100000, false},
	{"connection-timeout", "SB_GATEWAY_CONNECTION_TIMEOUT", SB_FLAG_INT, "30", "seconds of inactivity before a connection is closed", &gw_cfg.connection_timeout, 1, 3600, false},
	{"threads", "SB_GATEWAY_THREADS", SB_FLAG_INT, "2", "HTTP threads (each an epoll loop; they never wait for backends)", &gw_cfg.threads, 1, 64, false},
	{"workers", "SB_GATEWAY_WORKERS", SB_FLAG_INT, "16", "threads running admin API handlers (synchronous backend calls)", &gw_cfg.workers, 1, 1024, false},
	{"stream-token-ttl", "SB_STREAM_TOKEN_TTL", SB_FLAG_INT, "300", "seconds a media-stream token stays valid", &gw_cfg.token_ttl, 10, 86400, false},
	{"webhook-timeout", "SB_GATEWAY_WEBHOOK_TIMEOUT", SB_FLAG_INT, "2000", "ms the store may take while Twilio waits for TwiML (then: apology TwiML)", &gw_cfg.webhook_timeout, 100, 14000, false},
	{"backend-timeout", "SB_GATEWAY_BACKEND_TIMEOUT", SB_FLAG_INT, "5000", "ms for admin API calls to the store, rag-worker and scheduler", &gw_cfg.backend_timeout, 100, 120000, false},
	SB_FLAGS_END,
};

/* ---- configuration checks --------------------------------------------------------- */

/* Copy url into out without trailing '/'; -1 unless it is scheme://host[...] with one of the schemes. */
static int base_url(const char *url, const char *const schemes[2], char *out, size_t cap)
{
	bool ok = false;
	for (int i = 0; i < 2; i++)
		ok = ok || (strncmp(url, schemes[i], strlen(schemes[i])) == 0 && url[strlen(schemes[i])] &&
			    url[strlen(schemes[i])] != '/');
	size_t n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	if (!ok || strpbrk(url, "?# ") || n >= cap)
		return -1;
	memcpy(out, url, n);
	out[n] = '\0';
	return 0;
}

/* The default stream base: --public-url with http→ws, https→wss. */
static void derive_stream_url(void)
{
	bool tls = strncmp(gw.public_url, "https://", 8) == 0;
	snprintf(gw.stream_url, sizeof gw.stream_url, "%s%.504s", tls ? "wss://" : "ws://",
		 gw.public_url + (tls ? 8 : 7));
}

static int check_secret(const char *flag, const char *v)
{
	if (v && strlen(v) < MIN_SECRET_LEN) {
		fprintf(stderr, "sb-gateway: --%s must be at least %d characters\n", flag, MIN_SECRET_LEN);
		return -1;
	}
	return 0;
}

static int gateway_check(void *ctx)
{
	static const char *const http[2] = {"http://", "https://"}, *const ws[2] = {"ws://", "wss://"};
	if (base_url(gw_cfg.public_url, http, gw.public_url, sizeof gw.public_url) < 0) {
		fprintf(stderr, "sb-gateway: --public-url must be an http(s)://host[:port][/prefix] URL without query\n");
		return -1;
	}
	if (!gw_cfg.stream_url)
		derive_stream_url();
	else if (base_url(gw_cfg.stream_url, ws, gw.stream_url, sizeof gw.stream_url) < 0) {
		fprintf(stderr, "sb-gateway: --stream-url must be a ws(s)://host[:port][/prefix] URL without query\n");
		return -1;
	}
	if (check_secret("secret", gw_cfg.secret) < 0 || check_secret("admin-key", gw_cfg.admin_key) < 0)
		return -1;
	if (!strchr(gw_cfg.listen, ':')) {
		fprintf(stderr, "sb-gateway: --listen must be host:port\n");
		return -1;
	}
	return 0;
}

/* ---- start and stop ------------------------------------------------------------------- */

static sb_client *client(const char *url, long timeout_ms, sb_error *err)
{
	sb_client_opts o = {.timeout_ms = (int)timeout_ms};
	return sb_client_open(url, &o, err);
}

/* The stream-token key: --secret (all of it: the bridge uses all of it too), or random bytes
 * (then tokens die with this process and no bridge can verify them). */
static int load_secret(void)
{
	if (gw_cfg.secret) {
		gw.secret = gw_cfg.secret;
		gw.secret_len = strlen(gw_cfg.secret);
		return 0;
	}
	if (sb_random_bytes(gw.random_secret, sizeof gw.random_secret) < 0) {
		sb_error_log("gateway.no_randomness", NULL);
		return -1;
	}
	gw.secret = gw.random_secret;
	gw.secret_len = sizeof gw.random_secret;
	sb_warn("gateway.random_secret",
		"msg=\"SB_SECRET is unset: stream tokens are signed with a random key, do not survive a restart, and "
		"sb-media-bridge cannot verify them unless it shares SB_SECRET\"");
	return 0;
}

static void warn_about_twilio(void)
{
	if (gw_cfg.skip_signature)
		sb_warn("gateway.insecure",
			"msg=\"--insecure-skip-twilio-signature: Twilio webhooks are NOT authenticated; anyone can post calls\"");
	else if (!gw_cfg.twilio_token)
		sb_warn("gateway.no_twilio_token", "msg=\"TWILIO_AUTH_TOKEN is unset: every Twilio webhook will get 403\"");
}

const char *const GW_SCRAPE_NAMES[GW_SCRAPE_DAEMONS] = {"store", "rag", "bridge", "scheduler"};

static int open_clients(sb_error *err)
{
	for (int i = 0; i < GW_HOOK_CLIENTS; i++)
		if (!(gw.store_hook[i] = client(gw_cfg.store_url, gw_cfg.webhook_timeout, err)))
			return -1;
	const char *scrape_urls[GW_SCRAPE_DAEMONS] = {gw_cfg.store_url, gw_cfg.rag_url, gw_cfg.bridge_url,
						      gw_cfg.scheduler_url};
	for (int i = 0; i < GW_SCRAPE_DAEMONS; i++)
		if (!(gw.scrape[i] = client(scrape_urls[i], GW_SCRAPE_TIMEOUT_MS, err)))
			return -1;
	return (gw.store = client(gw_cfg.store_url, gw_cfg.backend_timeout, err)) &&
			       (gw.store_health = client(gw_cfg.store_url, HEALTH_TIMEOUT_MS, err)) &&
			       (gw.rag = client(gw_cfg.rag_url, gw_cfg.backend_timeout, err)) &&
			       (gw.bridge = client(gw_cfg.bridge_url, PREPARE_TIMEOUT_MS, err)) &&
			       (gw.scheduler = client(gw_cfg.scheduler_url, gw_cfg.backend_timeout, err))
		       ? 0
		       : -1;
}

static int gateway_init(void *ctx)
{
	sb_error err = {0};
	warn_about_twilio();
	if (load_secret() < 0)
		return -1;
	gw_metrics_init();
	gw_auth_init();
	gw_twilio_init();
	if (!(gw.pub = sb_pub_open(gw_cfg.events, &err)) || open_clients(&err) < 0) {
		sb_error_log("gateway.init_failed", "code=%s msg=\"%s\"", sb_code_name(err.code), err.message);
		return -1;
	}
	if (gw_pool_start((int)gw_cfg.workers, (int)gw_cfg.max_connections) < 0 || gw_http_start() < 0)
		return -1;
	sb_info("gateway.ready", "public_url=%s stream_url=%s store=%s", gw.public_url, gw.stream_url, gw_cfg.store_url);
	return 0;
}

static void gateway_drain(void *ctx)
{
	gw_http_stop();
}

static void gateway_fini(void *ctx)
{
	gw_http_stop();
	gw_pool_stop();
	gw_twilio_drain(); /* session.prepare callbacks use the bridge client: let them finish first */
	sb_client *clients[] = {gw.store, gw.store_health, gw.rag, gw.bridge, gw.scheduler};
	for (size_t i = 0; i < sizeof clients / sizeof clients[0]; i++)
		sb_client_close(clients[i]);
	for (int i = 0; i < GW_HOOK_CLIENTS; i++)
		sb_client_close(gw.store_hook[i]);
	for (int i = 0; i < GW_SCRAPE_DAEMONS; i++)
		sb_client_close(gw.scrape[i]);
	sb_pub_close(gw.pub);
	gw_twilio_fini();
	gw_auth_fini();
	sb_metrics_free_all();
	explicit_bzero(gw.random_secret, sizeof gw.random_secret);
	memset(&gw, 0, sizeof gw);
}

/* ---- `sb-gateway admin-key` ---------------------------------------------------------------- */

static struct {
	char *store_url, *business, *name;
} K;

static const sb_flag key_flags[] = {
	{"store-url", "SB_STORE_URL", SB_FLAG_STR, "ipc://{run}/store.sock", "sb-store's request socket", &K.store_url, 0, 0, false},
	{"business", NULL, SB_FLAG_STR, NULL, "bind the key to this business id (default: an admin key)", &K.business, 0, 0, false},
	{"name", NULL, SB_FLAG_STR, "created by sb-gateway admin-key", "a label for the key", &K.name, 0, 0, false},
	SB_FLAGS_END,
};

/* Create the key, print it, and stop. */
static int keycmd_init(void *ctx)
{
	sb_error err = {0};
	json_t *data = NULL;
	sb_client *c = client(K.store_url, 5000, &err);
	int rc = c ? store_apikeys_create(c, json_pack("{s:s,s:s?}", "name", K.name, "businessId", K.business), &data, &err)
		   : -1;
	sb_client_close(c);
	if (rc < 0) {
		sb_error_log("apikey.create_failed", "store=%s code=%s msg=\"%s\"", K.store_url, sb_code_name(err.code),
			     err.message);
		return -1;
	}
	printf("%s\n", sb_json_str(data, "key"));
	fflush(stdout);
	sb_info("apikey.created", "id=%s business=%s", sb_json_str(data, "id"), K.business ? K.business : "(admin)");
	json_decref(data);
	sb_daemon_stop();
	return 0;
}

int main(int argc, char **argv)
{
	static const sb_daemon d = {
		.name = "sb-gateway",
		.summary = "Twilio webhooks (TwiML), the admin REST API, /healthz and /metrics over HTTP. "
			   "`sb-gateway admin-key --help`: make an API key",
		.flags = flags,
		.check = gateway_check,
		.init = gateway_init,
		.drain = gateway_drain,
		.fini = gateway_fini,
	};
	static const sb_daemon keycmd = {
		.name = "sb-gateway",
		.summary = "admin-key: create an API key through the store, print it once on stdout, exit",
		.flags = key_flags,
		.init = keycmd_init,
	};
	if (argc > 1 && strcmp(argv[1], "admin-key") == 0)
		return sb_daemon_main(&keycmd, argc - 1, argv + 1);
	return sb_daemon_main(&d, argc, argv);
}
