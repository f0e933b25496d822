/* PNG line plots and image montages through cairo (when configure found
 * it). A plot: series of points, optionally joined, on linear or log10
 * axes, with ticks, labels, a legend and optional horizontal reference
 * lines. A montage: grey-scale tiles in a grid with row and column labels. */
#include "config.h"
#include "cli/tool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_CAIRO
#include <cairo.h>

enum { WIDTH = 900, HEIGHT = 600, LEFT = 90, RIGHT = 30, TOP = 50, BOTTOM = 70 };

static const double PALETTE[][3] = {
    { 0.12, 0.47, 0.71 }, { 0.84, 0.15, 0.16 }, { 0.17, 0.63, 0.17 }, { 1.00, 0.50, 0.05 },
    { 0.58, 0.40, 0.74 }, { 0.55, 0.34, 0.29 }, { 0.89, 0.47, 0.76 }, { 0.50, 0.50, 0.50 },
};
#define NPAL (int)(sizeof PALETTE / sizeof PALETTE[0])

/* 1, 2 or 5 times a power of ten, near range / 6 */
static double nice_step(double range)
{
    double raw = range / 6, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

/* writes the surface to PATH and frees both */
static int finish_png(cairo_t *cr, cairo_surface_t *sf, const char *path, char *err, size_t errlen)
{
    cairo_destroy(cr);
    cairo_status_t st = cairo_surface_write_to_png(sf, path);
    cairo_surface_destroy(sf);
    if (st != CAIRO_STATUS_SUCCESS) {
        snprintf(err, errlen, "%s: cannot write the PNG: %s", path, cairo_status_to_string(st));
        return -1;
    }
    return 0;
}

static void text_at(cairo_t *cr, double x, double y, const char *s, double ax, double ay)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - ax * e.width - e.x_bearing, y - ay * e.height - e.y_bearing);
    cairo_show_text(cr, s);
}

static void marker(cairo_t *cr, int kind, double x, double y)
{
    const double r = 4.5;
    switch (kind % 4) {
    case 0: cairo_arc(cr, x, y, r, 0, 2 * M_PI); cairo_fill(cr); break;
    case 1: cairo_rectangle(cr, x - r, y - r, 2 * r, 2 * r); cairo_fill(cr); break;
    case 2:
        cairo_move_to(cr, x, y - r - 1); cairo_line_to(cr, x + r + 1, y + r); cairo_line_to(cr, x - r - 1, y + r);
        cairo_close_path(cr); cairo_fill(cr); break;
    default:
        cairo_move_to(cr, x, y - r - 1); cairo_line_to(cr, x + r + 1, y); cairo_line_to(cr, x, y + r + 1);
        cairo_line_to(cr, x - r - 1, y); cairo_close_path(cr); cairo_fill(cr); break;
    }
}

int plot_png(const char *path, const plot_spec *p, const plot_series *s, int ns, char *err, size_t errlen)
{
    /* the ranges, over the finite (and, on a log axis, positive) values */
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++) {
            double x = s[k].x[i], y = s[k].y[i];
            if (!isfinite(x) || !isfinite(y) || (p->logy && y <= 0) || (p->logx && x <= 0)) continue;
            x = p->logx ? log10(x) : x;
            y = p->logy ? log10(y) : y;
            if (x < x0) x0 = x;
            if (x > x1) x1 = x;
            if (y < y0) y0 = y;
            if (y > y1) y1 = y;
        }
    for (int k = 0; k < p->nhlines; k++) {
        double y = p->hline[k];
        if (!isfinite(y) || (p->logy && y <= 0)) continue;
        y = p->logy ? log10(y) : y;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
    }
    if (!(x0 <= x1) || !(y0 <= y1)) {
        snprintf(err, errlen, "%s: nothing to plot (no finite values)", path);
        return -1;
    }
    if (x1 - x0 < 1e-12) { x0 -= 0.5; x1 += 0.5; }
    if (y1 - y0 < 1e-12) { y0 -= 0.5; y1 += 0.5; }
    /* a log axis from a whole decade, with room above the largest value */
    if (p->logy) { y0 = floor(y0 - 0.02); y1 = y1 + 0.08 * (y1 - y0 > 1 ? 1 : y1 - y0 + 0.25); }
    else { double m = 0.05 * (y1 - y0); y0 -= m; y1 += m; }
    if (p->logx) { x0 = floor(x0); x1 = ceil(x1); }
    else { double m = 0.03 * (x1 - x0); x0 -= m; x1 += m; }
    const double pw = WIDTH - LEFT - RIGHT, ph = HEIGHT - TOP - BOTTOM;
