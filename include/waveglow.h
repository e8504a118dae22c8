/* waveglow.h — the public C API of waveglow.c, a WaveGlow flow vocoder for the CPU.
 *
 * Usage (vocode a log-mel spectrogram computed from a WAV file):
 *
 *     wg_error err = {0};
 *     wg_model *model = NULL;
 *     if (wg_model_load("models/model.safetensors", &model, &err)) { fprintf(stderr, "%s\n", err.message); ... }
 *     const wg_config *cfg = wg_model_config(model);
 *     wg_audio audio = {0};
 *     wg_audio_read("speech.wav", cfg->sampling_rate, NULL, &audio, &err);
 *     wg_mel *mel = NULL;
 *     wg_mel_create(cfg, &mel, &err);
 *     size_t frames = wg_mel_frames(mel, audio.n_samples);
 *     float *spec = malloc(sizeof(float) * cfg->n_mel_channels * frames);   // (n_mel, frames)
 *     wg_mel_compute(mel, audio.samples, audio.n_samples, spec, &err);
 *     ... wg_mel_destroy(mel); wg_audio_free(&audio); wg_model_free(model);
 *
 * Conventions. Every fallible call returns 0 or a negative WG_E* code and, when `err` is not
 * NULL, fills it with the code and a one-line message naming the file and the reason. Nothing in
 * the library prints, exits or keeps global mutable state. Arrays are float32, row-major,
 * channels × time with time contiguous. Threads: a loaded wg_model is read-only and may be shared
 * by any number of threads; a wg_mel may be used by one thread at a time (make one per thread).
 */
#ifndef WAVEGLOW_H
#define WAVEGLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WG_VERSION_STRING "0.1.0"

/* ---- errors ------------------------------------------------------------------------------ */

enum {
    WG_OK = 0,
    WG_EINVAL = -1,       /* a bad argument or option */
    WG_ENOMEM = -2,       /* out of memory */
    WG_EIO = -3,          /* a file could not be opened, read or written */
    WG_EFORMAT = -4,      /* a file is corrupt or not of the format it claims */
    WG_ECONFIG = -5,      /* a config is invalid, or disagrees with the tensors */
    WG_ENONFINITE = -6,   /* NaN or Inf in the input */
    WG_ETOOSHORT = -7,    /* the input is too short for the operation */
    WG_EUNSUPPORTED = -8, /* valid, but not supported by this build or version */
};

typedef struct wg_error {
    int code;
    char message[1024];
} wg_error;

/* A short, static description of a WG_E* code ("invalid argument", ...). Never NULL. */
const char *wg_strerror(int code);

/* ---- configuration (NVIDIA's config.json names) ------------------------------------------ */

typedef struct wg_config {
    /* data_config */
    int sampling_rate; /* Hz */
    int filter_length; /* FFT size */
    int hop_length;
    int win_length;     /* <= filter_length; the Hann window is centred in the FFT frame */
    double mel_fmin;    /* Hz */
    double mel_fmax;    /* Hz; NVIDIA's null means sampling_rate / 2 */
    int segment_length; /* training segment, samples */
    /* waveglow_config */
    int n_mel_channels;
    int n_flows;
    int n_group;
    int n_early_every;
    int n_early_size;
    int wn_n_layers;
    int wn_n_channels;
    int wn_kernel_size;
    /* the standard deviation of the latent prior the model was trained with */
    double sigma;
} wg_config;

/* NVIDIA's published values (22.05 kHz, 80 mels, 12 flows, n_group 8, WN 8 × 256). */
wg_config wg_config_default(void);

/* Parses a config in NVIDIA's config.json layout: `data_config`, `waveglow_config`, and `sigma`
 * at the top level or in `train_config`. Missing keys keep NVIDIA's defaults; other sections are
 * ignored. `source` names the text in error messages. The result is validated. */
int wg_config_parse(const char *json, const char *source, wg_config *out, wg_error *err);
int wg_config_load(const char *path, wg_config *out, wg_error *err);

/* Checks that the numbers describe a model that can be built (even group sizes, odd kernel,
 * window inside the frame, fmin < fmax <= Nyquist, sizes within sane bounds). */
