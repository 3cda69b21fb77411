/*
 * data_load.c: turns a --data spec into a train and a test Dataset.
 *
 *   fashion-mnist[:n=5000,test=1000,classes=..,standardize=..,scale=255,dir=..]
 *   idx:IMAGES,LABELS[,n=,test_images=,test_labels=,test=,classes=,standardize=,scale=]
 *   csv:PATH[,label=NAME|none,targets=c1-c2,test=FRACTION|COUNT,standardize=..]
 *   synth:GENERATOR,...          (data_synth.c)
 *   image:PATH[,downsample=K]    (data_image.c)
 *
 * fashion-mnist is the idx loader on Debian's files with Cohen's defaults:
 * the first n training images of the chosen classes in file order, pixels /255,
 * standardised with per-pixel statistics of the whole training set of those
 * classes. Keys and defaults are documented in docs/DATA.md; unknown keys are
 * errors (spec_check_unused). Each loader can also write the resolved spec: every
 * key with the value it used (defaults filled in, counts as loaded, paths made
 * absolute), which loads the same data from any directory. Workload: once per run.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "json.h"
#include "rng.h"
#include "spec.h"

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"
#define MAX_LABEL 65535
#define STREAM_CSV_SPLIT 4

enum { STD_NONE, STD_SUBSET, STD_FULL };

static int get_standardize(Spec *s, int def, int *out, Err *err) {
  const char *v = NULL;
  spec_get_str(s, "standardize", &v);
  *out = def;
  if (!v) return CS_OK;
  if (!strcmp(v, "full")) *out = STD_FULL;
  else if (!strcmp(v, "subset")) *out = STD_SUBSET;
  else if (!strcmp(v, "none")) *out = STD_NONE;
  else
    return err_set(err, CS_EINVAL, "spec '%s': standardize=%s (want full|subset|none)", s->text,
                   v);
  return CS_OK;
}

/* A count key that also accepts "all" (-1). */
static int get_count(Spec *s, const char *key, long *out, Err *err) {
  const char *v = NULL;
  spec_get_str(s, key, &v);
  if (!v) return CS_OK;
  if (!strcmp(v, "all")) {
    *out = -1;
    return CS_OK;
  }
  if (parse_long(v, out) || *out < 0)
    return err_set(err, CS_EINVAL, "spec '%s': %s=%s is not a count (N >= 0 or all)", s->text,
                   key, v);
  return CS_OK;
}

static const char *std_name(int st) {
  return st == STD_FULL ? "full" : st == STD_SUBSET ? "subset" : "none";
}

/* A path in a resolved spec: absolute (realpath), unless the absolute path cannot be
 * written in a spec (a ',' or '=' in it), then as given. */
void data_spec_path(StrBuf *b, const char *path) {
  char *abs = realpath(path, NULL);
  sb_append(b, abs && !strpbrk(abs, ",=") ? abs : path);
  free(abs);
}

/* The keys fashion-mnist and idx share, as loaded:
 * "n=..,test=..,classes=..,standardize=..,scale=..". */
static void sb_idx_opts(StrBuf *b, const Dataset *tr, const Dataset *te, const char *classes,
                        int standardize, double scale) {
  sb_printf(b, "n=%zu,test=%zu,classes=%s,standardize=%s,scale=", tr->n, te->n,
            classes ? classes : "all", std_name(standardize));
  sb_double(b, scale);
}

/* ---- IDX image/label pairs --------------------------------------------- */

typedef struct {
  long n, test;        /* -1: all */
  int test_explicit;   /* test= given: fewer available is an error */
  int nsel;            /* classes filter, 0 = all */
  long sel[64];
  int standardize;
  double scale;        /* 0: 255 for ubyte images, else 1 */
} IdxOpts;