#define PX(v) (LEFT + ((v) - x0) / (x1 - x0) * pw)
#define PY(v) (TOP + ph - ((v) - y0) / (y1 - y0) * ph)
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, WIDTH, HEIGHT);
    cairo_t *cr = cairo_create(sf);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 13);
    /* grid and ticks */
    char lab[64];
    cairo_set_line_width(cr, 1);
    for (int axis = 0; axis < 2; axis++) {
        int lg = axis ? p->logy : p->logx;
        double a = axis ? y0 : x0, b = axis ? y1 : x1, step = lg ? (b - a > 8 ? 2 : 1) : nice_step(b - a);
        for (double v = ceil(a / step - 1e-9) * step; v <= b + 1e-9 * step; v += step) {
            if (lg) snprintf(lab, sizeof lab, "1e%d", (int)lround(v));
            else snprintf(lab, sizeof lab, "%g", fabs(v) < 1e-12 * step ? 0.0 : v);
            cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
            if (axis) { cairo_move_to(cr, LEFT, PY(v)); cairo_line_to(cr, LEFT + pw, PY(v)); }
            else { cairo_move_to(cr, PX(v), TOP); cairo_line_to(cr, PX(v), TOP + ph); }
            cairo_stroke(cr);
            cairo_set_source_rgb(cr, 0, 0, 0);
            if (axis) text_at(cr, LEFT - 8, PY(v), lab, 1, 0.5);
            else text_at(cr, PX(v), TOP + ph + 8, lab, 0.5, 0);
            /* minor ticks at 2..9 on a log axis */
            if (lg && step == 1)
                for (int m = 2; m < 10 && v + log10(m) < b; m++) {
                    double w = v + log10(m);
                    cairo_set_source_rgb(cr, 0.95, 0.95, 0.95);
                    if (axis) { cairo_move_to(cr, LEFT, PY(w)); cairo_line_to(cr, LEFT + pw, PY(w)); }
                    else { cairo_move_to(cr, PX(w), TOP); cairo_line_to(cr, PX(w), TOP + ph); }
                    cairo_stroke(cr);
                }
        }
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, LEFT, TOP, pw, ph);
    cairo_stroke(cr);
    /* reference lines */
    for (int k = 0; k < p->nhlines; k++) {
        double y = p->hline[k];
        if (!isfinite(y) || (p->logy && y <= 0)) continue;
        y = p->logy ? log10(y) : y;
        const double dash[] = { 6, 4 };
        cairo_set_dash(cr, dash, 2, 0);
        cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
        cairo_move_to(cr, LEFT, PY(y));
        cairo_line_to(cr, LEFT + pw, PY(y));
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        if (p->hline_label[k]) text_at(cr, LEFT + pw - 6, PY(y) - 4, p->hline_label[k], 1, 1);
    }
    /* the series */
    cairo_save(cr);
    cairo_rectangle(cr, LEFT, TOP, pw, ph);
    cairo_clip(cr);
    for (int k = 0; k < ns; k++) {
        const double *c = PALETTE[k % NPAL];
        cairo_set_source_rgb(cr, c[0], c[1], c[2]);
        cairo_set_line_width(cr, 2);
        int pen = 0;
        for (int i = 0; i < s[k].n && s[k].lines; i++) {
            double x = s[k].x[i], y = s[k].y[i];
            if (!isfinite(x) || !isfinite(y) || (p->logy && y <= 0) || (p->logx && x <= 0)) { pen = 0; continue; }
            x = p->logx ? log10(x) : x;
            y = p->logy ? log10(y) : y;
            if (pen) cairo_line_to(cr, PX(x), PY(y));
            else cairo_move_to(cr, PX(x), PY(y));
            pen = 1;
        }
        cairo_stroke(cr);
        for (int i = 0; i < s[k].n && s[k].markers; i++) {
            double x = s[k].x[i], y = s[k].y[i];
            if (!isfinite(x) || !isfinite(y) || (p->logy && y <= 0) || (p->logx && x <= 0)) continue;
            marker(cr, k, PX(p->logx ? log10(x) : x), PY(p->logy ? log10(y) : y));
        }
    }
    cairo_restore(cr);
    /* labels and the legend */
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_font_size(cr, 16);
    if (p->title) text_at(cr, WIDTH / 2.0, TOP / 2.0, p->title, 0.5, 0.5);
    cairo_set_font_size(cr, 14);
    if (p->xlabel) text_at(cr, LEFT + pw / 2, HEIGHT - 22, p->xlabel, 0.5, 0.5);
    if (p->ylabel) {
        cairo_save(cr);
        cairo_translate(cr, 22, TOP + ph / 2);
        cairo_rotate(cr, -M_PI / 2);
        text_at(cr, 0, 0, p->ylabel, 0.5, 0.5);
        cairo_restore(cr);
    }
    cairo_set_font_size(cr, 12);
    double lw = 0;
    for (int k = 0; k < ns; k++) {
        cairo_text_extents_t e;
        cairo_text_extents(cr, s[k].label ? s[k].label : "", &e);
        if (e.width > lw) lw = e.width;
    }
    double lx = p->legend_left ? LEFT + 12 : LEFT + pw - lw - 48,
           ly = p->legend_bottom ? TOP + ph - 18.0 * ns - 14 : TOP + 12;
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_rectangle(cr, lx - 6, ly - 6, lw + 42, 18.0 * ns + 8);
    cairo_fill(cr);
    for (int k = 0; k < ns; k++) {
        const double *c = PALETTE[k % NPAL];
        double y = ly + 18.0 * k + 6;
        cairo_set_source_rgb(cr, c[0], c[1], c[2]);
        if (s[k].lines) {
            cairo_set_line_width(cr, 2);
            cairo_move_to(cr, lx, y);
            cairo_line_to(cr, lx + 24, y);
            cairo_stroke(cr);
        }
        if (s[k].markers) marker(cr, k, lx + 12, y);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, lx + 30, y, s[k].label ? s[k].label : "", 0, 0.5);
    }
