/*
 * sb_topology.c — the default socket of every daemon (see sb_topology.h).
 */
#include <stdio.h>
#include <string.h>

#include "sb_topology.h"

const sb_endpoint SB_TOPOLOGY[] = {
	{"sb-store", "ipc://{run}/store.sock", "ipc://{run}/store-events.sock"},
	{"sb-gateway", NULL, "ipc://{run}/gateway-events.sock"},
	{"sb-media-bridge", "ipc://{run}/bridge.sock", "ipc://{run}/bridge-events.sock"},
	{"sb-rag-worker", "ipc://{run}/rag.sock", "ipc://{run}/rag-events.sock"},
	{"sb-scheduler", "ipc://{run}/scheduler.sock", "ipc://{run}/scheduler-events.sock"},
	{"sb-voice", NULL, "ipc://{run}/voice-events.sock"},
};
const size_t SB_TOPOLOGY_LEN = sizeof SB_TOPOLOGY / sizeof SB_TOPOLOGY[0];

char *sb_topology_url(const char *tmpl, const char *run_dir, char *buf, size_t len)
{
	const char *p = strstr(tmpl, "{run}");
	if (!p)
		snprintf(buf, len, "%s", tmpl);
	else
		snprintf(buf, len, "%.*s%s%s", (int)(p - tmpl), tmpl, run_dir, p + 5);
	return buf;
}
