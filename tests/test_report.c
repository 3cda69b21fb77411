/*
 * test_report.c: the HTML report and the db/ JSON queries behind it.
 *
 * Builds databases through the db Recorder (as training would), writes reports and
 * checks: escaping (a run named <script>alert(1)</script> appears only as text), the
 * JSON query output, the downsampler (keeps global extremes, bounds the point count),
 * sections present exactly when their data exist, and the size/time bound on a
 * generated 100-run x 20000-step database.
 *
 *   test_report                 the TAP test (files in the current directory)
 *   test_report --make-db PATH  only writes the fixture database (for tests/e2e_report.sh)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "db/db_json.h"
#include "report/report.h"
#include "report/report_internal.h"
#include "tap.h"

#define NASTY "<script>alert(1)</script>"
#define ANALYZE_LAMBDA1 777.0 /* the fixture's post-hoc λ1: a value no probe measures */
#define ADAM_PRECOND_MAX 38100.0 /* the Adam run's largest preconditioned sharpness */
#define ADAM_RAW_MAX 31.0        /* and its largest raw sharpness */
#define NRUNS 5

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int check(int rc, const Err *e, const char *what) {
  if (rc) fprintf(stderr, "# %s failed: %s\n", what, e->msg);
  return rc;
}

/* One GD run with sharpness rising to 2/lr and hovering (EoS), phases, out_norm,
 * test metrics, trace; every `every` steps a measurement. */
static int run_eos(Recorder *rec, const char *name, const char *grp, double lr, long steps,
                   long every, int with_phases, int64_t *id, Err *e) {
  char cfg[256];
  snprintf(cfg, sizeof cfg, "{\"lr\":%g,\"opt\":\"gd\",\"batch\":\"full\",\"steps\":%ld,"
           "\"model\":\"mlp:784-200-10\"}", lr, steps);
  RunInfo info = {.name = name, .study = "eos", .group = grp, .config_json = cfg, .seed = 7,
                  .n_params = 159010};
  int rc = rec_run_begin(rec, &info, id, e);
  double thr = 2.0 / lr;
  for (long t = 0; t < steps && !rc; t++) {
    double onset = 0.4 * (double)steps, s;
    s = t < onset ? 0.2 * thr + 0.8 * thr * (double)t / onset
                  : thr * (1.0 + 0.05 * sin(0.05 * (double)t));
    double loss = 1.0 / (1.0 + 0.003 * (double)t) * (1.0 + (t > onset ? 0.05 * sin(0.3 * t) : 0));
    StepRecord sr = {.step = t, .epoch = (double)t, .loss = loss,
                     .accuracy = 1.0 - 0.9 * loss, .lr = lr, .wall_s = 0.01 * (double)t};
    rc = rec_step(rec, &sr, e);
    if (!rc && t % every == 0) {
      double vals[2] = {s, 0.6 * s}, res[2] = {1e-7, 3e-6};
      EigRecord er = {.step = t, .op = "hessian", .batch_size = 5000, .count = 2,
                      .values = vals, .residuals = res, .matvecs = 40 + t % 7, .wall_s = 0.05,
                      .converged = (t / every) % 97 != 5};
      rc = rec_eigs(rec, &er, e);
      if (!rc) rc = rec_metric(rec, t, "sharpness_threshold", thr, e);
      if (!rc) rc = rec_metric(rec, t, "out_norm", 3.0 + 0.01 * s, e);
    }
    if (!rc && t % (5 * every) == 0) {
      rc = rec_metric(rec, t, "test_loss", 1.1 * loss, e);
      if (!rc) rc = rec_metric(rec, t, "test_accuracy", 0.95 - 0.9 * loss, e);
    }
  }
  if (!rc && with_phases) { /* curvscope analyze at two checkpoints: top 5 and a trace */
    long at[2] = {steps / 4, steps - 1};
    for (int k = 0; k < 2 && !rc; k++) {
      double vals[5], res[5] = {1e-12, 1e-12, 1e-12, 1e-12, 1e-12};
      for (int i = 0; i < 5; i++) vals[i] = ANALYZE_LAMBDA1 * (1.0 - 0.1 * i) + k;
      EigRecord er = {.step = at[k], .op = "hessian", .batch_size = 5000, .count = 5,
                      .values = vals, .residuals = res, .matvecs = 250, .wall_s = 1.5,
                      .converged = 1, .source = "analyze"};
      rc = rec_eigs(rec, &er, e);
      if (!rc) rc = rec_metric(rec, at[k], "trace", 4000.0 + 100 * k, e);
      if (!rc) rc = rec_metric(rec, at[k], "trace_se", 40.0, e);
    }
  }
  if (!rc && with_phases) {
    long a = steps / 10, b = 4 * steps / 10, c = 6 * steps / 10;
    rc = rec_phase(rec, "I", 0, a, "{\"note\":\"</script>\"}", e);
    if (!rc) rc = rec_phase(rec, "II", a, b, "{\"operator\":\"hessian\",\"mean_sharpness\":"
                            "99.123456789012345,\"max_ratio\":1.0234567890123457}", e);
    if (!rc) rc = rec_phase(rec, "III", b, c, NULL, e);
    if (!rc) rc = rec_phase(rec, "IV", c, steps - 1, NULL, e);
    if (!rc) rc = rec_metric(rec, -1, "eos_onset", 0.4 * (double)steps, e);
    if (!rc) rc = rec_metric(rec, -1, "eos_ratio_median", 1.02, e);
  }
  if (!rc) rc = rec_run_end(rec, "finished", NULL, e);
  return rc;
}

/* The fixture: a nasty-named run with steps only, two EoS runs of one group (one with
 * phases and analyze solves at two checkpoints), an Adam run with preconditioned and
 * raw sharpness side by side (as the precond-sharpness probe records them), phases
 * computed from the preconditioned one, densities and traces, and a GD run that
 * diverged after one sharpness measurement. */