int wg_config_validate(const wg_config *cfg, const char *source, wg_error *err);

/* The config as NVIDIA-layout JSON text; the caller frees it with free(). NULL when out of memory. */
char *wg_config_to_json(const wg_config *cfg);

/* ---- audio files (libsndfile, libsamplerate) ---------------------------------------------- */

typedef enum wg_resample_quality {
    WG_RESAMPLE_BEST = 0, /* libsamplerate SRC_SINC_BEST_QUALITY (default) */
    WG_RESAMPLE_MEDIUM,   /* SRC_SINC_MEDIUM_QUALITY */
    WG_RESAMPLE_FASTEST,  /* SRC_SINC_FASTEST */
    WG_RESAMPLE_LINEAR,   /* SRC_LINEAR */
} wg_resample_quality;

typedef struct wg_audio_read_params {
    wg_resample_quality quality;
} wg_audio_read_params;

wg_audio_read_params wg_audio_read_default_params(void);

typedef struct wg_audio {
    float *samples; /* mono, n_samples long; int PCM is scaled by 1/32768 (int16) etc. */
    size_t n_samples;
    int sample_rate;     /* after resampling */
    int source_rate;     /* as stored in the file */
    int source_channels; /* > 1 means the file was downmixed (mean of channels) */
} wg_audio;

/* Reads anything libsndfile reads (WAV, FLAC, Ogg, MP3, ...) as mono float32. When
 * `target_rate` > 0 and differs from the file's, the audio is resampled to it. Empty files and
 * NaN/Inf samples are errors. On success the caller owns `out` and frees it with wg_audio_free. */
int wg_audio_read(const char *path, int target_rate, const wg_audio_read_params *params, wg_audio *out, wg_error *err);
void wg_audio_free(wg_audio *audio);

typedef enum wg_sample_format {
    WG_FORMAT_PCM16 = 0, /* x·32768 rounded, clamped to [-32768, 32767] */
    WG_FORMAT_FLOAT = 1, /* IEEE float32, written exactly */
} wg_sample_format;

/* Writes a mono WAV atomically: a temporary file beside `path`, fsynced, then renamed over it,
 * so an existing file survives any failure. For PCM16, samples outside the representable range
 * are clamped and counted in *n_clipped (may be NULL). NaN/Inf samples are an error. */
int wg_audio_write(const char *path, const float *samples, size_t n_samples, int sample_rate, wg_sample_format format,
                   size_t *n_clipped, wg_error *err);

/* ---- .npy arrays (float32, C order) ------------------------------------------------------ */

#define WG_NPY_MAX_DIMS 8

typedef struct wg_array {
    float *data;
    int ndim;
    size_t shape[WG_NPY_MAX_DIMS];
} wg_array;

/* Reads a .npy file (format 1.0, 2.0 or 3.0; '<f4' or '<f8', converted to float32; C or Fortran
 * order for up to two dimensions; the result is always C order). Caller frees with wg_array_free. */
int wg_npy_read(const char *path, wg_array *out, wg_error *err);
/* Writes float32 C-order .npy (format 1.0, or 2.0 when the header needs it), atomically. */
int wg_npy_write(const char *path, const float *data, int ndim, const size_t *shape, wg_error *err);
void wg_array_free(wg_array *array);
size_t wg_array_numel(const wg_array *array);

/* ---- log-mel front end (FFTW), the TacotronSTFT / librosa convention ---------------------- */

typedef struct wg_mel wg_mel;

/* Plans the FFT and builds the Slaney mel filterbank for the config's data parameters. */
int wg_mel_create(const wg_config *cfg, wg_mel **out, wg_error *err);
void wg_mel_destroy(wg_mel *mel);
/* Frames for n samples: 1 + n / hop_length (centre padding). */
size_t wg_mel_frames(const wg_mel *mel, size_t n_samples);
/* log(max(mel(|STFT(x)|), 1e-5)) into out, (n_mel, frames) row-major. x must be longer than
 * filter_length / 2 (reflect padding) and finite (WG_ENONFINITE names the first sample that is
 * not); on an error, out's contents are unspecified. */
