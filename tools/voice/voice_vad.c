/*
 * voice_vad.c — the WebRTC voice activity detector, from
 * libwebrtc_audio_processing.
 *
 * The library is C++ but exports the plain C VAD (the code libfvad was
 * forked from) without installing its header, so the five prototypes are
 * declared here. objdump on bookworm's libwebrtc-audio-processing 0.3 shows
 * the new-style ABI: WebRtcVad_Create returns the handle. If a package
 * update ever drops these exports, a vendored libfvad (BSD, same API with
 * fvad_ names) is the drop-in replacement.
 */
#include "voice_vad.h"

#include <stdlib.h>

typedef struct WebRtcVadInst VadInst;
VadInst *WebRtcVad_Create(void);
int      WebRtcVad_Init(VadInst *inst);
int      WebRtcVad_set_mode(VadInst *inst, int mode);
int      WebRtcVad_Process(VadInst *inst, int fs, const int16_t *frame, size_t len);
void     WebRtcVad_Free(VadInst *inst);

#define VAD_RATE 8000

struct sv_vad {
	VadInst *inst;
	int      mode;
};

sv_vad *sv_vad_new(int mode)
{
	if (mode < 0 || mode > 3)
		return NULL;
	sv_vad *v = calloc(1, sizeof *v);
	if (!v)
		abort();
	v->mode = mode;
	v->inst = WebRtcVad_Create();
	if (!v->inst || sv_vad_reset(v) != 0) {
		sv_vad_free(v);
		return NULL;
	}
	return v;
}

int sv_vad_reset(sv_vad *v)
{
	if (WebRtcVad_Init(v->inst) != 0 || WebRtcVad_set_mode(v->inst, v->mode) != 0)
		return -1;
	return 0;
}

int sv_vad_frame(sv_vad *v, const int16_t *pcm, size_t n)
{
	if (n != 80 && n != 160 && n != 240)
		return -1;
	int r = WebRtcVad_Process(v->inst, VAD_RATE, pcm, n);
	return r < 0 ? -1 : r > 0;
}

void sv_vad_free(sv_vad *v)
{
	if (!v)
		return;
	if (v->inst)
		WebRtcVad_Free(v->inst);
	free(v);
}
