/*
 * sb_fs.c — mkdir -p for data folders and ipc:// socket folders.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "sb_fs.h"

int sb_mkdirs(const char *dir)
{
	char buf[4096];
	if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, 0750) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	return (mkdir(buf, 0750) < 0 && errno != EEXIST) ? -1 : 0;
}

int sb_mkdirs_parent(const char *path)
{
	char buf[4096];
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	char *slash = strrchr(buf, '/');
	if (!slash || slash == buf)
		return 0; /* the current folder, or / */
	*slash = '\0';
	return sb_mkdirs(buf);
}

int sb_ipc_mkdir(const char *url)
{
	if (!url || strncmp(url, "ipc://", 6) != 0)
		return 0;
	return sb_mkdirs_parent(url + 6);
}