int wg_mel_compute(wg_mel *mel, const float *x, size_t n_samples, float *out, wg_error *err);

/* ---- models --------------------------------------------------------------------------------- */

typedef struct wg_model wg_model;

typedef struct wg_model_info {
    size_t n_parameters;
    size_t receptive_field_samples; /* input samples that can influence one output sample */
    double receptive_field_ms;
    double flops_per_second; /* synthesis FLOPs per second of audio (multiply-add = 2) */
    /* what waveglow.c's synthesis multiplies and adds for that: fewer where the dilated taps run
     * by Winograd's F(6,3), eight GEMMs per six steps instead of eighteen (its transforms' few adds
     * per value not counted), and where the WN's start and end convs are multiplied into its
     * first taps and its skip outputs */
    double computed_flops_per_second;
    /* the conditioning fold (wg_model_fold_conditioning): whether the model holds it, what it
     * takes or would take (0: the config does not allow it), and the audio after which its build
     * has paid for itself in FLOPs */
    int folded;
    size_t fold_bytes;
    size_t fold_breakeven_samples;
    /* the latent temperature the model file recommends for synthesis (__metadata__
     * ["synthesis_sigma"], written by `waveglow export --synthesis-sigma`); 0: it names none */
    double synthesis_sigma;
} wg_model_info;

/* The largest synthesis_sigma a model file may carry. */
#define WG_MAX_SYNTHESIS_SIGMA 10.0

/* Loads a model file: safetensors with NVIDIA WaveGlow state-dict names (weight norm folded, or
 * as weight_g/weight_v pairs) and __metadata__["config"] holding the config JSON. Every tensor is
 * checked against the shape the config implies; failures name the tensor and what was expected. */
int wg_model_load(const char *path, wg_model **out, wg_error *err);
void wg_model_free(wg_model *model);
const wg_config *wg_model_config(const wg_model *model);
wg_model_info wg_model_get_info(const wg_model *model);

/* Information about a config alone (no weights needed). */
wg_model_info wg_config_info(const wg_config *cfg);

/* Folds the mel upsampler into every flow's cond 1×1 conv (both are linear): synthesis and
 * encoding then do about half the conditioning's FLOPs, most of a narrow model's, for
 * fold_bytes more memory and a one-off build that pays for itself after fold_breakeven_samples
 * of audio (wg_model_info); worth it for long inputs and long-lived processes. Results agree
 * with the unfolded model's to float32 rounding. WG_EUNSUPPORTED (model unchanged) where the
 * config does not allow it (hop_length % n_group != 0, or n_group <= 4) or it would take more
 * than max_bytes; WG_ENOMEM. Not for a model that is being trained. */
int wg_model_fold_conditioning(wg_model *model, size_t max_bytes, wg_error *err);

/* The fold on disk, so that it is built once and not by every process (`waveglow fold`).
 * wg_model_save_fold writes the model's fold to `path` atomically (WG_EINVAL where it holds
 * none). wg_model_load_fold maps such a file into the model in place of a build: read-only,
 * shared through the page cache, about as costly as reading it once. The file's data is checked
 * against its checksum and the weights it was built from against the model's: WG_EFORMAT (not a
 * fold file, or damaged), WG_ECONFIG (built from another model), WG_EUNSUPPORTED (the config has
 * no fold), WG_EIO; the model is unchanged on error. Results are those of the model the file was
 * saved from. The file must not be rewritten in place while the model uses it (save replaces
 * files by rename, which is safe). */
int wg_model_save_fold(const wg_model *model, const char *path, wg_error *err);
int wg_model_load_fold(wg_model *model, const char *path, wg_error *err);

/* ---- the flow: encode (audio → latent), decode and synthesis (latent → audio) -------------- */

/* A workspace carries a call's memory and its team of threads over to the next call that is
 * given it (wg_run_params.workspace), so that a caller making many calls (a server answering
 * short requests, a scorer going through files) allocates, faults the pages in and starts the
 * threads once instead of every call. It keeps the widest window it has served, and lays itself
 * out again for a model of another shape or another thread count. Results are the same with or
 * without one. A workspace serves one call at a time; any model may use it. */
