/* cmd_train.c — `waveglow train` and `waveglow export`. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dist.h"
#include "fileio.h"
#include "trainer.h"

static const char *train_help =
    "usage: waveglow train --config C.json --data DIR|LIST.txt --out RUN_DIR [--resume] [--steps N]\n"
    "                      [--init MODEL] [--threads N] [--quiet]\n\n"
    "Trains a WaveGlow by maximum likelihood. C.json is NVIDIA's config.json layout (train_config,\n"
    "data_config, waveglow_config; missing keys take NVIDIA's values, unknown ones are reported), so\n"
    "their recipes run as they are. The data are every audio file under DIR, or those listed in\n"
    "LIST.txt; a fixed validation_fraction of the files (0.1) is held out by path.\n"
    "Checkpoints go to RUN_DIR every iters_per_checkpoint steps and on Ctrl-C / SIGTERM, written\n"
    "atomically, the last keep_checkpoints kept; RUN_DIR/train.csv logs every step.\n\n"
    "Data-parallel: `mpirun -np N waveglow train ...` trains on N ranks, each taking batch_size items\n"
    "of every step (a global batch of N x batch_size) and its share of the cores; gradients are\n"
    "averaged with MPI_Allreduce and rank 0 writes. Every rank must see the data and RUN_DIR. A run\n"
    "resumes on any number of ranks. Under mpirun, `kill -USR1 <mpirun>` (forwarded to every rank)\n"
    "stops after a checkpoint, as Ctrl-C does for one process.\n\n"
    "train_config options beyond NVIDIA's: adam_beta1, adam_beta2, adam_eps, weight_decay,\n"
    "lr_schedule (constant|step|cosine), warmup_steps, lr_step_size, lr_gamma, lr_min, grad_clip,\n"
    "dequantize, validation_fraction, validate_every, keep_checkpoints, max_bad_steps, log_every,\n"
    "weight_norm (true), keep_activations (false: each WN runs forward twice, memory independent of\n"
    "n_flows; true: a third faster, n_flows times the WN activations kept).\n\n"
    "  -c, --config C.json   the config (optional with --resume: the checkpoint's is used)\n"
    "  -d, --data DIR|LIST   training audio\n"
    "  -o, --out RUN_DIR     run directory (created if missing; a new run refuses one that holds a run)\n"
    "      --resume          continue from RUN_DIR's newest good checkpoint, exactly\n"
    "      --init MODEL      start a new run from MODEL's weights (fine-tuning, or going on from an\n"
    "                        exported model): the config must describe the same model and front\n"
    "                        end; Adam starts afresh at step 0 (give warmup_steps). Ignored on resume\n"
    "  -n, --steps N         stop at step N (a total; default: train_config.epochs over the data)\n"
    "  -t, --threads N       threads per rank (default: the cores, shared out among the ranks on\n"
    "                        this machine)\n"
    "  -q, --quiet           no progress line\n"
    "  -h, --help            this text\n";

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}
static int should_stop(void *user) {
    (void)user;
    return stop_requested;
}

typedef struct ui {
    bool tty, quiet, line_open;
    long log_every;
} ui;

static void log_line(void *user, const char *line) {
    ui *u = user;
    if (u->line_open) fputs("\r\033[K", stderr);
    u->line_open = false;
    fprintf(stderr, "waveglow train: %s\n", line);
}

static void show_progress(const wg_train_status *s, void *user) {
    ui *u = user;
    if (u->quiet) return;
    long eta = (long)s->eta_s;
    char val[32] = "";
    if (s->val_nll == s->val_nll) snprintf(val, sizeof val, "  val %.4f", s->val_nll);
    if (u->tty) {
        fprintf(stderr, "\r\033[Kstep %ld/%ld  loss %.5f%s  lr %.3g  |g| %.3g  %.0f samples/s  ETA %ld:%02ld:%02ld",
                s->step, s->total_steps, s->loss, val, s->lr, s->grad_norm, s->samples_per_s, eta / 3600,
                eta / 60 % 60, eta % 60);
        u->line_open = true;
    } else if (s->step % u->log_every == 0 || s->step == s->total_steps) {
        fprintf(stderr, "step %ld/%ld  loss %.5f%s  lr %.3g  |g| %.3g  %.0f samples/s  ETA %ld:%02ld:%02ld\n",
                s->step, s->total_steps, s->loss, val, s->lr, s->grad_norm, s->samples_per_s, eta / 3600,
                eta / 60 % 60, eta % 60);
    }
    fflush(stderr);
}

int cmd_train(int argc, char **argv) {
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"data", required_argument, 0, 'd'}, {"out", required_argument, 0, 'o'},
        {"resume", no_argument, 0, 'r'},        {"steps", required_argument, 0, 'n'}, {"threads", required_argument, 0, 't'},
        {"init", required_argument, 0, 'i'},    {"quiet", no_argument, 0, 'q'},       {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *config = NULL, *data = NULL, *out = NULL, *init = NULL;
    bool resume = false, quiet = false;
    long steps = 0, threads = 0;
    int c;
    while ((c = getopt_long(argc, argv, "c:d:o:n:t:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'd': data = optarg; break;
        case 'o': out = optarg; break;
        case 'r': resume = true; break;
        case 'i': init = optarg; break;
        case 'n':
            if (!cli_parse_int("train", "--steps", optarg, 1, 1000000000000L, &steps)) return CLI_BAD;
            break;
        case 't':
            if (!cli_parse_int("train", "--threads", optarg, 0, 4096, &threads)) return CLI_BAD;
            break;
        case 'q': quiet = true; break;
        case 'h': fputs(train_help, stdout); return CLI_OK;
        default: return cli_usage("train", "unknown option");
        }
    }
    if (optind != argc) return cli_usage("train", "unexpected argument \"%s\"", argv[optind]);
    if (!data) return cli_usage("train", "missing --data DIR|LIST.txt");
    if (!out) return cli_usage("train", "missing --out RUN_DIR");
    if (!config && !resume) return cli_usage("train", "missing --config C.json");
    char *text = NULL;
    size_t len;
    wg_error err = {0};
    if (config && wg_read_file(config, 1 << 20, &text, &len, &err)) return cli_error("train", &err);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL); /* mpirun forwards it to every rank; its SIGINT/SIGTERM kill soon after */
    cli_dist dist;
    if (cli_dist_start(&dist)) {
        free(text);
        return CLI_BAD;
    }
    if (threads == 0 && dist.local_size > 1) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores / dist.local_size > 1 ? cores / dist.local_size : 1;
    }
    ui u = {.tty = isatty(STDERR_FILENO), .quiet = quiet, .log_every = 50};
    /* a run takes hours: a pinned slower GEMM costs most of them (--version says it too) */
    const char *pinned = cli_blas_pinned_below_avx512();
    if (pinned && !quiet && dist.comm.rank == 0)
        fprintf(stderr,
                "waveglow train: note: OPENBLAS_CORETYPE=%s holds OpenBLAS to kernels without AVX-512 on a CPU that "
                "has it; unset it for OpenBLAS's own choice, about twice as fast a GEMM\n",
                pinned);
    wg_train_request req = {.config_json = text, .config_source = config, .data = data, .run_dir = out,
                            .resume = resume, .init_model = init, .steps = steps, .threads = (int)threads,
                            .comm = dist.comm.size > 1 ? &dist.comm : NULL};
    wg_train_hooks hooks = {.log = log_line, .progress = show_progress, .should_stop = should_stop, .user = &u};
    int rc = wg_train(&req, &hooks, &err);
    if (u.line_open) fputc('\n', stderr);
    free(text);
    if (rc) {
        if (dist.comm.rank > 0) /* the message names the rank; the others must not wait for it */
            fprintf(stderr, "waveglow train (rank %d): %s\n", dist.comm.rank, err.message);
        else
            cli_error("train", &err);
        cli_dist_abort(&dist, CLI_BAD);
        return CLI_BAD;
    }
    cli_dist_finish(&dist);
    return CLI_OK;
}

