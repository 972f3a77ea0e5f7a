/*
 * cloudsim.c — sb-cloudsim: a loopback stand-in for the OpenAI embeddings
 * API and the Pinecone data-plane API, for tests and for running the
 * rag-worker's cloud backends with no account.
 *
 *   sb-cloudsim --listen 127.0.0.1:0 --port-file /tmp/x/port
 *   OPENAI_BASE_URL=http://127.0.0.1:<port>  PINECONE_HOST=http://127.0.0.1:<port>
 *
 * Endpoints (one server for both APIs):
 *   POST /v1/embeddings                         cloudsim_openai.c
 *   POST /vectors/upsert, /query, /vectors/delete, /describe_index_stats;
 *   GET  /vectors/fetch, /vectors/list          cloudsim_pinecone.c
 *   POST /_sim/faults  {target: fault}          script faults (cloudsim_faults.c)
 *   GET  /_sim/faults, GET /_sim/stats          what happened so far
 *   POST /_sim/reset                            forget vectors, faults, stats
 *
 * Listens on loopback only by default; --listen 127.0.0.1:0 picks a free
 * port and --port-file tells it (written once the server is up, so tests
 * poll the file, then the port). One thread per connection.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cloudsim.h"
#include "sb_daemon.h"
#include "sb_json.h"
#include "sb_log.h"

#define HUGE_BYTES (200u << 20)
#define CUT_BYTES  100000

sim_config SIM;

static struct {
	char *listen, *port_file, *openai_key, *pinecone_key, *versions, *faults;
	long  index_dim, max_body;
} cfg;

static const sb_flag flags[] = {
	{"listen", "SB_CLOUDSIM_LISTEN", SB_FLAG_STR, "127.0.0.1:0", "HTTP host:port (port 0: any free port)",
	 &cfg.listen, 0, 0, false},
	{"port-file", "SB_CLOUDSIM_PORT_FILE", SB_FLAG_STR, NULL, "write the port here once listening", &cfg.port_file,
	 0, 0, false},
	{"openai-key", "SB_CLOUDSIM_OPENAI_KEY", SB_FLAG_STR, "sk-cloudsim", "the API key /v1/embeddings accepts",
	 &cfg.openai_key, 0, 0, false},
	{"pinecone-key", "SB_CLOUDSIM_PINECONE_KEY", SB_FLAG_STR, "pc-cloudsim", "the Api-Key Pinecone paths accept",
	 &cfg.pinecone_key, 0, 0, false},
	{"pinecone-versions", "SB_CLOUDSIM_PINECONE_VERSIONS", SB_FLAG_STR, "2025-10,2025-04,2025-01",
	 "accepted X-Pinecone-Api-Version values", &cfg.versions, 0, 0, false},
	{"index-dimension", "SB_CLOUDSIM_INDEX_DIMENSION", SB_FLAG_INT, "0", "Pinecone index dimension (0: first upsert)",
	 &cfg.index_dim, 0, 20000, false},
	{"faults", "SB_CLOUDSIM_FAULTS", SB_FLAG_STR, NULL, "initial faults, as for POST /_sim/faults", &cfg.faults, 0,
	 0, false},
	{"max-body", "SB_CLOUDSIM_MAX_BODY", SB_FLAG_INT, "8388608", "largest request body accepted", &cfg.max_body, 1024,
	 1 << 30, false},
	SB_FLAGS_END,
};

static struct MHD_Daemon *httpd;
static pthread_mutex_t    stats_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t            *stats; /* {"requests": {...}, name: n, ...} */

/* ---- helpers for the handlers ----------------------------------------------------------- */

