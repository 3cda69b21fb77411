/*
 * test_data.c: the data layer: Dataset helpers, the IDX and CSV readers on
 * files crafted here (valid, truncated, corrupt, hostile), the synthetic
 * generators (determinism, amplitudes on the sine grid, covariance along the
 * stored PCs), Fashion-MNIST from Debian's files (skipped when absent) and
 * spec errors. Files go to a fresh directory under /tmp, removed at the end.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/dataset.h"
#include "tests/tap.h"

static char tmpdir[64];
static char paths[64][128];
static int npaths;

static const char *tpath(const char *name) {
  char *p = paths[npaths++ % 64];
  snprintf(p, 128, "%s/%s", tmpdir, name);
  return p;
}

static void write_bytes(const char *path, const void *buf, size_t len, int gz) {
  if (gz) {
    gzFile f = gzopen(path, "wb");
    if (len) gzwrite(f, buf, (unsigned)len);
    gzclose(f);
  } else {
    FILE *f = fopen(path, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
  }
}

static void write_text(const char *path, const char *text) {
  write_bytes(path, text, strlen(text), 0);
}

/* Builds an IDX image in buf: header then `count` big-endian elements of size es
 * taken from the native array vals. Returns the length. */
static size_t make_idx(unsigned char *buf, int type, int ndims, const uint32_t *dims,
                       const void *vals, size_t es) {
  size_t p = 0, count = 1;
  buf[p++] = 0;
  buf[p++] = 0;
  buf[p++] = (unsigned char)type;
  buf[p++] = (unsigned char)ndims;
  for (int i = 0; i < ndims; i++) {
    buf[p++] = dims[i] >> 24;
    buf[p++] = dims[i] >> 16;
    buf[p++] = dims[i] >> 8;
    buf[p++] = dims[i];
    count *= dims[i];
  }
  const unsigned char *v = vals;
  for (size_t i = 0; i < count; i++)
    for (size_t b = 0; b < es; b++) buf[p++] = v[i * es + es - 1 - b]; /* little-endian host */
  return p;
}

static int expect_err(int rc, const Err *e, int code, const char *needle, const char *what) {
  int ok = rc == code && strstr(e->msg, needle) != NULL;
  tap_ok(ok, "%s -> %s naming '%s' (got %d: %s)", what, cs_status_name(code), needle, rc,
         e->msg);
  return ok;
}

static void test_dataset(void) {
  dataset_free(NULL);
  tap_ok(1, "dataset_free(NULL) is a no-op");
  Dataset *ds = dataset_alloc(4, 2, 3, 1);
  double X[8] = {1, 5, 2, 5, 3, 5, 6, 5};
  memcpy(ds->X, X, sizeof X);
  int lab[4] = {0, 2, 1, 2};
  memcpy(ds->labels, lab, sizeof lab);
  double mean[2], std[2];
  dataset_column_stats(ds, mean, std);
  tap_rel(mean[0], 3.0, 1e-15, "column mean");
  tap_rel(std[0], sqrt(3.5), 1e-15, "column std (population)");
  tap_ok(std[1] == 0.0, "constant column has std 0 (got %g)", std[1]);
  dataset_standardize(ds, mean, std);
  tap_ok(ds->X[1] == 0.0 && ds->X[7] == 0.0, "constant column is only centred");
  tap_rel(ds->X[6], 3.0 / sqrt(3.5), 1e-15, "standardised value");
  size_t idx[2] = {3, 1};
  Dataset *sub = dataset_subset(ds, idx, 2);
  tap_ok(sub->n == 2 && sub->labels[0] == 2 && sub->X[0] == ds->X[6], "subset copies rows");
  double F[12] = {1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 2, 1}; /* hits rows 0, 1 */
  tap_rel(dataset_accuracy(ds, F), 0.5, 0, "accuracy by argmax");
  dataset_free(sub);
  dataset_free(ds);
  Dataset *reg = dataset_alloc(3, 1, 1, 0);
  tap_ok(isnan(dataset_accuracy(reg, reg->Y)), "accuracy without labels is NAN");
  dataset_free(reg);
}

