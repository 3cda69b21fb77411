/*
 * test_studies.c: the edge-of-stability analysis (studies/eos.h) on synthetic trajectories.
 *
 * Every expected value below is worked out by hand from the definitions in eos.h and
 * docs/EOS.md (onset t*, least-squares slope before t*, r_t = S_t/threshold,
 * loss increases L_{t+1} > L_t counted at t, anomaly points (ΔA)(ΔS) < 0, and the
 * phase labeller: running median of 5, dead-band 1% of the threshold, merge of runs
 * shorter than 3 samples, Phase III ending at the peak or at the downward crossing).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "studies/eos.h"
#include "tests/tap.h"

/* ---------------------------------------------------------------------------------- */

/* A rise that reaches the threshold 40 exactly at step 200, then oscillates around it. */
static void test_onset_slope_ratio(void) {
  enum { NS = 81 };  /* measurements every 5 steps, steps 0..400 */
  long sstep[NS];
  double S[NS], thr[NS];
  const double slope = 0.125, threshold = 40.0;  /* binary-exact: S(200) = 40 exactly */
  for (int i = 0; i < NS; i++) {
    long t = 5L * i;
    sstep[i] = t;
    thr[i] = threshold;
    if (t < 200) S[i] = 15.0 + slope * (double)t;  /* 15 .. 39.375 */
    else S[i] = threshold * (1.0 + 0.03 * sin(2.0 * M_PI * (double)(t - 200) / 40.0));
  }
  /* loss every step 0..400: decreasing, with increases at chosen steps */
  enum { NL = 401 };
  long lstep[NL];
  double loss[NL];
  static const long ups[] = {10, 150, 199, 200, 201, 250, 399};  /* 3 before t*, 4 after */
  loss[0] = 10.0;
  for (int t = 0; t < NL; t++) lstep[t] = t;
  for (int t = 0; t + 1 < NL; t++) {
    int up = 0;
    for (size_t j = 0; j < sizeof ups / sizeof *ups; j++) up |= ups[j] == t;
    loss[t + 1] = loss[t] + (up ? 0.01 : -0.001);
  }
  EosOptions o;
  eos_options_default(&o);
  tap_ok(o.smooth == 5 && fabs(o.deadband - 0.01) < 1e-15 && o.min_run == 3 &&
             o.iii_ends_at_crossing == 0,
         "defaults: median of 5, dead-band 1%%, min run 3, Phase III ends at the peak");
  EosSummary s;
  Err err = {0};
  int rc = eos_analyze(&o, sstep, S, thr, NS, lstep, loss, NL, NULL, &s, &err);
  tap_ok(rc == 0, "eos_analyze on a rise-then-oscillate trajectory (rc %d %s)", rc, err.msg);
  tap_ok(s.onset == 200, "onset t* = first measured step with S >= threshold: 200 (got %ld)",
         s.onset);
  tap_rel(s.slope, slope, 1e-10, "sharpening slope before t* = the slope used");
  tap_ok(s.ratio_count == NS - 40, "ratio counted over the %d measurements from t* (got %ld)",
         NS - 40, s.ratio_count);
  tap_ok(fabs(s.ratio_median - 1.0) < 0.01, "median r_t after t* ~ 1 (got %.6f)", s.ratio_median);
  /* r = 1 + 0.03 sin(2π k/8), k = 0..40 (41 values): sorted, positions 10 and 30 are
   * 1 ∓ 0.03·sin(π/4), so the IQR is 0.06·sin(π/4) */
  tap_rel(s.ratio_iqr, 0.06 * sin(M_PI / 4), 1e-9, "IQR of r_t = that of the ±3% oscillation");
  tap_rel(s.max_sharpness, 40.0 * 1.03, 1e-12, "max sharpness = peak of the oscillation");
  tap_ok(s.loss_steps_before == 200 && s.loss_up_before == 3,
         "loss increases before t*: 3 of 200 steps (got %ld of %ld)", s.loss_up_before,
         s.loss_steps_before);
  tap_ok(s.loss_steps_after == 200 && s.loss_up_after == 4,
         "loss increases after t*: 4 of 200 steps, t* itself counted after (got %ld of %ld)",
         s.loss_up_after, s.loss_steps_after);
  tap_ok(isnan(s.anomaly_fraction), "no out_norm: anomaly fraction is NAN (got %g)",
         s.anomaly_fraction);
  tap_ok(s.nphases >= 2 && !strcmp(s.phases[0].label, "II") && s.phases[0].start_step == 0 &&
             s.phases[s.nphases - 1].end_step == 400,
         "phases start with II at step 0 and cover up to the last measurement (%d phases)",
         s.nphases);
  int iii = 0;
  for (int i = 0; i < s.nphases; i++) iii |= !strcmp(s.phases[i].label, "III") && s.phases[i].start_step == 200;
  tap_ok(iii, "a Phase III starts at t* = 200");
  eos_summary_free(&s);
  tap_ok(s.phases == NULL && s.nphases == 0, "eos_summary_free clears the phases");
}

