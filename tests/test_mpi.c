/* test_mpi.c — data-parallel training under mpirun: 2 ranks × batch B end with the weights of one
 * process × batch 2B (up to summation order), while a run on different data does not; a run
 * resumes on a different number of ranks; SIGUSR1 to mpirun stops every rank after a checkpoint;
 * a killed rank ends the job with mpirun's report, not a hang, and the last checkpoint resumes. */
#include <dirent.h>
#include <signal.h>
#include <time.h>

#include "safetensors.h"
#include "testutil.h"

static char out[1 << 16];

#ifdef WG_MPIEXEC

static const char *config_fmt =
    "{\"train_config\": {\"sigma\": 1.0, \"learning_rate\": 1e-3, \"batch_size\": %d, \"iters_per_checkpoint\": %d,"
    " \"seed\": 7, \"validation_fraction\": 0.3, \"grad_clip\": 100, \"dequantize\": 3e-5},"
    " \"data_config\": {\"segment_length\": 2048, \"sampling_rate\": 16000, \"filter_length\": 1024,"
    " \"hop_length\": 256, \"win_length\": 1024, \"mel_fmin\": 0.0, \"mel_fmax\": 8000.0},"
    " \"waveglow_config\": {\"n_mel_channels\": 16, \"n_flows\": 4, \"n_group\": 8, \"n_early_every\": 2,"
    " \"n_early_size\": 2, \"WN_config\": {\"n_layers\": 3, \"n_channels\": 16, \"kernel_size\": 3}}}";

static const char *config(int batch, int every) {
    static char paths[8][512];
    static int n;
    char *p = paths[n++ % 8], name[64];
    snprintf(name, sizeof name, "b%d_e%d.json", batch, every);
    tmp_path(p, 512, name);
    FILE *fp = fopen(p, "w");
    fprintf(fp, config_fmt, batch, every);
    fclose(fp);
    return p;
}

/* mpirun as root needs its consent; --oversubscribe lets 2 ranks share fewer cores. Under ASan the
 * ranks skip leak checking: Open MPI's plugins leak by design from code it has unloaded, which no
 * suppression can name; the trainer's own leaks are checked by the one-process tests (test_train). */
#ifdef WG_SANITIZED
#define LEAKS "ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 "
#else
#define LEAKS ""
#endif
#define MPIRUN LEAKS "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " WG_MPIEXEC " -np 2 --oversubscribe "

static int mpi_train(const char *args_fmt, ...) __attribute__((format(printf, 1, 2)));
static int mpi_train(const char *args_fmt, ...) {
    char args[4096], log[512];
    va_list ap;
    va_start(ap, args_fmt);
    vsnprintf(args, sizeof args, args_fmt, ap);
    va_end(ap);
    tmp_path(log, sizeof log, "mpi.log");
    int rc = sh(MPIRUN "%s train %s >%s 2>&1", WG_CLI_PATH, args, log);
    FILE *fp = fopen(log, "r");
    size_t got = fp ? fread(out, 1, sizeof out - 1, fp) : 0;
    out[got] = '\0';
    if (fp) fclose(fp);
    printf("%s", out);
    return rc;
}

/* the largest difference between two checkpoints' weights, relative to each tensor's largest value */
static double weight_distance(const char *run_a, const char *run_b, long step) {
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/ckpt-%08ld.safetensors", run_a, step);
    snprintf(pb, sizeof pb, "%s/ckpt-%08ld.safetensors", run_b, step);
    wg_st_file a, b;
    wg_error err = {0};
    assert_int_equal(wg_st_read(pa, &a, &err), 0);
    assert_int_equal(wg_st_read(pb, &b, &err), 0);
    assert_int_equal(a.n_tensors, b.n_tensors);
    double worst = 0;
    int compared = 0;
    for (int i = 0; i < a.n_tensors; i++) {
        const wg_st_tensor *ta = &a.tensors[i], *tb = wg_st_find(&b, ta->name);
        assert_non_null(tb);
        assert_int_equal(ta->numel, tb->numel);
        if (strncmp(ta->name, "theta/", 6)) continue;
        float *x = malloc(ta->numel * sizeof(float)), *y = malloc(ta->numel * sizeof(float));
        assert_int_equal(wg_st_copy(&a, ta, x, NULL), 0);
        assert_int_equal(wg_st_copy(&b, tb, y, NULL), 0);
        double diff = 0, scale = 1e-12;
        for (size_t j = 0; j < ta->numel; j++) {
            diff = fmax(diff, fabs((double)x[j] - y[j]));
            scale = fmax(scale, fabs((double)x[j]));
        }
        worst = fmax(worst, diff / scale);
        compared++;
        free(x), free(y);
    }
    assert_true(compared > 10);
    wg_st_close(&a), wg_st_close(&b);
    return worst;
}