static void test_idx(void) {
  unsigned char buf[4096];
  Err e = {0};
  uint32_t dims3[3] = {2, 3, 4};
  unsigned char u8[24];
  for (int i = 0; i < 24; i++) u8[i] = (unsigned char)(i * 10 + 3);
  size_t len = make_idx(buf, 0x08, 3, dims3, u8, 1);
  for (int gz = 0; gz < 2; gz++) {
    const char *p = tpath(gz ? "u8.idx.gz" : "u8.idx");
    write_bytes(p, buf, len, gz);
    double *v = NULL;
    size_t dims[IDX_MAX_DIMS];
    int nd = 0;
    int rc = idx_read(p, &v, dims, &nd, &e);
    int same = rc == 0 && nd == 3 && dims[0] == 2 && dims[1] == 3 && dims[2] == 4;
    for (int i = 0; same && i < 24; i++) same = v[i] == u8[i];
    tap_ok(same, "ubyte IDX (%s) read back exactly (%s)", gz ? "gzip" : "raw", e.msg);
    free(v);
  }
  /* Other element types, gzip. */
  struct { int type; size_t es; double vals[5]; } cases[] = {
      {0x09, 1, {-128, -1, 0, 1, 127}},
      {0x0B, 2, {-32768, -2, 0, 300, 32767}},
      {0x0C, 4, {-2147483648.0, -70000, 0, 1, 2147483647.0}},
      {0x0D, 4, {-1.5, 0.25, 0, 3e10, -7}},
      {0x0E, 8, {-1.0 / 3, 1e-300, 0, M_PI, -1e300}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    unsigned char raw[40];
    for (int i = 0; i < 5; i++) {
      /* Only the case's own type: casting -32768 to int8_t is undefined. */
      double x = cases[c].vals[i];
      int8_t b;
      int16_t s;
      int32_t n;
      float f;
      const void *src = &x;
      switch (cases[c].type) {
        case 0x09: b = (int8_t)x, src = &b; break;
        case 0x0B: s = (int16_t)x, src = &s; break;
        case 0x0C: n = (int32_t)x, src = &n; break;
        case 0x0D: f = (float)x, src = &f; break;
      }
      memcpy(raw + i * cases[c].es, src, cases[c].es);
    }
    uint32_t d1[1] = {5};
    len = make_idx(buf, cases[c].type, 1, d1, raw, cases[c].es);
    const char *p = tpath("typed.idx.gz");
    write_bytes(p, buf, len, 1);
    double *v = NULL;
    size_t dims[IDX_MAX_DIMS];
    int nd = 0;
    int rc = idx_read(p, &v, dims, &nd, &e);
    int same = rc == 0 && nd == 1 && dims[0] == 5;
    for (int i = 0; same && i < 5; i++)
      same = v[i] == (cases[c].type == 0x0D ? (double)(float)cases[c].vals[i] : cases[c].vals[i]);
    tap_ok(same, "IDX type 0x%02X read back exactly (%s)", cases[c].type, e.msg);
    free(v);
  }

  /* Rejections. */
  len = make_idx(buf, 0x08, 3, dims3, u8, 1);
  for (int gz = 0; gz < 2; gz++) {
    const char *kind = gz ? "gzip" : "raw";
    double *v = NULL;
    size_t dims[IDX_MAX_DIMS];
    int nd;
    const char *p = tpath(gz ? "trunc.idx.gz" : "trunc.idx");
    write_bytes(p, buf, len - 5, gz);
    int rc = idx_read(p, &v, dims, &nd, &e);
    expect_err(rc, &e, CS_EFORMAT, p, gz ? "truncated gzip IDX" : "truncated raw IDX");
    tap_ok(strstr(e.msg, "truncated") != NULL && v == NULL, "truncated %s says so", kind);
    unsigned char g[4200];
    memcpy(g, buf, len);
    memcpy(g + len, "junk", 4);
    p = tpath(gz ? "trail.idx.gz" : "trail.idx");
    write_bytes(p, g, len + 4, gz);
    rc = idx_read(p, &v, dims, &nd, &e);
    expect_err(rc, &e, CS_EFORMAT, p, "IDX with trailing garbage");
    tap_ok(strstr(e.msg, "trailing") != NULL, "trailing garbage (%s) says so", kind);
    memcpy(g, buf, len);
    g[0] = 0x12;
    p = tpath(gz ? "magic.idx.gz" : "magic.idx");
    write_bytes(p, g, len, gz);
    rc = idx_read(p, &v, dims, &nd, &e);
    expect_err(rc, &e, CS_EFORMAT, p, "IDX with a bad magic");
    tap_ok(strstr(e.msg, "magic") != NULL, "bad magic (%s) says so", kind);
  }
  {
    double *v;
    size_t dims[IDX_MAX_DIMS];
    int nd;
    unsigned char g[64];
    memcpy(g, buf, len);
    g[2] = 0x0A;
    const char *p = tpath("type.idx");
    write_bytes(p, g, len, 0);
    expect_err(idx_read(p, &v, dims, &nd, &e), &e, CS_EFORMAT, "unknown IDX element type 0x0a",
               "unknown element type");
    g[2] = 0x08;
    g[3] = 40;
    p = tpath("ndims.idx");
    write_bytes(p, g, len, 0);
    expect_err(idx_read(p, &v, dims, &nd, &e), &e, CS_EFORMAT, "40 dimensions", "too many dims");
    /* Hostile header: 4 dims of 0xFFFFFFFF overflow; 1 GiB claimed by a tiny file. */
    unsigned char h[20] = {0, 0, 0x08, 4};
    memset(h + 4, 0xFF, 16);
    p = tpath("overflow.idx");
    write_bytes(p, h, 20, 0);
    expect_err(idx_read(p, &v, dims, &nd, &e), &e, CS_EFORMAT, "overflow", "overflowing dims");
    unsigned char h2[10] = {0, 0, 0x0E, 1, 0x08, 0, 0, 0, 1, 2};
    p = tpath("huge.idx.gz");
    write_bytes(p, h2, 10, 1);
    expect_err(idx_read(p, &v, dims, &nd, &e), &e, CS_EFORMAT, "truncated",
               "2^27 doubles claimed by a tiny gzip file");
    unsigned char h3[8] = {0, 0, 0x08, 1, 0, 0, 0, 0};
    p = tpath("zero.idx");
    write_bytes(p, h3, 8, 0);
    expect_err(idx_read(p, &v, dims, &nd, &e), &e, CS_EFORMAT, "is 0", "zero dimension");
    p = tpath("short.idx");
    write_bytes(p, h3, 2, 0);
    expect_err(idx_read(p, &v, dims, &nd, &e), &e, CS_EFORMAT, "too short", "2-byte file");
    expect_err(idx_read(tpath("absent.idx"), &v, dims, &nd, &e), &e, CS_EIO, "absent.idx",
               "missing file");
    /* Corrupt gzip: a valid stream with bytes flipped inside the deflate data, and one cut. */
    unsigned char big[4096];
    uint32_t d2[2] = {40, 50};
    unsigned char pix[2000];
    for (int i = 0; i < 2000; i++) pix[i] = (unsigned char)((i * 7919) % 251);
    size_t blen = make_idx(big, 0x08, 2, d2, pix, 1);
    p = tpath("good.idx.gz");
    write_bytes(p, big, blen, 1);
    FILE *f = fopen(p, "rb");
    unsigned char z[8192];
    size_t zl = fread(z, 1, sizeof z, f);
    fclose(f);
    for (size_t i = zl / 3; i < zl / 3 + 8; i++) z[i] ^= 0x5A;
    p = tpath("corrupt.idx.gz");
    write_bytes(p, z, zl, 0);
    expect_err(idx_read(p, &v, dims, &nd, &e), &e, CS_EFORMAT, p, "corrupt gzip stream");
    tap_ok(strstr(e.msg, "corrupt") || strstr(e.msg, "truncated"), "corrupt gzip says so (%s)",
           e.msg);
    f = fopen(tpath("good.idx.gz"), "rb");
    zl = fread(z, 1, sizeof z, f);
    fclose(f);
    p = tpath("cut.idx.gz");
    write_bytes(p, z, zl / 2, 0);
    expect_err(idx_read(p, &v, dims, &nd, &e), &e, CS_EFORMAT, p, "gzip stream cut in half");
  }
}

/* Float IDX elements must be finite: a NaN pixel once reached the loss. */
static void test_idx_nonfinite(void) {
  unsigned char buf[256];
  uint32_t dims[2] = {2, 2};
  float f4[4] = {0.5f, NAN, 1, 2};
  double f8[4] = {0.5, 1, -INFINITY, 2};
  Err e = {0};
  double *v = NULL;
  size_t d[IDX_MAX_DIMS];
  int nd = 0;
  const char *p = tpath("nan.idx");
  write_bytes(p, buf, make_idx(buf, 0x0D, 2, dims, f4, 4), 0);
  expect_err(idx_read(p, &v, d, &nd, &e), &e, CS_EFORMAT, "element 1 is NaN", "float IDX with NaN");
  p = tpath("inf.idx.gz");
  write_bytes(p, buf, make_idx(buf, 0x0E, 2, dims, f8, 8), 1);
  expect_err(idx_read(p, &v, d, &nd, &e), &e, CS_EFORMAT, "element 2 is -Inf",
             "double IDX with -Inf (gzip)");
  tap_ok(v == NULL, "no values on error");
}

static void test_csv(void) {
  Err e = {0};
  Dataset *ds = NULL;
  const char *p = tpath("a.csv");
  write_text(p, "\"x 1\", \"lab,el\" ,x2\r\n 1.5 ,7, -2\r\n2,-5,1e3\r\n3 , 3,0\r\n4,7,4\r\n\r\n\n  \n");
  int rc = csv_read(p, "lab,el", &ds, &e);
  tap_ok(rc == 0 && ds && ds->n == 4 && ds->d == 2 && ds->k == 3 && ds->nclasses == 3,
         "quoted header, CRLF, spaces, blank trailing lines (%s)", e.msg);
  if (rc == 0) {
    tap_ok(ds->X[0] == 1.5 && ds->X[1] == -2 && ds->X[3] == 1000 && ds->X[7] == 4,
           "feature values exact, label column removed");
    tap_ok(ds->labels[0] == 2 && ds->labels[1] == 0 && ds->labels[2] == 1 && ds->labels[3] == 2,
           "labels 7,-5,3,7 remapped to 2,0,1,2 (sorted order)");
    tap_ok(ds->Y[0 * 3 + 2] == 1 && ds->Y[1 * 3 + 0] == 1 && ds->Y[0] == 0,
           "one-hot targets follow the labels");
  }
  dataset_free(ds);
  p = tpath("b.csv");
  write_text(p, "a,b,y\n1,2,3\n4,5,6");
  rc = csv_read(p, NULL, &ds, &e);
  tap_ok(rc == 0 && ds->n == 2 && ds->d == 3 && ds->k == 0 && !ds->labels && ds->X[5] == 6,
         "no trailing newline, no label column (%s)", e.msg);
  dataset_free(ds);
  const char *tg[1] = {"a"};
  rc = csv_read_targets(p, NULL, tg, 1, &ds, &e);
  tap_ok(rc == 0 && ds->k == 1 && ds->d == 2 && ds->Y[1] == 4 && ds->X[0] == 2,
         "regression target column (%s)", e.msg);
  dataset_free(ds);
  p = tpath("bad.csv");
  write_text(p, "a,b,label\n1,2,0\n3,abc,1\n");
  expect_err(csv_read(p, "label", &ds, &e), &e, CS_EFORMAT, "bad.csv:3: column 2 ('b')",
             "non-numeric cell");
  tap_ok(ds == NULL, "no dataset on error");
  write_text(p, "a,b,label\n1,2,0\n3,4\n");
  expect_err(csv_read(p, "label", &ds, &e), &e, CS_EFORMAT, "bad.csv:3: 2 cells", "ragged row");
  write_text(p, "a,b,label\n1,2,0,9\n");
  expect_err(csv_read(p, "label", &ds, &e), &e, CS_EFORMAT, "bad.csv:2", "row too long");
  write_text(p, "a,b,label\n1,2,0.5\n");
  expect_err(csv_read(p, "label", &ds, &e), &e, CS_EFORMAT, "not an integer", "fractional label");
  write_text(p, "a,b,label\n1,,0\n");
  expect_err(csv_read(p, "label", &ds, &e), &e, CS_EFORMAT, "column 2", "empty cell");
  write_text(p, "");
  expect_err(csv_read(p, "label", &ds, &e), &e, CS_EFORMAT, "empty", "empty file");
  write_text(p, "\n\r\n");
  expect_err(csv_read(p, NULL, &ds, &e), &e, CS_EFORMAT, "empty", "only blank lines");
  write_text(p, "a,b\n1,2\n");
  expect_err(csv_read(p, "label", &ds, &e), &e, CS_EINVAL, "no column named 'label'",
             "missing label column");
  expect_err(csv_read(tpath("nope.csv"), NULL, &ds, &e), &e, CS_EIO, "nope.csv", "missing file");
  /* strtod's extensions once passed as numbers: 0x10 read as 16. */
  const char *ext[] = {"0x10", "0x1p3", "inf", "-Infinity", "nan", "1.5e", "\v2"};
  for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
    char text[64], needle[32];
    snprintf(text, sizeof text, "a,label\n1,0\n%s,1\n", ext[i]);
    write_text(p, text);
    snprintf(needle, sizeof needle, "'%s' is not", ext[i]);
    expect_err(csv_read(p, "label", &ds, &e), &e, CS_EFORMAT, needle, "a strtod extension in a cell");
  }
  write_text(p, "a,label\n1,0\n2,0x1\n");
  expect_err(csv_read(p, "label", &ds, &e), &e, CS_EFORMAT, "label '0x1'", "a hex label");
  /* A UTF-8 byte-order mark is not part of the first column's name. */
  write_text(p, "\xEF\xBB\xBFlabel,a\n0,1\n1,2\n");
  rc = csv_read(p, "label", &ds, &e);
  tap_ok(rc == 0 && ds->n == 2 && ds->d == 1 && ds->X[1] == 2 && ds->labels[1] == 1,
         "a BOM before the header is dropped: the first column is 'label' (%s)", e.msg);
  dataset_free(ds);

  /* Through data_load: split and standardisation. */
  p = tpath("split.csv");
  FILE *f = fopen(p, "w");
  fprintf(f, "x,y,c\n");
  for (int i = 0; i < 20; i++) fprintf(f, "%d,%d,%d\n", i, 2 * i, i % 2);
  fclose(f);
  char spec[256];
  Dataset *tr = NULL, *te = NULL, *tr2 = NULL, *te2 = NULL;
  snprintf(spec, sizeof spec, "csv:%s,label=c,test=0.25", p);
  rc = data_load(spec, 7, &tr, &te, &e);
  tap_ok(rc == 0 && tr->n == 15 && te->n == 5 && tr->k == 2, "csv test=0.25 splits 15/5 (%s)",
         e.msg);
  rc = data_load(spec, 7, &tr2, &te2, &e);
  int same = rc == 0 && !memcmp(te->X, te2->X, 5 * 2 * sizeof(double));
  double sum = 0;
  for (size_t i = 0; tr && i < tr->n; i++) sum += tr->X[i * 2];
  for (size_t i = 0; te && i < te->n; i++) sum += te->X[i * 2];
  tap_ok(same && sum == 190, "csv split is seeded and partitions the rows");
  int ordered = 1;
  for (size_t i = 1; tr && i < tr->n; i++) ordered &= tr->X[i * 2] > tr->X[(i - 1) * 2];
  tap_ok(ordered, "training rows keep file order");
  dataset_free(tr);
  dataset_free(te);
  dataset_free(tr2);
  dataset_free(te2);
  snprintf(spec, sizeof spec, "csv:%s,targets=y-x,standardize=full,test=4", p);
  rc = data_load(spec, 1, &tr, &te, &e);
  double mean[1], std[1];
  if (rc == 0) dataset_column_stats(tr, mean, std);
  tap_ok(rc == 0 && tr->k == 2 && tr->d == 1 && !tr->labels && te->n == 4 &&
             fabs(mean[0]) < 1e-12 && fabs(std[0] - 1) < 1e-12,
         "csv targets=y-x regression, standardised inputs (%s)", e.msg);
  dataset_free(tr);
  dataset_free(te);
  snprintf(spec, sizeof spec, "csv:%s,label=c,tset=3", p);
  expect_err(data_load(spec, 1, &tr, &te, &e), &e, CS_EINVAL, "'tset'", "csv typo key");
  snprintf(spec, sizeof spec, "csv:%s", p);
  expect_err(data_load(spec, 1, &tr, &te, &e), &e, CS_EINVAL, "label=", "csv without label=");
  tap_ok(tr == NULL && te == NULL, "outputs NULL on error");
}

