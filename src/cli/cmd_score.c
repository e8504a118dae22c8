/* cmd_score.c — `waveglow score`: per-file exact log-likelihood under a model, and a total. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const char *help =
    "usage: waveglow score --model M FILE... [--json] [--threads N] [--fold auto] [--fold-file F]\n"
    "                      [--quiet]\n\n"
    "The exact log-likelihood of each audio file under the model (its own mel as conditioning), and\n"
    "the total over all files: density estimation, or anomaly detection by threshold. Two columns:\n"
    "log p, in nats per sample of the [-1, 1] signal (higher is more likely), and the negative\n"
    "log-likelihood in bits per 16-bit sample, (ln 32768 - log p) / ln 2 (lower is more likely).\n"
    "A file that cannot be read is reported and scored as missing; the exit code is then 2.\n\n"
    "  -m, --model M       model file (.safetensors)\n"
    "      --json          one JSON document on stdout\n"
    "  -t, --threads N     threads (default: all cores)\n" CLI_FOLD_MAP_HELP
    "  -q, --quiet         only the results\n" CLI_RESAMPLE_HELP "  -h, --help          this text\n";

/* a file's row and the total's share this layout, which scripts (and test_score) parse */
static void print_row(const char *name, size_t n, double nats_per_sample, double bits_per_sample16) {
    printf("%-40s %10zu samples  log p %9.5f nats/sample  NLL %8.4f bits/sample\n", name, n, nats_per_sample,
           bits_per_sample16);
}

int cmd_score(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"json", no_argument, 0, 'j'},
                                         {"threads", required_argument, 0, 't'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"fold", required_argument, 0, 'f'},
                                         {"fold-file", required_argument, 0, 'P'},
                                         {"resample", required_argument, 0, 'R'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model_path = NULL;
    const char *fold_file = NULL;
    int fold = CLI_FOLD_AUTO;
    bool json = false, quiet = false;
    long threads = 0;
    int c;
    while ((c = getopt_long(argc, argv, "m:t:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'j': json = true; break;
        case 't':
            if (!cli_parse_int("score", "--threads", optarg, 0, 4096, &threads))
                return CLI_BAD;
            break;
        case 'q': quiet = true; break;
        case 'f':
            if (!cli_parse_fold("score", optarg, &fold)) return CLI_BAD;
            break;
        case 'P': fold_file = optarg; break;
        case 'R':
            if (!cli_set_resample("score", optarg))
                return CLI_BAD;
            break;
        case 'h': fputs(help, stdout); return CLI_OK;
        default: return cli_usage("score", "unknown option");
        }
    }
    if (optind >= argc)
        return cli_usage("score", "expected one or more audio files");
    if (!model_path)
        return cli_usage("score", "missing --model M");
    if (!cli_fold_options_agree("score", fold, fold_file, false))
        return CLI_BAD;
    wg_config cfg;
    wg_model *model = NULL;
    int rc = cli_load_config("score", model_path, NULL, &cfg, &model);
    if (rc)
        return rc;
    if ((rc = cli_fold("score", model, model_path, fold_file, fold, CLI_FOLD_UNKNOWN_LENGTH, (int)threads,
                       quiet || json))) {
        wg_model_free(model);
        return rc;
    }
    cJSON *root = cJSON_CreateObject(), *files = cJSON_AddArrayToObject(root, "files");
    double total_ll = 0;
    size_t total_n = 0, n_failed = 0;
    wg_run_params p = cli_run_params("score", threads, quiet || json);
    wg_error err = {0};
    if (wg_workspace_create(&p.workspace, &err)) { /* the files share memory and threads */
        cJSON_Delete(root);
        wg_model_free(model);
        return cli_error("score", &err);
    }
    for (int i = optind; i < argc; i++) {
        const char *in = argv[i];
        float *z;
        size_t n;
        wg_likelihood lk;
        /* the few samples past the last whole group are not worth a line per file here */
        if (cli_encode_file("score", in, NULL, model, quiet || json, false, &p, &z, &n, &lk)) {
            n_failed++;
            continue;
        }
        total_ll += lk.log_likelihood;
        total_n += n;
        if (json)
            cJSON_AddItemToArray(files, cli_likelihood_json(in, &lk));
        else
            print_row(in, n, lk.nats_per_sample, lk.bits_per_sample16);
        free(z);
    }
    double per = total_n ? total_ll / (double)total_n : NAN;
    double bits = wg_bits_per_sample16(per);
    if (json) {
        cJSON *t = cJSON_AddObjectToObject(root, "total");
        cJSON_AddNumberToObject(t, "samples", (double)total_n);
        cJSON_AddNumberToObject(t, "log_likelihood_nats", total_ll);
        if (total_n) {
            cJSON_AddNumberToObject(t, "nats_per_sample", per);
            cJSON_AddNumberToObject(t, "bits_per_16bit_sample", bits);
        }
        cJSON_AddNumberToObject(t, "failed_files", (double)n_failed);
        char *text = cJSON_Print(root);
        puts(text);
        free(text);
    } else if (total_n) {
        print_row("total", total_n, per, bits);
    }
    cJSON_Delete(root);
    wg_workspace_free(p.workspace);
    wg_model_free(model);
    return n_failed ? CLI_BAD : CLI_OK;
}