/* Reads an image/label pair and checks they agree; *d is the flattened size. */
static int read_pair(const char *ipath, const char *lpath, IdxRaw *im, IdxRaw *lb, size_t *d,
                     Err *err) {
  int rc = idx_read_raw(ipath, im, err);
  if (!rc) rc = idx_read_raw(lpath, lb, err);
  if (rc) return rc;
  size_t N = im->dims[0];
  *d = im->count / N;
  if (lb->type == 0x0D || lb->type == 0x0E)
    return err_set(err, CS_EFORMAT, "%s: labels must be integers, not floating point", lpath);
  if (lb->count != N || (lb->ndims > 1 && lb->count != lb->dims[0]))
    return err_set(err, CS_EFORMAT, "%s: %zu labels for the %zu images of %s", lpath, lb->count,
                   N, ipath);
  for (size_t i = 0; i < N; i++) {
    double v = idx_raw_get(lb, i);
    if (v < 0 || v > MAX_LABEL)
      return err_set(err, CS_EFORMAT, "%s: label %g at index %zu outside 0..%d", lpath, v, i,
                     MAX_LABEL);
  }
  return CS_OK;
}

/* Row i of the images (d values) as doubles divided by scale; one type switch per row. */
static void image_row(const IdxRaw *im, size_t i, size_t d, double scale, double *out) {
  if (im->type == 0x08) {
    const uint8_t *p = (const uint8_t *)im->data + i * d;
    for (size_t j = 0; j < d; j++) out[j] = p[j] / scale;
  } else {
    for (size_t j = 0; j < d; j++) out[j] = idx_raw_get(im, i * d + j) / scale;
  }
}

/* Fills ds (n rows) from the first rows of (im, lb) whose label maps to a class. */
static void take_rows(const IdxRaw *im, const IdxRaw *lb, const int *map, double scale,
                      Dataset *ds) {
  size_t d = ds->d, r = 0;
  for (size_t i = 0; r < ds->n && i < lb->count; i++) {
    int c = map[(int)idx_raw_get(lb, i)];
    if (c < 0) continue;
    image_row(im, i, d, scale, ds->X + r * d);
    ds->labels[r] = c;
    ds->Y[r * ds->k + (size_t)c] = 1.0;
    r++;
  }
}

/* Per-column mean and std over every image of the chosen classes; row is d scratch. */
static void full_stats(const IdxRaw *im, const IdxRaw *lb, const int *map, double scale, size_t d,
                       double *mean, double *std, double *row) {
  size_t m = 0;
  for (size_t j = 0; j < d; j++) mean[j] = std[j] = 0.0;
  for (size_t i = 0; i < lb->count; i++) {
    if (map[(int)idx_raw_get(lb, i)] < 0) continue;
    m++;
    image_row(im, i, d, scale, row);
    for (size_t j = 0; j < d; j++) mean[j] += row[j];
  }
  for (size_t j = 0; j < d; j++) mean[j] /= (double)m;
  for (size_t i = 0; i < lb->count; i++) {
    if (map[(int)idx_raw_get(lb, i)] < 0) continue;
    image_row(im, i, d, scale, row);
    for (size_t j = 0; j < d; j++) {
      double t = row[j] - mean[j];
      std[j] += t * t;
    }
  }
  for (size_t j = 0; j < d; j++) {
    std[j] = sqrt(std[j] / (double)m);
    if (std[j] < 1e-12 * (1.0 + fabs(mean[j]))) std[j] = 0.0;
  }
}

static size_t count_rows(const IdxRaw *lb, const int *map) {
  size_t m = 0;
  for (size_t i = 0; i < lb->count; i++) m += map[(int)idx_raw_get(lb, i)] >= 0;
  return m;
}