/* Loads a spec, failing the test on error. */
static int load(const char *spec, uint64_t seed, Dataset **tr, Dataset **te) {
  Err e = {0};
  int rc = data_load(spec, seed, tr, te, &e);
  if (rc) tap_diag("%s: %s", spec, e.msg);
  return rc;
}

static int same_data(const Dataset *a, const Dataset *b) {
  return a->n == b->n && a->d == b->d && a->k == b->k &&
         (a->n == 0 || (!memcmp(a->X, b->X, a->n * a->d * sizeof(double)) &&
                        !memcmp(a->Y, b->Y, a->n * a->k * sizeof(double))));
}

static void test_synth(void) {
  const char *specs[] = {"synth:classes,n=300,d=5,k=3,test=50", "synth:mixture,n=300,test=50",
                         "synth:teacher,n=200,d=4,k=2,width=8,test=50",
                         "synth:sines,freqs=3-7,test=50", "synth:sines2d,n=16,freqs=1-2-3-0,test=50",
                         "synth:spectrum,n=100,d=6,k=2,test=50"};
  for (size_t s = 0; s < sizeof specs / sizeof *specs; s++) {
    Dataset *a, *at, *b, *bt, *c, *ct;
    int rc = load(specs[s], 42, &a, &at) | load(specs[s], 42, &b, &bt) |
             load(specs[s], 43, &c, &ct);
    tap_ok(rc == 0 && same_data(a, b) && same_data(at, bt), "%s: same seed, same bytes",
           specs[s]);
    tap_ok(rc == 0 && !same_data(a, c) && !same_data(at, ct), "%s: another seed differs",
           specs[s]);
    tap_ok(rc == 0 && at->n == 50 && !same_data(a, at), "%s: test=50 independent draws",
           specs[s]);
    dataset_free(a), dataset_free(at), dataset_free(b), dataset_free(bt);
    dataset_free(c), dataset_free(ct);
  }
  Dataset *tr, *te, *tr0, *te0;
  load("synth:classes,n=300,d=5,k=3,test=50", 1, &tr, &te);
  load("synth:classes,n=300,d=5,k=3", 1, &tr0, &te0);
  tap_ok(same_data(tr, tr0) && te0->n == 0, "adding test examples leaves train unchanged");
  int cnt[3] = {0, 0, 0}, onehot = 1;
  for (size_t i = 0; i < tr->n; i++) {
    cnt[tr->labels[i]]++;
    onehot &= tr->Y[i * 3 + (size_t)tr->labels[i]] == 1.0;
  }
  tap_ok(cnt[0] == 100 && cnt[1] == 100 && cnt[2] == 100 && onehot && tr->nclasses == 3,
         "classes: balanced labels, one-hot targets");
  dataset_free(tr), dataset_free(te), dataset_free(tr0), dataset_free(te0);

  /* Sines: amplitude and phase recovered on the grid by projection. */
  load("synth:sines,amps=linear", 5, &tr, &te);
  int ok = tr->n == 200 && tr->nfreqs == 10 && tr->grid_dims == 1 && tr->grid_n == 200;
  double worst = 0;
  for (int f = 0; ok && f < tr->nfreqs; f++) {
    double k = tr->freqs[f], a = 0, b = 0;
    for (size_t i = 0; i < tr->n; i++) {
      a += 2 * tr->Y[i] * sin(2 * M_PI * k * tr->X[i]) / tr->n;
      b += 2 * tr->Y[i] * cos(2 * M_PI * k * tr->X[i]) / tr->n;
    }
    double A = 0.1 * (f + 1), ph = 2 * M_PI * tr->phases[f];
    worst = fmax(worst, fabs(hypot(a, b) - A) + fabs(a - A * cos(ph)) + fabs(b - A * sin(ph)));
    ok &= tr->freqs[f] == 5.0 * (f + 1) && fabs(tr->amps[f] - A) < 1e-15;
  }
  tap_ok(ok && worst < 1e-10, "sines amps=linear: projection recovers A_k = 0.1 k and phase "
         "(worst error %.2e)", worst);
  double off = 0;
  for (size_t i = 0; i < tr->n; i++) off += 2 * tr->Y[i] * sin(2 * M_PI * 12 * tr->X[i]) / tr->n;
  tap_ok(fabs(off) < 1e-10, "sines: no energy at k = 12 (%.2e)", off);
  dataset_free(tr), dataset_free(te);
  load("synth:sines2d,n=32,freqs=2-3-5-0,amps=1-0.5", 5, &tr, &te);
  ok = tr->n == 1024 && tr->d == 2 && tr->nfreqs == 2;
  worst = 0;
  for (int f = 0; ok && f < 2; f++) {
    double kx = tr->freqs[2 * f], ky = tr->freqs[2 * f + 1], a = 0, b = 0;
    for (size_t i = 0; i < tr->n; i++) {
      double arg = 2 * M_PI * (kx * tr->X[2 * i] + ky * tr->X[2 * i + 1]);
      a += 2 * tr->Y[i] * sin(arg) / tr->n;
      b += 2 * tr->Y[i] * cos(arg) / tr->n;
    }
    worst = fmax(worst, fabs(hypot(a, b) - (f ? 0.5 : 1.0)));
  }
  tap_ok(ok && worst < 1e-10, "sines2d: projection recovers both amplitudes (%.2e)", worst);
  dataset_free(tr), dataset_free(te);

  /* Spectrum: variance along the stored PCs matches eigs; Y = X W*^T. */
  ok = load("synth:spectrum,n=40000,eigs=4-2-1-0.5-0.25-0.1,k=2", 9, &tr, &te) == 0;
  size_t d = ok ? tr->d : 0;
  ok &= d == 6 && tr->pcs && tr->pc_var && tr->w_star;
  double maxrel = 0, orth = 0, yerr = 0;
  for (size_t j = 0; ok && j < d; j++) {
    double v = 0;
    for (size_t i = 0; i < tr->n; i++) {
      double t = 0;
      for (size_t a = 0; a < d; a++) t += tr->X[i * d + a] * tr->pcs[j * d + a];
      v += t * t / tr->n;
    }
    maxrel = fmax(maxrel, fabs(v - tr->pc_var[j]) / tr->pc_var[j]);
    for (size_t l = 0; l < d; l++) {
      double dot = 0;
      for (size_t a = 0; a < d; a++) dot += tr->pcs[j * d + a] * tr->pcs[l * d + a];
      orth = fmax(orth, fabs(dot - (j == l)));
    }
  }
  for (size_t i = 0; ok && i < 100; i++)
    for (size_t c = 0; c < 2; c++) {
      double y = 0;
      for (size_t a = 0; a < d; a++) y += tr->w_star[c * d + a] * tr->X[i * d + a];
      yerr = fmax(yerr, fabs(y - tr->Y[i * 2 + c]));
    }
  tap_ok(ok && maxrel < 0.1, "spectrum: variance along each stored PC within 10%% of eigs "
         "(worst %.3f)", maxrel);
  tap_ok(ok && orth < 1e-12, "spectrum: PCs orthonormal (%.1e)", orth);
  tap_ok(ok && yerr < 1e-12, "spectrum: Y = X W*^T (%.1e)", yerr);
  if (ok) dataset_free(tr), dataset_free(te);
  ok = load("synth:spectrum,d=5,decay=2,n=10", 1, &tr, &te) == 0;
  tap_ok(ok && fabs(tr->pc_var[2] - 1.0 / 9) < 1e-15, "spectrum: default eigs j^-decay");
  if (ok) dataset_free(tr), dataset_free(te);
  ok = load("synth:teacher,n=100,d=3,k=1", 1, &tr, &te) == 0;
  double ymin = 1e9, ymax = -1e9;
  for (size_t i = 0; ok && i < tr->n; i++) ymin = fmin(ymin, tr->Y[i]), ymax = fmax(ymax, tr->Y[i]);
  tap_ok(ok && !tr->labels && tr->nclasses == 0 && ymax - ymin > 0.1 && isfinite(ymax),
         "teacher: non-constant regression targets, no labels");
  if (ok) dataset_free(tr), dataset_free(te);

  Err e = {0};
  expect_err(data_load("synth:sines,freqs=100", 1, &tr, &te, &e), &e, CS_EINVAL, "Nyquist",
             "frequency above n/2");
  expect_err(data_load("synth:classes,n=10,dd=3", 1, &tr, &te, &e), &e, CS_EINVAL, "'dd'",
             "synth typo key");
  expect_err(data_load("synth:sines,d=3", 1, &tr, &te, &e), &e, CS_EINVAL, "'d'",
             "d= is not a sines key");
  expect_err(data_load("synth:wave", 1, &tr, &te, &e), &e, CS_EINVAL, "spectrum",
             "unknown generator lists the known ones");
  expect_err(data_load("synth:spectrum,eigs=1-2,d=3", 1, &tr, &te, &e), &e, CS_EINVAL, "eigs",
             "eigs count must match d");
  expect_err(data_load("synth:classes,n=100000,d=100000", 1, &tr, &te, &e), &e, CS_EINVAL,
             "limit", "oversized request refused before allocating");
  expect_err(data_load("mnist:n=5", 1, &tr, &te, &e), &e, CS_EINVAL, "'mnist'",
             "unknown kind named");
  tap_ok(strstr(e.msg, "fashion-mnist, idx, csv, synth") != NULL, "unknown kind lists kinds");
}

