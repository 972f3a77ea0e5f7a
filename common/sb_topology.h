/*
 * sb_topology.h — where every daemon listens by default.
 *
 * One table, used by the daemons' flag defaults' documentation, by sb-tap
 * (which dials every PUB socket) and by anything that gathers metrics from
 * all daemons. "{run}" stands for --run-dir. docs/TOPOLOGY.md mirrors it.
 */
#ifndef SB_TOPOLOGY_H
#define SB_TOPOLOGY_H

#include <stddef.h>

typedef struct sb_endpoint {
	const char *daemon;  /* "sb-store" */
	const char *request; /* REP socket (nng URL) or NULL */
	const char *events;  /* PUB socket (nng URL) */
} sb_endpoint;

extern const sb_endpoint SB_TOPOLOGY[];
extern const size_t SB_TOPOLOGY_LEN;

/* Expand "{run}" in tmpl with run_dir into buf; returns buf. */
char *sb_topology_url(const char *tmpl, const char *run_dir, char *buf, size_t len);

#endif
