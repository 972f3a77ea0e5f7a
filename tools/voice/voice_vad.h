/*
 * voice_vad.h — voice activity detection for the ear: the WebRTC VAD on
 * 8 kHz 16-bit frames of 10, 20 or 30 ms (80, 160 or 240 samples).
 */
#ifndef SV_VOICE_VAD_H
#define SV_VOICE_VAD_H

#include <stddef.h>
#include <stdint.h>

typedef struct sv_vad sv_vad;

/* A detector with aggressiveness mode 0 (permissive) .. 3 (strict). NULL if
 * mode is out of range or the library fails. */
sv_vad *sv_vad_new(int mode);
/* Classify one frame: 1 speech, 0 not, -1 bad frame length. */
int sv_vad_frame(sv_vad *v, const int16_t *pcm, size_t n);
/* Forget what the detector has adapted to (a new call). */
int sv_vad_reset(sv_vad *v);
void sv_vad_free(sv_vad *v);

#endif