/* idx: pairs through data_load, with a class filter and test files. */
static void test_idx_spec(void) {
  unsigned char buf[512];
  uint32_t di[3] = {6, 2, 2}, dl[1] = {6};
  unsigned char im[24], lb[6] = {0, 2, 1, 2, 0, 1};
  for (int i = 0; i < 24; i++) im[i] = (unsigned char)(i * 10);
  const char *pi = tpath("i.idx.gz"), *pl = tpath("l.idx");
  write_bytes(pi, buf, make_idx(buf, 0x08, 3, di, im, 1), 1);
  write_bytes(pl, buf, make_idx(buf, 0x08, 1, dl, lb, 1), 0);
  char spec[512];
  Dataset *tr = NULL, *te = NULL;
  snprintf(spec, sizeof spec, "idx:%s,%s,standardize=none,classes=2-0,test_images=%s,"
           "test_labels=%s,test=2", pi, pl, pi, pl);
  int rc = load(spec, 1, &tr, &te);
  tap_ok(rc == 0 && tr->n == 4 && tr->d == 4 && tr->k == 2 && te->n == 2,
         "idx pair with classes=2-0: 4 of 6 rows, d = 2x2");
  tap_ok(rc == 0 && tr->labels[0] == 1 && tr->labels[1] == 0 && tr->labels[3] == 1 &&
             tr->X[4] == 40 / 255.0,
         "classes map in the order given (2 -> 0, 0 -> 1), ubyte scaled by 1/255");
  dataset_free(tr), dataset_free(te);
  Err e = {0};
  snprintf(spec, sizeof spec, "idx:%s,%s,n=7", pi, pl);
  expect_err(data_load(spec, 1, &tr, &te, &e), &e, CS_EINVAL, "n=7", "n beyond the file");
  snprintf(spec, sizeof spec, "idx:%s,%s", pi, pi);
  expect_err(data_load(spec, 1, &tr, &te, &e), &e, CS_EFORMAT, "labels", "labels file mismatch");
}

