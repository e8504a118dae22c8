/* cmd_encode.c — `waveglow encode`: audio → latent z (.npy) and its exact log-likelihood. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const char *help =
    "usage: waveglow encode --model M IN [--mel MEL.npy] -o Z.npy [--json] [--threads N] [--fold auto]\n"
    "                       [--fold-file F] [--quiet]\n\n"
    "Runs the flow forward: audio -> latent z, float32 .npy of shape (n_group, samples / n_group)\n"
    "in NVIDIA's layout (early outputs first), and prints the terms of the exact log-likelihood\n"
    "log p(x) = sum log N(z; 0, sigma^2) + sum log_s + sum log|det W|, with sigma the model's prior.\n"
    "Audio whose length is not a multiple of n_group is cut; the tool says how much.\n\n"
    "  -m, --model M       model file (.safetensors)\n"
    "      --mel MEL.npy   condition on this (n_mel, frames) mel instead of IN's own\n"
    "  -o, --output Z.npy  where to write z\n"
    "      --json          print the likelihood as JSON on stdout\n"
    "  -t, --threads N     threads (default: all cores)\n" CLI_FOLD_MAP_HELP
    "  -q, --quiet         no progress or notes\n" CLI_RESAMPLE_HELP "  -h, --help          this text\n";

void cli_print_likelihood(const char *name, const wg_likelihood *lk) {
    printf("%s: %zu samples, log p(x) = %.3f nats = %.5f nats/sample = %.4f bits per 16-bit sample\n", name,
           lk->n_samples, lk->log_likelihood, lk->nats_per_sample, lk->bits_per_sample16);
    printf("  sum z^2 = %.6g (sigma %g), sum log_s = %.6g, sum log|det W| = %.6g, WaveGlowLoss = %.6g\n", lk->sum_z2,
           lk->sigma, lk->log_s_total, lk->log_det_w_total, lk->loss);
}

void *cli_likelihood_json(const char *name, const wg_likelihood *lk) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "file", name);
    cJSON_AddNumberToObject(o, "samples", (double)lk->n_samples);
    cJSON_AddNumberToObject(o, "log_likelihood_nats", lk->log_likelihood);
    cJSON_AddNumberToObject(o, "nats_per_sample", lk->nats_per_sample);
    cJSON_AddNumberToObject(o, "bits_per_16bit_sample", lk->bits_per_sample16);
    cJSON_AddNumberToObject(o, "sum_z2", lk->sum_z2);
    cJSON_AddNumberToObject(o, "sigma", lk->sigma);
    cJSON_AddNumberToObject(o, "log_s_total", lk->log_s_total);
    cJSON_AddNumberToObject(o, "log_det_w_total", lk->log_det_w_total);
    cJSON_AddNumberToObject(o, "loss", lk->loss);
    return o;
}

int cmd_encode(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"mel", required_argument, 0, 'M'},
                                         {"output", required_argument, 0, 'o'},
                                         {"json", no_argument, 0, 'j'},
                                         {"threads", required_argument, 0, 't'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"fold", required_argument, 0, 'f'},
                                         {"fold-file", required_argument, 0, 'P'},
                                         {"resample", required_argument, 0, 'R'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model_path = NULL, *mel_path = NULL, *out = NULL;
    const char *fold_file = NULL;
    int fold = CLI_FOLD_AUTO;
    bool json = false, quiet = false;
    long threads = 0;
    int c;
    while ((c = getopt_long(argc, argv, "m:o:t:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'M': mel_path = optarg; break;
        case 'o': out = optarg; break;
        case 'j': json = true; break;
        case 't':
            if (!cli_parse_int("encode", "--threads", optarg, 0, 4096, &threads))
                return CLI_BAD;
            break;
        case 'q': quiet = true; break;
        case 'f':
            if (!cli_parse_fold("encode", optarg, &fold)) return CLI_BAD;
            break;
        case 'P': fold_file = optarg; break;
        case 'R':
            if (!cli_set_resample("encode", optarg))
                return CLI_BAD;
            break;
        case 'h': fputs(help, stdout); return CLI_OK;
        default: return cli_usage("encode", "unknown option");
        }
    }
    if (optind != argc - 1)
        return cli_usage("encode", "expected exactly one input audio file");
    if (!model_path)
        return cli_usage("encode", "missing --model M");
    if (!cli_fold_options_agree("encode", fold, fold_file, false))
        return CLI_BAD;
    if (!out)
        return cli_usage("encode", "missing -o Z.npy");
    const char *in = argv[optind];
    if (cli_has_suffix(in, ".npy"))
        return cli_usage("encode", "%s: encode takes audio (give a mel with --mel)", in);
    wg_config cfg;
    wg_model *model = NULL;
    int rc = cli_load_config("encode", model_path, NULL, &cfg, &model);
    if (rc)
        return rc;
    float *z = NULL;
    size_t n = 0, G = (size_t)cfg.n_group;
    wg_likelihood lk;
    wg_run_params p = cli_run_params("encode", threads, quiet || json);
    if ((rc = cli_fold("encode", model, model_path, fold_file, fold, CLI_FOLD_UNKNOWN_LENGTH, (int)threads,
                       quiet || json)))
        goto done;
    if ((rc = cli_encode_file("encode", in, mel_path, model, quiet || json, true, &p, &z, &n, &lk)))
        goto done;
    wg_error err = {0};
    size_t shape[2] = {G, n / G};
    if (wg_npy_write(out, z, 2, shape, &err)) {
        rc = cli_error("encode", &err);
        goto done;
    }
    if (json) {
        cJSON *o = cli_likelihood_json(in, &lk);
        cJSON_AddStringToObject(o, "z", out);
        char *text = cJSON_Print(o);
        puts(text);
        free(text);
        cJSON_Delete(o);
    } else {
        cli_print_likelihood(in, &lk);
        if (!quiet)
            printf("  z (%zu, %zu) -> %s\n", shape[0], shape[1], out);
    }
done:
    free(z);
    wg_model_free(model);
    return rc;
}

int cli_encode_file(const char *cmd, const char *in, const char *mel_path, const wg_model *model, bool quiet,
                    bool note_cut, const wg_run_params *p, float **z, size_t *n_out, wg_likelihood *lk) {
    const wg_config *cfg = wg_model_config(model);
    wg_audio audio = {0};
    wg_array mel = {0};
    wg_error err = {0};
    int rc;
    *z = NULL;
    if (mel_path) {
        if ((rc = cli_read_audio(cmd, in, cfg->sampling_rate, quiet, &audio)) ||
            (rc = cli_load_mel(cmd, mel_path, model, quiet, &mel, NULL)))
            goto done;
    } else if ((rc = cli_load_mel(cmd, in, model, quiet, &mel, &audio))) {
        goto done;
    }
    size_t G = (size_t)cfg->n_group, n = audio.n_samples / G * G;
    if (n == 0) {
        fprintf(stderr, "waveglow %s: %s: %zu samples is less than one group of %zu\n", cmd, in, audio.n_samples, G);
        rc = CLI_BAD;
        goto done;
    }
    if (n != audio.n_samples && note_cut && !quiet)
        fprintf(stderr, "waveglow %s: %s: dropped the last %zu samples (length must be a multiple of n_group %zu)\n",
                cmd, in, audio.n_samples - n, G);
    if (!(*z = malloc(n * sizeof(float)))) {
        fprintf(stderr, "waveglow %s: out of memory\n", cmd);
        rc = CLI_BAD;
        goto done;
    }
    if (wg_encode(model, mel.data, mel.shape[1], audio.samples, n, *z, lk, p, &err)) {
        fprintf(stderr, "waveglow %s: %s: %s\n", cmd, in, err.message);
        free(*z);
        *z = NULL;
        rc = CLI_BAD;
        goto done;
    }
    *n_out = n;
done:
    wg_array_free(&mel);
    wg_audio_free(&audio);
    return rc;
}