const char *sim_header(const sim_req *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

void sim_json(sim_resp *r, int status, json_t *j)
{
	free(r->body);
	r->status = status;
	r->body = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
	json_decref(j);
}

void sim_add_header(sim_resp *r, const char *name, const char *value)
{
	for (int i = 0; i < 4; i++)
		if (!r->hdr[i][0]) {
			snprintf(r->hbuf[i], sizeof r->hbuf[i], "%s", value);
			r->hdr[i][0] = name;
			r->hdr[i][1] = r->hbuf[i];
			return;
		}
}

void sim_count(const char *endpoint)
{
	pthread_mutex_lock(&stats_mu);
	json_t *req = json_object_get(stats, "requests");
	json_object_set_new(req, endpoint, json_integer(sb_json_int(req, endpoint, 0) + 1));
	pthread_mutex_unlock(&stats_mu);
}

void sim_stat(const char *name, long n, sim_stat_mode mode)
{
	pthread_mutex_lock(&stats_mu);
	json_int_t v = sb_json_int(stats, name, 0);
	v = mode == SIM_ADD ? v + n : mode == SIM_MAX ? (n > v ? n : v) : n;
	json_object_set_new(stats, name, json_integer(v));
	pthread_mutex_unlock(&stats_mu);
}

static void reset_stats(void)
{
	pthread_mutex_lock(&stats_mu);
	json_decref(stats);
	stats = json_pack("{s:{}}", "requests");
	pthread_mutex_unlock(&stats_mu);
}

/* ---- admin ------------------------------------------------------------------------------------ */

static void admin(const sim_req *rq, sim_resp *r)
{
	char why[200];
	if (!strcmp(rq->url, "/_sim/stats")) {
		pthread_mutex_lock(&stats_mu);
		json_t *s = json_deep_copy(stats);
		pthread_mutex_unlock(&stats_mu);
		json_object_set_new(s, "pinecone", sim_pinecone_stats());
		json_object_update_new(s, sim_faults_get());
		sim_json(r, 200, s);
	} else if (!strcmp(rq->url, "/_sim/faults") && !strcmp(rq->method, "GET")) {
		sim_json(r, 200, sim_faults_get());
	} else if (!strcmp(rq->url, "/_sim/faults")) {
		json_t *spec = json_loadb(rq->body, rq->len, 0, NULL);
		if (sim_faults_set(spec, why, sizeof why) < 0)
			sim_json(r, 400, json_pack("{s:s}", "error", why));
		else
			sim_json(r, 200, json_pack("{s:b}", "ok", 1));
		json_decref(spec);
	} else if (!strcmp(rq->url, "/_sim/reset")) {
		json_t *none = json_object();
		sim_faults_set(none, why, sizeof why);
		json_decref(none);
		sim_pinecone_reset();
		reset_stats();
		sim_json(r, 200, json_pack("{s:b}", "ok", 1));
	} else {
		sim_json(r, 404, json_pack("{s:s}", "error", "no such admin endpoint"));
	}
}

static void route(const sim_req *rq, sim_resp *r)
{
	if (!strcmp(rq->url, "/v1/embeddings") && !strcmp(rq->method, "POST"))
		sim_embeddings(rq, r);
	else if (!strncmp(rq->url, "/_sim/", 6))
		admin(rq, r);
	else if (!sim_pinecone(rq, r))
		sim_json(r, 404, json_pack("{s:s,s:s}", "error", "not found", "path", rq->url));
}

/* ---- the HTTP server ------------------------------------------------------------------------------ */

typedef struct upload {
	char  *buf;
	size_t len, cap;
	bool   too_big;
} upload;

static ssize_t huge_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	static const char head[] = "{\"object\":\"list\",\"data\":[";
	if (pos >= HUGE_BYTES)
		return MHD_CONTENT_READER_END_OF_STREAM;
	size_t n = max < HUGE_BYTES - pos ? max : HUGE_BYTES - pos;
	memset(buf, ' ', n);
	if (pos < sizeof head - 1)
		memcpy(buf, head + pos, n < sizeof head - 1 - pos ? n : sizeof head - 1 - pos);
	return (ssize_t)n;
}

static ssize_t cut_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	static const char part[] = "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":[0.1";
	if (pos >= sizeof part - 1)
		return MHD_CONTENT_READER_END_WITH_ERROR; /* close before Content-Length bytes were sent */
	size_t n = sizeof part - 1 - pos < max ? sizeof part - 1 - pos : max;
	memcpy(buf, part + pos, n);
	return (ssize_t)n;
}

static enum MHD_Result send_resp(struct MHD_Connection *c, sim_resp *r)
{
	struct MHD_Response *resp;
	if (r->broken == SIM_HUGE)
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 65536, huge_reader, NULL, NULL);
	else if (r->broken == SIM_CUT)
		resp = MHD_create_response_from_callback(CUT_BYTES, 4096, cut_reader, NULL, NULL);
	else if (r->body)
		resp = MHD_create_response_from_buffer(strlen(r->body), r->body, MHD_RESPMEM_MUST_FREE);
	else
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (r->body && (r->broken == SIM_HUGE || r->broken == SIM_CUT))
		free(r->body);
	r->body = NULL;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	for (int i = 0; i < 4 && r->hdr[i][0]; i++)
		MHD_add_response_header(resp, r->hdr[i][0], r->hdr[i][1]);
	enum MHD_Result rv = MHD_queue_response(c, (unsigned)(r->status ? r->status : 500), resp);
	MHD_destroy_response(resp);
	return rv;
}

