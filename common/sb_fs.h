/*
 * sb_fs.h — the few filesystem chores daemons share: making the folders
 * that data files and ipc:// sockets live in.
 */
#ifndef SB_FS_H
#define SB_FS_H

/* mkdir -p dir (mode 0750). 0, or -1 with errno. */
int sb_mkdirs(const char *dir);
/* Make the folder that will hold file path (mkdir -p of its dirname). 0 or -1. */
int sb_mkdirs_parent(const char *path);
/* For an ipc:// URL, make the folder of its socket; other schemes: nothing. 0 or -1. */
int sb_ipc_mkdir(const char *url);

#endif
