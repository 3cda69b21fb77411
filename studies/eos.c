/* eos.c: edge-of-stability onset, ratios, loss behaviour and the four phases (see eos.h). */
#include "eos.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void eos_options_default(EosOptions *o) {
  o->smooth = 5;
  o->deadband = 0.01;
  o->min_run = 3;
  o->iii_ends_at_crossing = 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Quantile q of sorted v[0..n) by linear interpolation. */
static double quantile(const double *v, size_t n, double q) {
  double pos = q * (double)(n - 1);
  size_t i = (size_t)pos;
  double f = pos - (double)i;
  return i + 1 < n ? v[i] * (1 - f) + v[i + 1] * f : v[n - 1];
}

static void running_median(const double *x, size_t n, int w, double *out) {
  double buf[64];
  if (w > 63) w = 63;
  int h = w / 2;
  for (size_t i = 0; i < n; i++) {
    size_t lo = i >= (size_t)h ? i - (size_t)h : 0, hi = i + (size_t)h < n ? i + (size_t)h : n - 1;
    size_t m = hi - lo + 1;
    memcpy(buf, x + lo, m * sizeof *buf);
    qsort(buf, m, sizeof *buf, cmp_double);
    out[i] = m % 2 ? buf[m / 2] : 0.5 * (buf[m / 2 - 1] + buf[m / 2]);
  }
}

enum { PH_I = 0, PH_II, PH_III, PH_IV };
static const char *const phase_names[] = {"I", "II", "III", "IV"};

static int label_phases(const EosOptions *o, const long *step, const double *S, const double *thr,
                        size_t n, EosSummary *out) {
  double *sm = malloc(n * sizeof *sm);
  int *lab = malloc(n * sizeof *lab);
  out->phases = malloc(n * sizeof *out->phases);
  if (!sm || !lab || !out->phases) {
    free(sm);
    free(lab);
    return CS_ENOMEM;
  }
  running_median(S, n, o->smooth > 0 ? o->smooth : 1, sm);
  /* sign(ΔΛ) with a dead-band, measured from the last extreme rather than step to step,
   * so a slow steady trend registers and wiggles smaller than the band do not. */
  int sign = 0, state = -1;
  double ref = sm[0];
  for (size_t i = 0; i < n; i++) {
    double band = o->deadband * thr[i];
    if (sm[i] > ref + band || (sign > 0 && sm[i] > ref)) sign = 1, ref = sm[i];
    else if (sm[i] < ref - band || (sign < 0 && sm[i] < ref)) sign = -1, ref = sm[i];
    int above = sm[i] >= thr[i];
    if (state < 0) state = above ? PH_III : PH_II;
    if (state == PH_I && sign > 0) state = PH_II;
    if (state == PH_II && above) state = PH_III;
    else if (state == PH_III && (o->iii_ends_at_crossing ? !above : sign < 0)) state = PH_IV;
    else if (state == PH_IV && sign > 0) state = above ? PH_III : PH_II;
    lab[i] = state;
  }
  /* Phase I covers the initial decrease: relabel the prefix up to the first minimum. */
  if (n > 2 && sm[1] < sm[0] - o->deadband * thr[1]) {
    size_t i = 0;
    while (i + 1 < n && sm[i + 1] <= sm[i] && sm[i + 1] < thr[i + 1]) lab[i++] = PH_I;
    lab[i] = PH_I;
  }
  /* Merge runs shorter than min_run into the run before them. */
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && lab[j] == lab[i]) j++;
    if ((int)(j - i) < o->min_run && i > 0)
      for (size_t t = i; t < j; t++) lab[t] = lab[i - 1];
    i = j;
  }
  int np = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    double sum = 0, maxr = -INFINITY;
    while (j < n && lab[j] == lab[i]) {
      sum += S[j];
      if (S[j] / thr[j] > maxr) maxr = S[j] / thr[j];
      j++;
    }
    EosPhase *p = &out->phases[np++];
    strcpy(p->label, phase_names[lab[i]]);
    p->start_step = step[i];
    p->end_step = step[j - 1];
    p->mean_sharpness = sum / (double)(j - i);
    p->max_ratio = maxr;
    i = j;
  }
  out->nphases = np;
  free(sm);
  free(lab);
  return CS_OK;
}

int eos_analyze(const EosOptions *o, const long *sstep, const double *S, const double *thr,
                size_t ns, const long *lstep, const double *loss, size_t nl,
                const double *out_norm, EosSummary *out, Err *err) {
  memset(out, 0, sizeof *out);
  out->onset = -1;
  out->slope = out->ratio_median = out->ratio_iqr = out->anomaly_fraction = NAN;
  if (ns == 0) return err_set(err, CS_EINVAL, "no sharpness measurements to analyse");
  out->max_sharpness = -INFINITY;
  size_t first = ns;
  for (size_t i = 0; i < ns; i++) {
    if (S[i] > out->max_sharpness) out->max_sharpness = S[i];
    if (first == ns && S[i] >= thr[i]) first = i;
  }
  if (first < ns) out->onset = sstep[first];
  /* Sharpening slope: least squares of S on step over [0, t*). */
  size_t m = first;
  if (m >= 2) {
    double st = 0, ss = 0, stt = 0, sts = 0;
    for (size_t i = 0; i < m; i++) {
      double t = (double)sstep[i];
      st += t;
      ss += S[i];
      stt += t * t;
      sts += t * S[i];
    }
    double den = (double)m * stt - st * st;
    if (den > 0) out->slope = ((double)m * sts - st * ss) / den;
  }
  if (first < ns) {
    size_t nr = ns - first;
    double *r = malloc(nr * sizeof *r);
    if (!r) return err_set(err, CS_ENOMEM, "out of memory");
    for (size_t i = 0; i < nr; i++) r[i] = S[first + i] / thr[first + i];
    qsort(r, nr, sizeof *r, cmp_double);
    out->ratio_median = quantile(r, nr, 0.5);
    out->ratio_iqr = quantile(r, nr, 0.75) - quantile(r, nr, 0.25);
    out->ratio_count = (long)nr;
    free(r);
  }
  for (size_t i = 0; i + 1 < nl; i++) {
    int up = loss[i + 1] > loss[i];
    if (out->onset < 0 || lstep[i] < out->onset) {
      out->loss_steps_before++;
      out->loss_up_before += up;
    } else {
      out->loss_steps_after++;
      out->loss_up_after += up;
    }
  }
  if (out_norm && ns >= 2) {
    long anomalies = 0;
    for (size_t i = 1; i < ns; i++)
      anomalies += (out_norm[i] - out_norm[i - 1]) * (S[i] - S[i - 1]) < 0;
    out->anomaly_fraction = (double)anomalies / (double)(ns - 1);
  }
  if (label_phases(o, sstep, S, thr, ns, out)) return err_set(err, CS_ENOMEM, "out of memory");
  return CS_OK;
}

void eos_summary_free(EosSummary *s) {
  if (!s) return;
  free(s->phases);
  s->phases = NULL;
  s->nphases = 0;
}
