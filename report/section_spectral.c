/*
 * section_spectral.c: the report section of a spectral-bias run (docs/SPECTRAL.md).
 *
 * Per run: the heatmap of Rahaman et al. (step across, frequency up, colour = the
 * normalised magnitude 2|F(k)|/A_k clipped to [0, 1]) and its τ_k. On the first run of a
 * group of several spectral runs (a `study spectral-bias` invocation), also the τ_k of
 * every variant side by side (bars, mean over the variant's repeats; a frequency some
 * repeat never learned is drawn full height and marked ∞) and a table of the run-level
 * numbers per variant. For an image target (image:PATH), the fitted image beside the
 * target. The pictures are inline SVG (or a BMP data URI) written here, so they need no
 * script and show in any browser or print. All SQL is fixed text with int64 binds.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

#define HEAT_COLS 160 /* at most this many step columns: longer runs are averaged */
#define MAX_K 64      /* target frequencies drawn */
#define MAX_VAR 24    /* variants in the group view */

/* Viridis at five stops, interpolated: t in [0, 1]. */
static void viridis(double t, char out[8]) {
  static const unsigned char c[5][3] = {{0x44, 0x01, 0x54},
                                        {0x3b, 0x52, 0x8b},
                                        {0x21, 0x91, 0x8c},
                                        {0x5e, 0xc9, 0x62},
                                        {0xfd, 0xe7, 0x25}};
  t = isnan(t) ? 0 : t < 0 ? 0 : t > 1 ? 1 : t;
  double x = t * 4;
  int i = x >= 4 ? 3 : (int)x;
  double f = x - i;
  int rgb[3];
  for (int j = 0; j < 3; j++) rgb[j] = (int)lround(c[i][j] + f * (c[i + 1][j] - c[i][j]));
  snprintf(out, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

int spectral_section_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_exists(r,
                    "SELECT 1 FROM series WHERE run_id=?1 AND (name='freq_amp' AND step>=0 "
                    "OR name='image_fit' AND step=-1) LIMIT 1",
                    run->id, err);
}

/* Appends v (a square image, values in [0, 1], row-major: [side][side] gray, or
 * [side][side][3] RGB for C = 3) as a BMP in a data: URI, 8-bit gray with a palette or
 * 24-bit colour: no library, any browser shows it. */
static void image_bmp_uri(StrBuf *b, const double *v, size_t side, size_t C) {
  size_t row = (side * C + 3) & ~(size_t)3, data = row * side;
  size_t off = 14 + 40 + (C == 1 ? 1024 : 0), size = off + data;
  unsigned char *f = calloc(size, 1);
  if (!f) return;
  unsigned char *h = f;
#define LE32(p, x)                                                  \
  ((p)[0] = (unsigned char)(x), (p)[1] = (unsigned char)((x) >> 8), \
   (p)[2] = (unsigned char)((x) >> 16), (p)[3] = (unsigned char)((x) >> 24))
  h[0] = 'B', h[1] = 'M';
  LE32(h + 2, size);
  LE32(h + 10, off);
  LE32(h + 14, 40);
  LE32(h + 18, side);
  LE32(h + 22, side);
  h[26] = 1, h[28] = (unsigned char)(8 * C); /* one plane, 8 or 24 bits per pixel */
  LE32(h + 34, data);
  if (C == 1) {
    LE32(h + 46, 256); /* palette entries */
    for (int g = 0; g < 256; g++) f[54 + 4 * g] = f[55 + 4 * g] = f[56 + 4 * g] = (unsigned char)g;
  }
  for (size_t y = 0; y < side; y++) /* BMP rows run bottom-up, colour bytes are B, G, R */
    for (size_t x = 0; x < side; x++)
      for (size_t c = 0; c < C; c++) {
        double t = v[((side - 1 - y) * side + x) * C + c];
        t = isnan(t) ? 0 : t < 0 ? 0 : t > 1 ? 1 : t;
        f[off + y * row + x * C + (C - 1 - c)] = (unsigned char)lround(255 * t);
      }
#undef LE32
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  sb_append(b, "data:image/bmp;base64,");
  for (size_t i = 0; i < size; i += 3) {
    unsigned x = (unsigned)f[i] << 16 | (i + 1 < size ? (unsigned)f[i + 1] << 8 : 0) |
                 (i + 2 < size ? f[i + 2] : 0);
    char q[4] = {b64[x >> 18 & 63], b64[x >> 12 & 63], i + 1 < size ? b64[x >> 6 & 63] : '=',
                 i + 2 < size ? b64[x & 63] : '='};
    sb_append_n(b, q, 4);
  }
  free(f);
}

/* The fitted image beside the target (series image_fit, image_target at step -1). */
static int image_pair(Report *r, const ReportRun *run, Err *err) {
  DbRows fit, tgt;
  if (db_query_rows(r->db,
                    "SELECT value FROM series WHERE run_id=?1 AND name='image_fit' AND "
                    "step=-1 ORDER BY idx",
                    &run->id, 1, &fit, err))
    return -1;
  if (db_query_rows(r->db,
                    "SELECT value FROM series WHERE run_id=?1 AND name='image_target' AND "
                    "step=-1 ORDER BY idx",
                    &run->id, 1, &tgt, err)) {
    db_rows_free(&fit);
    return -1;
  }
  /* gray: n² values; RGB: 3n² ([n][n][3]; 3n² is never a square) */
  size_t side = (size_t)llround(sqrt((double)fit.nrow)), C = 1;
  if (side * side != fit.nrow) side = (size_t)llround(sqrt((double)fit.nrow / 3.0)), C = 3;
  if (side * side * C == fit.nrow && fit.nrow) {
    StrBuf *b = &r->runs;
    sb_append(b, "<div class=\"spectral-images\" style=\"display:flex;gap:16px\">");
    const char *cap[2] = {"target (training pixels)", "network at the last measurement"};
    DbRows *img[2] = {&tgt, &fit};
    for (int i = 0; i < 2; i++) {
      if (img[i]->nrow != fit.nrow) continue;
      sb_printf(b,
                "<figure><img alt=\"%s\" width=\"%zu\" height=\"%zu\" "
                "style=\"image-rendering:pixelated\" src=\"",
                cap[i], side < 256 ? 256 : side, side < 256 ? 256 : side);
      image_bmp_uri(b, img[i]->v, side, C);
      sb_printf(b, "\"><figcaption>%s</figcaption></figure>", cap[i]);
    }
    sb_append(b, "</div>\n");
  }
  db_rows_free(&fit);
  db_rows_free(&tgt);
  return 0;
}

/* The heatmap of one run: rows (step, k, value) ordered by step then k. */
static int heatmap(Report *r, const ReportRun *run, Err *err) {
  DbRows d;
  if (db_query_rows(r->db,
                    "SELECT step, idx, value FROM series WHERE run_id=?1 AND "
                    "name='freq_amp' AND step>=0 AND value IS NOT NULL ORDER BY step, idx",
                    &run->id, 1, &d, err))
    return -1;
  double ks[MAX_K];
  int nk = 0;
  size_t nsteps = 0;
  for (size_t i = 0; i < d.nrow; i++) {
    double k = d.v[3 * i + 1];
    int j = 0;
    while (j < nk && ks[j] != k) j++;
    if (j == nk && nk < MAX_K) ks[nk++] = k;
    nsteps += i == 0 || d.v[3 * i] != d.v[3 * (i - 1)];
  }
  for (int a = 1; a < nk; a++) /* ascending k, few values */
    for (int b = a; b > 0 && ks[b] < ks[b - 1]; b--) {
      double t = ks[b];
      ks[b] = ks[b - 1], ks[b - 1] = t;
    }
  size_t ncol = nsteps < HEAT_COLS ? nsteps : HEAT_COLS;
  double *sum = calloc(ncol * (size_t)nk + 1, sizeof *sum),
         *cnt = calloc(ncol * (size_t)nk + 1, sizeof *cnt);
  if (!sum || !cnt) {
    free(sum), free(cnt), db_rows_free(&d);
    return err_set(err, CS_ENOMEM, "out of memory for a heatmap"), -1;
  }
  double s0 = d.nrow ? d.v[0] : 0, s1 = d.nrow ? d.v[3 * (d.nrow - 1)] : 0;
  for (size_t i = 0, si = 0; i < d.nrow; i++) {
    if (i > 0 && d.v[3 * i] != d.v[3 * (i - 1)]) si++;
    size_t col = si * ncol / (nsteps ? nsteps : 1);
    int j = 0;
    while (j < nk && ks[j] != d.v[3 * i + 1]) j++;
    if (j == nk) continue;
    sum[col * (size_t)nk + (size_t)j] += d.v[3 * i + 2];
    cnt[col * (size_t)nk + (size_t)j] += 1;
  }
  db_rows_free(&d);
  /* geometry: plot area x0..x0+W, rows of height rh from the top; k grows upward */
  const int x0 = 48, y0 = 8, W = 560, rh = nk > 20 ? 8 : 16, H = rh * nk;
  StrBuf *b = &r->runs;
  sb_printf(b,
            "<figure class=\"spectral-heat\"><svg xmlns=\"http://www.w3.org/2000/svg\" "
            "role=\"img\" width=\"%d\" height=\"%d\" font-size=\"10\" font-family=\"sans-serif\" "
            "shape-rendering=\"crispEdges\">"
            "<title>normalised magnitude 2|F(k)|/A_k by step and frequency</title>\n",
            x0 + W + 70, y0 + H + 34);
  double cw = (double)W / (double)(ncol ? ncol : 1);
  for (size_t c = 0; c < ncol; c++)
    for (int j = 0; j < nk; j++) {
      size_t q = c * (size_t)nk + (size_t)j;
      if (!cnt[q]) continue;
      char col[8];
      viridis(sum[q] / cnt[q], col);
      sb_printf(b, "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"%s\"/>",
                x0 + c * cw, y0 + (nk - 1 - j) * rh, cw + 0.05, rh, col);
    }
  for (int j = 0; j < nk; j++)
    if (nk <= 20 || j % 4 == 0)
      sb_printf(b, "\n<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%g</text>", x0 - 4,
                y0 + (nk - 1 - j) * rh + rh / 2 + 3, ks[j]);
  for (int t = 0; t <= 4; t++)
    sb_printf(b, "\n<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>", x0 + W * t / 4.0,
              y0 + H + 13, s0 + (s1 - s0) * t / 4.0);
  sb_printf(b, "\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">step</text>", x0 + W / 2,
            y0 + H + 28);
  sb_printf(
      b, "<text x=\"10\" y=\"%d\" transform=\"rotate(-90 10 %d)\" text-anchor=\"middle\">k</text>",
      y0 + H / 2, y0 + H / 2);
  for (int t = 0; t < 20; t++) { /* colour bar */
    char col[8];
    viridis(t / 19.0, col);
    sb_printf(b, "<rect x=\"%d\" y=\"%.1f\" width=\"10\" height=\"%.1f\" fill=\"%s\"/>",
              x0 + W + 14, y0 + H - (t + 1) * H / 20.0, H / 20.0 + 0.05, col);
  }
  sb_printf(b, "<text x=\"%d\" y=\"%d\">1</text><text x=\"%d\" y=\"%d\">0</text>", x0 + W + 28,
            y0 + 8, x0 + W + 28, y0 + H);
  sb_append(b,
            "</svg><figcaption>2|F(k)|/A<sub>k</sub> of the network on the grid (1: the "
            "frequency is fitted)</figcaption></figure>\n");
  free(sum), free(cnt);
  return 0;
}

/* τ_k of one run as a table row per frequency. */
static int tau_table(Report *r, const ReportRun *run, Err *err) {
  DbRows t;
  if (db_query_rows(r->db,
                    "SELECT t.idx, t.value FROM series t WHERE t.run_id=?1 AND "
                    "t.name='freq_tau' AND t.step=-1 AND EXISTS (SELECT 1 FROM series a WHERE "
                    "a.run_id=?1 AND a.name='freq_amp' AND a.step=0 AND a.idx=t.idx AND a.value "
                    "IS NOT NULL) ORDER BY t.idx",
                    &run->id, 1, &t, err))
    return -1;
  StrBuf *b = &r->runs;
  sb_append(b, "<table class=\"data\"><thead><tr><th>k</th>");
  for (size_t i = 0; i < t.nrow; i++) sb_printf(b, "<th>%g</th>", t.v[2 * i]);
  sb_append(b, "</tr></thead><tbody><tr><th>τ<sub>k</sub></th>");
  for (size_t i = 0; i < t.nrow; i++) {
    sb_append(b, "<td class=\"num\">");
    if (isnan(t.v[2 * i + 1]))
      sb_append(b, "never");
    else
      rep_cell_num(b, t.v[2 * i + 1]);
    sb_append(b, "</td>");
  }
  sb_append(b, "</tr></tbody></table>\n");
  db_rows_free(&t);
  return 0;
}

/* A variant's label: the run name without its " rep=N" suffix. */
static void variant_of(const char *name, char *out, size_t cap) {
  snprintf(out, cap, "%s", name ? name : "?");
  char *rep = strstr(out, " rep=");
  if (rep) *rep = '\0';
}

typedef struct VarAgg {
  char label[128];
  int runs, never[MAX_K];
  double tau[MAX_K], rho, unl;
  int nrho;
} VarAgg;

/* The group view: τ_k bars across variants, and the run-level numbers per variant. */
static int group_view(Report *r, const ReportRun *run, Err *err) {
  int64_t id = run->id;
  DbStrs runs;
  if (db_query_strs(r->db,
                    "SELECT id, name FROM runs WHERE grp=(SELECT grp FROM runs WHERE "
                    "id=?1) AND EXISTS (SELECT 1 FROM series WHERE run_id=runs.id AND "
                    "name='freq_tau') ORDER BY id",
                    &id, 1, &runs, err))
    return -1;
  static VarAgg v[MAX_VAR];
  int nv = 0, nk = 0, rc = 0;
  double ks[MAX_K];
  for (size_t i = 0; i < runs.nrow && !rc; i++) {
    char label[128];
    variant_of(runs.v[2 * i + 1], label, sizeof label);
    int j = 0;
    while (j < nv && strcmp(v[j].label, label)) j++;
    if (j == MAX_VAR) continue;
    if (j == nv) memset(&v[nv], 0, sizeof v[nv]), snprintf(v[nv++].label, 128, "%s", label);
    int64_t rid = strtoll(runs.v[2 * i], NULL, 10);
    DbRows t;
    if ((rc = db_query_rows(r->db,
                            "SELECT t.idx, t.value, (SELECT value FROM metrics WHERE "
                            "run_id=?1 AND step=-1 AND name='freq_order_spearman'), (SELECT value "
                            "FROM metrics WHERE run_id=?1 AND step=-1 AND name='freq_unlearned') "
                            "FROM series t WHERE t.run_id=?1 AND t.name='freq_tau' AND t.step=-1 "
                            "AND EXISTS (SELECT 1 FROM series a WHERE a.run_id=?1 AND "
                            "a.name='freq_amp' AND a.step=0 AND a.idx=t.idx AND a.value IS NOT "
                            "NULL) ORDER BY t.idx",
                            &rid, 1, &t, err)))
      break;
    v[j].runs++;
    for (size_t q = 0; q < t.nrow && q < MAX_K; q++) {
      if (q >= (size_t)nk) ks[nk++] = t.v[4 * q];
      if (isnan(t.v[4 * q + 1]))
        v[j].never[q]++;
      else
        v[j].tau[q] += t.v[4 * q + 1];
    }
    if (t.nrow && !isnan(t.v[2])) v[j].rho += t.v[2], v[j].nrho++;
    if (t.nrow) v[j].unl += t.v[3];
    db_rows_free(&t);
  }
  db_strs_free(&runs);
  if (rc) return -1;
  double tmax = 1;
  for (int j = 0; j < nv; j++)
    for (int q = 0; q < nk; q++)
      if (v[j].runs > v[j].never[q]) tmax = fmax(tmax, v[j].tau[q] / (v[j].runs - v[j].never[q]));
  StrBuf *b = &r->runs;
  sb_printf(b, "<h4>τ<sub>k</sub> across the %d variants of this group</h4>\n", nv);
  const int x0 = 56, y0 = 10, H = 200, gw = nk ? 640 / nk : 640, bw = nv ? (gw - 6) / nv : 1;
  sb_printf(
      b,
      "<figure class=\"spectral-tau\"><svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" "
      "width=\"%d\" height=\"%d\" font-size=\"10\" font-family=\"sans-serif\"><title>tau_k by "
      "variant</title>\n",
      x0 + gw * nk + 10, y0 + H + 40 + 14 * nv);
  static const char *const pal[] = {"#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2",
                                    "#b279a2", "#ff9da6", "#9d755d", "#bab0ac", "#eeca3b"};
  for (int q = 0; q < nk; q++) {
    for (int j = 0; j < nv; j++) {
      int learned = v[j].runs - v[j].never[q];
      double mean = learned ? v[j].tau[q] / learned : tmax;
      double hgt = v[j].never[q] ? H : H * mean / tmax;
      int x = x0 + q * gw + 3 + j * bw;
      sb_printf(b, "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"%s\"%s/>", x,
                y0 + H - hgt, bw > 1 ? bw - 1 : 1, hgt, pal[j % 10],
                v[j].never[q] ? " fill-opacity=\"0.3\"" : "");
      if (v[j].never[q]) sb_printf(b, "<text x=\"%d\" y=\"%d\">∞</text>", x, y0 + 9);
    }
    sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%g</text>", x0 + q * gw + gw / 2,
              y0 + H + 13, ks[q]);
  }
  for (int t = 0; t <= 4; t++)
    sb_printf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>", x0 - 4,
              y0 + H - H * t / 4.0 + 3, tmax * t / 4.0);
  sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">k</text>", x0 + gw * nk / 2,
            y0 + H + 26);
  for (int j = 0; j < nv; j++) {
    sb_printf(b,
              "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" "
              "y=\"%d\">",
              x0, y0 + H + 32 + 14 * j, pal[j % 10], x0 + 14, y0 + H + 41 + 14 * j);
    report_html_escape(b, v[j].label);
    sb_append(b, "</text>");
  }
  sb_append(b,
            "</svg><figcaption>mean τ<sub>k</sub> over each variant's repeats (first step "
            "with relative error below eps); pale with ∞: a repeat never learned k</figcaption>"
            "</figure>\n<table class=\"data\"><thead><tr><th>variant</th><th>runs</th>"
            "<th>mean freq_order_spearman</th><th>mean freq_unlearned</th></tr></thead><tbody>\n");
  for (int j = 0; j < nv; j++) {
    sb_append(b, "<tr><td>");
    report_html_escape(b, v[j].label);
    sb_printf(b, "</td><td class=\"num\">%d</td><td class=\"num\">", v[j].runs);
    rep_cell_num(b, v[j].nrho ? v[j].rho / v[j].nrho : NAN);
    sb_append(b, "</td><td class=\"num\">");
    rep_cell_num(b, v[j].unl / v[j].runs);
    sb_append(b, "</td></tr>\n");
  }
  sb_append(b, "</tbody></table>\n");
  return 0;
}

