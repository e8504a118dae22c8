/* cmd_play.c — `waveglow play`: real-time synthesis to the sound card through PortAudio.
 * A synthesis thread pushes mel frames into a wg_stream and moves the audio into a lock-free
 * ring; the PortAudio callback is wg_playout_fill and nothing else (no allocation, lock, I/O or
 * PortAudio call). Playback starts after a prebuffer, which is enlarged when a measurement of
 * the model's speed on this machine says it cannot keep up. */
#include <alsa/asoundlib.h>
#include <getopt.h>
#include <jack/jack.h>
#include <math.h>
#include <portaudio.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "playout.h"
#include "ring.h"

static const char *help =
    "usage: waveglow play --model M IN.(wav|npy)|- [--device N|NAME] [--list-devices] [--latency MS]\n"
    "                     [--context MS|exact] [--chunk MS] [--seed N] [--sigma S] [--threads N] [--quiet]\n\n"
    "Synthesises and plays speech as it is made. IN is a mel .npy (n_mel, frames), an audio file\n"
    "(its mel is computed first), or - for raw little-endian float32 mel frames on standard input,\n"
    "n_mel values per frame, as a TTS front end produces them. Ctrl-C stops at once. At the end\n"
    "the underruns and the real-time factor achieved are reported.\n\n"
    "  -m, --model M        model file (.safetensors)\n"
    "  -D, --device N|NAME  output device by index or by (part of its) name; default: the system's\n"
    "      --list-devices   list the output devices and exit\n"
    "  -l, --latency MS     output latency asked of the device (default: its own low latency)\n"
    CLI_STREAM_HELP(" ")
    "      --seed N         latent seed (default 0)\n"
    "  -s, --sigma S        latent temperature (default: the model file's synthesis_sigma, else 0.6)\n"
    "  -t, --threads N      synthesis threads (default: all cores)\n"
    "  -q, --quiet          only errors\n"
    "  -h, --help           this text\n";

static atomic_bool stop_requested;
static void on_signal(int sig) {
    (void)sig;
    atomic_store(&stop_requested, true);
}

/* ALSA and JACK print to stderr while PortAudio probes them; a machine without a sound card
 * would greet the user with a page of it. Their own hooks silence them. */
static void alsa_silent(const char *file, int line, const char *function, int err, const char *fmt, ...) {
    (void)file, (void)line, (void)function, (void)err, (void)fmt;
}
static void jack_silent(const char *msg) { (void)msg; }

static void quiet_audio_stack(void) {
    snd_lib_error_set_handler(alsa_silent);
    jack_set_error_function(jack_silent);
    jack_set_info_function(jack_silent);
}

/* PortAudio 19.6 (Debian 12) asserts in BuildDeviceList when ALSA has no card and no PCM
 * definition at all (PortAudio issue #294), killing the process inside Pa_Initialize; ask ALSA
 * first, so that case is the clear "no device" error it should be. */
static bool alsa_has_devices(void) {
    int card = -1, cards = 0, pcms = 0;
    while (snd_card_next(&card) == 0 && card >= 0) cards++;
    snd_config_t *node;
    if (snd_config_update() >= 0 && snd_config && snd_config_search(snd_config, "pcm", &node) == 0) {
        snd_config_iterator_t i, next;
        snd_config_for_each(i, next, node) pcms++;
    }
    return cards + pcms > 0;
}

static PaError start_portaudio(void) {
    if (!alsa_has_devices()) return paNoDevice;
    return Pa_Initialize();
}

typedef struct producer {
    const wg_model *model;
    wg_stream_params sp;
    const wg_array *mel; /* NULL: frames from stdin */
    wg_ring *ring;
    wg_playout *playout;
    size_t samples_made;
    double synth_seconds; /* time inside push/finish */
    int error;
    char message[1100];
} producer;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Up to `max` whole frames of M floats from fd into buf, waiting in 50 ms slices so a stop is
 * noticed; a partial frame is kept for the next call in *held (bytes). 0 at end of input. */
static size_t read_frames(int fd, unsigned char *buf, size_t *held, size_t max, size_t M) {
    size_t frame = M * sizeof(float), want = max * frame;
    while (!atomic_load(&stop_requested)) {
        if (*held >= frame) break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) <= 0) continue;
        ssize_t r = read(fd, buf + *held, want - *held);
        if (r <= 0) break; /* end of input (a trailing partial frame is dropped) */
        *held += (size_t)r;
    }
    size_t k = *held / frame;
    return k > max ? max : k;
}