static void take_upload(upload *u, const char *data, size_t n)
{
	if (u->too_big || u->len + n > (size_t)cfg.max_body) {
		u->too_big = true;
		return;
	}
	if (u->len + n + 1 > u->cap) {
		u->cap = (u->len + n + 1) * 2;
		u->buf = realloc(u->buf, u->cap);
		if (!u->buf)
			abort();
	}
	memcpy(u->buf + u->len, data, n);
	u->len += n;
	u->buf[u->len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *data, size_t *size, void **con_cls)
{
	upload *u = *con_cls;
	if (!u) {
		*con_cls = calloc(1, sizeof(upload));
		return *con_cls ? MHD_YES : MHD_NO;
	}
	if (*size) {
		take_upload(u, data, *size);
		*size = 0;
		return MHD_YES;
	}
	sim_resp r = {0};
	sim_req rq = {.method = method, .url = url, .body = u->buf ? u->buf : "", .len = u->len, .conn = c};
	if (u->too_big)
		sim_json(&r, 413, json_pack("{s:s}", "error", "request body too large"));
	else
		route(&rq, &r);
	return send_resp(c, &r);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
	upload *u = *con_cls;
	if (u)
		free(u->buf);
	free(u);
	*con_cls = NULL;
}

/* ---- life cycle -------------------------------------------------------------------------------------- */

static int parse_listen(struct sockaddr_in *sa)
{
	char host[64];
	int port;
	const char *colon = strrchr(cfg.listen, ':');
	if (!colon || colon - cfg.listen >= (long)sizeof host || sscanf(colon + 1, "%d", &port) != 1 || port < 0 ||
	    port > 65535)
		return -1;
	snprintf(host, sizeof host, "%.*s", (int)(colon - cfg.listen), cfg.listen);
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static int write_port_file(int port)
{
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp", cfg.port_file);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, cfg.port_file);
}

static int sim_init(void *ctx)
{
	struct sockaddr_in sa;
	char why[200];
	SIM = (sim_config){.openai_key = cfg.openai_key, .pinecone_key = cfg.pinecone_key, .versions = cfg.versions,
			   .index_dim = (int)cfg.index_dim};
	reset_stats();
	sim_pinecone_reset();
	json_t *faults = cfg.faults ? json_loads(cfg.faults, 0, NULL) : NULL;
	if (cfg.faults && sim_faults_set(faults, why, sizeof why) < 0) {
		sb_error_log("cloudsim.bad_faults", "why=\"%s\"", why);
		json_decref(faults);
		return -1;
	}
	json_decref(faults);
	if (parse_listen(&sa) < 0) {
		sb_error_log("cloudsim.bad_listen", "listen=%s", cfg.listen);
		return -1;
	}
	httpd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
				 MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &sa,
				 MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
				 (unsigned)120, MHD_OPTION_END);
	if (!httpd) {
		sb_error_log("cloudsim.listen_failed", "listen=%s", cfg.listen);
		return -1;
	}
	int port = MHD_get_daemon_info(httpd, MHD_DAEMON_INFO_BIND_PORT)->port;
	if (cfg.port_file && write_port_file(port) < 0) {
		sb_error_log("cloudsim.port_file", "path=%s", cfg.port_file);
		return -1;
	}
	sb_info("cloudsim.listening", "port=%d openai=http://127.0.0.1:%d/v1/embeddings", port, port);
	return 0;
}

static void sim_fini(void *ctx)
{
	sim_faults_shutdown(); /* wakes requests sleeping in a scripted delay */
	if (httpd)
		MHD_stop_daemon(httpd);
	httpd = NULL;
	sim_pinecone_free();
	json_decref(stats);
	stats = NULL;
}

int main(int argc, char **argv)
{
	static const sb_daemon d = {
		.name = "sb-cloudsim",
		.summary = "loopback stand-in for the OpenAI embeddings API and the Pinecone data plane (tests, demos)",
		.flags = flags,
		.init = sim_init,
		.fini = sim_fini,
	};
	return sb_daemon_main(&d, argc, argv);
}
