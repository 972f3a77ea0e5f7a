/*
 * gateway_ops.c — operations endpoints (no API key: bind --listen to a
 * private address or filter them at the proxy if they must not be public;
 * they reveal counts and timings, never data or secrets).
 *
 *   GET /healthz            200 {"status":"ok",...} only when the store answers
 *                           sys.health within HEALTH_TIMEOUT_MS; else 503
 *   GET /metrics            the gateway's own Prometheus registry (text 0.0.4)
 *   GET /metrics/{daemon}   another daemon's registry through its sys.metrics:
 *                           store, rag, bridge or scheduler. One scrape target
 *                           per daemon keeps each exposition valid (the
 *                           daemons share metric names).
 */
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "sb_daemon.h"
#include "sb_json.h"
#include "sb_metrics.h"

#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"

void gw_ops_health(gw_req *r)
{
	json_t *data = NULL;
	sb_error err = {0};
	if (sb_client_call(gw.store_health, &SB_SVC_SYS, SB_SYS_SYS_HEALTH, NULL, &data, &err) == 0) {
		json_decref(data);
		gw_reply_json(r, 200, json_pack("{s:s,s:s,s:s,s:I,s:s}", "status", "ok", "daemon", sb_daemon_name(),
						"version", SB_VERSION, "uptimeMs", (json_int_t)sb_daemon_uptime_ms(),
						"store", "ok"));
		return;
	}
	gw_reply_json(r, 503, json_pack("{s:s,s:s,s:{s:s,s:o}}", "status", "unavailable", "store", sb_code_name(err.code),
					"error", "code", "unavailable", "message",
					sb_json_string_or_null(err.message)));
}

void gw_ops_metrics(gw_req *r)
{
	char *text = sb_metrics_render();
	if (!text) {
		gw_reply_error(r, 500, "out of memory");
		return;
	}
	gw_reply_owned(r, 200, PROM_TYPE, text, strlen(text));
}

void gw_ops_backend_metrics(gw_req *r)
{
	const struct {
		const char *name;
		sb_client  *c;
	} daemons[] = {{"store", gw.store}, {"rag", gw.rag}, {"bridge", gw.bridge}, {"scheduler", gw.scheduler}};
	for (size_t i = 0; i < sizeof daemons / sizeof daemons[0]; i++) {
		if (strcmp(daemons[i].name, gw_param(r, 0)) != 0)
			continue;
		json_t *data = gw_call(r, daemons[i].c, &SB_SVC_SYS, SB_SYS_SYS_METRICS, NULL);
		if (data) {
			const char *text = sb_json_str(data, "text");
			char *copy = strdup(text ? text : "");
			gw_reply_owned(r, 200, PROM_TYPE, copy, strlen(copy));
			json_decref(data);
		}
		return;
	}
	gw_reply_error(r, 404, "no daemon %s (store, rag, bridge or scheduler)", gw_param(r, 0));
}