/* The threshold is never reached. */
static void test_never(void) {
  enum { NS = 50 };
  long sstep[NS], lstep[NS];
  double S[NS], thr[NS], loss[NS];
  for (int i = 0; i < NS; i++) {
    sstep[i] = lstep[i] = 10L * i;
    S[i] = 10.0 + 0.25 * (double)sstep[i] / 10.0;  /* 0.025 per step, max 22.25 */
    thr[i] = 40.0;
    loss[i] = 1.0 / (1.0 + i);
  }
  loss[20] = loss[19] * 1.5;  /* one increase, at step 190 */
  EosOptions o;
  eos_options_default(&o);
  EosSummary s;
  Err err = {0};
  int rc = eos_analyze(&o, sstep, S, thr, NS, lstep, loss, NS, NULL, &s, &err);
  tap_ok(rc == 0, "eos_analyze on a trajectory below the threshold (rc %d)", rc);
  tap_ok(s.onset == -1, "never reached: onset -1 (got %ld)", s.onset);
  tap_ok(isnan(s.ratio_median) && isnan(s.ratio_iqr) && s.ratio_count == 0,
         "never reached: ratio median and IQR NAN, count 0 (got %g, %g, %ld)", s.ratio_median,
         s.ratio_iqr, s.ratio_count);
  tap_rel(s.slope, 0.025, 1e-10, "never reached: slope over all measurements");
  tap_ok(s.loss_steps_before == NS - 1 && s.loss_up_before == 1 && s.loss_steps_after == 0 &&
             s.loss_up_after == 0,
         "never reached: every loss step counts as before (%ld/%ld before, %ld/%ld after)",
         s.loss_up_before, s.loss_steps_before, s.loss_up_after, s.loss_steps_after);
  tap_ok(s.nphases == 1 && !strcmp(s.phases[0].label, "II"), "never reached: one Phase II (%d phases, first %s)",
         s.nphases, s.nphases ? s.phases[0].label : "-");
  eos_summary_free(&s);

  /* Above the threshold from the first measurement: onset 0, no slope (no points before). */
  for (int i = 0; i < NS; i++) S[i] = 41.0;
  rc = eos_analyze(&o, sstep, S, thr, NS, lstep, loss, NS, NULL, &s, &err);
  tap_ok(rc == 0 && s.onset == 0 && isnan(s.slope) && s.loss_steps_before == 0,
         "above from the start: onset 0, slope NAN, no steps before (onset %ld, slope %g)", s.onset,
         s.slope);
  tap_rel(s.ratio_median, 41.0 / 40.0, 1e-12, "above from the start: ratio median 41/40");
  tap_ok(s.nphases == 1 && !strcmp(s.phases[0].label, "III"), "above from the start: one Phase III");
  eos_summary_free(&s);

  /* No measurements at all: an error, not a crash. */
  err = (Err){0};
  rc = eos_analyze(&o, sstep, S, thr, 0, lstep, loss, NS, NULL, &s, &err);
  tap_ok(rc != 0 && err.msg[0], "no measurements: an error with a message ('%s')", err.msg);
  eos_summary_free(&s);
}