/* Test PSNR against the Fourier-feature σ of the variants that have one (log σ across),
 * with the variant without an embedding as a dashed line: the bandwidth sweep at a glance.
 * v: the rows of psnr_table's query (variant, runs, train, test). */
static void psnr_sigma_chart(StrBuf *b, char **v, size_t nrow) {
  double sg[MAX_VAR], te[MAX_VAR], none = NAN, lo = INFINITY, hi = -INFINITY;
  int n = 0;
  for (size_t i = 0; i < nrow && n < MAX_VAR; i++) {
    const char *label = v[4 * i], *sig = label ? strstr(label, "sigma=") : NULL;
    double t = v[4 * i + 3] ? strtod(v[4 * i + 3], NULL) : NAN;
    if (label && strstr(label, "embed=none") && isnan(none)) none = t;
    if (!sig || isnan(t) || !(strtod(sig + 6, NULL) > 0)) continue;
    sg[n] = strtod(sig + 6, NULL), te[n++] = t;
  }
  if (n < 2) return;
  for (int a = 1; a < n; a++) /* ascending σ */
    for (int c = a; c > 0 && sg[c] < sg[c - 1]; c--) {
      double x = sg[c], y = te[c];
      sg[c] = sg[c - 1], te[c] = te[c - 1], sg[c - 1] = x, te[c - 1] = y;
    }
  for (int i = 0; i < n; i++) lo = fmin(lo, te[i]), hi = fmax(hi, te[i]);
  if (!isnan(none)) lo = fmin(lo, none), hi = fmax(hi, none);
  if (hi - lo < 1) hi = lo + 1;
  const int x0 = 48, y0 = 18, W = 420, H = 180;
  double l0 = log10(sg[0]), l1 = log10(sg[n - 1]);
  if (l1 - l0 < 1e-9) l1 = l0 + 1;
#define PX(sig) (x0 + W * (log10(sig) - l0) / (l1 - l0))
#define PY(t) (y0 + H - H * ((t)-lo) / (hi - lo))
  sb_printf(b,
            "<figure class=\"spectral-psnr\"><svg xmlns=\"http://www.w3.org/2000/svg\" "
            "role=\"img\" width=\"%d\" height=\"%d\" font-size=\"10\" font-family=\"sans-serif\">"
            "<title>test PSNR against sigma</title><polyline fill=\"none\" stroke=\"#4c78a8\" "
            "stroke-width=\"2\" points=\"",
            x0 + W + 20, y0 + H + 34);
  for (int i = 0; i < n; i++) sb_printf(b, "%.1f,%.1f ", PX(sg[i]), PY(te[i]));
  sb_append(b, "\"/>");
  for (int i = 0; i < n; i++)
    sb_printf(b,
              "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#4c78a8\"/><text x=\"%.1f\" "
              "y=\"%.1f\" text-anchor=\"middle\">%.1f</text><text x=\"%.1f\" y=\"%d\" "
              "text-anchor=\"middle\">%g</text>",
              PX(sg[i]), PY(te[i]), PX(sg[i]), PY(te[i]) - 6, te[i], PX(sg[i]), y0 + H + 13, sg[i]);
  if (!isnan(none))
    sb_printf(b,
              "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e45756\" "
              "stroke-dasharray=\"5 4\"/><text x=\"%d\" y=\"%.1f\" fill=\"#e45756\">no "
              "embedding %.1f</text>",
              x0, x0 + W, PY(none), PY(none), x0 + 4, PY(none) - 4, none);
  sb_printf(b,
            "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">Fourier-feature σ (log)</text>"
            "<text x=\"12\" y=\"%d\" transform=\"rotate(-90 12 %d)\" text-anchor=\"middle\">"
            "test PSNR (dB)</text></svg><figcaption>test PSNR against σ (mean over repeats)"
            "</figcaption></figure>\n",
            x0 + W / 2, y0 + H + 28, y0 + H / 2, y0 + H / 2);
#undef PX
#undef PY
}