/* Loads the pair (and the test pair when tipath is set); o->scale becomes the scale used. */
static int load_idx(const char *ipath, const char *lpath, const char *tipath, const char *tlpath,
                    IdxOpts *o, Dataset **train, Dataset **test, Err *err) {
  IdxRaw im, lb, tim, tlb;
  memset(&im, 0, sizeof im);
  memset(&lb, 0, sizeof lb);
  memset(&tim, 0, sizeof tim);
  memset(&tlb, 0, sizeof tlb);
  int *map = NULL;
  double *mean = NULL, *std = NULL, *row = NULL;
  Dataset *tr = NULL, *te = NULL;
  size_t d = 0, td = 0;
  int rc = read_pair(ipath, lpath, &im, &lb, &d, err);
  if (!rc && tipath) rc = read_pair(tipath, tlpath, &tim, &tlb, &td, err);
  if (rc) goto done;
  if (tipath && td != d) {
    rc = err_set(err, CS_EFORMAT, "%s: test images have %zu values each, training images %zu",
                 tipath, td, d);
    goto done;
  }
  int maxl = 0;
  for (size_t i = 0; i < lb.count; i++)
    if ((int)idx_raw_get(&lb, i) > maxl) maxl = (int)idx_raw_get(&lb, i);
  for (size_t i = 0; i < tlb.count; i++)
    if ((int)idx_raw_get(&tlb, i) > maxl) maxl = (int)idx_raw_get(&tlb, i);
  map = malloc(((size_t)maxl + 1) * sizeof *map);
  mean = malloc(d * sizeof *mean);
  std = malloc(d * sizeof *std);
  row = malloc(d * sizeof *row);
  if (!map || !mean || !std || !row) {
    rc = err_set(err, CS_ENOMEM, "%s: out of memory", ipath);
    goto done;
  }
  int k = o->nsel ? o->nsel : maxl + 1;
  for (int c = 0; c <= maxl; c++) map[c] = o->nsel ? -1 : c;
  for (int c = 0; c < o->nsel; c++) {
    if (o->sel[c] < 0 || o->sel[c] > maxl) {
      rc = err_set(err, CS_EINVAL, "classes: %ld is not a label of %s (0..%d)", o->sel[c], lpath,
                   maxl);
      goto done;
    }
    if (map[o->sel[c]] >= 0) {
      rc = err_set(err, CS_EINVAL, "classes: %ld listed twice", o->sel[c]);
      goto done;
    }
    map[o->sel[c]] = c;
  }
  size_t avail = count_rows(&lb, map), tavail = tipath ? count_rows(&tlb, map) : 0;
  size_t n = o->n < 0 ? avail : (size_t)o->n;
  size_t nt = o->test < 0 ? tavail : (size_t)o->test;
  if (n == 0) {
    rc = err_set(err, CS_EINVAL, "n=0: the training set needs at least one image");
    goto done;
  }
  if (n > avail) {
    rc = err_set(err, CS_EINVAL, "n=%zu but %s has %zu images%s", n, ipath, avail,
                 o->nsel ? " of the chosen classes" : "");
    goto done;
  }
  if (nt > tavail) {
    if (o->test_explicit || !tipath) {
      rc = err_set(err, CS_EINVAL, "test=%zu but %s has %zu images%s", nt,
                   tipath ? tipath : "(no test_images file)", tavail,
                   o->nsel ? " of the chosen classes" : "");
      goto done;
    }
    nt = tavail;
  }
  double scale = o->scale > 0 ? o->scale : im.type == 0x08 ? 255.0 : 1.0;
  o->scale = scale;
  tr = dataset_alloc(n, d, (size_t)k, 1);
  te = dataset_alloc(nt, d, (size_t)k, 1);
  if (!tr || !te) {
    rc = err_set(err, CS_ENOMEM, "%s: out of memory for %zu x %zu", ipath, n, d);
    goto done;
  }
  take_rows(&im, &lb, map, scale, tr);
  if (nt) take_rows(&tim, &tlb, map, scale, te);
  if (o->standardize != STD_NONE) {
    if (o->standardize == STD_FULL)
      full_stats(&im, &lb, map, scale, d, mean, std, row);
    else
      dataset_column_stats(tr, mean, std);
    dataset_standardize(tr, mean, std);
    dataset_standardize(te, mean, std);
  }

done:
  idx_raw_free(&im);
  idx_raw_free(&lb);
  idx_raw_free(&tim);
  idx_raw_free(&tlb);
  free(map);
  free(mean);
  free(std);
  free(row);
  if (rc) {
    dataset_free(tr);
    dataset_free(te);
    return rc;
  }
  *train = tr;
  *test = te;
  return CS_OK;
}

