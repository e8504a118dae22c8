/* cmd_vocode.c — `waveglow vocode`: mel (from audio or .npy) → speech. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"

static const char *help =
    "usage: waveglow vocode --model M IN.(wav|npy) -o OUT.(wav|npy) [--sigma S] [--seed N]\n"
    "                       [--denoise K] [--float] [--threads N] [--fold auto] [--fold-file F]\n"
    "                       [--quiet]\n\n"
    "Synthesises speech from a log-mel: IN.npy is a (n_mel, frames) mel as a TTS front end writes\n"
    "it; any other IN is audio, whose mel is computed first (copy-synthesis). The latent is drawn\n"
    "from a counter-based generator, so a seed gives the same audio on any machine and however the\n"
    "work is split. Output length: frames * hop_length samples.\n\n"
    "  -m, --model M       model file (.safetensors)\n"
    "  -o, --output OUT    .wav (PCM16 unless --float) or .npy (float32 samples)\n"
    "  -s, --sigma S       latent temperature (default: the model file's synthesis_sigma, else 0.6;\n"
    "                      0: the deterministic mean path)\n"
    "      --seed N        latent seed (default 0)\n"
    "  -d, --denoise K     subtract K times the model's bias spectrum (NVIDIA's denoiser; try 0.01-0.1)\n"
    "      --stream        synthesise through the streaming engine (as `play` does), frame by frame,\n"
    "                      with `play`'s context and chunk:\n" CLI_STREAM_HELP("")
    "      --float         write a float32 WAV\n"
    "  -t, --threads N     threads (default: all cores)\n" CLI_FOLD_HELP
    "  -q, --quiet         no progress or notes\n" CLI_RESAMPLE_HELP "  -h, --help          this text\n";

/* The streaming engine, fed 8 frames at a time as a TTS front end would, drained as it goes. */
static int stream_synthesize(const wg_model *model, const wg_array *mel, float sigma, uint64_t seed, double context_ms,
                             double chunk_ms, int threads, float *audio, size_t n, wg_error *err) {
    wg_stream_params sp = wg_stream_default_params();
    sp.sigma = sigma, sp.seed = seed, sp.context_ms = context_ms, sp.n_threads = threads;
    sp.chunk_steps = cli_chunk_steps(wg_model_config(model), chunk_ms);
    wg_stream *s;
    int rc = wg_stream_create(model, &sp, &s, err);
    size_t frames = mel->shape[1], got = 0;
    for (size_t f = 0; !rc && f < frames; f += 8) {
        rc = wg_stream_push(s, mel->data + f, frames - f < 8 ? frames - f : 8, frames, err);
        got += wg_stream_pull(s, audio + got, n - got);
    }
    if (!rc) rc = wg_stream_finish(s, err);
    if (!rc) got += wg_stream_pull(s, audio + got, n - got);
    wg_stream_free(s);
    return rc;
}