static void test_fashion(void) {
  const char *dir = "/usr/share/datasets/fashion-mnist";
  Dataset *tr = NULL, *te = NULL;
  Err e = {0};
  expect_err(data_load("fashion-mnist:dir=/nonexistent", 1, &tr, &te, &e), &e, CS_EIO,
             "apt-get install dataset-fashion-mnist", "missing files name the package");
  expect_err(data_load("fashion-mnist:nn=5", 1, &tr, &te, &e), &e, CS_EINVAL, "'nn'",
             "bad key rejected by name");
  char f[256];
  snprintf(f, sizeof f, "%s/train-images-idx3-ubyte.gz", dir);
  if (access(f, R_OK)) {
    tap_ok(1, "# SKIP fashion-mnist not installed (apt-get install dataset-fashion-mnist)");
    return;
  }
  int rc = load("fashion-mnist:n=5000", 1, &tr, &te);
  int lab_ok = rc == 0;
  for (size_t i = 0; lab_ok && i < tr->n; i++) lab_ok = tr->labels[i] >= 0 && tr->labels[i] < 10;
  tap_ok(rc == 0 && tr->n == 5000 && tr->d == 784 && tr->k == 10 && te->n == 1000 && lab_ok,
         "fashion-mnist n=5000: 5000 x 784, 10 classes, labels in 0..9, test 1000");
  double *mean = malloc(784 * sizeof *mean), *std = malloc(784 * sizeof *std);
  double maxm = 0;
  if (rc == 0) {
    dataset_column_stats(tr, mean, std);
    for (int j = 0; j < 784; j++) maxm = fmax(maxm, fabs(mean[j]));
  }
  tap_ok(rc == 0 && maxm > 0.01, "standardize=full: the 5000-subset's means are not 0 (max %.3f)",
         maxm);
  /* Raw check: first image, pixel 400, against the file. */
  double *raw = NULL;
  size_t dims[IDX_MAX_DIMS];
  int nd;
  Dataset *trn, *ten;
  int rc2 = load("fashion-mnist:n=10,test=0,standardize=none", 1, &trn, &ten);
  snprintf(f, sizeof f, "%s/t10k-images-idx3-ubyte.gz", dir);
  int rc3 = idx_read(f, &raw, dims, &nd, &e);
  tap_ok(rc2 == 0 && rc3 == 0 && nd == 3 && dims[0] == 10000 && dims[1] == 28 && ten->n == 0,
         "t10k images are 10000 x 28 x 28; test=0 gives an empty test set");
  free(raw);
  snprintf(f, sizeof f, "%s/train-images-idx3-ubyte.gz", dir);
  rc3 = idx_read(f, &raw, dims, &nd, &e);
  int px = rc2 == 0 && rc3 == 0;
  for (int j = 0; px && j < 784 * 10; j++) px = trn->X[j] == raw[j] / 255.0;
  tap_ok(px, "standardize=none: pixels are the file's bytes / 255");
  /* Full-set statistic re-computed from the raw file: mean 0 after Cohen's transform. */
  double maxfull = 0;
  if (rc == 0 && rc3 == 0) {
    Dataset *t5, *t5e;
    load("fashion-mnist:n=5000,test=0,standardize=none", 1, &t5, &t5e);
    double *m = calloc(784, sizeof *m), *s = calloc(784, sizeof *s);
    for (size_t i = 0; i < 60000; i++)
      for (int j = 0; j < 784; j++) m[j] += raw[i * 784 + j] / 255.0 / 60000;
    for (size_t i = 0; i < 60000; i++)
      for (int j = 0; j < 784; j++) {
        double t = raw[i * 784 + j] / 255.0 - m[j];
        s[j] += t * t / 60000;
      }
    double worst = 0, fm[784] = {0};
    for (int j = 0; j < 784; j++) {
      double sd = sqrt(s[j]) > 0 ? sqrt(s[j]) : 1;
      for (size_t i = 0; i < 5000; i++) {
        double want = (t5->X[i * 784 + j] - m[j]) / sd;
        worst = fmax(worst, fabs(want - tr->X[i * 784 + j]));
      }
      for (size_t i = 0; i < 60000; i++) fm[j] += (raw[i * 784 + j] / 255.0 - m[j]) / sd / 60000;
      maxfull = fmax(maxfull, fabs(fm[j]));
    }
    tap_ok(worst < 1e-9, "standardize=full applies the 60000-image mean and std (%.1e)", worst);
    free(m), free(s);
    dataset_free(t5), dataset_free(t5e);
  }
  tap_ok(rc == 0 && rc3 == 0 && maxfull < 1e-12,
         "whole-training-set means are 0 after the transform (%.1e)", maxfull);
  free(raw);
  dataset_free(trn), dataset_free(ten);
  dataset_free(tr), dataset_free(te);
  rc = load("fashion-mnist:n=3000,test=200,classes=1-3-6-8,standardize=subset", 1, &tr, &te);
  int c4[4] = {0, 0, 0, 0}, in = rc == 0;
  for (size_t i = 0; in && i < tr->n; i++) {
    in = tr->labels[i] >= 0 && tr->labels[i] < 4 && tr->Y[i * 4 + (size_t)tr->labels[i]] == 1;
    if (in) c4[tr->labels[i]]++;
  }
  tap_ok(rc == 0 && tr->k == 4 && tr->nclasses == 4 && te->n == 200 && in && c4[0] && c4[1] &&
             c4[2] && c4[3],
         "classes=1-3-6-8: labels remapped to 0..3, all four present");
  snprintf(f, sizeof f, "%s/train-labels-idx1-ubyte.gz", dir);
  double *lab = NULL;
  int match = rc == 0 && idx_read(f, &lab, dims, &nd, &e) == 0;
  static const int want[10] = {-1, 0, -1, 1, -1, -1, 2, -1, 3, -1};
  for (size_t i = 0, r = 0; match && r < tr->n; i++)
    if (want[(int)lab[i]] >= 0) match = tr->labels[r++] == want[(int)lab[i]];
  tap_ok(match, "classes filter keeps the first images of those classes in file order");
  free(lab);
  maxm = 0;
  if (rc == 0) {
    dataset_column_stats(tr, mean, std);
    for (int j = 0; j < 784; j++) maxm = fmax(maxm, fabs(mean[j]));
  }
  tap_ok(rc == 0 && maxm < 1e-12, "standardize=subset: the subset's means are 0 (%.1e)", maxm);
  free(mean), free(std);
  dataset_free(tr), dataset_free(te);
  expect_err(data_load("fashion-mnist:classes=1-12", 1, &tr, &te, &e), &e, CS_EINVAL, "12",
             "class outside 0..9");
  expect_err(data_load("fashion-mnist:standardize=yes", 1, &tr, &te, &e), &e, CS_EINVAL,
             "standardize=yes", "bad standardize value");
}

