/*
 * gateway_ops.c — operations endpoints (no API key: bind --listen to a
 * private address or filter them at the proxy if they must not be public;
 * they reveal counts and timings, never data or secrets).
 *
 *   GET /healthz            200 {"status":"ok",...} only when the store answers
 *                           sys.health within HEALTH_TIMEOUT_MS; else 503
 *   GET /metrics            the whole stack in one scrape (text 0.0.4): the
 *                           gateway's registry and every daemon's sys.metrics,
 *                           merged family by family with a daemon="…" label on
 *                           each sample, plus sb_up{daemon} (0 when a daemon did
 *                           not answer within GW_SCRAPE_TIMEOUT_MS)
 *   GET /metrics/{daemon}   one daemon's registry alone, through its sys.metrics:
 *                           store, rag, bridge or scheduler
 */
#include <stdbool.h>
#include <stdio.h>
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
	enum { N = GW_SCRAPE_DAEMONS + 2 };
	const char *texts[N] = {0}, *labels[N] = {0};
	json_t *replies[GW_SCRAPE_DAEMONS] = {0};
	char *own = sb_metrics_render(), up[1024], lab[GW_SCRAPE_DAEMONS][64];
	size_t ul = (size_t)snprintf(up, sizeof up, "# HELP sb_up 1 if the daemon answered this scrape.\n"
						     "# TYPE sb_up gauge\nsb_up{daemon=\"gateway\"} 1\n");
	texts[0] = own, labels[0] = "daemon=\"gateway\"";
	for (int i = 0; i < GW_SCRAPE_DAEMONS; i++) {
		bool ok = sb_client_call(gw.scrape[i], &SB_SVC_SYS, SB_SYS_SYS_METRICS, NULL, &replies[i], NULL) == 0;
		snprintf(lab[i], sizeof lab[i], "daemon=\"%s\"", GW_SCRAPE_NAMES[i]);
		texts[i + 1] = ok ? sb_json_str(replies[i], "text") : NULL;
		labels[i + 1] = lab[i];
		ul += (size_t)snprintf(up + ul, sizeof up - ul, "sb_up{%s} %d\n", lab[i], ok);
	}
	texts[N - 1] = up;
	char *all = sb_metrics_merge(texts, labels, N);
	for (int i = 0; i < GW_SCRAPE_DAEMONS; i++)
		json_decref(replies[i]);
	free(own);
	gw_reply_owned(r, 200, PROM_TYPE, all, strlen(all));
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