/* Train and test PSNR per variant of the group (mean over repeats): the Fourier-feature
 * bandwidth sweep reads off it. Only when the runs have test data. */
static int psnr_table(Report *r, const ReportRun *run, Err *err) {
  DbStrs s;
  if (db_query_strs(r->db,
                    "SELECT CASE WHEN instr(name, ' rep=') > 0 THEN substr(name, 1, "
                    "instr(name, ' rep=') - 1) ELSE name END AS v, COUNT(*), AVG(tr), AVG(te) "
                    "FROM (SELECT id, name, (SELECT value FROM metrics WHERE run_id=runs.id AND "
                    "step=-1 AND name='psnr_train') AS tr, (SELECT value FROM metrics WHERE "
                    "run_id=runs.id AND step=-1 AND name='psnr_test') AS te FROM runs WHERE "
                    "grp=(SELECT grp FROM runs WHERE id=?1)) WHERE te IS NOT NULL GROUP BY v "
                    "ORDER BY MIN(id)",
                    &run->id, 1, &s, err))
    return -1;
  StrBuf *b = &r->runs;
  if (s.nrow) {
    sb_append(b,
              "<h4>PSNR by variant (dB, mean over repeats)</h4>\n<table class=\"data\"><thead>"
              "<tr><th>variant</th><th>runs</th><th>train</th><th>test</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < s.nrow; i++) {
      char **v = s.v + 4 * i;
      sb_append(b, "<tr><td>");
      report_html_escape(b, v[0]);
      sb_append(b, "</td><td class=\"num\">");
      report_html_escape(b, v[1]);
      for (int c = 2; c < 4; c++) {
        sb_append(b, "</td><td class=\"num\">");
        rep_cell_num(b, v[c] ? strtod(v[c], NULL) : NAN);
      }
      sb_append(b, "</td></tr>\n");
    }
    sb_append(b, "</tbody></table>\n");
    psnr_sigma_chart(b, s.v, s.nrow);
  }
  db_strs_free(&s);
  return 0;
}