/* the reference: one process, batch 4, 6 steps (run once, shared by the tests) */
static const char *reference_run(void) {
    static char one[512];
    if (!one[0]) {
        tmp_path(one, sizeof one, "one");
        assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --steps 6 -t 1 -q",
                                 config(4, 3), WG_SOURCE_DIR, one),
                         0);
    }
    return one;
}

static void test_two_ranks_equal_one_process_with_twice_the_batch(void **state) {
    (void)state;
    char two[512], half[512];
    const char *one = reference_run();
    tmp_path(two, sizeof two, "two");
    tmp_path(half, sizeof half, "half");
    assert_int_equal(mpi_train("--config %s --data %s/audio --out %s --steps 6 -q", config(2, 3), WG_SOURCE_DIR, two), 0);
    assert_non_null(strstr(out, "2 ranks, each 2 items a step (a global batch of 4)"));
    /* only rank 0 talks: one data line, not two */
    assert_null(strstr(strstr(out, "training files") + 1, "training files"));
    /* one process with batch 2 sees half the data: the control that shows the tolerance means something */
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --steps 6 -t 1 -q",
                             config(2, 3), WG_SOURCE_DIR, half),
                     0);
    double same = weight_distance(one, two, 6), other = weight_distance(one, half, 6);
    printf("2 ranks x 2 vs 1 x 4 after 6 steps: %.3g relative; 1 x 2 vs 1 x 4: %.3g\n", same, other);
    assert_true(same < 1e-4);
    assert_true(other > 1e-2);
    /* the validation NLL, shared out among the ranks, is the one process's */
    char csv1[600], csv2[600], a[256], b[256];
    snprintf(csv1, sizeof csv1, "%s/train.csv", one);
    snprintf(csv2, sizeof csv2, "%s/train.csv", two);
    FILE *f1 = fopen(csv1, "r"), *f2 = fopen(csv2, "r");
    int rows = 0;
    while (fgets(a, sizeof a, f1) && fgets(b, sizeof b, f2)) {
        if (rows++ == 0) continue;
        double la, lb, va = NAN, vb = NAN;
        long sa, sb;
        assert_true(sscanf(a, "%ld,%lf,%lf", &sa, &la, &va) >= 2);
        assert_true(sscanf(b, "%ld,%lf,%lf", &sb, &lb, &vb) >= 2);
        assert_int_equal(sa, sb);
        assert_true(fabs(la - lb) <= 1e-5 * fmax(1, fabs(la)));
        if (va == va) assert_true(fabs(va - vb) <= 1e-5 * fmax(1, fabs(va)));
    }
    fclose(f1), fclose(f2);
    assert_int_equal(rows, 7);
}

static void test_resume_on_another_number_of_ranks(void **state) {
    (void)state;
    char up[512], down[512];
    const char *one = reference_run();
    tmp_path(up, sizeof up, "up");
    tmp_path(down, sizeof down, "down");
    /* 1 process then 2 ranks, and 2 ranks then 1 process, each with a global batch of 4 */
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --steps 3 -t 1 -q",
                             config(4, 3), WG_SOURCE_DIR, up),
                     0);
    assert_int_equal(mpi_train("--config %s --data %s/audio --out %s --resume --steps 6 -q", config(2, 3),
                               WG_SOURCE_DIR, up),
                     0);
    assert_non_null(strstr(out, "resuming"));
    assert_int_equal(mpi_train("--config %s --data %s/audio --out %s --steps 3 -q", config(2, 3), WG_SOURCE_DIR, down), 0);
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --resume --steps 6 -t 1 -q",
                             config(4, 3), WG_SOURCE_DIR, down),
                     0);
    double du = weight_distance(one, up, 6), dd = weight_distance(one, down, 6);
    printf("1 -> 2 ranks: %.3g, 2 ranks -> 1: %.3g relative to 1 process throughout\n", du, dd);
    assert_true(du < 1e-4 && dd < 1e-4);
}