static int make_fixture(const char *path, int64_t ids[NRUNS], Err *e) {
  remove(path);
  char wal[1024];
  snprintf(wal, sizeof wal, "%s-wal", path);
  remove(wal);
  snprintf(wal, sizeof wal, "%s-shm", path);
  remove(wal);
  Db *db;
  Recorder rec;
  if (check(db_open(path, &db, e), e, "db_open")) return e->code;
  int rc = db_recorder_open(db, &rec, e);
  if (!rc) {
    RunInfo info = {.name = NASTY, .study = "train", .group = "<b>grp</b>",
                    .config_json = "{\"lr\":0.1,\"opt\":\"sgd\",\"batch\":32,"
                                   "\"note\":\"</script><script>alert(2)</script>\"}"};
    rc = rec_run_begin(&rec, &info, &ids[0], e);
    for (long t = 0; t < 300 && !rc; t++) {
      StepRecord sr = {.step = t, .loss = t < 250 ? 2.0 - t * 0.005 : NAN, .accuracy = NAN,
                       .lr = 0.1};
      rc = rec_step(&rec, &sr, e);
    }
    if (!rc) rc = rec_run_end(&rec, "diverged", "loss is NaN at step 250 <img src=x onerror=alert(3)>", e);
  }
  if (!rc) rc = run_eos(&rec, "eos η=0.02", "eos-demo", 0.02, 2000, 10, 1, &ids[1], e);
  if (!rc) rc = run_eos(&rec, "eos η=0.01", "eos-demo", 0.01, 2000, 10, 0, &ids[2], e);
  if (!rc) {
    RunInfo info = {.name = "adam", .study = "train",
                    .config_json = "{\"lr\":0.001,\"opt\":\"adam\",\"batch\":128}"};
    rc = rec_run_begin(&rec, &info, &ids[3], e);
    for (long t = 0; t < 1000 && !rc; t++) {
      StepRecord sr = {.step = t, .loss = exp(-0.003 * t), .accuracy = 1 - 0.5 * exp(-0.003 * t),
                       .lr = 0.001};
      rc = rec_step(&rec, &sr, e);
      if (!rc && t % 20 == 0) {
        double v[1] = {(ADAM_PRECOND_MAX - 100) * (1 - exp(-0.004 * t)) + 100}, res[1] = {1e-6};
        if (t == 980) v[0] = ADAM_PRECOND_MAX;
        EigRecord er = {.step = t, .op = "precond", .batch_size = 1000, .count = 1,
                        .values = v, .residuals = res, .matvecs = 30, .wall_s = 0.02,
                        .converged = 1};
        rc = rec_eigs(&rec, &er, e);
        if (!rc) rc = rec_metric(&rec, t, "precond_threshold", 38000.0, e);
        double raw[1] = {ADAM_RAW_MAX - 10 * exp(-0.01 * t)};
        EigRecord ew = {.step = t, .op = "hessian", .batch_size = 1000, .count = 1,
                        .values = raw, .residuals = res, .matvecs = 20, .wall_s = 0.01,
                        .converged = 1, .source = "probe"};
        if (t == 980) raw[0] = ADAM_RAW_MAX;
        if (!rc) rc = rec_eigs(&rec, &ew, e);
        if (!rc) rc = rec_metric(&rec, t, "sharpness_threshold", 2.0 / 0.001, e);
        if (!rc) rc = rec_metric(&rec, t, "trace", 500.0 + t, e);
      }
      if (!rc && t % 250 == 0) {
        double x[200], y[200];
        for (int i = 0; i < 200; i++) {
          x[i] = -5.0 + 0.1 * i + 0.002 * t;
          y[i] = exp(-0.5 * x[i] * x[i]) / 2.5066 + (i == 180 ? 0.01 : 1e-9);
        }
        rc = rec_density(&rec, t, "hessian", 200, x, y, e);
        /* the settings curvscope analyze --density stores beside it */
        if (!rc && t == 250) rc = rec_metric(&rec, t, "hessian_slq_probes", 10, e);
        if (!rc && t == 250) rc = rec_metric(&rec, t, "hessian_slq_lanczos_steps", 80, e);
        if (!rc && t == 250) rc = rec_metric(&rec, t, "hessian_slq_grid", 200, e);
        if (!rc && t == 250) rc = rec_metric(&rec, t, "hessian_slq_seed", 3, e);
      }
    }
    /* what study eos writes for an Adam run: phases of the preconditioned sharpness */
    if (!rc) rc = rec_phase(&rec, "II", 0, 700, "{\"operator\":\"precond\"}", e);
    if (!rc) rc = rec_phase(&rec, "III", 700, 999, "{\"operator\":\"precond\"}", e);
    if (!rc) rc = rec_metric(&rec, -1, "max_precond_sharpness", ADAM_PRECOND_MAX, e);
    if (!rc) rc = rec_run_end(&rec, "finished", NULL, e);
  }
  if (!rc) {
    RunInfo info = {.name = "gd diverges", .study = "train",
                    .config_json = "{\"lr\":3,\"opt\":\"gd\",\"batch\":\"full\"}"};
    rc = rec_run_begin(&rec, &info, &ids[4], e);
    for (long t = 0; t < 4 && !rc; t++) {
      StepRecord sr = {.step = t, .loss = pow(40.0, (double)t), .accuracy = 0.1, .lr = 3};
      rc = rec_step(&rec, &sr, e);
    }
    double v[2] = {86.0, 84.0}, res[2] = {1e-9, 1e-9};
    EigRecord er = {.step = 0, .op = "hessian", .batch_size = 300, .count = 2, .values = v,
                    .residuals = res, .matvecs = 19, .wall_s = 0.1, .converged = 1};
    if (!rc) rc = rec_eigs(&rec, &er, e);
    if (!rc) rc = rec_metric(&rec, 0, "sharpness_threshold", 2.0 / 3, e);
    if (!rc) rc = rec_metric(&rec, 0, "test_loss", 1.0, e);
    if (!rc) rc = rec_run_end(&rec, "diverged", "the loss exploded at step 3", e);
  }
  db_recorder_close(&rec);
  db_close(db);
  if (rc) fprintf(stderr, "# fixture: %s\n", e->msg);
  return rc;
}

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc((size_t)len + 1);
  if (p && fread(p, 1, (size_t)len, f) != (size_t)len) {
    free(p);
    p = NULL;
  }
  if (p) p[len] = '\0';
  fclose(f);
  if (n) *n = (size_t)len;
  return p;
}