int spectral_section_emit(Report *r, ReportRun *run, Err *err) {
  /* the group view goes with the group's first spectral run, when it has company */
  int64_t first = 0;
  int found = 0, many = 0;
  if (run->grp) {
    int64_t n = 0;
    if (db_query_int(
            r->db,
            "SELECT MIN(id) FROM runs WHERE grp=(SELECT grp FROM runs WHERE id=?1) "
            "AND EXISTS (SELECT 1 FROM series WHERE run_id=runs.id AND name IN ('freq_tau', "
            "'image_fit'))",
            &run->id, 1, &first, &found, err) ||
        db_query_int(
            r->db,
            "SELECT COUNT(*) FROM runs WHERE grp=(SELECT grp FROM runs WHERE id=?1) "
            "AND EXISTS (SELECT 1 FROM series WHERE run_id=runs.id AND name IN ('freq_tau', "
            "'image_fit'))",
            &run->id, 1, &n, &found, err))
      return -1;
    many = n > 1;
  }
  rep_section_open(r, run, "spectral", "Spectral bias");
  int img = rep_exists(r, "SELECT 1 FROM series WHERE run_id=?1 AND name='image_fit' LIMIT 1",
                       run->id, err);
  if (img < 0 || (img && image_pair(r, run, err))) return -1;
  if (!img && (heatmap(r, run, err) || tau_table(r, run, err))) return -1;
  if (many && first == run->id && ((!img && group_view(r, run, err)) || psnr_table(r, run, err)))
    return -1;
  rep_section_close(r);
  return 0;
}
