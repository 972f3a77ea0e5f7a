/*
 * gateway_metrics.c — the gateway's Prometheus series and http.request
 * events.
 *
 *   sb_http_requests_total{route,method,status}   answered requests
 *   sb_http_request_duration_ms{route}            request line → response queued
 *   sb_twilio_signature_failures_total            webhooks refused with 403
 *   sb_twiml_latency_ms                           webhook request line → TwiML ready
 *
 * route is the matched pattern ("/api/calls/{callSid}", never the raw path)
 * or "unmatched", and method is folded into a fixed set, so no request can
 * create new series. Series pointers are looked up once and cached in
 * atomics: the hot path never takes the registry lock.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "sb_metrics.h"
#include "sb_time.h"

static const char *const METHODS[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "other"};
#define NMETHODS 8
static const int STATUSES[] = {200, 201, 400, 401, 403, 404, 405, 409, 413, 415, 422, 500, 503, 504};
#define NSTATUSES ((int)(sizeof STATUSES / sizeof STATUSES[0]) + 1) /* + "other" */
#define MAX_ROUTES 64

static struct {
	_Atomic(sb_metric *) count[MAX_ROUTES + 1][NMETHODS][NSTATUSES];
	sb_metric           *duration[MAX_ROUTES + 1];
	sb_metric           *sig_failures, *twiml;
} M;

/* Index of route (0 = unmatched). */
static size_t route_index(const gw_route *route)
{
	return route ? (size_t)(route - GW_ROUTES) + 1 : 0;
}

static const char *route_label(size_t i)
{
	return i ? GW_ROUTES[i - 1].pattern : "unmatched";
}

void gw_metrics_init(void)
{
	char labels[256];
	for (size_t i = 0; i <= GW_NROUTES && i <= MAX_ROUTES; i++) {
		snprintf(labels, sizeof labels, "route=\"%s\"", route_label(i));
		M.duration[i] = sb_histogram("sb_http_request_duration_ms",
					     "Time from the request line to the response being queued.", labels,
					     SB_LATENCY_MS_BOUNDS, SB_LATENCY_MS_NBOUNDS);
	}
	M.sig_failures = sb_counter("sb_twilio_signature_failures_total",
				    "Twilio webhooks refused because X-Twilio-Signature was missing or wrong.", NULL);
	M.twiml = sb_histogram("sb_twiml_latency_ms", "Time from a webhook's request line to its TwiML being ready.",
			       NULL, SB_LATENCY_MS_BOUNDS, SB_LATENCY_MS_NBOUNDS);
}

static int method_index(const char *m)
{
	for (int i = 0; i < NMETHODS - 1; i++)
		if (strcmp(METHODS[i], m) == 0)
			return i;
	return NMETHODS - 1;
}

static int status_index(int status)
{
	for (int i = 0; i < NSTATUSES - 1; i++)
		if (STATUSES[i] == status)
			return i;
	return NSTATUSES - 1;
}

/* The counter of (route, method, status), created on first use. */
static sb_metric *counter_for(size_t ri, int mi, int si)
{
	_Atomic(sb_metric *) *slot = &M.count[ri][mi][si];
	sb_metric *m = atomic_load(slot);
	if (!m) {
		char labels[256], st[16];
		if (si < NSTATUSES - 1)
			snprintf(st, sizeof st, "%d", STATUSES[si]);
		else
			snprintf(st, sizeof st, "other");
		snprintf(labels, sizeof labels, "route=\"%s\",method=\"%s\",status=\"%s\"", route_label(ri),
			 METHODS[mi], st);
		m = sb_counter("sb_http_requests_total", "HTTP requests answered, by route, method and status.", labels);
		atomic_store(slot, m);
	}
	return m;
}

void gw_metrics_request(const gw_route *route, const char *method, int status, int64_t t0_us)
{
	size_t ri = route_index(route);
	if (ri > MAX_ROUTES)
		ri = 0;
	int mi = method_index(method);
	double ms = (double)(sb_mono_us() - t0_us) / 1000.0;
	sb_counter_inc(counter_for(ri, mi, status_index(status)));
	sb_histogram_observe(M.duration[ri], ms);
	if (sb_pub_wanted(gw.pub))
		sb_publish(gw.pub, SB_EV_HTTP_REQUEST,
			   json_pack("{s:s,s:s,s:i,s:f}", "method", METHODS[mi], "route", route_label(ri), "status",
				     status, "latencyMs", ms));
}

void gw_metrics_signature_failure(void)
{
	sb_counter_inc(M.sig_failures);
}

void gw_metrics_twiml(int64_t t0_us)
{
	sb_histogram_observe(M.twiml, (double)(sb_mono_us() - t0_us) / 1000.0);
}