/* Keys shared by fashion-mnist and idx. */
static int get_idx_opts(Spec *s, IdxOpts *o, Err *err) {
  int rc = get_count(s, "n", &o->n, err);
  if (!rc) {
    o->test_explicit = spec_has(s, "test");
    rc = get_count(s, "test", &o->test, err);
  }
  if (!rc) rc = get_standardize(s, STD_FULL, &o->standardize, err);
  if (!rc) rc = spec_get_double(s, "scale", &o->scale, err);
  if (!rc && spec_has(s, "scale") && !(o->scale > 0 && isfinite(o->scale)))
    rc = err_set(err, CS_EINVAL, "spec '%s': scale must be > 0", s->text);
  const char *cl = NULL;
  spec_get_str(s, "classes", &cl);
  if (!rc && cl && strcmp(cl, "all")) {
    rc = spec_parse_int_list(cl, o->sel, 64, &o->nsel, err);
    if (rc) err_prefix(err, "spec '%s': classes", s->text);
  }
  return rc;
}

static int load_fashion(Spec *s, Dataset **train, Dataset **test, StrBuf *res, Err *err) {
  IdxOpts o = {5000, 1000, 0, 0, {0}, STD_FULL, 255.0};
  const char *dir = FMNIST_DIR;
  spec_get_str(s, "dir", &dir);
  int rc = get_idx_opts(s, &o, err);
  if (!rc) rc = spec_check_unused(s, 0, err);
  if (rc) return rc;
  static const char *const files[4] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                       "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
  char path[4][1024];
  for (int i = 0; i < 4; i++) {
    snprintf(path[i], sizeof path[i], "%s/%s", dir, files[i]);
    if (access(path[i], R_OK))
      return err_set(err, CS_EIO,
                     "%s not found: install Debian's dataset-fashion-mnist "
                     "(apt-get install dataset-fashion-mnist) or pass dir=PATH",
                     path[i]);
  }
  rc = load_idx(path[0], path[1], path[2], path[3], &o, train, test, err);
  if (rc) return err_prefix(err, "fashion-mnist");
  char cls[96] = "";
  const char *cl = NULL;
  spec_get_str(s, "classes", &cl);
  if (cl) snprintf(cls, sizeof cls, " classes=%.80s", cl);
  snprintf((*train)->name, sizeof (*train)->name, "fashion-mnist n=%zu%s standardize=%s",
           (*train)->n, cls, std_name(o.standardize));
  snprintf((*test)->name, sizeof (*test)->name, "fashion-mnist test n=%zu%s", (*test)->n, cls);
  if (res) {
    sb_append(res, "fashion-mnist:");
    sb_idx_opts(res, *train, *test, cl, o.standardize, o.scale);
    sb_append(res, ",dir=");
    data_spec_path(res, dir);
  }
  return CS_OK;
}

