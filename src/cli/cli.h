/* cli.h — what the subcommands of the `waveglow` program share: error reporting with the
 * program's exit codes, and loading configs, models and audio with the user told what happened.
 * Exit codes: 0 success, 1 a check failed, 2 bad usage or bad input. */
#ifndef WG_CLI_H
#define WG_CLI_H

#include <stdbool.h>

#include "waveglow.h"

enum { CLI_OK = 0, CLI_CHECK_FAILED = 1, CLI_BAD = 2 };

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} cli_command;

/* Prints "waveglow CMD: message" to stderr; returns CLI_BAD. */
int cli_error(const char *cmd, const wg_error *err);
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Exactly one of model_path / config_path may be set; neither means NVIDIA's defaults.
 * With a model path the model is loaded and returned in *model (when model is not NULL). */
int cli_load_config(const char *cmd, const char *model_path, const char *config_path, wg_config *cfg, wg_model **model);
/* The libsamplerate converter for reading audio at another rate: "best" (default), "medium",
 * "fast" or "linear", from the subcommands' --resample option. */
bool cli_set_resample(const char *cmd, const char *name);
#define CLI_RESAMPLE_HELP                                                                                              \
    "      --resample Q    resampling quality for other rates: best (default), medium, fast, linear\n"

/* Reads audio at the config's rate and tells the user (once) about resampling or downmixing. */
int cli_read_audio(const char *cmd, const char *path, int rate, bool quiet, wg_audio *audio);
/* Parses a positive integer option value; returns false with a usage message on failure. */
bool cli_parse_int(const char *cmd, const char *opt, const char *text, long lo, long hi, long *out);

/* A mel for `model`: IN.npy as it is ((n_mel, frames), checked against the model), or computed
 * from an audio file with the model's front end. When `audio` is not NULL and IN is audio, the
 * (resampled) audio is handed back too. */
int cli_load_mel(const char *cmd, const char *path, const wg_model *model, bool quiet, wg_array *mel, wg_audio *audio);
/* .npy: float32 samples exactly; anything else: WAV (PCM16 unless `as_float`), clipping reported. */
int cli_write_audio(const char *cmd, const char *path, const float *samples, size_t n, int rate, bool as_float,
                    bool quiet);
/* A progress callback for wg_run_params: a live percentage on a terminal, nothing otherwise. */
void cli_progress(size_t done, size_t total, void *user_data);
/* Run parameters from --threads (0 = all cores) with live progress unless quiet. */
wg_run_params cli_run_params(const char *cmd, long threads, bool quiet);
bool cli_parse_float(const char *cmd, const char *opt, const char *text, double lo, double hi, double *out);
bool cli_has_suffix(const char *path, const char *suffix);

/* The live streaming defaults of `play` and `vocode --stream`, chosen from the context / chunk
 * sweep in bench/RESULTS.md (section 6): on the bundled model at least 40 dB SNR against offline
 * synthesis, at most 150 ms from the first mel frame to the first sample, and faster than real
 * time on one thread (each window recomputes its context, so smaller chunks cost more). The
 * library's own default stays the exact context. */
#define CLI_STREAM_CONTEXT_MS 32.0
#define CLI_STREAM_CHUNK_MS 64.0
/* P pads the option column: "" for vocode's help, " " for play's */
#define CLI_STREAM_HELP(P)                                                                                          \
    "      --context MS" P "    context each side: a number of ms or \"exact\" (the model's full\n"             \
    "                    " P "  reach; streamed = offline). Default 32 ms: >= 40 dB SNR against\n"              \
    "                    " P "  offline on the bundled model (bench/RESULTS.md)\n"                               \
    "      --chunk MS" P "      audio made per window (default 64 ms); smaller: sooner audio, more work\n"
/* Parses --context (ms, or "exact" = -1) and --chunk (ms) into stream parameters for `model`. */
bool cli_parse_context(const char *cmd, const char *text, double *context_ms);
bool cli_parse_chunk(const char *cmd, const char *text, double *chunk_ms);
size_t cli_chunk_steps(const wg_config *cfg, double chunk_ms);

/* The latent temperature: --sigma where given (>= 0), else the model file's own (synthesis_sigma),
 * else NVIDIA's usual 0.6. */
#define CLI_DEFAULT_SIGMA 0.6
double cli_sigma(const wg_model *model, double sigma_option);