typedef struct wg_workspace wg_workspace;
int wg_workspace_create(wg_workspace **out, wg_error *err); /* WG_ENOMEM */
void wg_workspace_free(wg_workspace *ws);                   /* NULL is a no-op */

typedef struct wg_run_params {
    int n_threads;      /* threads for the BLAS; 0: all cores. Process-wide (OpenBLAS's own state). */
    size_t chunk_steps; /* group steps per window besides context; 0: automatic. Long inputs are
                         * processed window by window with the model's full receptive field as
                         * context, so the result equals one whole-signal pass and memory stays
                         * bounded. */
    void (*progress)(size_t done, size_t total, void *user_data); /* in samples; may be NULL */
    void *user_data;
    wg_workspace *workspace; /* NULL: the call allocates its memory and threads and frees them */
} wg_run_params;

wg_run_params wg_run_default_params(void);

typedef struct wg_likelihood {
    size_t n_samples;
    double sigma;             /* the model's prior standard deviation */
    double sum_z2;            /* Σ z² */
    double log_s_total;       /* Σ over flows and positions of log_s */
    double log_det_w_total;   /* Σ over flows of steps · log|det W_k| */
    double log_likelihood;    /* log p(x) in nats: Σ log N(z; 0, σ²) + log_s_total + log_det_w_total */
    double nats_per_sample;   /* log_likelihood / n_samples, for the [-1, 1] signal */
    double bits_per_sample16; /* negative log-likelihood in bits per 16-bit sample:
                               * (ln 32768 − nats_per_sample) / ln 2 */
    double loss;              /* NVIDIA's WaveGlowLoss: (Σz²/(2σ²) − log_s_total − log_det_w_total) / n */
} wg_likelihood;

/* Negative log-likelihood in bits per 16-bit sample from log p in nats per [-1, 1] sample:
 * (ln 32768 − nats_per_sample) / ln 2 (the scale step from [-1, 1] to 16-bit integers). */
double wg_bits_per_sample16(double nats_per_sample);

/* Audio → latent. mel is (n_mel, n_frames), audio n_samples long, a multiple of n_group, and
 * covered by the upsampled mel ((n_frames − 1)·hop + 4·hop >= n_samples). z receives
 * (n_group, n_samples / n_group) in the reference layout (early outputs first). lk may be NULL. */
int wg_encode(const wg_model *model, const float *mel, size_t n_frames, const float *audio, size_t n_samples, float *z,
              wg_likelihood *lk, const wg_run_params *params, wg_error *err);

/* Samples synthesised from n_frames mel frames: n_frames · hop, rounded down to n_group. */
size_t wg_synth_samples(const wg_model *model, size_t n_frames);

/* Latent → audio: the inverse of sigma · z, z (n_group, n_samples / n_group), conditioned like
 * wg_encode on the upsampled mel cut to n_samples, so with sigma = 1 and the same mel,
 * decode(encode(x)) = x. n_samples: a multiple of n_group that the mel covers (for synthesis
 * from a mel alone, wg_synth_samples). */
int wg_decode(const wg_model *model, const float *mel, size_t n_frames, const float *z, size_t n_samples, float sigma,
              float *audio, const wg_run_params *params, wg_error *err);

/* Synthesis with latent z[c][t] = sigma · N(seed, c, t) from a counter-based generator: the same
 * seed gives the same audio however the work is split. sigma = 0 is the deterministic mean. */
int wg_synthesize(const wg_model *model, const float *mel, size_t n_frames, float sigma, uint64_t seed, float *audio,
                  const wg_run_params *params, wg_error *err);

/* ---- streaming synthesis ------------------------------------------------------------------- */

/* A stream turns mel frames pushed as they arrive into audio pulled as it is ready. Windows of
 * the inverse flow run with `context` group steps on each side and keep only their centres; the
 * latent is the counter-based noise of wg_synthesize, keyed on (seed, absolute position), so with
 * the exact context (the default) the stream's audio equals wg_synthesize's for the same frames,
 * however they are pushed. A shorter context lowers latency at a measured cost in accuracy.
 * One stream is used by one thread at a time; many streams may share one model. */
typedef struct wg_stream wg_stream;