static const char *export_help =
    "usage: waveglow export RUN_DIR|CHECKPOINT -o MODEL.safetensors [--synthesis-sigma S]\n\n"
    "Writes a model file from a training checkpoint (a run directory means its newest good one):\n"
    "weight norm folded into plain weights, optimiser state dropped, the config embedded.\n\n"
    "  -o, --output M            the model file (written atomically)\n"
    "      --synthesis-sigma S   record S as the model's latent temperature, the default of\n"
    "                            `vocode` and `play` with this model (otherwise 0.6)\n"
    "  -h, --help                this text\n";

int cmd_export(int argc, char **argv) {
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"synthesis-sigma", required_argument, 0, 's'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *out = NULL;
    double sigma = 0;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 's':
            if (!cli_parse_float("export", "--synthesis-sigma", optarg, 1e-3, WG_MAX_SYNTHESIS_SIGMA, &sigma))
                return CLI_BAD;
            break;
        case 'h': fputs(export_help, stdout); return CLI_OK;
        default: return cli_usage("export", "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage("export", "expected one run directory or checkpoint");
    if (!out) return cli_usage("export", "missing -o MODEL.safetensors");
    wg_error err = {0};
    if (wg_export_checkpoint(argv[optind], out, sigma, &err)) return cli_error("export", &err);
    printf("%s -> %s\n", argv[optind], out);
    return CLI_OK;
}