static int has(const char *html, const char *fmt, long long id) {
  char needle[128];
  snprintf(needle, sizeof needle, fmt, id);
  return strstr(html, needle) != NULL;
}

static void test_downsample(void) {
  size_t n = 100000, maxp = 500;
  double *y = malloc(n * sizeof *y);
  size_t *keep = malloc(maxp * sizeof *keep);
  uint64_t s = 42;
  size_t imin = 0, imax = 0;
  for (size_t i = 0; i < n; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    y[i] = sin(0.001 * (double)i) + 1e-3 * (double)(s >> 40) / (double)(1 << 24);
  }
  y[77777] = 9.0;   /* a lone spike */
  y[12345] = -9.0;  /* and a dip */
  y[500] = NAN;
  for (size_t i = 0; i < n; i++) {
    if (y[i] < y[imin]) imin = i;
    if (y[i] > y[imax]) imax = i;
  }
  size_t m = report_downsample(y, n, maxp, keep);
  int got_min = 0, got_max = 0, ascending = 1;
  for (size_t i = 0; i < m; i++) {
    got_min |= keep[i] == imin;
    got_max |= keep[i] == imax;
    if (i && keep[i] <= keep[i - 1]) ascending = 0;
  }
  tap_ok(m <= maxp && m > maxp / 2, "downsample bounds the points (%zu of %zu, max %zu)", m, n,
         maxp);
  tap_ok(got_min && got_max, "downsample keeps the global min and max");
  tap_ok(ascending && keep[0] == 0 && keep[m - 1] == n - 1,
         "downsample keeps first and last, in order");
  for (size_t i = 0; i < n; i++) y[i] = 3.0;
  m = report_downsample(y, n, maxp, keep);
  tap_ok(m == 2, "a constant series shrinks to its ends (%zu points)", m);
  m = report_downsample(y, 10, maxp, keep);
  tap_ok(m == 2, "short constant series: ends only (%zu)", m);
  y[4] = 1;
  m = report_downsample(y, 10, maxp, keep);
  tap_ok(m == 5, "short series kept except flat interior (%zu)", m);
  free(y);
  free(keep);
}

/* ---- reading the page's data blob ------------------------------------------------- */

/* The dataset `key` of the page: a pointer to its object ("key":{...), or NULL. */
static const char *ds_of(const char *html, const char *key) {
  const char *ds = strstr(html, "},\"ds\":{");
  if (!ds) return NULL;
  char needle[160];
  snprintf(needle, sizeof needle, "\"%s\":{", key);
  return strstr(ds, needle);
}

static int ds_mark_is(const char *html, const char *key, const char *mark) {
  const char *d = ds_of(html, key);
  char want[64];
  snprintf(want, sizeof want, "{\"mark\":\"%s\"", mark);
  return d && !strncmp(strchr(d, '{'), want, strlen(want));
}

/* The number of values in the dataset's array `field` ("x", "e"); -1 if absent. */
static long ds_count(const char *html, const char *key, const char *field) {
  const char *d = ds_of(html, key), *end = d ? strchr(d, '}') : NULL;
  char f[16];
  snprintf(f, sizeof f, "\"%s\":[", field);
  const char *a = d ? strstr(d, f) : NULL;
  if (!a || a > end) return -1;
  a += strlen(f);
  if (*a == ']') return 0;
  long n = 1;
  for (; *a && *a != ']'; a++) n += *a == ',';
  return n;
}

/* Copies into out the descriptor of the chart that draws dataset `key` (from its
 * "cN":{"title" to the next chart), "" if no chart draws it. */
static void chart_of(const char *html, const char *key, char *out, size_t n) {
  out[0] = '\0';
  const char *charts = strstr(html, "{\"charts\":{"), *ds = strstr(html, "},\"ds\":{");
  char needle[160];
  snprintf(needle, sizeof needle, "[\"%s\",", key);
  const char *at = charts ? strstr(charts, needle) : NULL;
  if (!at || at > ds) return;
  const char *start = charts, *p;
  for (p = charts; (p = strstr(p + 1, ":{\"title\":")) && p < at;) start = p;
  const char *end = strstr(at, ":{\"title\":");
  if (!end || end > ds) end = ds;
  size_t len = (size_t)(end - start) < n - 1 ? (size_t)(end - start) : n - 1;
  memcpy(out, start, len);
  out[len] = '\0';
}

