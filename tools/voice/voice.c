/* voice.c — sb-voice (placeholder while the engine lands). */
#include "sb_daemon.h"

static const sb_flag flags[] = {SB_FLAGS_END};

int main(int argc, char **argv)
{
	static const sb_daemon d = {.name = "sb-voice", .summary = "offline voice engine", .flags = flags};
	return sb_daemon_main(&d, argc, argv);
}
