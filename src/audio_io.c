/* audio_io.c — the only user of libsndfile and libsamplerate. Reads any format libsndfile knows
 * into mono float32 (mean downmix, optional resampling); writes mono WAV atomically.
 * PCM16 is converted here, not by libsndfile: reading scales int16 by 1/32768 and writing by
 * 32768, so int16 → float → int16 is exact (libsndfile writes with 32767). */
#include <errno.h>
#include <math.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "fileio.h"

#define WG_MAX_AUDIO_FRAMES ((sf_count_t)1 << 33) /* ~ 50 hours at 48 kHz */

wg_audio_read_params wg_audio_read_default_params(void) { return (wg_audio_read_params){.quality = WG_RESAMPLE_BEST}; }

void wg_audio_free(wg_audio *a) {
    if (!a)
        return;
    free(a->samples);
    memset(a, 0, sizeof *a);
}

static int src_converter(wg_resample_quality q) {
    switch (q) {
    case WG_RESAMPLE_MEDIUM: return SRC_SINC_MEDIUM_QUALITY;
    case WG_RESAMPLE_FASTEST: return SRC_SINC_FASTEST;
    case WG_RESAMPLE_LINEAR: return SRC_LINEAR;
    default: return SRC_SINC_BEST_QUALITY;
    }
}

int wg_audio_read(const char *path, int target_rate, const wg_audio_read_params *params, wg_audio *out, wg_error *err) {
    memset(out, 0, sizeof *out);
    wg_audio_read_params p = params ? *params : wg_audio_read_default_params();
    struct stat st;
    if (stat(path, &st) != 0)
        return wg_fail(err, WG_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return wg_fail(err, WG_EIO, "%s: not a regular file", path);
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf)
        return wg_fail(err, WG_EFORMAT, "%s: cannot read audio: %s", path, sf_strerror(NULL));
    int rc = 0;
    float *inter = NULL, *mono = NULL;
    if (info.channels < 1 || info.channels > 256 || info.samplerate < 1 || info.samplerate > 1000000) {
        rc = wg_fail(err, WG_EFORMAT, "%s: implausible header (%d channels, %d Hz)", path, info.channels,
                     info.samplerate);
        goto done;
    }
    if (info.frames <= 0) {
        rc = wg_fail(err, WG_ETOOSHORT, "%s: the file holds no audio", path);
        goto done;
    }
    if (info.frames > WG_MAX_AUDIO_FRAMES) {
        rc = wg_fail(err, WG_EUNSUPPORTED, "%s: %lld frames is more than this tool reads at once", path,
                     (long long)info.frames);
        goto done;
    }
    size_t frames = (size_t)info.frames, ch = (size_t)info.channels;
    inter = malloc(frames * ch * sizeof(float));
    mono = malloc(frames * sizeof(float));
    if (!inter || !mono) {
        rc = wg_fail(err, WG_ENOMEM, "%s: out of memory for %zu samples", path, frames * ch);
        goto done;
    }
    sf_command(sf, SFC_SET_NORM_FLOAT, NULL, SF_TRUE);
    sf_count_t got = sf_readf_float(sf, inter, info.frames);
    if (got <= 0) {
        rc = wg_fail(err, WG_EFORMAT, "%s: no audio could be decoded: %s", path, sf_strerror(sf));
        goto done;
    }
    /* A truncated file reports more frames than it holds; keep what decodes. */
    frames = (size_t)got;
    for (size_t t = 0; t < frames; t++) {
        double acc = 0;
        for (size_t c = 0; c < ch; c++) {
            float x = inter[t * ch + c];
            if (!isfinite(x)) {
                rc = wg_fail(err, WG_ENONFINITE, "%s: sample %zu (channel %zu) is %s", path, t, c,
                             isnan(x) ? "NaN" : "infinite");
                goto done;
            }
            acc += x;
        }
        mono[t] = (float)(acc / (double)ch);
    }
    out->source_rate = info.samplerate;
    out->source_channels = info.channels;
    if (target_rate > 0 && target_rate != info.samplerate) {
        double ratio = (double)target_rate / info.samplerate;
        if (!src_is_valid_ratio(ratio)) {
            rc =
                wg_fail(err, WG_EUNSUPPORTED, "%s: cannot resample %d Hz to %d Hz", path, info.samplerate, target_rate);
            goto done;
        }
        size_t n_out = (size_t)ceil(frames * ratio) + 16;
        float *res = malloc(n_out * sizeof(float));
        if (!res) {
            rc = wg_fail(err, WG_ENOMEM, "%s: out of memory resampling", path);
            goto done;
        }
        SRC_DATA d = {.data_in = mono,
                      .data_out = res,
                      .input_frames = (long)frames,
                      .output_frames = (long)n_out,
                      .src_ratio = ratio};
        int e = src_simple(&d, src_converter(p.quality), 1);
        if (e) {
            free(res);
            rc = wg_fail(err, WG_EIO, "%s: resampling failed: %s", path, src_strerror(e));
            goto done;
        }
        free(mono);
        mono = res;
        frames = (size_t)d.output_frames_gen;
        if (frames == 0) {
            rc = wg_fail(err, WG_ETOOSHORT, "%s: too short to resample", path);
            goto done;
        }
        out->sample_rate = target_rate;
    } else {
        out->sample_rate = info.samplerate;
    }
    out->samples = mono;
    out->n_samples = frames;
    mono = NULL;
done:
    sf_close(sf);
    free(inter);
    free(mono);
    return rc;
}