#undef PX
#undef PY
    return finish_png(cr, sf, path, err, errlen);
}

int montage_png(const char *path, const float *const *tiles, const int *tw, const int *th, int rows, int cols,
                const char *const *row_labels, const char *const *col_labels, const char *title, char *err,
                size_t errlen)
{
    enum { SCALE = 2, PAD = 6, LABW = 70, LABH = 26, TITLEH = 30 };
    /* column widths and row heights: the largest tile in each */
    int cw[64] = { 0 }, rh[64] = { 0 };
    if (rows > 64 || cols > 64) { snprintf(err, errlen, "%s: too many tiles", path); return -1; }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            int k = r * cols + c;
            if (tw[k] * SCALE > cw[c]) cw[c] = tw[k] * SCALE;
            if (th[k] * SCALE > rh[r]) rh[r] = th[k] * SCALE;
        }
    int W = LABW + PAD, H = TITLEH + LABH + PAD;
    for (int c = 0; c < cols; c++) W += cw[c] + PAD;
    for (int r = 0; r < rows; r++) H += rh[r] + PAD;
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(sf);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_font_size(cr, 15);
    if (title) text_at(cr, W / 2.0, TITLEH / 2.0 + 2, title, 0.5, 0.5);
    cairo_set_font_size(cr, 12);
    int x = LABW + PAD;
    for (int c = 0; c < cols; c++) {
        if (col_labels && col_labels[c]) text_at(cr, x + cw[c] / 2.0, TITLEH + LABH / 2.0, col_labels[c], 0.5, 0.5);
        x += cw[c] + PAD;
    }
    int y = TITLEH + LABH;
    for (int r = 0; r < rows; r++) {
        if (row_labels && row_labels[r]) text_at(cr, LABW / 2.0, y + rh[r] / 2.0, row_labels[r], 0.5, 0.5);
        x = LABW + PAD;
        for (int c = 0; c < cols; c++) {
            int k = r * cols + c;
            cairo_surface_t *t = cairo_image_surface_create(CAIRO_FORMAT_RGB24, tw[k], th[k]);
            unsigned char *px = cairo_image_surface_get_data(t);
            int stride = cairo_image_surface_get_stride(t);
            cairo_surface_flush(t);
            for (int i = 0; i < th[k]; i++)
                for (int j = 0; j < tw[k]; j++) {
                    float v = tiles[k] ? tiles[k][(size_t)i * tw[k] + j] : 0;
                    int g = (int)lroundf(255 * (v < 0 ? 0 : v > 1 ? 1 : v));
                    uint32_t *q = (uint32_t *)(void *)(px + (size_t)i * stride) + j;
                    *q = (uint32_t)(g << 16 | g << 8 | g);
                }
            cairo_surface_mark_dirty(t);
            cairo_save(cr);
            cairo_translate(cr, x, y);
            cairo_scale(cr, SCALE, SCALE);
            cairo_set_source_surface(cr, t, 0, 0);
            cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
            cairo_paint(cr);
            cairo_restore(cr);
            cairo_surface_destroy(t);
            x += cw[c] + PAD;
        }
        y += rh[r] + PAD;
    }
    return finish_png(cr, sf, path, err, errlen);
}

#else

int plot_png(const char *path, const plot_spec *p, const plot_series *s, int ns, char *err, size_t errlen)
{
    (void)p; (void)s; (void)ns;
    snprintf(err, errlen, "%s: not drawn: this emim was built without cairo (the TSV has the numbers)", path);
    return -1;
}

int montage_png(const char *path, const float *const *tiles, const int *tw, const int *th, int rows, int cols,
                const char *const *row_labels, const char *const *col_labels, const char *title, char *err,
                size_t errlen)
{
    (void)tiles; (void)tw; (void)th; (void)rows; (void)cols; (void)row_labels; (void)col_labels; (void)title;
    snprintf(err, errlen, "%s: not drawn: this emim was built without cairo (the NIfTI files have the images)", path);
    return -1;
}

#endif