/* the pid of rank `rank` of the waveglow processes training into `run`, or 0 */
static int find_rank(const char *run, int rank) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    char want[64];
    int want_len = snprintf(want, sizeof want, "OMPI_COMM_WORLD_RANK=%d", rank), found = 0;
    while (!found && (e = readdir(d))) {
        int pid = atoi(e->d_name);
        if (pid <= 0) continue;
        char path[64], buf[1 << 15];
        snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
        FILE *fp = fopen(path, "r");
        if (!fp) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, fp);
        fclose(fp);
        buf[n] = '\0';
        const char *base = strrchr(buf, '/') ? strrchr(buf, '/') + 1 : buf; /* argv[0] */
        bool ours = !strcmp(base, "waveglow");
        for (size_t i = 0; i < n; i++)
            if (!buf[i]) buf[i] = ' ';
        if (!ours || !strstr(buf, run)) continue;
        snprintf(path, sizeof path, "/proc/%d/environ", pid);
        if (!(fp = fopen(path, "r"))) continue;
        n = fread(buf, 1, sizeof buf - 1, fp);
        fclose(fp);
        for (size_t i = 0; i + want_len <= n && !found; i += strlen(buf + i) + 1)
            if (!strncmp(buf + i, want, (size_t)want_len) && !buf[i + want_len]) found = pid;
    }
    closedir(d);
    return found;
}

/* the newest checkpoint's step, or -1 */
static long newest_checkpoint(const char *run) {
    DIR *d = opendir(run);
    if (!d) return -1;
    struct dirent *e;
    long best = -1;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "ckpt-", 5) && !strstr(e->d_name, ".tmp.")) best = fmax(best, atol(e->d_name + 5));
    closedir(d);
    return best;
}

static int count_checkpoints(const char *run) {
    DIR *d = opendir(run);
    if (!d) return 0;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) n += !strncmp(e->d_name, "ckpt-", 5) && !strstr(e->d_name, ".tmp.");
    closedir(d);
    return n;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* A rollback on 2 ranks: rank 0 reads the last good checkpoint and every rank continues from it.
 * The weight hash compared before each checkpoint fails the run if any rank kept other weights. */
static void test_ranks_roll_back_together(void **state) {
    (void)state;
    char cfg[512], run[512], body[4096];
    FILE *fp = fopen(config(2, 4), "r");
    size_t n = fread(body, 1, sizeof body - 1, fp);
    fclose(fp);
    body[n] = '\0';
    tmp_path(cfg, sizeof cfg, "blowup.json");
    fp = fopen(cfg, "w"); /* a learning rate this large blows the flows up within a few steps */
    char *lr = strstr(body, "1e-3"), *clip = strstr(body, "\"grad_clip\": 100");
    assert_non_null(lr);
    assert_non_null(clip);
    fprintf(fp, "%.*s5.0%.*s\"grad_clip\": 0, \"max_bad_steps\": 2%s", (int)(lr - body), body, (int)(clip - lr - 4),
            lr + 4, clip + strlen("\"grad_clip\": 100"));
    fclose(fp);
    tmp_path(run, sizeof run, "blowup");
    assert_int_equal(mpi_train("--config %s --data %s/audio --out %s --steps 12 -q", cfg, WG_SOURCE_DIR, run), 0);
    assert_non_null(strstr(out, "rolled back to step 4's checkpoint"));
    char last[600];
    snprintf(last, sizeof last, "%s/ckpt-00000012.safetensors", run);
    assert_true(access(last, F_OK) == 0);
}