/* Varying threshold: onset where S first meets its own threshold, r_t uses thr_t. */
static void test_varying_threshold(void) {
  enum { NS = 6 };
  long sstep[NS] = {0, 1, 2, 3, 4, 5};
  double S[NS] = {10, 12, 14, 16, 18, 20};
  double thr[NS] = {40, 30, 20, 16, 12, 10};  /* step size grows: 2/η falls */
  EosOptions o;
  eos_options_default(&o);
  EosSummary s;
  Err err = {0};
  int rc = eos_analyze(&o, sstep, S, thr, NS, NULL, NULL, 0, NULL, &s, &err);
  tap_ok(rc == 0 && s.onset == 3, "varying threshold: onset at the first S_t >= thr_t (got %ld)",
         s.onset);
  /* r = 1, 1.5, 2 -> median 1.5, IQR 1.75 - 1.25 = 0.5 */
  tap_rel(s.ratio_median, 1.5, 1e-12, "varying threshold: ratios use the threshold at each step");
  tap_rel(s.ratio_iqr, 0.5, 1e-12, "varying threshold: IQR by linear interpolation");
  tap_rel(s.slope, 2.0, 1e-12, "varying threshold: slope over the 3 points before t*");
  tap_ok(s.loss_steps_before == 0 && s.loss_steps_after == 0, "no loss data: no loss steps");
  eos_summary_free(&s);
}

/* Anomaly points: (A_t − A_{t−1})(S_t − S_{t−1}) < 0. */
static void test_anomaly(void) {
  enum { NS = 11 };
  long sstep[NS];
  double S[NS], thr[NS], A[NS];
  /* S rises by 1 each measurement; A rises too except at 3 measurements where it falls. */
  A[0] = 5.0;
  for (int i = 0; i < NS; i++) {
    sstep[i] = 10L * i;
    S[i] = 1.0 + i;
    thr[i] = 100.0;
    if (i) A[i] = A[i - 1] + ((i == 2 || i == 5 || i == 9) ? -0.5 : 0.25);
  }
  EosOptions o;
  eos_options_default(&o);
  EosSummary s;
  Err err = {0};
  int rc = eos_analyze(&o, sstep, S, thr, NS, NULL, NULL, 0, A, &s, &err);
  tap_ok(rc == 0, "eos_analyze with an out_norm series");
  tap_rel(s.anomaly_fraction, 3.0 / 10.0, 1e-12, "anomaly fraction: 3 of 10 increments disagree");
  eos_summary_free(&s);
  /* A constant increment (ΔA = 0) is not an anomaly; S falling while A rises is. */
  for (int i = 0; i < NS; i++) A[i] = (i < 5) ? 2.0 : 2.0 + i;  /* flat, then rising */
  for (int i = 6; i < NS; i++) S[i] = S[5] - (i - 5);            /* S falls from i = 6 */
  rc = eos_analyze(&o, sstep, S, thr, NS, NULL, NULL, 0, A, &s, &err);
  /* i=1..4: ΔA = 0 -> no; i=5: ΔA>0, ΔS>0 -> no; i=6..10: ΔA>0, ΔS<0 -> 5 anomalies */
  tap_rel(s.anomaly_fraction, 5.0 / 10.0, 1e-12, "anomaly fraction: ties are not anomalies");
  eos_summary_free(&s);
}

/* Piecewise-linear triangle through (i, v) vertices, slope ±0.5 per sample. */
static int triangle(const int *vi, const double *vv, int nv, double *S) {
  int n = vi[nv - 1] + 1;
  for (int k = 0; k + 1 < nv; k++)
    for (int i = vi[k]; i <= vi[k + 1]; i++)
      S[i] = vv[k] + (vv[k + 1] - vv[k]) * (double)(i - vi[k]) / (double)(vi[k + 1] - vi[k]);
  return n;
}

