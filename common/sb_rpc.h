/*
 * sb_rpc.h — request/reply between daemons over nng (DESIGN.md, "Inter-
 * process contract").
 *
 * Wire: request {"op":"<name>","args":{...}}; reply {"ok":true,"data":...}
 * or {"ok":false,"error":{"code","message"}}.
 *
 * Server: one REP socket, N contexts each with its own aio, so a slow request
 * never blocks the others. Every request is decoded strictly and validated
 * against the service's schema before its handler runs; unknown ops, bad
 * JSON, oversized messages and wrong types are answered with
 * invalid_argument and the server carries on. The built-in ops of the "sys"
 * service (sys.health, sys.metrics) are answered by every server.
 *
 * Handlers run on nng's threads (must not block) unless the config asks for
 * a worker pool. A handler answers exactly once, now or later, from any
 * thread, with sb_req_ok / sb_req_fail.
 *
 * Client: REQ socket with a non-blocking dial (start in any order), a
 * per-call deadline, and nng's resend on reconnect — so every op that
 * changes state must be idempotent on the server. Thread-safe: each call
 * uses its own context.
 */
#ifndef SB_RPC_H
#define SB_RPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "sb_err.h"
#include "sb_schema.h"

typedef struct sb_rpc_server sb_rpc_server;
typedef struct sb_req sb_req;
typedef struct sb_client sb_client;

/* A request handler: args is borrowed and valid until the request is answered. */
typedef void (*sb_op_fn)(sb_req *req, json_t *args, void *ctx);

typedef struct sb_rpc_config {
	const char       *url;       /* listen URL, e.g. ipc:///run/sb/store.sock */
	const sb_service *service;   /* generated op table */
	const sb_op_fn   *handlers;  /* indexed by the service's op enum; all must be set */
	void             *ctx;       /* passed to handlers */
	int               nctx;      /* requests in flight at once (default 64) */
	int               nthreads;  /* 0: handlers run on nng threads; N: on a pool of N */
	size_t            max_msg;   /* largest request answered (default 1 MiB); larger get invalid_argument */
	bool              inline_writes; /* with nthreads: ops marked "writes" only enqueue work, run them on nng's thread */
	int               watchdog_ms;   /* probe our own listener this often (default 1000, <0 off); see sb_rpc.c */
} sb_rpc_config;

/* Listen and start serving. 0, or -1 with err (e.g. address in use). */
int sb_rpc_server_start(const sb_rpc_config *cfg, sb_rpc_server **out, sb_error *err);
/* Stop taking requests, wait (bounded) for in-flight ones to be answered, close, free. */
void sb_rpc_server_stop(sb_rpc_server *s);

/* The op index (service enum) of a request. */
int sb_req_op(const sb_req *r);
/* Answer with {"ok":true,"data":data}; steals data (NULL → null). Frees the request. */
void sb_req_ok(sb_req *r, json_t *data);
/* Answer with an error. Frees the request. */
void sb_req_fail(sb_req *r, sb_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Answer with an sb_error. Frees the request. */
void sb_req_fail_err(sb_req *r, const sb_error *e);

typedef struct sb_client_opts {
	int timeout_ms; /* per call, default 5000 */
	int resend_ms;  /* resend an unanswered request after this long, default 2000 */
} sb_client_opts;

/* Open a client to url (dials in the background). NULL with err on a malformed URL. */
sb_client *sb_client_open(const char *url, const sb_client_opts *opts, sb_error *err);
/* Close the client; outstanding calls fail. */
void sb_client_close(sb_client *c);
/* The URL the client dials. */
const char *sb_client_url(const sb_client *c);

/* Call op of svc; steals args (NULL → {}). 0 and *data (owned, may be JSON null) or -1 and err. */
int sb_client_call(sb_client *c, const sb_service *svc, int op, json_t *args, json_t **data, sb_error *err);

/* Completion of an async call: rc 0 with data (owned by the callback) or -1 with err. Runs on an nng thread. */
typedef void (*sb_call_cb)(void *arg, int rc, json_t *data, const sb_error *err);
/* Start a call without blocking; cb runs exactly once. Steals args. */
void sb_client_call_async(sb_client *c, const sb_service *svc, int op, json_t *args, sb_call_cb cb, void *arg);

/* Send a raw request body and wait for the raw reply (tests, tools). 0 and *reply (malloc'd) or -1. */
int sb_client_call_raw(sb_client *c, const void *body, size_t len, char **reply, size_t *rlen, sb_error *err);

#endif