/* starts a long 2-rank run in the background; returns the shell's pid (mpirun's parent) */
static pid_t start_long_run(const char *run, const char *log) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, MPIRUN "%s train --config %s --data %s/audio --out %s --steps 1000000 -q >%s 2>&1",
             WG_CLI_PATH, config(2, 3), WG_SOURCE_DIR, run, log);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int wait_for(pid_t pid, double limit_s, int *status) {
    double t0 = now();
    while (now() - t0 < limit_s) {
        if (waitpid(pid, status, WNOHANG) == pid) return 1;
        usleep(20000);
    }
    return 0;
}

static void read_log(const char *log) {
    FILE *fp = fopen(log, "r");
    size_t got = fp ? fread(out, 1, sizeof out - 1, fp) : 0;
    out[got] = '\0';
    if (fp) fclose(fp);
    printf("%s", out);
}

/* a long 2-rank run in run/ (named `name`) started, and waited for until it has n checkpoints */
static pid_t start_until_checkpoints(const char *name, char run[512], char log[512], int n) {
    char log_name[64];
    snprintf(log_name, sizeof log_name, "%s.log", name);
    tmp_path(run, 512, name);
    tmp_path(log, 512, log_name);
    pid_t sh_pid = start_long_run(run, log);
    double t0 = now();
    while (count_checkpoints(run) < n && now() - t0 < 60) usleep(50000);
    assert_true(count_checkpoints(run) >= n);
    return sh_pid;
}

/* waits up to a minute for the run to end (then kills it), and reads its log into out */
static bool wait_and_read_log(pid_t sh_pid, const char *log, int *status) {
    bool ended = wait_for(sh_pid, 60, status);
    if (!ended) kill(-sh_pid, SIGKILL), waitpid(sh_pid, status, 0);
    read_log(log);
    return ended;
}

static void test_killed_rank_ends_the_job(void **state) {
    (void)state;
    char run[512], log[512];
    pid_t sh_pid = start_until_checkpoints("killed", run, log, 2);
    int victim = find_rank(run, 1);
    assert_true(victim > 0);
    assert_int_not_equal(victim, find_rank(run, 0));
    kill(victim, SIGKILL);
    double killed_at = now();
    int status;
    bool ended = wait_and_read_log(sh_pid, log, &status);
    printf("the job ended %.2f s after rank 1 was killed\n", now() - killed_at);
    assert_true(ended);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    assert_non_null(strstr(out, "rank 1"));
    assert_non_null(strstr(out, "signal 9"));
    assert_int_equal(find_rank(run, 0), 0); /* rank 0 is gone too */
    /* the newest checkpoint is whole: one process resumes from it */
    long last = newest_checkpoint(run);
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --resume --steps %ld -t 1 -q",
                             config(4, 3), WG_SOURCE_DIR, run, last + 1),
                     0);
    assert_non_null(strstr(out, "resuming"));
    char model[600];
    snprintf(model, sizeof model, "%s/model.safetensors", run);
    assert_int_equal(run_cli(out, sizeof out, "export %s -o %s", run, model), 0);
}

static void test_sigusr1_stops_every_rank_after_a_checkpoint(void **state) {
    (void)state;
    char run[512], log[512];
    pid_t sh_pid = start_until_checkpoints("usr1", run, log, 1);
    assert_int_equal(sh("pkill -USR1 -f '^" WG_MPIEXEC " -np 2 --oversubscribe .*%s'", run), 0);
    int status;
    bool ended = wait_and_read_log(sh_pid, log, &status);
    assert_true(ended);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *stop = strstr(out, "stopping at step ");
    assert_non_null(stop);
    long step = strtol(stop + strlen("stopping at step "), NULL, 10);
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt-%08ld.safetensors", run, step);
    assert_true(file_exists(ckpt));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_ranks_equal_one_process_with_twice_the_batch),
        cmocka_unit_test(test_resume_on_another_number_of_ranks),
        cmocka_unit_test(test_ranks_roll_back_together),
        cmocka_unit_test(test_killed_rank_ends_the_job),
        cmocka_unit_test(test_sigusr1_stops_every_rank_after_a_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

static void test_built_without_mpi(void **state) {
    (void)state;
    skip();
}

int main(void) {
    (void)out;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_built_without_mpi)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