/* Loads spec and its resolved form (from the current directory and from /), checks
 * both give the same data and that resolving is idempotent; the resolved spec goes to
 * out. */
static void check_resolved(const char *spec, char *out, size_t n) {
  Dataset *a = NULL, *ae = NULL, *b = NULL, *be = NULL;
  char *r1 = NULL, *r2 = NULL, cwd[512];
  Err e = {0};
  int rc = data_load_resolved(spec, 3, &a, &ae, &r1, &e);
  if (rc == 0 && getcwd(cwd, sizeof cwd) && chdir("/") == 0) {
    rc = data_load_resolved(r1, 3, &b, &be, &r2, &e);
    if (chdir(cwd)) rc = -1;
  }
  tap_ok(rc == 0 && same_data(a, b) && same_data(ae, be) && !strcmp(r1, r2),
         "'%s' resolves to '%s', which loads the same data from / and resolves to itself (%s)",
         spec, r1 ? r1 : "", e.msg);
  snprintf(out, n, "%s", r1 ? r1 : "");
  dataset_free(a), dataset_free(ae), dataset_free(b), dataset_free(be);
  free(r1), free(r2);
}

/* The spec stored with a run: defaults filled in, paths absolute. */
static void test_resolved(void) {
  char r[1024], r2[1024], cwd[512];
  check_resolved("synth:classes", r, sizeof r);
  tap_ok(!strcmp(r, "synth:classes,n=1000,d=10,k=2,sep=3,test=0"), "synth:classes: every default");
  check_resolved("synth:classes,test=0,sep=3.0,n=1e3", r2, sizeof r2);
  tap_ok(!strcmp(r, r2), "the same data written differently resolves alike: %s", r2);
  check_resolved("synth:teacher,noise=0.1", r, sizeof r);
  tap_ok(strstr(r, ",width=32,") && strstr(r, ",noise=0.1,") != NULL, "teacher: width and noise (%s)", r);
  check_resolved("synth:spectrum,eigs=4-2-1", r, sizeof r);
  tap_ok(strstr(r, ",d=3,") && strstr(r, ",eigs=4-2-1,") != NULL, "spectrum: eigs kept as typed (%s)", r);
  check_resolved("synth:sines2d,n=16,freqs=1-2,amps=linear,phases=zero,test=5", r, sizeof r);
  tap_ok(!strcmp(r, "synth:sines2d,n=16,freqs=1-2,amps=linear,phases=zero,test=5"),
         "sines2d: already resolved stays as it is (%s)", r);
  check_resolved("synth:sines", r, sizeof r);
  tap_ok(strstr(r, "freqs=5-10-15-20-25-30-35-40-45-50,amps=1,phases=random") != NULL,
         "sines: default frequencies written out (%s)", r);

  /* Relative paths: resolved from the directory they are relative to. */
  FILE *f = fopen(tpath("rel.csv"), "w");
  fprintf(f, "x,c\n");
  for (int i = 0; i < 10; i++) fprintf(f, "%d,%d\n", i, i % 3);
  fclose(f);
  unsigned char buf[512];
  uint32_t di[2] = {4, 3}, dl[1] = {4};
  unsigned char im[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, lb[4] = {0, 1, 1, 0};
  write_bytes(tpath("ri.idx"), buf, make_idx(buf, 0x08, 2, di, im, 1), 0);
  write_bytes(tpath("rl.idx"), buf, make_idx(buf, 0x08, 1, dl, lb, 1), 0);
  if (getcwd(cwd, sizeof cwd) && chdir(tmpdir) == 0) {
    check_resolved("csv:rel.csv,label=c,test=0.2", r, sizeof r);
    snprintf(r2, sizeof r2, "csv:%s/rel.csv,label=c,test=0.2,standardize=none", tmpdir);
    tap_ok(!strcmp(r, r2), "csv: the path made absolute, defaults filled in (%s)", r);
    check_resolved("idx:ri.idx,rl.idx,test_images=ri.idx,test_labels=rl.idx,classes=1-0", r,
                   sizeof r);
    snprintf(r2, sizeof r2, "idx:%s/ri.idx,%s/rl.idx,n=4,test=4,classes=1-0,standardize=full,"
             "scale=255,test_images=%s/ri.idx,test_labels=%s/rl.idx", tmpdir, tmpdir, tmpdir, tmpdir);
    tap_ok(!strcmp(r, r2), "idx: four absolute paths, counts as loaded, the ubyte scale (%s)", r);
    if (chdir(cwd)) tap_diag("cannot return to %s", cwd);
  }
  if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) == 0) {
    check_resolved("fashion-mnist:n=100", r, sizeof r);
    check_resolved("fashion-mnist:n=100,test=1000,standardize=full,classes=all", r2, sizeof r2);
    tap_ok(!strcmp(r, "fashion-mnist:n=100,test=1000,classes=all,standardize=full,scale=255,"
                      "dir=/usr/share/datasets/fashion-mnist") && !strcmp(r, r2),
           "fashion-mnist as train and as study eos typed it resolve alike (%s)", r);
  }
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/cs_test_data_XXXXXX");
  if (!mkdtemp(tmpdir)) {
    tap_ok(0, "mkdtemp");
    return tap_done();
  }
  test_dataset();
  test_idx();
  test_idx_nonfinite();
  test_csv();
  test_synth();
  test_idx_spec();
  test_fashion();
  test_resolved();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd)) tap_diag("could not remove %s", tmpdir);
  return tap_done();
}
