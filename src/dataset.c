/* dataset.c — see dataset.h. */
#define _GNU_SOURCE
#include "dataset.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "err.h"
#include "fileio.h"
#include "rng.h"

typedef struct path_list {
    char **p;
    int n, cap;
} path_list;

static int push(path_list *l, const char *path) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **p = realloc(l->p, (size_t)cap * sizeof *p);
        if (!p) return -1;
        l->p = p, l->cap = cap;
    }
    if (!(l->p[l->n] = strdup(path))) return -1;
    l->n++;
    return 0;
}

static void free_list(path_list *l) {
    for (int i = 0; i < l->n; i++) free(l->p[i]);
    free(l->p);
}

static int is_audio_name(const char *name) {
    static const char *ext[] = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au", ".opus"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t m = strlen(ext[i]);
        if (n > m && !strcasecmp(name + n - m, ext[i])) return 1;
    }
    return 0;
}

static int walk(const char *dir, path_list *l, int depth) {
    if (depth > 32) return 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st)) continue;
        if (S_ISDIR(st.st_mode))
            rc = walk(path, l, depth + 1);
        else if (S_ISREG(st.st_mode) && is_audio_name(e->d_name))
            rc = push(l, path);
    }
    closedir(d);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int read_list(const char *path, path_list *l, wg_error *err) {
    char *text;
    size_t len;
    int rc = wg_read_file(path, (size_t)64 << 20, &text, &len, err);
    if (rc) return rc;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *base = dirname(dir);
    int line_no = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        line_no++;
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        size_t n = strlen(s);
        while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
        if (!n || *s == '#') continue;
        if (memchr(s, '\0', n) || n > 4000) {
            free(text);
            return wg_fail(err, WG_EFORMAT, "%s: line %d is not a usable path", path, line_no);
        }
        char full[8200];
        snprintf(full, sizeof full, "%s%s%s", *s == '/' ? "" : base, *s == '/' ? "" : "/", s);
        if (push(l, full)) {
            free(text);
            return wg_fail(err, WG_ENOMEM, "%s: out of memory", path);
        }
    }
    free(text);
    return 0;
}