int wg_audio_write(const char *path, const float *samples, size_t n, int sample_rate, wg_sample_format format,
                   size_t *n_clipped, wg_error *err) {
    if (n_clipped)
        *n_clipped = 0;
    if (sample_rate < 1)
        return wg_fail(err, WG_EINVAL, "%s: sample rate %d is not positive", path, sample_rate);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(samples[i]))
            return wg_fail(err, WG_ENONFINITE, "%s: sample %zu to write is %s", path, i,
                           isnan(samples[i]) ? "NaN" : "infinite");
    wg_atomic_file af;
    int rc = wg_atomic_open(path, &af, err);
    if (rc)
        return rc;
    SF_INFO info = {.samplerate = sample_rate,
                    .channels = 1,
                    .format = SF_FORMAT_WAV | (format == WG_FORMAT_FLOAT ? SF_FORMAT_FLOAT : SF_FORMAT_PCM_16)};
    SNDFILE *sf = sf_open_fd(af.fd, SFM_WRITE, &info, SF_FALSE);
    if (!sf) {
        wg_atomic_abort(&af);
        return wg_fail(err, WG_EIO, "%s: cannot write WAV: %s", path, sf_strerror(NULL));
    }
    /* libsndfile's PEAK chunk holds a timestamp: without it, equal audio gives equal files */
    sf_command(sf, SFC_SET_ADD_PEAK_CHUNK, NULL, SF_FALSE);
    size_t clipped = 0;
    enum { BLOCK = 4096 };
    short pcm[BLOCK];
    for (size_t off = 0; off < n && !rc; off += BLOCK) {
        size_t m = n - off < BLOCK ? n - off : BLOCK;
        sf_count_t wrote;
        if (format == WG_FORMAT_FLOAT) {
            wrote = sf_write_float(sf, samples + off, (sf_count_t)m);
        } else {
            for (size_t i = 0; i < m; i++) {
                float v = roundf(samples[off + i] * 32768.0f);
                if (v > 32767.0f || v < -32768.0f) {
                    clipped++;
                    v = v > 0 ? 32767.0f : -32768.0f;
                }
                pcm[i] = (short)v;
            }
            wrote = sf_write_short(sf, pcm, (sf_count_t)m);
        }
        if (wrote != (sf_count_t)m)
            rc = wg_fail(err, WG_EIO, "%s: write failed: %s", path, sf_strerror(sf));
    }
    /* sf_close writes the final header sizes; its failure is a failed write too. */
    if (sf_close(sf) != 0 && !rc)
        rc = wg_fail(err, WG_EIO, "%s: write failed while finishing the header", path);
    if (rc) {
        wg_atomic_abort(&af);
        return rc;
    }
    /* libsndfile wrote through af.fd; af.fp holds no buffered data, so commit may close it. */
    if (n_clipped)
        *n_clipped = clipped;
    return wg_atomic_commit(&af, err);
}