typedef struct wg_stream_params {
    float sigma;         /* latent temperature (0.6) */
    uint64_t seed;       /* latent seed (0) */
    double context_ms;   /* context each side; < 0 (default): the model's receptive-field reach, exact */
    size_t chunk_steps;  /* group steps kept per window; 0: 512. Audio comes a chunk at a time (the
                          * last may be shorter): each window also computes its context, so small
                          * chunks trade throughput for latency */
    int n_threads;       /* BLAS threads; 0: all cores */
} wg_stream_params;

wg_stream_params wg_stream_default_params(void);
int wg_stream_create(const wg_model *model, const wg_stream_params *params, wg_stream **out, wg_error *err);
void wg_stream_free(wg_stream *stream);
/* Appends frames (n_mel, n_frames) with row stride ld (n_frames for a plain array) and
 * synthesises whatever they make ready. */
int wg_stream_push(wg_stream *stream, const float *frames, size_t n_frames, size_t ld, wg_error *err);
/* Ends the input: the rest of the audio becomes ready. */
int wg_stream_finish(wg_stream *stream, wg_error *err);
/* Samples ready to pull. */
size_t wg_stream_available(const wg_stream *stream);
/* Copies up to max ready samples into out; returns how many. */
size_t wg_stream_pull(wg_stream *stream, float *out, size_t max);
/* The look-ahead the stream works with, in samples: audio up to (frames pushed · hop − this) is ready. */
size_t wg_stream_lookahead(const wg_stream *stream);

/* ---- the denoiser (NVIDIA's): subtract the model's own bias spectrum ---------------------- */

typedef struct wg_denoiser wg_denoiser;

/* Synthesises 88 frames of an all-zero mel at sigma = 0 and keeps the magnitude spectrum of its
 * first STFT frame (n_fft 1024, hop 256, Hann 1024) as the model's bias. */
int wg_denoiser_create(const wg_model *model, const wg_run_params *params, wg_denoiser **out, wg_error *err);
/* out = ISTFT(max(|X| − strength · bias, 0) with X's phase), same length as in; in and out may
 * alias. The inverse is NVIDIA's STFT.inverse (pseudo-inverse basis, window-sum normalisation).
 * Needs more than 512 samples. */
int wg_denoiser_apply(const wg_denoiser *denoiser, const float *in, size_t n, float strength, float *out,
                      wg_error *err);
void wg_denoiser_free(wg_denoiser *denoiser);

/* ---- objective comparison of two signals (audio regression tests) ------------------------- */

typedef struct wg_compare_params {
    double max_delay_ms; /* search test's delay within ±this by cross-correlation; 0: none */
    bool match_gain;     /* scale test by the least-squares gain before measuring */
    /* the STFT and mel of LSD and MCD; 0 means 1024 / 256 / 1024 / 80 mels, 0 to min(8000, sr/2) Hz */
    int n_fft, hop, win_length, n_mel;
    double fmin, fmax;
} wg_compare_params;

wg_compare_params wg_compare_default_params(void);

typedef struct wg_compare_result {
    size_t n_ref, n_test, n_compared; /* samples; compared: the overlap after alignment */
    long length_diff;                 /* n_test − n_ref */
    long delay;                       /* test[t + delay] is compared with ref[t] */
    double gain;                      /* test was multiplied by this (1 without match_gain) */
    double max_abs, rms;              /* of ref − gain·test over the overlap */
    double snr_db;                    /* 10·log10(Σref² / Σ(ref − gain·test)²); +inf when equal */
    double lsd_db;                    /* log-spectral distance on |STFT|, dB, mean over frames */
    double mcd_db;                    /* mel-cepstral distortion, c0 excluded, 10/ln10·sqrt(2Σ), mean over frames */
} wg_compare_result;

/* Measures test against ref (mono, same sample rate). The overlap must be longer than
 * n_fft / 2 samples for the spectral measures. */
int wg_compare(const float *ref, size_t n_ref, const float *test, size_t n_test, int sample_rate,
               const wg_compare_params *params, wg_compare_result *out, wg_error *err);

#ifdef __cplusplus
}
#endif

#endif /* WAVEGLOW_H */