/* eos_analyze on S[0..n) at steps stride·i, threshold 10 throughout (n <= 64). */
static int analyze_at_10(const EosOptions *o, const double *S, int n, long stride,
                         EosSummary *s) {
  double thr[64];
  long step[64];
  for (int i = 0; i < n; i++) step[i] = stride * i, thr[i] = 10.0;
  Err err = {0};
  return eos_analyze(o, step, S, thr, (size_t)n, NULL, NULL, 0, NULL, s, &err);
}

static int phases_are(const EosSummary *s, const char *const *lab, const long (*se)[2], int np,
                      const char *name) {
  int ok = s->nphases == np;
  for (int i = 0; ok && i < np; i++)
    ok = !strcmp(s->phases[i].label, lab[i]) && s->phases[i].start_step == se[i][0] &&
         s->phases[i].end_step == se[i][1];
  char got[512] = "";
  for (int i = 0; i < s->nphases; i++) {
    char b[48];
    snprintf(b, sizeof b, " %s[%ld-%ld]", s->phases[i].label, s->phases[i].start_step,
             s->phases[i].end_step);
    strncat(got, b, sizeof got - strlen(got) - 1);
  }
  char want[512] = "";
  for (int i = 0; i < np; i++) {
    char b[48];
    snprintf(b, sizeof b, " %s[%ld-%ld]", lab[i], se[i][0], se[i][1]);
    strncat(want, b, sizeof want - strlen(want) - 1);
  }
  return tap_ok(ok, "%s: phases%s (want%s)", name, got, want);
}

/*
 * The phase labeller on a II -> III -> IV -> II -> III cycle. Threshold 10, dead-band 0.1,
 * measurements every 10 steps (sample i is step 10 i). S is a triangle wave with slope
 * ±0.5 per sample: 5 at i=0 up to 12 at i=14, down to 6 at i=26, up to 12 at i=38.
 * The running median of 5 equals S on monotone stretches; at the peak it is 11, 11.5,
 * 11.5, 11.5, 11 for i = 12..16 (flat within the dead-band at 14, 15, falling at 16);
 * at the valley 7, 6.5, 6.5, 6.5, 7 for i = 24..28 (rising again at 28).
 *   i = 0..9    II   (rising, median < 10)
 *   i = 10      III  (median 10 >= threshold) ... until the peak: last i = 15
 *   i = 16      IV   (median falls by more than the dead-band)
 *   i = 28      II   (median rises again below the threshold)
 *   i = 34      III  (median reaches 10 again)
 * With Phase III ending at the downward crossing: median 10 at i = 18, 9.5 at i = 19,
 * so III covers i = 10..18 and IV starts at i = 19.
 */
static void test_phases_cycle(void) {
  static const int vi[] = {0, 14, 26, 38};
  static const double vv[] = {5, 12, 6, 12};
  double S[64];
  int n = triangle(vi, vv, 4, S);
  EosOptions o;
  eos_options_default(&o);
  EosSummary s;
  int rc = analyze_at_10(&o, S, n, 10, &s);
  tap_ok(rc == 0, "phase labeller on a II-III-IV-II-III cycle (%d samples)", n);
  static const char *const lab[] = {"II", "III", "IV", "II", "III"};
  static const long peak[][2] = {{0, 90}, {100, 150}, {160, 270}, {280, 330}, {340, 380}};
  phases_are(&s, lab, peak, 5, "Phase III ends at the peak");
  if (s.nphases == 5) {
    tap_rel(s.phases[1].max_ratio, 1.2, 1e-12, "Phase III max ratio = peak 12 / threshold 10");
    /* Phase III at the peak: S at i = 10..15 = 10, 10.5, 11, 11.5, 12, 11.5 */
    tap_rel(s.phases[1].mean_sharpness, 66.5 / 6.0, 1e-12, "Phase III mean sharpness");
  } else {
    tap_ok(0, "Phase III max ratio (phases wrong)");
    tap_ok(0, "Phase III mean sharpness (phases wrong)");
  }
  tap_ok(s.onset == 100, "onset of the cycle at step 100 (got %ld)", s.onset);
  eos_summary_free(&s);

  o.iii_ends_at_crossing = 1;
  rc = analyze_at_10(&o, S, n, 10, &s);
  static const long cross[][2] = {{0, 90}, {100, 180}, {190, 270}, {280, 330}, {340, 380}};
  tap_ok(rc == 0, "labeller with Phase III ending at the crossing");
  phases_are(&s, lab, cross, 5, "Phase III ends at the downward crossing");
  eos_summary_free(&s);
}

