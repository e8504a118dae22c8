/* plot.c — `compare --png`: the two log-mel spectrograms and their difference, drawn with cairo:
 * three panels with time (s) and frequency (Hz, at mel band centres) axes, a colour bar each,
 * and the metrics in the title. The PNG is written atomically like every other output. */
#include "plot.h"

#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

enum { WIDTH = 1100, PANEL_H = 230, TOP = 70, GAP = 50, LEFT = 80, RIGHT = 110 };

/* viridis, sampled at 8 points and interpolated */
static void viridis(double t, double *r, double *g, double *b) {
    static const double c[8][3] = {{0.267, 0.005, 0.329}, {0.275, 0.194, 0.496}, {0.213, 0.359, 0.552},
                                   {0.153, 0.498, 0.558}, {0.122, 0.633, 0.531}, {0.288, 0.761, 0.428},
                                   {0.626, 0.855, 0.223}, {0.993, 0.906, 0.144}};
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double x = t * 7;
    int i = (int)x < 7 ? (int)x : 6;
    double f = x - i;
    *r = c[i][0] + f * (c[i + 1][0] - c[i][0]);
    *g = c[i][1] + f * (c[i + 1][1] - c[i][1]);
    *b = c[i][2] + f * (c[i + 1][2] - c[i][2]);
}

/* blue - white - red for signed differences */
static void diverging(double t, double *r, double *g, double *b) {
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    if (t < 0.5) {
        double f = t / 0.5;
        *r = 0.13 + f * 0.87, *g = 0.40 + f * 0.60, *b = 0.67 + f * 0.33;
    } else {
        double f = (t - 0.5) / 0.5;
        *r = 1.0 - f * 0.30, *g = 1.0 - f * 0.90, *b = 1.0 - f * 0.85;
    }
}

typedef void (*colormap)(double, double *, double *, double *);

static double mel_centre_hz(int band, int n_mel, double fmin, double fmax) {
    /* the Slaney scale: linear below 1 kHz, logarithmic above */
    const double f_sp = 200.0 / 3, min_log_hz = 1000, min_log_mel = min_log_hz / f_sp, step = log(6.4) / 27;
#define TO_MEL(f) ((f) >= min_log_hz ? min_log_mel + log((f) / min_log_hz) / step : (f) / f_sp)
    double lo = TO_MEL(fmin), hi = TO_MEL(fmax);
#undef TO_MEL
    double m = lo + (hi - lo) * (band + 1) / (n_mel + 1);
    return m >= min_log_mel ? min_log_hz * exp(step * (m - min_log_mel)) : f_sp * m;
}

static void text(cairo_t *cr, double x, double y, const char *s, double size, double align) {
    cairo_set_font_size(cr, size);
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - align * e.width, y);
    cairo_show_text(cr, s);
}