/* moves everything the stream has ready into the ring, waiting while the ring is full */
static void drain(producer *p, wg_stream *s, float *buf, size_t cap) {
    size_t n;
    while ((n = wg_stream_pull(s, buf, cap)) > 0) {
        size_t off = 0;
        while (off < n && !atomic_load(&stop_requested)) {
            off += wg_ring_write(p->ring, buf + off, n - off);
            if (off < n) usleep(2000);
        }
        p->samples_made += n;
    }
}

static void *produce(void *arg) {
    producer *p = arg;
    wg_error err = {0};
    wg_stream *s = NULL;
    size_t M = (size_t)wg_model_config(p->model)->n_mel_channels, cap = 1 << 14;
    float *buf = malloc(cap * sizeof(float)), *frames = malloc(M * 8 * sizeof(float)), *fm = malloc(M * 8 * sizeof(float));
    if (!buf || !frames || !fm || wg_stream_create(p->model, &p->sp, &s, &err)) {
        p->error = 1;
        snprintf(p->message, sizeof p->message, "%s", err.message[0] ? err.message : "out of memory");
        goto done;
    }
    size_t pos = 0, held = 0;
    while (!atomic_load(&stop_requested)) {
        size_t k;
        const float *src;
        size_t ld;
        if (p->mel) {
            size_t F = p->mel->shape[1];
            if (pos >= F) break;
            k = F - pos < 8 ? F - pos : 8;
            src = p->mel->data + pos, ld = F;
        } else { /* frame-major on stdin → (n_mel, k) */
            k = read_frames(STDIN_FILENO, (unsigned char *)fm, &held, 8, M);
            if (k == 0) break;
            for (size_t f = 0; f < k; f++)
                for (size_t b = 0; b < M; b++) frames[b * k + f] = fm[f * M + b];
            size_t used = k * M * sizeof(float);
            memmove(fm, (unsigned char *)fm + used, held - used);
            held -= used;
            src = frames, ld = k;
        }
        double t0 = now();
        int rc = wg_stream_push(s, src, k, ld, &err);
        p->synth_seconds += now() - t0;
        if (rc) {
            p->error = 1;
            snprintf(p->message, sizeof p->message, "frame %zu: %s", pos, err.message);
            goto done;
        }
        pos += k;
        drain(p, s, buf, cap);
    }
    if (!atomic_load(&stop_requested)) {
        double t0 = now();
        wg_stream_finish(s, &err);
        p->synth_seconds += now() - t0;
        drain(p, s, buf, cap);
    }
done:
    atomic_store_explicit(&p->playout->producer_done, true, memory_order_release);
    wg_stream_free(s);
    free(buf), free(frames), free(fm);
    return NULL;
}

static int pa_callback(const void *in, void *out, unsigned long n, const PaStreamCallbackTimeInfo *t,
                       PaStreamCallbackFlags flags, void *user) {
    (void)in, (void)t;
    wg_playout_fill(user, out, n, (flags & paOutputUnderflow) != 0);
    return paContinue;
}

static int list_devices(void) {
    int n = Pa_GetDeviceCount(), shown = 0;
    for (int i = 0; i < n; i++) {
        const PaDeviceInfo *d = Pa_GetDeviceInfo(i);
        if (!d || d->maxOutputChannels < 1) continue;
        printf("%3d  %-40s %-8s %g Hz%s\n", i, d->name, Pa_GetHostApiInfo(d->hostApi)->name, d->defaultSampleRate,
               i == Pa_GetDefaultOutputDevice() ? "  (default)" : "");
        shown++;
    }
    if (!shown) printf("no audio output devices\n");
    return CLI_OK;
}

static int find_device(const char *spec) {
    if (!spec) return Pa_GetDefaultOutputDevice();
    char *end;
    long idx = strtol(spec, &end, 10);
    int n = Pa_GetDeviceCount();
    if (*spec && !*end) return idx >= 0 && idx < n ? (int)idx : paNoDevice;
    for (int i = 0; i < n; i++) {
        const PaDeviceInfo *d = Pa_GetDeviceInfo(i);
        if (d && d->maxOutputChannels > 0 && strstr(d->name, spec)) return i;
    }
    return paNoDevice;
}

/* Real-time factor of this model on this machine: a second of silence through a stream. */
/* the real-time factor of the stream as it will run (same context, chunk and threads) */
static double measure_speed(const wg_model *m, const wg_stream_params *params) {
    const wg_config *c = wg_model_config(m);
    size_t frames = (size_t)c->sampling_rate / (size_t)c->hop_length + 1, M = (size_t)c->n_mel_channels;
    float *mel = malloc(M * frames * sizeof(float)), *out = malloc(frames * (size_t)c->hop_length * sizeof(float));
    wg_stream_params sp = *params;
    wg_stream *s;
    double rtf = 0;
    if (mel && out && !wg_stream_create(m, &sp, &s, NULL)) {
        for (size_t i = 0; i < M * frames; i++) mel[i] = -11.5f; /* log(1e-5): silence */
        double t0 = now();
        wg_stream_push(s, mel, frames, frames, NULL);
        wg_stream_finish(s, NULL);
        double dt = now() - t0;
        size_t n = wg_stream_pull(s, out, frames * (size_t)c->hop_length);
        rtf = dt > 0 ? (double)n / c->sampling_rate / dt : 1e9;
        wg_stream_free(s);
    }
    free(mel), free(out);
    return rtf;
}