/*
 * Merging: a shallow valley (5 -> 12 at i=14, down to 8 at i=22, up to 12 at i=30) leaves
 * only two samples of Phase II on the way back up (medians 9, 9.5 at i = 24, 25; 10 at 26),
 * which are merged into the IV before them.
 */
static void test_phases_merge(void) {
  static const int vi[] = {0, 14, 22, 30};
  static const double vv[] = {5, 12, 8, 12};
  double S[64];
  int n = triangle(vi, vv, 4, S);
  EosOptions o;
  eos_options_default(&o);
  EosSummary s;
  analyze_at_10(&o, S, n, 1, &s);
  static const char *const lab[] = {"II", "III", "IV", "III"};
  static const long se[][2] = {{0, 9}, {10, 15}, {16, 25}, {26, 30}};
  phases_are(&s, lab, se, 4, "a 2-sample Phase II is merged into the Phase IV before it");
  eos_summary_free(&s);

  o.min_run = 1;
  analyze_at_10(&o, S, n, 1, &s);
  static const char *const lab1[] = {"II", "III", "IV", "II", "III"};
  static const long se1[][2] = {{0, 9}, {10, 15}, {16, 23}, {24, 25}, {26, 30}};
  phases_are(&s, lab1, se1, 5, "min_run 1: the 2-sample Phase II is kept");
  eos_summary_free(&s);
}

/*
 * Phase I: an initial decrease 8 -> 6 (i = 0..4), then a rise to 12 at i = 16.
 * Medians: 7.5, 7.25, 7, 6.5, 6.5, 6.5, 7, ... so Phase I runs to the first minimum of the
 * median (i = 5, the last of the flat 6.5 stretch), then Phase II until the median reaches
 * the threshold 10 (S = 10 at i = 12), then III.
 */
static void test_phase_one(void) {
  static const int vi[] = {0, 4, 16};
  static const double vv[] = {8, 6, 12};
  double S[64];
  int n = triangle(vi, vv, 3, S);
  EosOptions o;
  eos_options_default(&o);
  EosSummary s;
  analyze_at_10(&o, S, n, 1, &s);
  static const char *const lab[] = {"I", "II", "III"};
  static const long se[][2] = {{0, 5}, {6, 11}, {12, 16}};
  phases_are(&s, lab, se, 3, "Phase I covers the initial decrease up to the first minimum");
  eos_summary_free(&s);
}

/* Single-sample smoothing (smooth = 1) and a dead-band that hides small wiggles. */
static void test_deadband(void) {
  /* Rise to above the threshold, then wiggle by ±0.05 (< dead-band 0.1): stays III. */
  double S[40];
  int n = 0;
  for (int i = 0; i < 10; i++, n++) S[n] = 6.0 + 0.5 * i;          /* 6 .. 10.5 */
  for (int i = 0; i < 20; i++, n++) S[n] = 11.0 + (i % 2 ? 0.05 : 0.0);
  EosOptions o;
  eos_options_default(&o);
  o.smooth = 1;
  EosSummary s;
  analyze_at_10(&o, S, n, 1, &s);
  static const char *const lab[] = {"II", "III"};
  static const long se[][2] = {{0, 7}, {8, 29}};
  phases_are(&s, lab, se, 2, "wiggles inside the dead-band do not end Phase III");
  eos_summary_free(&s);
}

int main(void) {
  test_onset_slope_ratio();
  test_never();
  test_varying_threshold();
  test_anomaly();
  test_phases_cycle();
  test_phases_merge();
  test_phase_one();
  test_deadband();
  return tap_done();
}