static void test_series_marks(void) {
  enum { N = 200 };
  double x[N], y[N], scratch[N];
  size_t brk[N], nbrk;
  for (int i = 0; i < N; i++) x[i] = 10.0 * i, y[i] = sin(0.1 * i);
  tap_ok(report_series_mark(x, y, 1, scratch, brk, &nbrk) == REPORT_MARK_POINTS && !nbrk,
         "one measurement: a point");
  tap_ok(report_series_mark(x, y, 2, scratch, brk, &nbrk) == REPORT_MARK_POINTS,
         "two measurements: points");
  tap_ok(report_series_mark(x, y, 20, scratch, brk, &nbrk) == REPORT_MARK_LINEPOINTS && !nbrk,
         "20 measurements (e.g. test loss every 100 of 2000 steps): points joined, visible");
  tap_ok(report_series_mark(x, y, REPORT_SPARSE_POINTS, scratch, brk, &nbrk) ==
             REPORT_MARK_LINE && !nbrk,
         "%d regular measurements: a line", REPORT_SPARSE_POINTS);
  for (int i = 0; i < N; i++) x[i] = 10.0 * i + (i % 3) * 4.0; /* irregular, no hole */
  tap_ok(report_series_mark(x, y, N, scratch, brk, &nbrk) == REPORT_MARK_LINE && !nbrk,
         "irregular spacing without a hole: still a line");
  for (int i = 0; i < N; i++) x[i] = 10.0 * i + (i >= 120 ? 500.0 : 0.0); /* a hole */
  ReportMark m = report_series_mark(x, y, N, scratch, brk, &nbrk);
  tap_ok(m == REPORT_MARK_LINEPOINTS && nbrk == 1 && brk[0] == 120,
         "a hole of 50 spacings: points visible, the line breaks at the measurement after it "
         "(%s, %zu breaks, at %zu)", report_mark_name(m), nbrk, nbrk ? brk[0] : 0);
  for (int i = 0; i < N; i++) x[i] = 10.0 * i, y[i] = i % 2 ? NAN : 1.0;
  m = report_series_mark(x, y, N, scratch, brk, &nbrk);
  tap_ok(m == REPORT_MARK_LINE && !nbrk, "NaN values are not measurements: every other step "
         "measured is still a regular series (%s)", report_mark_name(m));
  for (int i = 3; i < N; i++) y[i] = NAN;
  tap_ok(report_series_mark(x, y, N, scratch, brk, &nbrk) == REPORT_MARK_POINTS,
         "two finite values among 200: points");
}

/* The page's text as a reader sees it: <main> without tags and scripts. */
static char *page_text(const char *html) {
  const char *p = strstr(html, "<main>"), *end = p ? strstr(p, "</main>") : NULL;
  if (!end) return NULL;
  char *t = malloc((size_t)(end - p) + 1), *w = t;
  if (!t) return NULL;
  for (int tag = 0; p < end; p++) {
    if (*p == '<') tag = 1;
    else if (*p == '>') tag = 0, *w++ = ' ';
    else if (!tag) *w++ = *p;
  }
  *w = '\0';
  return t;
}

/* The first number in text with more than 4 significant digits (into out), 0 if none. */
static int long_number(const char *text, char *out, size_t n) {
  for (const char *p = text; *p; p++) {
    if (!(*p >= '0' && *p <= '9') || (p > text && ((p[-1] >= '0' && p[-1] <= '9') || p[-1] == '.')))
      continue;
    const char *q = p;
    int digits = 0, lead = 1, dot = 0;
    for (; (*q >= '0' && *q <= '9') || (*q == '.' && !dot && q[1] >= '0' && q[1] <= '9'); q++) {
      if (*q == '.') { dot = 1; continue; }
      if (*q != '0') lead = 0;
      if (!lead) digits++;
    }
    if (dot && digits > 4) {
      snprintf(out, n, "%.*s", (int)(q - p), p);
      return 1;
    }
    p = q - 1;
  }
  return 0;
}

/* How the page reads: loss stacked above the sharpness with the EoS onset, numbers by
 * one rule, phase details and the configuration as tables, the density axis where its
 * mass is and the SLQ settings, the comparison's configuration diff and test metrics. */