static int load_idx_spec(Spec *s, Dataset **train, Dataset **test, StrBuf *res, Err *err) {
  IdxOpts o = {-1, -1, 0, 0, {0}, STD_FULL, 0.0};
  if (s->npos < 2)
    return err_set(err, CS_EINVAL, "spec '%s': idx needs two paths: idx:IMAGES,LABELS", s->text);
  const char *ti = NULL, *tl = NULL;
  spec_get_str(s, "test_images", &ti);
  spec_get_str(s, "test_labels", &tl);
  int rc = get_idx_opts(s, &o, err);
  if (!rc) rc = spec_check_unused(s, 2, err);
  if (rc) return rc;
  if (!ti != !tl)
    return err_set(err, CS_EINVAL, "spec '%s': give test_images and test_labels together",
                   s->text);
  rc = load_idx(s->pos[0], s->pos[1], ti, tl, &o, train, test, err);
  if (rc) return rc;
  snprintf((*train)->name, sizeof (*train)->name, "idx %.80s n=%zu", s->pos[0], (*train)->n);
  snprintf((*test)->name, sizeof (*test)->name, "idx test n=%zu", (*test)->n);
  if (res) {
    sb_append(res, "idx:");
    data_spec_path(res, s->pos[0]);
    sb_append(res, ",");
    data_spec_path(res, s->pos[1]);
    sb_append(res, ",");
    const char *cl = NULL;
    spec_get_str(s, "classes", &cl);
    sb_idx_opts(res, *train, *test, cl, o.standardize, o.scale);
    if (ti) {
      sb_append(res, ",test_images=");
      data_spec_path(res, ti);
      sb_append(res, ",test_labels=");
      data_spec_path(res, tl);
    }
  }
  return CS_OK;
}

/* ---- CSV ---------------------------------------------------------------- */

static int load_csv(Spec *s, uint64_t seed, Dataset **train, Dataset **test, StrBuf *res,
                    Err *err) {
  if (s->npos < 1) return err_set(err, CS_EINVAL, "spec '%s': csv needs a path", s->text);
  const char *path = s->pos[0], *label = NULL, *tg = NULL, *tt = NULL;
  spec_get_str(s, "label", &label);
  spec_get_str(s, "targets", &tg);
  spec_get_str(s, "test", &tt);
  int st;
  int rc = get_standardize(s, STD_NONE, &st, err);
  if (!rc) rc = spec_check_unused(s, 1, err);
  if (rc) return rc;
  if (!label && !tg)
    return err_set(err, CS_EINVAL, "spec '%s': csv needs label=NAME (or none) or targets=COLS",
                   s->text);
  if (label && !strcmp(label, "none")) label = NULL;
  if (label && tg)
    return err_set(err, CS_EINVAL, "spec '%s': label= and targets= are exclusive", s->text);
  char tbuf[512];
  const char *names[64];
  int nt = 0;
  if (tg) {
    if (strlen(tg) >= sizeof tbuf)
      return err_set(err, CS_EINVAL, "spec '%s': targets list too long", s->text);
    strcpy(tbuf, tg);
    char *save = NULL;
    for (char *t = strtok_r(tbuf, "-", &save); t; t = strtok_r(NULL, "-", &save)) {
      if (nt == 64) return err_set(err, CS_EINVAL, "spec '%s': more than 64 targets", s->text);
      names[nt++] = t;
    }
  }
  /* label=none alone: every column a feature, no targets (k = 0): samples for study stein */
  Dataset *all = NULL;
  rc = csv_read_targets(path, label, names, nt, &all, err);
  if (rc) return rc;
  size_t N = all->n, ntest = 0;
  double tv = 0;
  if (N == 0) {
    dataset_free(all);
    return err_set(err, CS_EFORMAT, "%s: no data rows", path);
  }
  if (tt) {
    if (parse_double(tt, &tv) || tv < 0 || (tv >= 1 && tv != floor(tv)) || tv >= (double)N) {
      dataset_free(all);
      return err_set(err, CS_EINVAL,
                     "spec '%s': test=%s must be a fraction in [0,1) or a count below the %zu rows",
                     s->text, tt, N);
    }
    ntest = tv < 1 ? (size_t)floor(tv * (double)N + 0.5) : (size_t)tv;
    if (ntest >= N) ntest = N - 1;
  }
  size_t *perm = malloc(N * sizeof *perm), *ti = malloc(N * sizeof *ti);
  char *is_test = calloc(N, 1);
  Dataset *tr = NULL, *te = NULL;
  if (perm && ti && is_test) {
    Rng r;
    rng_seed_stream(&r, seed, STREAM_CSV_SPLIT);
    for (size_t i = 0; i < N; i++) perm[i] = i;
    if (ntest) rng_shuffle(&r, perm, N);
    for (size_t i = N - ntest; i < N; i++) is_test[perm[i]] = 1;
    size_t a = 0, b = 0;
    for (size_t i = 0; i < N; i++) {
      if (is_test[i]) ti[b++] = i;
      else perm[a++] = i;
    }
    tr = dataset_subset(all, perm, a);
    te = dataset_subset(all, ti, b);
  }
  free(perm);
  free(ti);
  free(is_test);
  dataset_free(all);
  if (!tr || !te) {
    dataset_free(tr);
    dataset_free(te);
    return err_set(err, CS_ENOMEM, "%s: out of memory", path);
  }
  if (st != STD_NONE && tr->d) {
    double *mean = malloc(tr->d * sizeof *mean), *std = malloc(tr->d * sizeof *std);
    if (!mean || !std) {
      free(mean);
      free(std);
      dataset_free(tr);
      dataset_free(te);
      return err_set(err, CS_ENOMEM, "%s: out of memory", path);
    }
    dataset_column_stats(tr, mean, std); /* full = subset: the training split */
    dataset_standardize(tr, mean, std);
    dataset_standardize(te, mean, std);
    free(mean);
    free(std);
  }
  snprintf(tr->name, sizeof tr->name, "csv %.80s n=%zu", path, tr->n);
  snprintf(te->name, sizeof te->name, "csv %.80s test n=%zu", path, te->n);
  if (res) {
    sb_append(res, "csv:");
    data_spec_path(res, path);
    sb_printf(res, ",label=%s", label ? label : "none");
    if (tg) sb_printf(res, ",targets=%s", tg);
    sb_append(res, ",test=");
    sb_double(res, tv);
    sb_printf(res, ",standardize=%s", std_name(st));
  }
  *train = tr;
  *test = te;
  return CS_OK;
}

