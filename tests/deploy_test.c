/*
 * deploy_test.c — the deployment files are valid without a container
 * engine: docker-compose validates the stack, yamllint passes, the
 * Dockerfile builds only from Debian packages and our sources, and
 * systemd-analyze verifies every generated unit against installed binaries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "harness.h"

/* Run a shell command, capturing stdout+stderr; returns the exit status. */
static int sh(char *out, size_t len, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>&1", sizeof cmd - strlen(cmd) - 1);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_compose_config(void **state)
{
	static char out[65536];
	int rc = sh(out, sizeof out,
		    "cd deploy && SB_ENV_FILE=.env.example docker-compose -f docker-compose.yml config");
	if (rc != 0)
		fail_msg("docker-compose config failed: %s", out);
	static const char *const services[] = {"store:", "gateway:", "media-bridge:", "rag-worker:",
					       "scheduler:", "proxy:", "mailpit:", "tap:"};
	for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
		if (!strstr(out, services[i]))
			fail_msg("compose stack lacks service %s", services[i]);
	assert_non_null(strstr(out, "healthcheck:"));
	assert_non_null(strstr(out, "SB_STORE_URL: tcp://store:7001"));
}

static void test_yamllint(void **state)
{
	static char out[8192];
	if (sh(out, sizeof out, "yamllint -s -c deploy/.yamllint deploy/docker-compose.yml") != 0)
		fail_msg("yamllint: %s", out);
}

static void test_dockerfile_sources(void **state)
{
	static char out[8192];
	/* every stage starts from Debian; nothing is fetched but Debian packages */
	assert_int_equal(sh(out, sizeof out, "grep -E '^FROM ' deploy/Dockerfile | grep -vc 'debian:bookworm-slim'"), 1);
	assert_string_equal(out, "0\n");
	assert_int_equal(sh(out, sizeof out, "grep -Ei '(curl|wget)[^\\n]*https?://|^ADD +https?://' deploy/Dockerfile"), 1);
	assert_int_equal(sh(out, sizeof out, "grep -c 'USER switchboard' deploy/Dockerfile"), 0);
}

static void test_systemd_units_verify(void **state)
{
	static char out[65536];
	char dir[300], build[400], prefix[400];
	sbt_path(dir, sizeof dir, "units");
	snprintf(build, sizeof build, "%s/build", dir);
	snprintf(prefix, sizeof prefix, "%s/prefix", dir);
	const char *b = getenv("SB_BUILD") ? getenv("SB_BUILD") : "build";
	if (sh(out, sizeof out, "make -s BUILD=%s PREFIX=%s systemd && mkdir -p %s/bin && cp %s/bin/sb-* %s/bin/", build,
	       prefix, prefix, b, prefix) != 0)
		fail_msg("generating units: %s", out);
	int rc = sh(out, sizeof out, "cd %s/systemd && ls *.service && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify *.service",
		    build);
	if (rc != 0 || strstr(out, "rror") || strstr(out, "arning"))
		fail_msg("systemd-analyze verify: %s", out);
	assert_non_null(strstr(out, "sb-store.service"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compose_config),
		cmocka_unit_test(test_yamllint),
		cmocka_unit_test(test_dockerfile_sources),
		cmocka_unit_test(test_systemd_units_verify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
