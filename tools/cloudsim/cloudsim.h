/*
 * cloudsim.h — internals of sb-cloudsim, the loopback stand-in for the
 * OpenAI embeddings API and the Pinecone data-plane API (tests and demos).
 *
 * cloudsim.c          main, flags, the HTTP server (libmicrohttpd, one
 *                     thread per connection so a scripted delay stalls only
 *                     its own request), routing, the /_sim admin endpoints
 * cloudsim_openai.c   POST /v1/embeddings
 * cloudsim_pinecone.c /vectors/upsert, /query, /vectors/delete,
 *                     /vectors/fetch, /vectors/list, /describe_index_stats
 * cloudsim_faults.c   scripted faults: status codes with Retry-After, slow
 *                     answers, broken bodies
 *
 * Handlers fill a sim_resp; the server sends it. All shared state is under
 * one mutex per file.
 */
#ifndef CLOUDSIM_H
#define CLOUDSIM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Broken-body kinds a fault can ask for. */
typedef enum sim_body {
	SB_OK_BODY = 0,
	SIM_TRUNCATED,  /* a valid JSON prefix, then the end */
	SIM_GARBAGE,    /* not JSON at all */
	SIM_WRONGTYPES, /* JSON of the wrong shape */
	SIM_HUGE,       /* a 200 MB body */
	SIM_CUT,        /* Content-Length promises more than is sent */
	SIM_BADINDEX,   /* embeddings: an index out of range */
	SIM_DIMS,       /* embeddings: vectors of the wrong size */
} sim_body;

/* What a handler answers. */
typedef struct sim_resp {
	int         status;
	char       *body; /* malloc'd, may be NULL */
	const char *hdr[4][2];
	char        hbuf[4][64]; /* storage for header values */
	sim_body    broken;      /* SIM_HUGE / SIM_CUT are produced by the server */
} sim_resp;

/* A request as the handlers see it. */
typedef struct sim_req {
	const char *method, *url;
	const char *body;
	size_t      len;
	void       *conn; /* struct MHD_Connection *, for headers and query arguments */
} sim_req;

typedef struct sim_config {
	const char *openai_key, *pinecone_key, *versions;
	int         index_dim; /* 0: set by the first upsert */
} sim_config;

extern sim_config SIM;

/* ---- cloudsim.c ---------------------------------------------------------------------- */

/* A request header (case-insensitive), or NULL. */
const char *sim_header(const sim_req *rq, const char *name);
/* Set r to status with a copy of the JSON j (stolen) as body. */
void sim_json(sim_resp *r, int status, json_t *j);
/* Add a response header (value copied). */
void sim_add_header(sim_resp *r, const char *name, const char *value);
/* Count one request of an endpoint in the stats. */
void sim_count(const char *endpoint);
typedef enum { SIM_ADD, SIM_MAX, SIM_SET } sim_stat_mode;
/* Update a named statistic shown by GET /_sim/stats. */
void sim_stat(const char *name, long n, sim_stat_mode mode);

/* ---- cloudsim_openai.c -------------------------------------------------------------------- */

/* POST /v1/embeddings. */
void sim_embeddings(const sim_req *rq, sim_resp *r);
/* The simulator's deterministic embedding of text into v (dim floats, unit length). */
void sim_embed(const char *text, size_t len, float *v, int dim);

/* ---- cloudsim_pinecone.c ------------------------------------------------------------------- */

/* Any Pinecone data-plane path; false if the path is not one. */
bool sim_pinecone(const sim_req *rq, sim_resp *r);
/* Forget every vector. */
void sim_pinecone_reset(void);
/* Free the vector store (shutdown). */
void sim_pinecone_free(void);
/* {"namespaces": {ns: count}, "dimension": d} (owned). */
json_t *sim_pinecone_stats(void);

/* ---- cloudsim_faults.c ------------------------------------------------------------------------ */

/* Replace the fault table with spec ({target: fault, ...}); 0, or -1 with a message in why. */
int sim_faults_set(const json_t *spec, char *why, size_t len);
/* The current fault table (owned). */
json_t *sim_faults_get(void);
/*
 * Apply a fault due for target ("embeddings", "upsert", "query", "delete",
 * "fetch", "list", "stats"; "pinecone" and "*" match groups). Sleeps for a
 * scripted delay. true when r has been filled (the handler must not run);
 * api is "openai" or "pinecone" (the error body format).
 */
bool sim_fault(const char *target, const char *api, sim_resp *r);
/* Fill r with a broken 200 body of the given kind for api. */
void sim_broken(sim_resp *r, sim_body kind, const char *api);
/* Stop sleeping in delays (shutdown). */
void sim_faults_shutdown(void);

#endif