static void test_readable(Db *db, const int64_t ids[NRUNS]) {
  Err e = {0};
  ReportStats st;
  ReportOpts o = {.output = "test_report_readable.html"};
  if (!tap_ok(report_write(db, &o, &st, &e) == 0, "report for the reading checks (%s)", e.msg))
    return;
  char *html = slurp("test_report_readable.html", NULL);
  if (!tap_ok(html != NULL, "report read back")) return;
  char key[160], c[8192];
  long long eos = ids[1], eos2 = ids[2], adam = ids[3], boom = ids[4];

  snprintf(key, sizeof key, "r%lld.eig.hessian.0", eos);
  chart_of(html, key, c, sizeof c);
  snprintf(key, sizeof key, ",\"top\":{\"y\":\"train loss\",\"log\":1,\"lines\":[[\"r%lld.loss\","
           "\"train loss\"]]}", eos);
  tap_ok(strstr(c, key) && strstr(c, ",\"vrule\":[800,\"EoS onset, step 800\"]"),
         "GD: the training loss stacked above the sharpness, a rule at the EoS onset (step 800)");
  snprintf(key, sizeof key, "r%lld.eig.precond.0", adam);
  chart_of(html, key, c, sizeof c);
  tap_ok(strstr(c, "\"top\":{") != NULL, "Adam: the loss stacked above the preconditioned sharpness");
  snprintf(key, sizeof key, "r%lld.eig.hessian.0", adam);
  chart_of(html, key, c, sizeof c);
  tap_ok(c[0] && !strstr(c, "\"top\"") && !strstr(c, "\"vrule\""),
         "Adam: not above its raw sharpness, which no threshold bounds");
  snprintf(key, sizeof key, "r%lld.eig.hessian.0", boom);
  chart_of(html, key, c, sizeof c);
  tap_ok(strstr(c, "\"top\":{") && !strstr(c, "\"vrule\""),
         "a diverged GD run: loss above its sharpness, no onset (never analysed)");

  char *text = page_text(html), bad[64] = "";
  tap_ok(text && !long_number(text, bad, sizeof bad) && strstr(text, "99.12"),
         "no number in the page's text has more than 4 significant digits (%s)",
         bad[0] ? bad : "none; the phase detail's 99.123456789012345 reads 99.12");
  free(text);
  snprintf(key, sizeof key, "id=\"run-%lld-phases\"", eos);
  const char *ph = strstr(html, key), *ph_end = ph ? strstr(ph, "</section>") : NULL;
  const char *col = ph ? strstr(ph, "<th>mean_sharpness</th><th>max_ratio</th>") : NULL;
  const char *cell = ph ? strstr(ph, "<td>hessian</td><td>99.12</td><td>1.023</td>") : NULL;
  const char *raw = ph ? strstr(ph, "{&quot;") : NULL;
  tap_ok(col && cell && col < ph_end && cell < ph_end && (!raw || raw > ph_end),
         "phase details as a table: a column per detail key, numbers by the rule, no raw JSON");
  snprintf(key, sizeof key, "id=\"run-%lld-config\"", eos);
  const char *cf = strstr(html, key), *cf_end = cf ? strstr(cf, "</section>") : NULL;
  const char *lr = cf ? strstr(cf, "<tr><th>lr</th><td>0.02</td></tr>") : NULL;
  const char *pre = cf ? strstr(cf, "<pre") : NULL;
  tap_ok(lr && lr < cf_end && (!pre || pre > cf_end),
         "the configuration as a table of keys and values");

  snprintf(key, sizeof key, "r%lld.dens.0.0", adam);
  chart_of(html, key, c, sizeof c);
  const char *ym = strstr(c, "\"ymin\":");
  double ymin = ym ? strtod(ym + 7, NULL) : NAN;
  tap_ok(ymin > 1e-4 && ymin < 0.01,
         "density: the log y axis starts at %g, where the mass is (the tails are 1e-9, a bump of "
         "0.01 stays in view)", ymin);
  snprintf(key, sizeof key, "id=\"run-%lld-density\"", adam);
  const char *dn = strstr(html, key), *dn_end = dn ? strstr(dn, "</section>") : NULL;
  const char *slq = dn ? strstr(dn, "step 250: 10 probes, 80 Lanczos steps, 200 grid points, "
                                    "seed 3") : NULL;
  tap_ok(slq && slq < dn_end, "density: the SLQ settings stored with it are shown");
  double y[6] = {0.3, 0.5, 1e-9, 0.15, 0.005, 0.045}, scratch[6];
  tap_ok(rep_density_floor(y, 6, scratch) == 0.005 && isnan(rep_density_floor(y, 0, scratch)),
         "rep_density_floor: the smallest of the values that carry 99.9%% of the mass");

  const char *cmp = strstr(html, "<table class=\"data cmp\">");
  const char *cmp_end = cmp ? strstr(cmp, "</table>") : NULL;
  snprintf(key, sizeof key, "<a href=\"#run-%lld\">eos η=0.02</a></th><th><a href=\"#run-%lld\">"
           "eos η=0.01</a>", eos, eos2);
  const char *heads = cmp ? strstr(cmp, key) : NULL;
  const char *dlr = cmp ? strstr(cmp, "<tr class=\"config\"><th>lr</th><td>0.02</td>"
                                      "<td class=\"diff\">0.01</td></tr>") : NULL;
  const char *same = cmp ? strstr(cmp, "<th>opt</th>") : NULL;
  const char *tl = cmp ? strstr(cmp, "<tr class=\"result\"><th>final test loss</th>") : NULL;
  tap_ok(heads && dlr && dlr < cmp_end && (!same || same > cmp_end) && tl && tl < cmp_end,
         "comparison: the configuration keys that differ (lr, highlighted), not those that do "
         "not (opt), and the final test metrics");
  snprintf(key, sizeof key, "\"title\":\"test loss\",\"y\":\"test loss\",\"log\":1,\"lines\":"
           "[[\"r%lld.m.test_loss\",\"eos η=0.02 (η=0.02)\"],[\"r%lld.m.test_loss\",", eos, eos2);
  const char *tc = strstr(html, key);
  snprintf(key, sizeof key, "\"title\":\"test accuracy\",\"y\":\"test accuracy\",\"lines\":"
           "[[\"r%lld.m.test_accuracy\"", eos);
  tap_ok(tc && strstr(html, key), "comparison: test loss and test accuracy of the group's runs");
  free(html);
}

/* What a reader is told: which operator each chart and number is about, sparse series
 * drawn as points, analyze results as their own points. */