/* FNV-1a of the path: a split that does not move when other files come or go */
static int held_out(const char *path, double fraction) {
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    uint64_t h = 1469598103934665603ull;
    for (const char *c = name; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
    return (double)(h % 1000000) < fraction * 1e6;
}

int wg_dataset_load(const char *source, const wg_config *cfg, double val_fraction, wg_log_fn log, void *user,
                    wg_dataset *ds, wg_error *err) {
    memset(ds, 0, sizeof *ds);
    struct stat st;
    if (stat(source, &st)) return wg_fail(err, WG_EIO, "%s: cannot open: %s", source, strerror(errno));
    path_list l = {0};
    int rc = 0;
    if (S_ISDIR(st.st_mode)) {
        if (walk(source, &l, 0)) rc = wg_fail(err, WG_ENOMEM, "%s: out of memory listing files", source);
    } else {
        rc = read_list(source, &l, err);
    }
    if (rc) {
        free_list(&l);
        return rc;
    }
    if (l.n) /* qsort's pointer must not be NULL, even for zero elements */
        qsort(l.p, (size_t)l.n, sizeof *l.p, cmp_str);
    ds->train = calloc((size_t)l.n + 1, sizeof *ds->train);
    ds->val = calloc((size_t)l.n + 1, sizeof *ds->val);
    if (!ds->train || !ds->val) {
        free_list(&l);
        wg_dataset_free(ds);
        return wg_fail(err, WG_ENOMEM, "out of memory");
    }
    int n_skipped = 0, n_resampled = 0;
    char line[1400];
    for (int i = 0; i < l.n; i++) {
        wg_audio a;
        wg_error e = {0};
        if (wg_audio_read(l.p[i], cfg->sampling_rate, NULL, &a, &e)) {
            snprintf(line, sizeof line, "skipping %s", e.message);
            if (log) log(user, line);
            n_skipped++;
            continue;
        }
        if (a.source_rate != a.sample_rate) n_resampled++;
        int val = held_out(l.p[i], val_fraction);
        wg_clip *c = val ? &ds->val[ds->n_val++] : &ds->train[ds->n_train++];
        c->path = l.p[i];
        l.p[i] = NULL;
        c->samples = a.samples;
        c->n = a.n_samples;
        *(val ? &ds->val_samples : &ds->train_samples) += a.n_samples;
    }
    free_list(&l);
    if (n_resampled && log) {
        snprintf(line, sizeof line, "resampled %d files to %d Hz", n_resampled, cfg->sampling_rate);
        log(user, line);
    }
    if (ds->n_train == 0) {
        wg_dataset_free(ds);
        return wg_fail(err, WG_EINVAL, "%s: no readable training audio (%d files skipped)", source, n_skipped);
    }
    return 0;
}

void wg_dataset_free(wg_dataset *ds) {
    for (int i = 0; ds->train && i < ds->n_train; i++) free(ds->train[i].path), free(ds->train[i].samples);
    for (int i = 0; ds->val && i < ds->n_val; i++) free(ds->val[i].path), free(ds->val[i].samples);
    free(ds->train);
    free(ds->val);
    memset(ds, 0, sizeof *ds);
}

static uint64_t draw(uint64_t seed, uint32_t stream, uint64_t index, uint32_t word) {
    const uint32_t ctr[4] = {(uint32_t)index, (uint32_t)(index >> 32), stream, word};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t r[4];
    wg_philox4x32(ctr, key, r);
    return (uint64_t)r[0] << 32 | r[1];
}

enum { STREAM_EPOCH = 0x45504f43, STREAM_START = 0x53545254, STREAM_NOISE = 0x4e4f4953 };

int wg_dataset_batch(const wg_dataset *ds, const wg_config *cfg, uint64_t seed, long first_item, int batch,
                     double dequant, wg_mel *mel, int *perm, long *perm_epoch, float *audio, float *mels) {
    size_t S = (size_t)cfg->segment_length, frames = wg_mel_frames(mel, S), M = (size_t)cfg->n_mel_channels;
    for (int b = 0; b < batch; b++) {
        uint64_t pos = (uint64_t)first_item + (uint64_t)b;
        long epoch = (long)(pos / (uint64_t)ds->n_train);
        if (epoch != *perm_epoch) {
            for (int i = 0; i < ds->n_train; i++) perm[i] = i;
            for (int i = ds->n_train - 1; i > 0; i--) {
                int j = (int)(draw(seed, STREAM_EPOCH, (uint64_t)epoch, (uint32_t)i) % (uint64_t)(i + 1));
                int t = perm[i];
                perm[i] = perm[j], perm[j] = t;
            }
            *perm_epoch = epoch;
        }
        const wg_clip *c = &ds->train[perm[pos % (uint64_t)ds->n_train]];
        float *x = audio + (size_t)b * S;
        if (c->n >= S) {
            size_t start = (size_t)(draw(seed, STREAM_START, pos, 0) % (uint64_t)(c->n - S + 1));
            memcpy(x, c->samples + start, S * sizeof(float));
        } else {
            memcpy(x, c->samples, c->n * sizeof(float));
            memset(x + c->n, 0, (S - c->n) * sizeof(float));
        }
        int rc = wg_mel_compute(mel, x, S, mels + (size_t)b * M * frames, NULL);
        if (rc) return rc;
        if (dequant > 0)
            for (size_t i = 0; i < S; i++) {
                uint64_t r = draw(seed, STREAM_NOISE, pos, (uint32_t)i);
                x[i] += (float)(dequant * ((double)(r >> 11) * 0x1p-53 - 0.5));
            }
    }
    return 0;
}