static void panel(cairo_t *cr, double y0, const float *data, int n_mel, size_t frames, double lo, double hi,
                  colormap cmap, const char *label, const char *bar_label, const plot_axes *ax) {
    double w = WIDTH - LEFT - RIGHT, h = PANEL_H;
    /* the data as an image, one pixel per (frame, band), scaled into the panel by cairo */
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)frames, n_mel);
    unsigned char *px = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    cairo_surface_flush(img);
    for (int b = 0; b < n_mel; b++)
        for (size_t f = 0; f < frames; f++) {
            double r, g, bl;
            cmap((data[(size_t)b * frames + f] - lo) / (hi - lo), &r, &g, &bl);
            uint32_t v = (uint32_t)(r * 255) << 16 | (uint32_t)(g * 255) << 8 | (uint32_t)(bl * 255);
            memcpy(px + (size_t)(n_mel - 1 - b) * (size_t)stride + f * 4, &v, 4); /* low bands at the bottom */
        }
    cairo_surface_mark_dirty(img);
    cairo_save(cr);
    cairo_translate(cr, LEFT, y0);
    cairo_scale(cr, w / (double)frames, h / n_mel);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_paint(cr);
    cairo_restore(cr);
    cairo_surface_destroy(img);
    /* frame, axes, ticks */
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, LEFT, y0, w, h);
    cairo_stroke(cr);
    double dur = (double)frames * ax->hop / ax->sample_rate;
    double steps[] = {0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600};
    double dt = steps[sizeof steps / sizeof steps[0] - 1];
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (dur / steps[i] <= 10) {
            dt = steps[i];
            break;
        }
    char buf[64];
    for (double t = 0; t <= dur + 1e-9; t += dt) {
        double x = LEFT + w * t / dur;
        cairo_move_to(cr, x, y0 + h), cairo_line_to(cr, x, y0 + h + 5);
        cairo_stroke(cr);
        snprintf(buf, sizeof buf, dt < 1 ? "%.2f" : "%.0f", t);
        text(cr, x, y0 + h + 17, buf, 11, 0.5);
    }
    text(cr, LEFT + w / 2, y0 + h + 32, "time (s)", 12, 0.5);
    for (int b = 0; b < n_mel; b += n_mel > 40 ? 16 : 8) {
        double y = y0 + h - h * (b + 0.5) / n_mel;
        cairo_move_to(cr, LEFT - 5, y), cairo_line_to(cr, LEFT, y);
        cairo_stroke(cr);
        snprintf(buf, sizeof buf, "%.0f", mel_centre_hz(b, n_mel, ax->fmin, ax->fmax));
        text(cr, LEFT - 8, y + 4, buf, 11, 1.0);
    }
    cairo_save(cr);
    cairo_translate(cr, 22, y0 + h / 2);
    cairo_rotate(cr, -M_PI / 2);
    text(cr, 0, 0, "frequency (Hz)", 12, 0.5);
    cairo_restore(cr);
    text(cr, LEFT, y0 - 8, label, 13, 0);
    /* colour bar */
    double bx = WIDTH - RIGHT + 20, bw = 16;
    for (int i = 0; i < (int)h; i++) {
        double r, g, b;
        cmap(1.0 - (double)i / h, &r, &g, &b);
        cairo_set_source_rgb(cr, r, g, b);
        cairo_rectangle(cr, bx, y0 + i, bw, 1.5);
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, bx, y0, bw, h);
    cairo_stroke(cr);
    for (int i = 0; i <= 4; i++) {
        double v = hi - (hi - lo) * i / 4, y = y0 + h * i / 4;
        snprintf(buf, sizeof buf, "%.1f", v);
        text(cr, bx + bw + 4, y + 4, buf, 10, 0);
    }
    text(cr, bx, y0 - 8, bar_label, 10, 0);
}

static cairo_status_t write_to(void *closure, const unsigned char *data, unsigned int len) {
    return wg_atomic_write(closure, data, len, NULL) ? CAIRO_STATUS_WRITE_ERROR : CAIRO_STATUS_SUCCESS;
}

int cli_plot_compare(const char *path, const float *ref, const float *test, int n_mel, size_t frames,
                     const plot_axes *ax, const char *title, const char *subtitle, wg_error *err) {
    int height = TOP + 3 * (PANEL_H + GAP) + 10;
    size_t n = (size_t)n_mel * frames;
    float *diff = malloc(n * sizeof(float));
    if (!diff) return wg_fail(err, WG_ENOMEM, "%s: out of memory", path);
    double lo = INFINITY, hi = -INFINITY, dmax = 1e-6;
    for (size_t i = 0; i < n; i++) {
        lo = fmin(lo, fmin(ref[i], test[i]));
        hi = fmax(hi, fmax(ref[i], test[i]));
        diff[i] = test[i] - ref[i];
        dmax = fmax(dmax, fabs(diff[i]));
    }
    if (hi <= lo) hi = lo + 1;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, WIDTH, height);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text(cr, WIDTH / 2.0, 26, title, 15, 0.5);
    text(cr, WIDTH / 2.0, 48, subtitle, 12, 0.5);
    panel(cr, TOP, ref, n_mel, frames, lo, hi, viridis, "reference: log-mel", "ln mel", ax);
    panel(cr, TOP + PANEL_H + GAP, test, n_mel, frames, lo, hi, viridis, "test: log-mel", "ln mel", ax);
    panel(cr, TOP + 2 * (PANEL_H + GAP), diff, n_mel, frames, -dmax, dmax, diverging, "difference: test - reference",
          "ln ratio", ax);
    cairo_destroy(cr);
    free(diff);
    wg_atomic_file af;
    int rc = wg_atomic_open(path, &af, err);
    if (!rc) {
        if (cairo_surface_write_to_png_stream(s, write_to, &af) != CAIRO_STATUS_SUCCESS) {
            wg_atomic_abort(&af);
            rc = wg_fail(err, WG_EIO, "%s: could not write the PNG", path);
        } else {
            rc = wg_atomic_commit(&af, err);
        }
    }
    cairo_surface_destroy(s);
    return rc;
}