static void test_honest_charts(Db *db, const int64_t ids[NRUNS]) {
  Err e = {0};
  ReportStats st;
  ReportOpts o = {.output = "test_report_honest.html"};
  if (!tap_ok(report_write(db, &o, &st, &e) == 0, "report for the chart checks (%s)", e.msg))
    return;
  char *html = slurp("test_report_honest.html", NULL);
  if (!tap_ok(html != NULL, "report read back")) return;
  char key[96], c[8192];
  long long eos = ids[1], adam = ids[3], boom = ids[4];

  /* Adam: the preconditioned sharpness against Adam's threshold, phases there only. */
  snprintf(key, sizeof key, "r%lld.eig.precond.0", adam);
  chart_of(html, key, c, sizeof c);
  tap_ok(strstr(c, "\"bands\":[[0,700,\"II\"],[700,999,\"III\"]]") &&
             strstr(c, "\"Adam's threshold 38/η\"") &&
             strstr(c, "\"λ1 (preconditioned sharpness)\"") &&
             strstr(c, "\"y\":\"eigenvalue of P^-1/2 H P^-1/2\""),
         "Adam: preconditioned sharpness vs Adam's threshold 38/η, its phases shaded");
  snprintf(key, sizeof key, "r%lld.m.precond_threshold", adam);
  tap_ok(strstr(c, key) != NULL, "Adam: the dashed line is precond_threshold");
  snprintf(key, sizeof key, "r%lld.eig.hessian.0", adam);
  chart_of(html, key, c, sizeof c);
  tap_ok(c[0] && !strstr(c, "\"bands\"") && !strstr(c, "\"dashed\"") &&
             strstr(c, "\"λ1 (sharpness)\"") && strstr(c, "raw Hessian"),
         "Adam: the raw sharpness chart has no 2/η line and no phases (%.80s)", c);
  snprintf(key, sizeof key, "r%lld.eig.hessian.0", eos);
  chart_of(html, key, c, sizeof c);
  tap_ok(strstr(c, "\"bands\":[[0,200,\"I\"]") && strstr(c, "\"threshold 2/η\"") &&
             strstr(c, "\"y\":\"eigenvalue of H\""),
         "GD: the sharpness against 2/η, with its phases");
  snprintf(key, sizeof key, "id=\"run-%lld-precond\"", adam);
  const char *pre = strstr(html, key);
  snprintf(key, sizeof key, "id=\"run-%lld-sharpness\"", adam);
  const char *raw = strstr(html, key);
  tap_ok(pre && raw && pre < raw, "Adam: its edge-of-stability chart (preconditioned) comes first");
  snprintf(key, sizeof key, "id=\"run-%lld-results\"", adam);
  const char *res = strstr(html, key);
  tap_ok(res && strstr(res, "<th>max_precond_sharpness</th>") &&
             strstr(res, "analysis on the preconditioned sharpness"),
         "Adam: the run-level result is named the preconditioned sharpness");
  tap_ok(strstr(html, "<th title=\"largest λ1 of the Hessian H\">max sharpness</th>") &&
             strstr(html, ">max preconditioned sharpness</th>"),
         "index: two columns, sharpness and preconditioned sharpness");
  snprintf(key, sizeof key, "href=\"#run-%lld\">adam</a>", adam);
  const char *row = strstr(html, key), *row_end = row ? strstr(row, "</tr>") : NULL;
  char v1[64], v2[64];
  snprintf(v1, sizeof v1, "data-v=\"%.17g\"", ADAM_RAW_MAX);
  snprintf(v2, sizeof v2, "data-v=\"%.17g\"", ADAM_PRECOND_MAX);
  const char *a1 = row ? strstr(row, v1) : NULL, *a2 = row ? strstr(row, v2) : NULL;
  tap_ok(a1 && a2 && a1 < a2 && a2 < row_end,
         "index: the Adam run's max sharpness %g, then its max preconditioned sharpness %g",
         ADAM_RAW_MAX, ADAM_PRECOND_MAX);
  RunSummary *rs = NULL;
  size_t n = 0;
  int found = 0;
  if (!db_run_summaries(db, &rs, &n, &e)) {
    for (size_t i = 0; i < n; i++) {
      if (rs[i].id == adam)
        found += rs[i].max_sharpness == ADAM_RAW_MAX &&
                 rs[i].max_precond_sharpness == ADAM_PRECOND_MAX;
      else if (rs[i].id == eos)
        found += 2 * (isnan(rs[i].max_precond_sharpness) && rs[i].max_sharpness > 0);
    }
  }
  free(rs);
  tap_ok(found == 3, "RunSummary: max_sharpness raw, max_precond_sharpness preconditioned "
         "(NAN for a GD run)");

  /* Sparse series are points. */
  snprintf(key, sizeof key, "r%lld.eig.hessian.0", boom);
  tap_ok(ds_mark_is(html, key, "points") && ds_count(html, key, "x") == 1,
         "a diverged run's single sharpness is a point");
  snprintf(key, sizeof key, "r%lld.m.sharpness_threshold", boom);
  tap_ok(ds_mark_is(html, key, "points"), "and so is its single threshold");
  snprintf(key, sizeof key, "r%lld.m.test_loss", eos);
  tap_ok(ds_mark_is(html, key, "linepoints") && ds_count(html, key, "x") == 40,
         "test loss every 50 of 2000 steps: 40 visible points, thinly joined");
  snprintf(key, sizeof key, "r%lld.eig.hessian.0", eos);
  tap_ok(ds_mark_is(html, key, "line") && ds_count(html, key, "x") == 200,
         "sharpness every 10 steps: a line of its 200 measurements");
  snprintf(key, sizeof key, "r%lld.m.trace", eos);
  tap_ok(ds_mark_is(html, key, "points") && ds_count(html, key, "x") == 2 &&
             ds_count(html, key, "e") == 2,
         "two traces: points with their ± standard error");

  /* analyze results: their own points, labelled, never in the probe's series. */
  snprintf(key, sizeof key, "r%lld.eig.hessian.4.analyze", eos);
  tap_ok(ds_mark_is(html, key, "checkpoint") && ds_count(html, key, "x") == 2,
         "analyze's λ5 at its two checkpoints: a post-hoc dataset of 2 points");
  chart_of(html, key, c, sizeof c);
  snprintf(v1, sizeof v1, "[\"r%lld.eig.hessian.0\",\"λ1 (sharpness)\"]", eos);
  tap_ok(strstr(c, "\"λ5 analyze (checkpoint)\"") && strstr(c, v1),
         "on the same chart as the probe's λ1, labelled analyze (checkpoint)");
  snprintf(key, sizeof key, "r%lld.eig.hessian.0", eos);
  const char *d = ds_of(html, key), *dend = d ? strchr(d, '}') : NULL;
  const char *hit = d ? strstr(d, "777") : NULL;
  tap_ok(d && (!hit || hit > dend), "the probe's series holds no analyze value");
  snprintf(key, sizeof key, "id=\"run-%lld-solver\"", eos);
  const char *solver = strstr(html, key);
  tap_ok(solver && strstr(solver, "analyze (checkpoint)</td><td>500</td><td>5000</td>"
                                  "<td class=\"num\">777, 699.3, 621.6, 543.9, 466.2</td>") &&
             strstr(solver, "probe (training)</td>") &&
             strstr(solver, "(2 by <code>curvscope analyze"),
         "the eigenvalue table says where each came from, with the analyze values");

  /* The comparison holds every run against its own threshold. */
  snprintf(key, sizeof key, "r%lld.ratio", eos);
  chart_of(html, key, c, sizeof c);
  tap_ok(strstr(c, "sharpness / stability threshold") && strstr(c, "\"hrule\":1") &&
             ds_count(html, key, "x") > 0,
         "comparison: sharpness / threshold per run");
  free(html);
}