/* ---- Dispatch ----------------------------------------------------------- */

int data_load_resolved(const char *spec, uint64_t seed, Dataset **train, Dataset **test,
                       char **resolved, Err *err) {
  *train = *test = NULL;
  if (resolved) *resolved = NULL;
  Spec s;
  int rc = spec_parse(&s, spec, err);
  if (rc) return rc;
  DataTransform tf;
  if ((rc = data_transform_parse(&s, &tf, err))) {
    spec_free(&s);
    return rc;
  }
  StrBuf res, *r = resolved ? &res : NULL;
  sb_init(&res);
  if (!strcmp(s.kind, "fashion-mnist"))
    rc = load_fashion(&s, train, test, r, err);
  else if (!strcmp(s.kind, "idx"))
    rc = load_idx_spec(&s, train, test, r, err);
  else if (!strcmp(s.kind, "csv"))
    rc = load_csv(&s, seed, train, test, r, err);
  else if (!strcmp(s.kind, "synth"))
    rc = data_synth(&s, seed, train, test, r, err);
  else if (!strcmp(s.kind, "image"))
    rc = data_image(&s, train, test, r, err);
  else
    rc = err_set(err, CS_EINVAL,
                 "spec '%s': unknown kind '%s' (known: fashion-mnist, idx, csv, synth, image)",
                 spec, s.kind);
  if (!rc) rc = data_transform_apply(&tf, seed, *train, *test, err);
  if (!rc && r) data_transform_resolved(&tf, r);
  spec_free(&s);
  if (!rc && res.oom) rc = err_set(err, CS_ENOMEM, "out of memory resolving '%s'", spec);
  if (rc) {
    dataset_free(*train);
    dataset_free(*test);
    *train = *test = NULL;
    sb_free(&res);
    return rc;
  }
  if (resolved) *resolved = sb_take(&res);
  return CS_OK;
}

int data_load(const char *spec, uint64_t seed, Dataset **train, Dataset **test, Err *err) {
  return data_load_resolved(spec, seed, train, test, NULL, err);
}