/* --fold: fold the mel upsampler into the flows' cond convs (wg_model_fold_conditioning) before
 * a long job. auto folds for inputs past twice its FLOP break-even (the measured one, its
 * memory-bound GEMMs considered) where it takes at most CLI_FOLD_AUTO_BYTES. */
#define CLI_FOLD_AUTO_BYTES ((size_t)1 << 30)
#define CLI_FOLD_HELP                                                                                               \
    "      --fold W        fold the upsampler into the flows' cond convs first, trading memory for\n"                \
    "                      speed: auto (default: map the fold file beside the model, M.fold, where\n"                \
    "                      `waveglow fold` wrote one; else build it from about 20 s of audio), on, off\n"            \
    "      --fold-file F   map the fold from F (written by `waveglow fold`) instead\n"
/* the same for commands that learn the length as they read their input (encode, score) */
#define CLI_FOLD_MAP_HELP                                                                                           \
    "      --fold W        fold the upsampler into the flows' cond convs first: auto (default: map the\n"             \
    "                      fold file beside the model, M.fold, where `waveglow fold` wrote one), on\n"              \
    "                      (else build it: worth it for about 20 s of audio or more), off\n"                       \
    "      --fold-file F   map the fold from F (written by `waveglow fold`) instead\n"
enum { CLI_FOLD_OFF = 0, CLI_FOLD_ON = 1, CLI_FOLD_AUTO = 2 };
/* cli_fold's samples where the job's length is not known before it starts: auto maps, never builds */
#define CLI_FOLD_UNKNOWN_LENGTH ((size_t)-1)
bool cli_parse_fold(const char *cmd, const char *text, int *mode);
/* Where `waveglow fold` writes a model's fold file by default and vocode looks for it: the model
 * path with .safetensors (if it ends so) replaced by .fold. false if it does not fit in size. */
bool cli_fold_path(const char *model_path, char *path, size_t size);
/* Whether the model's fold is in the layout `waveglow fold` would write on this machine; a file
 * in another (an older version's, or another CPU's) works, slower, and CLI_FOLD_NOT_NATIVE says so. */
bool cli_fold_native(const wg_model *model);
#define CLI_FOLD_NOT_NATIVE                                                                                            \
    "the fold file's layout is not this machine's (an older waveglow or another CPU wrote it), which makes it "     \
    "slower here: `waveglow fold` rewrites it"
/* Checks --fold-file against --fold (and --stream where `streaming`); true, or false with usage printed. */
bool cli_fold_options_agree(const char *cmd, int mode, const char *fold_file, bool streaming);
/* Folds `model` for a job of `samples` samples as `mode` says: from fold_file where not NULL
 * (any failure is the job's), else from the model's fold file where there is one and any window
 * would use it (one that fails is a note), else by building it where that pays, on `threads` BLAS
 * threads (0: all cores). 0, or CLI_BAD with the reason printed where --fold on or --fold-file
 * could not fold. */
int cli_fold(const char *cmd, wg_model *model, const char *model_path, const char *fold_file, int mode,
             size_t samples, int threads, bool quiet);

/* Encodes one audio file (its own mel, or the mel in mel_path when not NULL), cut to whole
 * groups (said when note_cut and not quiet): *z (the caller frees it) holds *n samples' latent,
 * lk the likelihood. 0, or CLI_BAD with the reason printed. */
int cli_encode_file(const char *cmd, const char *in, const char *mel_path, const wg_model *model, bool quiet,
                    bool note_cut, const wg_run_params *p, float **z, size_t *n, wg_likelihood *lk);

/* The likelihood terms as text, or as a cJSON object (the caller deletes it); cJSON stays out of
 * this header, so the object is handed over as void *. */
void cli_print_likelihood(const char *name, const wg_likelihood *lk);
void *cli_likelihood_json(const char *name, const wg_likelihood *lk);

/* "OpenBLAS 0.3.21 DYNAMIC_ARCH ...; SkylakeX kernels" */
const char *cli_blas_description(void);
/* OPENBLAS_CORETYPE's value where it holds OpenBLAS to kernels without AVX-512 on a CPU that has
 * it (about half the GEMM speed), else NULL */
const char *cli_blas_pinned_below_avx512(void);

int cmd_mel(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_encode(int argc, char **argv);
int cmd_decode(int argc, char **argv);
int cmd_vocode(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_fold(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_play(int argc, char **argv);

#endif