static void test_escape_and_json(Db *db) {
  StrBuf b;
  sb_init(&b);
  report_html_escape(&b, "a<b>&\"'");
  tap_ok(!strcmp(b.p, "a&lt;b&gt;&amp;&quot;&#39;"), "html escape: %s", b.p);
  sb_reset(&b);
  Err e = {0};
  int64_t bind = 3;
  int rc = db_query_json(db, "SELECT 1, 2.5, NULL, 'a<b\"', ?1, 0.0/0.0", &bind, 1, &b, &e);
  tap_ok(!rc && !strcmp(b.p, "[[1,2.5,null,\"a\\u003cb\\\"\",3,null]]"), "db_query_json row: %s",
         b.p ? b.p : e.msg);
  sb_reset(&b);
  rc = db_query_json_cols(db, "SELECT id, name FROM runs WHERE id=?1", &bind, 1, &b, &e);
  tap_ok(!rc && strstr(b.p, "{\"cols\":[\"id\",\"name\"],\"rows\":[[3,") == b.p,
         "db_query_json_cols: %.60s", b.p ? b.p : e.msg);
  sb_reset(&b);
  rc = db_query_json(db, "SELECT 1 WHERE 0", NULL, 0, &b, &e);
  tap_ok(!rc && !strcmp(b.p, "[]"), "empty result is []");
  sb_reset(&b);
  rc = db_query_json(db, "DELETE FROM runs", NULL, 0, &b, &e);
  tap_ok(rc == CS_EINVAL, "a writing statement is refused (%s)", e.msg);
  rc = db_query_json(db, "SELECT nope FROM nowhere", NULL, 0, &b, &e);
  tap_ok(rc == CS_EDB, "a bad query gives CS_EDB (%s)", e.msg);
  DbRows rows;
  rc = db_query_rows(db, "SELECT step, loss FROM steps WHERE run_id=1 ORDER BY step", NULL, 0,
                     &rows, &e);
  tap_ok(!rc && rows.nrow == 300 && rows.ncol == 2 && isnan(rows.v[2 * 260 + 1]),
         "db_query_rows: 300 rows, NULL loss as NaN");
  db_rows_free(&rows);
  sb_free(&b);
}

static void test_fixture_report(Db *db, const int64_t ids[NRUNS]) {
  Err e = {0};
  ReportStats st;
  ReportOpts o = {.output = "test_report.html"};
  int rc = report_write(db, &o, &st, &e);
  if (!tap_ok(rc == 0, "report_write on the fixture (%s)", rc ? e.msg : "ok")) return;
  size_t n = 0;
  char *html = slurp("test_report.html", &n);
  tap_ok(html && n == st.bytes, "file written, %zu bytes as reported", n);
  if (!html) return;
  tap_ok(st.runs == NRUNS, "%d runs in the report", NRUNS);
  tap_ok(!strstr(html, NASTY), "the raw <script>alert(1)</script> never appears");
  tap_ok(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;") != NULL,
         "the escaped name appears as text");
  tap_ok(!strstr(html, "alert(2)</script>") && !strstr(html, "<script>alert(2)"),
         "config strings escaped");
  tap_ok(!strstr(html, "<img src=x"), "run error text escaped");
  tap_ok(!strstr(html, "<b>grp</b>"), "group name escaped");
  /* Count <script elements: 1 data + 3 vendor + 1 report.js. */
  int nscript = 0;
  for (const char *p = html; (p = strstr(p, "<script")); p++) nscript++;
  tap_ok(nscript == 5, "exactly the 5 expected <script> elements (%d)", nscript);
  tap_ok(strstr(html, "id=\"cs-runs\"") != NULL, "run index table present");
  tap_ok(has(html, "id=\"run-%lld-training\"", ids[0]), "nasty run: training section");
  tap_ok(!has(html, "id=\"run-%lld-sharpness\"", ids[0]) &&
         !has(html, "id=\"run-%lld-density\"", ids[0]) &&
         !has(html, "id=\"run-%lld-solver\"", ids[0]) &&
         !has(html, "id=\"run-%lld-phases\"", ids[0]),
         "nasty run: no sharpness/density/solver/phases sections (no data)");
  tap_ok(has(html, "id=\"run-%lld-sharpness\"", ids[1]) &&
         has(html, "id=\"run-%lld-phases\"", ids[1]) &&
         has(html, "id=\"run-%lld-out_norm\"", ids[1]) &&
         has(html, "id=\"run-%lld-solver\"", ids[1]) &&
         has(html, "id=\"run-%lld-results\"", ids[1]),
         "EoS run: sharpness, phases, out_norm, solver, results sections");
  tap_ok(has(html, "\"r%lld.m.sharpness_threshold\"", ids[1]) &&
         strstr(html, "\"bands\":[[0,200,\"I\"]") != NULL,
         "sharpness chart has the threshold series and phase bands");
  tap_ok(!has(html, "id=\"run-%lld-phases\"", ids[2]) &&
         !has(html, "id=\"run-%lld-precond\"", ids[2]), "second EoS run: no phases, no precond");
  tap_ok(has(html, "id=\"run-%lld-density\"", ids[3]) &&
         has(html, "id=\"run-%lld-precond\"", ids[3]) &&
         has(html, "id=\"run-%lld-trace\"", ids[3]) &&
         has(html, "id=\"run-%lld-sharpness\"", ids[3]) &&
         !has(html, "id=\"run-%lld-out_norm\"", ids[3]),
         "Adam run: density, precond, trace, raw sharpness; no out_norm");
  tap_ok(strstr(html, "id=\"compare\"") && strstr(html, "group eos-demo"),
         "comparison view for group eos-demo");
  tap_ok(strstr(html, "not converged") != NULL, "solver diagnostics summary");
  free(html);

  /* Filters. */
  int64_t one[1] = {ids[3]};
  ReportOpts o2 = {.output = "test_report_one.html", .run_ids = one, .n_runs = 1};
  rc = report_write(db, &o2, &st, &e);
  tap_ok(rc == 0 && st.runs == 1, "--run chooses one run");
  ReportOpts o3 = {.output = "test_report_eos.html", .study = "eos"};
  rc = report_write(db, &o3, &st, &e);
  tap_ok(rc == 0 && st.runs == 2, "--study eos chooses the two EoS runs");
  int64_t none[1] = {999};
  ReportOpts o4 = {.output = "test_report_none.html", .run_ids = none, .n_runs = 1};
  rc = report_write(db, &o4, &st, &e);
  tap_ok(rc == CS_ENOTFOUND && strstr(e.msg, "999"), "a missing run is named (%s)", e.msg);
  ReportOpts o5 = {.output = "test_report_none.html", .study = "nope"};
  rc = report_write(db, &o5, &st, &e);
  tap_ok(rc == CS_ENOTFOUND, "an unknown study is refused (%s)", e.msg);
  ReportOpts o6 = {.output = "/nonexistent-dir/x.html"};
  rc = report_write(db, &o6, &st, &e);
  tap_ok(rc == CS_EIO, "unwritable output gives CS_EIO (%s)", e.msg);
}

