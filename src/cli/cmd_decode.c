/* cmd_decode.c — `waveglow decode`: latent z + mel → audio, the inverse of `encode`. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const char *help =
    "usage: waveglow decode --model M --mel MEL.npy Z.npy -o OUT.(wav|npy) [--sigma S] [--float]\n"
    "                       [--threads N] [--fold auto] [--fold-file F] [--quiet]\n\n"
    "Runs the flow in reverse on S * Z, conditioned on MEL (n_mel, frames). Z is (n_group, steps) as\n"
    "`encode` writes it and gives the output length, steps * n_group samples, which the mel must\n"
    "cover; with the default S = 1 and encode's mel, decode(encode(x)) = x. An .npy output holds the\n"
    "float32 samples exactly; a WAV is PCM16 unless --float.\n\n"
    "  -m, --model M       model file (.safetensors)\n"
    "      --mel MEL.npy   the conditioning mel\n"
    "  -o, --output OUT    .wav or .npy\n"
    "  -s, --sigma S       scale of the latent (default 1)\n"
    "      --float         write a float32 WAV instead of PCM16\n"
    "  -t, --threads N     threads (default: all cores)\n" CLI_FOLD_HELP
    "  -q, --quiet         no progress or notes\n"
    "  -h, --help          this text\n";

int cmd_decode(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"mel", required_argument, 0, 'M'},
                                         {"output", required_argument, 0, 'o'},
                                         {"sigma", required_argument, 0, 's'},
                                         {"float", no_argument, 0, 'F'},
                                         {"threads", required_argument, 0, 't'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"fold", required_argument, 0, 'f'},
                                         {"fold-file", required_argument, 0, 'P'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model_path = NULL, *mel_path = NULL, *out = NULL, *fold_file = NULL;
    int fold = CLI_FOLD_AUTO;
    double sigma = 1.0;
    bool as_float = false, quiet = false;
    long threads = 0;
    int c;
    while ((c = getopt_long(argc, argv, "m:o:s:t:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'M': mel_path = optarg; break;
        case 'o': out = optarg; break;
        case 's':
            if (!cli_parse_float("decode", "--sigma", optarg, 0, 100, &sigma))
                return CLI_BAD;
            break;
        case 'F': as_float = true; break;
        case 't':
            if (!cli_parse_int("decode", "--threads", optarg, 0, 4096, &threads))
                return CLI_BAD;
            break;
        case 'q': quiet = true; break;
        case 'f':
            if (!cli_parse_fold("decode", optarg, &fold)) return CLI_BAD;
            break;
        case 'P': fold_file = optarg; break;
        case 'h': fputs(help, stdout); return CLI_OK;
        default: return cli_usage("decode", "unknown option");
        }
    }
    if (optind != argc - 1)
        return cli_usage("decode", "expected exactly one latent Z.npy");
    if (!model_path)
        return cli_usage("decode", "missing --model M");
    if (!mel_path)
        return cli_usage("decode", "missing --mel MEL.npy");
    if (!out)
        return cli_usage("decode", "missing -o OUT");
    if (!cli_fold_options_agree("decode", fold, fold_file, false))
        return CLI_BAD;
    const char *zpath = argv[optind];
    wg_config cfg;
    wg_model *model = NULL;
    int rc = cli_load_config("decode", model_path, NULL, &cfg, &model);
    if (rc)
        return rc;
    wg_array mel = {0}, z = {0};
    float *audio = NULL;
    wg_error err = {0};
    if ((rc = cli_load_mel("decode", mel_path, model, quiet, &mel, NULL)))
        goto done;
    if (wg_npy_read(zpath, &z, &err)) {
        rc = cli_error("decode", &err);
        goto done;
    }
    /* z sets the length, as audio does for encode; the mel must cover it */
    size_t G = (size_t)cfg.n_group, hop = (size_t)cfg.hop_length, covered = (mel.shape[1] + 3) * hop;
    size_t n = z.ndim == 2 ? z.shape[1] * G : 0;
    if (z.ndim != 2 || z.shape[0] != G || n == 0 || n > covered) {
        fprintf(stderr,
                "waveglow decode: %s: z must be (n_group = %zu, steps) with steps * n_group <= %zu, the "
                "samples %zu mel frames cover; it is (",
                zpath, G, covered, mel.shape[1]);
        for (int i = 0; i < z.ndim; i++)
            fprintf(stderr, i ? ", %zu" : "%zu", z.shape[i]);
        fprintf(stderr, ")\n");
        rc = CLI_BAD;
        goto done;
    }
    audio = malloc((n ? n : 1) * sizeof(float));
    if (!audio) {
        fprintf(stderr, "waveglow decode: out of memory\n");
        rc = CLI_BAD;
        goto done;
    }
    wg_run_params p = cli_run_params("decode", threads, quiet);
    if ((rc = cli_fold("decode", model, model_path, fold_file, fold, n, (int)threads, quiet)))
        goto done;
    if (wg_decode(model, mel.data, mel.shape[1], z.data, n, (float)sigma, audio, &p, &err)) {
        fprintf(stderr, "waveglow decode: %s: %s\n", zpath, err.message);
        rc = CLI_BAD;
        goto done;
    }
    if ((rc = cli_write_audio("decode", out, audio, n, cfg.sampling_rate, as_float, quiet)))
        goto done;
    if (!quiet)
        printf("%s: %zu samples (%.3f s at %d Hz) -> %s\n", zpath, n, (double)n / cfg.sampling_rate, cfg.sampling_rate,
               out);
done:
    free(audio);
    wg_array_free(&mel);
    wg_array_free(&z);
    wg_model_free(model);
    return rc;
}