int cmd_play(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},  {"device", required_argument, 0, 'D'},
        {"list-devices", no_argument, 0, 'L'}, {"latency", required_argument, 0, 'l'},
        {"context", required_argument, 0, 'C'}, {"chunk", required_argument, 0, 'K'}, {"seed", required_argument, 0, 'S'},
        {"sigma", required_argument, 0, 's'},  {"threads", required_argument, 0, 't'},
        {"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *model_path = NULL, *device = NULL;
    bool list = false, quiet = false;
    double latency_ms = -1, context_ms = CLI_STREAM_CONTEXT_MS, chunk_ms = CLI_STREAM_CHUNK_MS, sigma = -1;
    long seed = 0, threads = 0;
    int c;
    while ((c = getopt_long(argc, argv, "m:D:l:s:t:qh", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'D': device = optarg; break;
        case 'L': list = true; break;
        case 'l': ok = cli_parse_float("play", "--latency", optarg, 0, 10000, &latency_ms); break;
        case 'C': ok = cli_parse_context("play", optarg, &context_ms); break;
        case 'K': ok = cli_parse_chunk("play", optarg, &chunk_ms); break;
        case 'S': ok = cli_parse_int("play", "--seed", optarg, 0, 0x7fffffffffffffffL, &seed); break;
        case 's': ok = cli_parse_float("play", "--sigma", optarg, 0, 100, &sigma); break;
        case 't': ok = cli_parse_int("play", "--threads", optarg, 0, 4096, &threads); break;
        case 'q': quiet = true; break;
        case 'h': fputs(help, stdout); return CLI_OK;
        default: return cli_usage("play", "unknown option");
        }
        if (!ok) return CLI_BAD;
    }
    /* from here on Ctrl-C is a clean stop, whatever the program is doing */
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    quiet_audio_stack();
    if (list) {
        PaError e = start_portaudio();
        if (e == paNoDevice) {
            printf("no audio output devices\n");
            return CLI_OK;
        }
        if (e != paNoError) {
            fprintf(stderr, "waveglow play: PortAudio could not start: %s\n", Pa_GetErrorText(e));
            return CLI_BAD;
        }
        int rc = list_devices();
        Pa_Terminate();
        return rc;
    }
    if (optind != argc - 1) return cli_usage("play", "expected one input (audio, mel .npy, or - for stdin)");
    if (!model_path) return cli_usage("play", "missing --model M");
    const char *in = argv[optind];
    wg_config cfg;
    wg_model *model = NULL;
    int rc = cli_load_config("play", model_path, NULL, &cfg, &model);
    if (rc) return rc;
    wg_array mel = {0};
    bool from_stdin = !strcmp(in, "-");
    if (!from_stdin && (rc = cli_load_mel("play", in, model, quiet, &mel, NULL))) {
        wg_model_free(model);
        return rc;
    }
    /* can this machine keep up? */
    wg_stream_params sp = wg_stream_default_params();
    sp.sigma = (float)cli_sigma(model, sigma), sp.seed = (uint64_t)seed, sp.context_ms = context_ms, sp.n_threads = (int)threads;
    sp.chunk_steps = cli_chunk_steps(&cfg, chunk_ms);
    double rtf = measure_speed(model, &sp), total_s = from_stdin ? 0 : (double)mel.shape[1] * cfg.hop_length / cfg.sampling_rate;
    double prebuffer_s = latency_ms > 0 ? fmax(0.2, 2 * latency_ms / 1000) : 0.2;
    if (rtf < 1.2) {
        if (from_stdin) {
            fprintf(stderr, "waveglow play: warning: this model runs at %.2fx real time here; expect underruns\n", rtf);
        } else {
            prebuffer_s = fmax(prebuffer_s, fmin(total_s, total_s * (1 - rtf / 1.2) + 0.2));
            fprintf(stderr, "waveglow play: this model runs at %.2fx real time here; prebuffering %.1f s\n", rtf,
                    prebuffer_s);
        }
    }
    wg_ring ring;
    size_t ring_size = (size_t)((prebuffer_s + 2.0) * cfg.sampling_rate);
    if (wg_ring_init(&ring, ring_size)) {
        fprintf(stderr, "waveglow play: out of memory\n");
        wg_array_free(&mel);
        wg_model_free(model);
        return CLI_BAD;
    }
    wg_playout playout;
    wg_playout_init(&playout, &ring);
    PaStream *pa = NULL;
    bool pa_up = false, thread_up = false;
    pthread_t thread;
    producer prod = {.model = model, .mel = from_stdin ? NULL : &mel, .ring = &ring, .playout = &playout};
    prod.sp = sp;

    PaError pe = start_portaudio();
    if (pe != paNoError && pe != paNoDevice) {
        fprintf(stderr, "waveglow play: PortAudio could not start: %s\n", Pa_GetErrorText(pe));
        rc = CLI_BAD;
        goto done;
    }
    pa_up = pe == paNoError;
    int dev = pa_up ? find_device(device) : paNoDevice;
    if (dev == paNoDevice) {
        if (device)
            fprintf(stderr, "waveglow play: no output device \"%s\" (see --list-devices)\n", device);
        else
            fprintf(stderr, "waveglow play: no audio output device (PortAudio found none); "
                            "write a file with `waveglow vocode -o OUT.wav` instead\n");
        rc = CLI_BAD;
        goto done;
    }
    const PaDeviceInfo *info = Pa_GetDeviceInfo(dev);
    PaStreamParameters op = {.device = dev, .channelCount = 1, .sampleFormat = paFloat32,
                             .suggestedLatency = latency_ms > 0 ? latency_ms / 1000 : info->defaultLowOutputLatency};
    pe = Pa_OpenStream(&pa, NULL, &op, cfg.sampling_rate, paFramesPerBufferUnspecified, paNoFlag, pa_callback, &playout);
    if (pe != paNoError) {
        fprintf(stderr, "waveglow play: cannot open \"%s\" at %d Hz: %s\n", info->name, cfg.sampling_rate,
                Pa_GetErrorText(pe));
        rc = CLI_BAD;
        goto done;
    }
    if (atomic_load(&stop_requested)) /* Ctrl-C while loading: nothing to play, a clean stop */
        goto done;
    if (pthread_create(&thread, NULL, produce, &prod)) {
        fprintf(stderr, "waveglow play: cannot start the synthesis thread\n");
        rc = CLI_BAD;
        goto done;
    }
    thread_up = true;
    double t_start = now();
    size_t pre = (size_t)(prebuffer_s * cfg.sampling_rate);
    while (!atomic_load(&stop_requested) && wg_ring_readable(&ring) < pre &&
           !atomic_load_explicit(&playout.producer_done, memory_order_acquire))
        usleep(5000);
    if (!atomic_load(&stop_requested)) {
        if ((pe = Pa_StartStream(pa)) != paNoError) {
            fprintf(stderr, "waveglow play: cannot start playback: %s\n", Pa_GetErrorText(pe));
            atomic_store(&stop_requested, true);
            rc = CLI_BAD;
        }
        if (!quiet && !rc)
            fprintf(stderr, "waveglow play: playing on \"%s\" (%d Hz, latency %.0f ms)\n", info->name,
                    cfg.sampling_rate, 1000 * Pa_GetStreamInfo(pa)->outputLatency);
    }
    while (!atomic_load(&stop_requested) && !atomic_load_explicit(&playout.drained, memory_order_acquire))
        usleep(10000);
    if (atomic_load(&stop_requested))
        Pa_AbortStream(pa); /* at once: Ctrl-C means now */
    else if (Pa_IsStreamActive(pa) == 1)
        Pa_StopStream(pa); /* let the device play out its buffers */
    pthread_join(thread, NULL);
    thread_up = false;
    if (prod.error) {
        fprintf(stderr, "waveglow play: %s: %s\n", in, prod.message);
        rc = CLI_BAD;
    } else if (!quiet) {
        double made = (double)prod.samples_made / cfg.sampling_rate;
        fprintf(stderr, "waveglow play: %s %.2f s of %.2f s synthesised; synthesis ran at %.2fx real time; "
                        "underruns: %zu (ring empty), %zu (device)\n",
                atomic_load(&stop_requested) ? "stopped after" : "played", now() - t_start, made,
                prod.synth_seconds > 0 ? made / prod.synth_seconds : 0.0, atomic_load(&playout.underruns),
                atomic_load(&playout.device_underflows));
    }
done:
    if (thread_up) {
        atomic_store(&stop_requested, true);
        pthread_join(thread, NULL);
    }
    if (pa) Pa_CloseStream(pa);
    if (pa_up) Pa_Terminate();
    wg_ring_free(&ring);
    wg_array_free(&mel);
    wg_model_free(model);
    return rc;
}