int cmd_vocode(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"output", required_argument, 0, 'o'},
                                         {"sigma", required_argument, 0, 's'},
                                         {"seed", required_argument, 0, 'S'},
                                         {"denoise", required_argument, 0, 'd'},
                                         {"float", no_argument, 0, 'F'},
                                         {"threads", required_argument, 0, 't'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"stream", no_argument, 0, 'T'},
                                         {"context", required_argument, 0, 'C'},
                                         {"chunk", required_argument, 0, 'K'},
                                         {"resample", required_argument, 0, 'R'},
                                         {"fold", required_argument, 0, 'f'},
                                         {"fold-file", required_argument, 0, 'P'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model_path = NULL, *out = NULL, *fold_file = NULL;
    double sigma = -1, denoise = 0; /* sigma < 0: the model's own (cli_sigma) */
    long seed = 0, threads = 0;
    bool as_float = false, quiet = false, stream = false;
    int fold = CLI_FOLD_AUTO;
    double context_ms = CLI_STREAM_CONTEXT_MS, chunk_ms = CLI_STREAM_CHUNK_MS;
    int c;
    while ((c = getopt_long(argc, argv, "m:o:s:d:t:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'o': out = optarg; break;
        case 's':
            if (!cli_parse_float("vocode", "--sigma", optarg, 0, 100, &sigma))
                return CLI_BAD;
            break;
        case 'S':
            if (!cli_parse_int("vocode", "--seed", optarg, 0, 0x7fffffffffffffffL, &seed))
                return CLI_BAD;
            break;
        case 'd':
            if (!cli_parse_float("vocode", "--denoise", optarg, 0, 100, &denoise))
                return CLI_BAD;
            break;
        case 'F': as_float = true; break;
        case 'T': stream = true; break;
        case 'f':
            if (!cli_parse_fold("vocode", optarg, &fold)) return CLI_BAD;
            break;
        case 'P': fold_file = optarg; break;
        case 'C':
            if (!cli_parse_context("vocode", optarg, &context_ms)) return CLI_BAD;
            break;
        case 'K':
            if (!cli_parse_chunk("vocode", optarg, &chunk_ms)) return CLI_BAD;
            break;
        case 't':
            if (!cli_parse_int("vocode", "--threads", optarg, 0, 4096, &threads))
                return CLI_BAD;
            break;
        case 'q': quiet = true; break;
        case 'R':
            if (!cli_set_resample("vocode", optarg))
                return CLI_BAD;
            break;
        case 'h': fputs(help, stdout); return CLI_OK;
        default: return cli_usage("vocode", "unknown option");
        }
    }
    if (optind != argc - 1)
        return cli_usage("vocode", "expected exactly one input (audio or mel .npy)");
    if (!model_path)
        return cli_usage("vocode", "missing --model M");
    if (!out)
        return cli_usage("vocode", "missing -o OUT");
    if (!cli_fold_options_agree("vocode", fold, fold_file, stream))
        return CLI_BAD;
    const char *in = argv[optind];
    wg_config cfg;
    wg_model *model = NULL;
    int rc = cli_load_config("vocode", model_path, NULL, &cfg, &model);
    if (rc)
        return rc;
    wg_array mel = {0};
    float *audio = NULL;
    wg_denoiser *dn = NULL;
    wg_error err = {0};
    if ((rc = cli_load_mel("vocode", in, model, quiet, &mel, NULL)))
        goto done;
    sigma = cli_sigma(model, sigma);
    size_t n = wg_synth_samples(model, mel.shape[1]);
    audio = malloc((n ? n : 1) * sizeof(float));
    if (!audio) {
        fprintf(stderr, "waveglow vocode: out of memory\n");
        rc = CLI_BAD;
        goto done;
    }
    wg_run_params p = cli_run_params("vocode", threads, quiet);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* --stream runs play's pipeline, which does not fold: the build would delay the first audio */
    if (!stream && (rc = cli_fold("vocode", model, model_path, fold_file, fold, n, (int)threads, quiet)))
        goto done;
    if ((stream ? stream_synthesize(model, &mel, (float)sigma, (uint64_t)seed, context_ms, chunk_ms, (int)threads, audio, n, &err)
                : wg_synthesize(model, mel.data, mel.shape[1], (float)sigma, (uint64_t)seed, audio, &p, &err)) ||
        (denoise > 0 &&
         (wg_denoiser_create(model, &p, &dn, &err) || wg_denoiser_apply(dn, audio, n, (float)denoise, audio, &err)))) {
        fprintf(stderr, "waveglow vocode: %s: %s\n", in, err.message);
        rc = CLI_BAD;
        goto done;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if ((rc = cli_write_audio("vocode", out, audio, n, cfg.sampling_rate, as_float, quiet)))
        goto done;
    if (!quiet) {
        double secs = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec), dur = (double)n / cfg.sampling_rate;
        printf("%s: %zu mel frames -> %.3f s of audio at %d Hz in %.3f s (%.1fx real time) -> %s\n", in, mel.shape[1],
               dur, cfg.sampling_rate, secs, dur / secs, out);
    }
done:
    wg_denoiser_free(dn);
    free(audio);
    wg_array_free(&mel);
    wg_model_free(model);
    return rc;
}