/* 100 runs x 20000 steps: loss/accuracy every step, sharpness (top 2) + threshold +
 * out_norm every 20 steps, test metrics every 100. */
static void test_big(void) {
  const char *path = "test_report_big.db";
  const char *tag = "test_report_big.db.v2";
  Err e = {0};
  FILE *f = fopen(tag, "r");
  int have = f != NULL;
  if (f) fclose(f);
  if (have) { /* reuse only a database this build can still open */
    Db *probe = NULL;
    if (db_open(path, &probe, &e)) have = 0;
    db_close(probe);
  }
  double t0 = now_s();
  if (!have) {
    remove(path);
    Db *db;
    Recorder rec;
    int rc = db_open(path, &db, &e);
    if (!rc) rc = db_recorder_open(db, &rec, &e);
    for (int r = 0; r < 100 && !rc; r++) {
      char name[32];
      int64_t id;
      snprintf(name, sizeof name, "big-%03d", r);
      rc = run_eos(&rec, name, r < 10 ? "big-group" : NULL, 0.01 + 0.0001 * r, 20000, 20, r % 2,
                   &id, &e);
    }
    if (!rc) db_recorder_close(&rec);
    db_close(db);
    if (!tap_ok(rc == 0, "generated the 100 x 20000 database (%s)", rc ? e.msg : "ok")) return;
    f = fopen(tag, "w");
    if (f) fclose(f);
  } else {
    tap_ok(1, "reusing the generated 100 x 20000 database (%s)", path);
  }
  tap_diag("generating took %.1f s", now_s() - t0);
  Db *db;
  if (!tap_ok(db_open(path, &db, &e) == 0, "open big db")) return;
  ReportStats st;
  ReportOpts o = {.output = "test_report_big.html"};
  clock_t c0 = clock(); /* the report is single-threaded: process CPU time is its own */
  int rc = report_write(db, &o, &st, &e);
  double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
  db_close(db);
  if (!tap_ok(rc == 0, "report on 100 runs x 20000 steps (%s)", rc ? e.msg : "ok")) return;
  tap_diag("big report: %zu bytes, %zu charts, %zu -> %zu points, %.2f s (%.2f s of CPU)",
           st.bytes, st.charts, st.points_in, st.points_out, st.seconds, cpu);
  tap_ok(st.bytes < 10u * 1000 * 1000, "big report under 10 MB (%.2f MB)", st.bytes / 1e6);
  /* The target is 5 s on an idle machine. The test machine is shared (wall times of 9-18 s
   * measured at a load of 14-29 on 2 cores for the same work), so the bound is on the
   * report's own CPU time, and fails only at 3x. */
  tap_ok(cpu < 15.0, "big report took %.2f s of CPU (target < 5 s; %.2f s wall)", cpu,
         st.seconds);
  tap_ok(st.points_in >= 100u * 20000u * 2u, "every step was read (%zu points)", st.points_in);
}

int main(int argc, char **argv) {
  Err e = {0};
  int64_t ids[NRUNS];
  if (argc == 3 && !strcmp(argv[1], "--make-db")) return make_fixture(argv[2], ids, &e) ? 1 : 0;
  if (report_assets_check(&e)) {
    printf("1..0 # SKIP %s\n", e.msg);
    return 0;
  }
  test_downsample();
  test_series_marks();
  if (!tap_ok(make_fixture("test_report.db", ids, &e) == 0, "fixture database written"))
    return tap_done();
  Db *db;
  if (!tap_ok(db_open("test_report.db", &db, &e) == 0, "open fixture")) return tap_done();
  test_escape_and_json(db);
  test_fixture_report(db, ids);
  test_honest_charts(db, ids);
  test_readable(db, ids);
  db_close(db);
  if (!getenv("CURVSCOPE_QUICK")) test_big();
  return tap_done();
}
