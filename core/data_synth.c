/*
 * data_synth.c: deterministic synthetic datasets behind `synth:NAME,...`.
 *
 *   classes   balanced Gaussian classes, one-hot targets
 *   mixture   Gaussian mixture, random components with their own spreads
 *   teacher   N(0,I) inputs, targets of a random one-hidden-layer tanh network
 *   sines     1-D grid z = i/n, y = sum_i A_i sin(2 pi k_i z + 2 pi phi_i) (Rahaman)
 *   sines2d   n x n grid on [0,1)^2, plane waves at (kx, ky) pairs
 *   spectrum  Gaussian inputs with covariance U diag(eigs) U^T, y = X W*^T (PC bias)
 *
 * Every key and default is documented in docs/DATA.md. Randomness comes from
 * three Rng streams of the seed: 1 for the generator's parameters (means,
 * teacher, phases, U, W*), 2 for the training examples, 3 for the test
 * examples, so adding test examples never changes the training set. Ground
 * truth (PCs, W*, frequencies, amplitudes, phases) is stored on the training
 * Dataset. Workload: once per run; sizes are capped before allocation.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "json.h"
#include "rng.h"
#include "spec.h"

#define MAX_ELEMS 250000000L /* 2 GB of doubles per array */
#define MAX_FREQS 64
#define STREAM_PARAMS 1
#define STREAM_TRAIN 2
#define STREAM_TEST 3

typedef struct {
  const char *gen;
  long n, d, k, test, width, grid;
  double sep, noise, decay;
  int nf;                       /* number of sinusoids */
  double freq[2 * MAX_FREQS];   /* [nf][dims] */
  double amp[MAX_FREQS];
  int random_phase;
  int neigs;
  double *eigs;                 /* spectrum: [d] (owned) */
} Params;

static int check_size(const Spec *s, const char *what, long n, long lo, long hi, Err *err) {
  if (n < lo || n > hi)
    return err_set(err, CS_EINVAL, "spec '%s': %s=%ld out of range [%ld, %ld]", s->text, what, n,
                   lo, hi);
  return CS_OK;
}

static int check_elems(const Spec *s, long n, long d, Err *err) {
  if (d > 0 && n > MAX_ELEMS / d)
    return err_set(err, CS_EINVAL, "spec '%s': %ld x %ld values exceed the %ld-value limit",
                   s->text, n, d, MAX_ELEMS);
  return CS_OK;
}

/* Fills one-hot Y from labels. */
static void one_hot(Dataset *ds) {
  for (size_t i = 0; i < ds->n; i++) {
    for (size_t c = 0; c < ds->k; c++) ds->Y[i * ds->k + c] = 0.0;
    ds->Y[i * ds->k + (size_t)ds->labels[i]] = 1.0;
  }
}

/* ---- Parameters of each generator ------------------------------------- */

/* Reads the frequency list: pairs for 2-D. Default as given in def. */
static int get_freqs(Spec *s, Params *p, int dims, const char *def, Err *err) {
  const char *txt = def;
  spec_get_str(s, "freqs", &txt);
  long f[2 * MAX_FREQS];
  int m = 0;
  int rc = spec_parse_int_list(txt, f, 2 * MAX_FREQS, &m, err);
  if (rc) return err_prefix(err, "spec '%s': freqs", s->text);
  if (m % dims)
    return err_set(err, CS_EINVAL, "spec '%s': freqs=%s must list kx-ky pairs", s->text, txt);
  p->nf = m / dims;
  if (p->nf > MAX_FREQS)
    return err_set(err, CS_EINVAL, "spec '%s': more than %d frequencies", s->text, MAX_FREQS);
  for (int i = 0; i < m; i++) {
    if (f[i] < 0 || 2 * f[i] >= p->grid)
      return err_set(err, CS_EINVAL,
                     "spec '%s': frequency %ld needs 0 <= k < n/2 = %ld on the grid (Nyquist)",
                     s->text, f[i], (p->grid + 1) / 2);
    p->freq[i] = (double)f[i];
  }
  for (int i = 0; i < p->nf; i++)
    for (int j = 0; j < i; j++)
      if (!memcmp(p->freq + i * dims, p->freq + j * dims, (size_t)dims * sizeof(double)))
        return err_set(err, CS_EINVAL, "spec '%s': freqs=%s repeats a frequency", s->text, txt);
  const char *atxt = "1";
  spec_get_str(s, "amps", &atxt);
  if (!strcmp(atxt, "equal")) atxt = "1";
  if (!strcmp(atxt, "linear") || !strcmp(atxt, "rising")) {
    for (int i = 0; i < p->nf; i++) p->amp[i] = 0.1 * (i + 1);
  } else {
    double a[MAX_FREQS];
    int na = 0;
    rc = spec_parse_double_list(atxt, a, MAX_FREQS, &na, err);
    if (rc) return err_prefix(err, "spec '%s': amps (equal|rising|linear|a-b-c)", s->text);
    if (na != 1 && na != p->nf)
      return err_set(err, CS_EINVAL, "spec '%s': amps has %d values for %d frequencies", s->text,
                     na, p->nf);
    for (int i = 0; i < p->nf; i++) p->amp[i] = a[na == 1 ? 0 : i];
  }
  const char *ph = "random";
  spec_get_str(s, "phases", &ph);
  if (strcmp(ph, "random") && strcmp(ph, "zero"))
    return err_set(err, CS_EINVAL, "spec '%s': phases=%s (want random|zero)", s->text, ph);
  p->random_phase = !strcmp(ph, "random");
  return CS_OK;
}

static int get_params(Spec *s, Params *p, Err *err) {
  const char *g = p->gen;
  int grid = !strcmp(g, "sines") || !strcmp(g, "sines2d");
  p->n = 1000;
  p->d = !strcmp(g, "mixture") ? 2 : !strcmp(g, "spectrum") ? 20 : 10;
  p->k = !strcmp(g, "classes") ? 2 : !strcmp(g, "mixture") ? 3 : 1;
  p->sep = !strcmp(g, "mixture") ? 4.0 : 3.0;
  p->width = 32;
  p->decay = 1.0;
  int rc = CS_OK;
  if (grid) {
    p->grid = !strcmp(g, "sines") ? 200 : 64;
    rc = spec_get_int(s, "n", &p->grid, err);
    if (!rc) rc = check_size(s, "n", p->grid, 2, !strcmp(g, "sines") ? MAX_ELEMS : 10000, err);
    if (!rc && !strcmp(g, "sines")) rc = get_freqs(s, p, 1, "5-10-15-20-25-30-35-40-45-50", err);
    if (!rc && !strcmp(g, "sines2d")) rc = get_freqs(s, p, 2, "2-3-5-10-10-5-15-15", err);
    p->n = !strcmp(g, "sines") ? p->grid : p->grid * p->grid;
    p->d = !strcmp(g, "sines") ? 1 : 2;
    p->k = 1;
  } else {
    if (!rc) rc = spec_get_int(s, "n", &p->n, err);
    if (!rc) rc = spec_get_int(s, "d", &p->d, err);
    if (!rc) rc = spec_get_int(s, "k", &p->k, err);
  }
  if (!rc) rc = spec_get_int(s, "test", &p->test, err);
  if (!rc && (!strcmp(g, "classes") || !strcmp(g, "mixture")))
    rc = spec_get_double(s, "sep", &p->sep, err);
  if (!rc && (!strcmp(g, "teacher") || !strcmp(g, "spectrum")))
    rc = spec_get_double(s, "noise", &p->noise, err);
  if (!rc && !strcmp(g, "teacher")) rc = spec_get_int(s, "width", &p->width, err);
  if (!rc && !strcmp(g, "spectrum")) {
    rc = spec_get_double(s, "decay", &p->decay, err);
    const char *et = NULL;
    spec_get_str(s, "eigs", &et);
    if (!rc && et) {
      double e[4096];
      rc = spec_parse_double_list(et, e, 4096, &p->neigs, err);
      if (rc) return err_prefix(err, "spec '%s': eigs", s->text);
      if (!spec_has(s, "d")) p->d = p->neigs;
      if (p->neigs != p->d)
        return err_set(err, CS_EINVAL, "spec '%s': eigs has %d values but d=%ld", s->text,
                       p->neigs, p->d);
      if (spec_has(s, "decay"))
        return err_set(err, CS_EINVAL, "spec '%s': give eigs or decay, not both", s->text);
      p->eigs = malloc((size_t)p->neigs * sizeof *p->eigs);
      if (!p->eigs) return err_set(err, CS_ENOMEM, "out of memory");
      memcpy(p->eigs, e, (size_t)p->neigs * sizeof *e);
    }
  }
  if (rc) return rc;
  if (!grid) {
    rc = check_size(s, "n", p->n, 1, MAX_ELEMS, err);
    if (!rc) rc = check_size(s, "d", p->d, 1, !strcmp(g, "spectrum") ? 4096 : 1000000, err);
    if (!rc) rc = check_size(s, "k", p->k, 1, 100000, err);
  }
  if (!rc) rc = check_size(s, "test", p->test, 0, MAX_ELEMS, err);
  if (!rc) rc = check_size(s, "width", p->width, 1, 100000, err);
  if (!rc) rc = check_elems(s, p->n > p->test ? p->n : p->test, p->d > p->k ? p->d : p->k, err);
  if (!rc && !(p->noise >= 0 && p->sep >= 0 && isfinite(p->sep) && isfinite(p->noise)))
    rc = err_set(err, CS_EINVAL, "spec '%s': sep and noise must be finite and >= 0", s->text);
  if (!rc && !p->eigs && !strcmp(g, "spectrum")) {
    p->eigs = malloc((size_t)p->d * sizeof *p->eigs);
    if (!p->eigs) return err_set(err, CS_ENOMEM, "out of memory");
    for (long j = 0; j < p->d; j++) p->eigs[j] = pow((double)(j + 1), -p->decay);
  }
  for (int j = 0; !rc && j < p->neigs; j++)
    if (!(p->eigs[j] >= 0))
      rc = err_set(err, CS_EINVAL, "spec '%s': eigs must be >= 0", s->text);
  return rc;
}

/* The resolved spec: every key of the generator with the value used. Lists typed by
 * the user (amps, eigs) are kept as typed: they parsed, and '-' joins them, so a value
 * could not always be written back in another form. */
static void params_resolved(Spec *s, const Params *p, StrBuf *b) {
  const char *g = p->gen;
  sb_printf(b, "synth:%s", g);
  if (!strcmp(g, "sines") || !strcmp(g, "sines2d")) {
    int dims = !strcmp(g, "sines") ? 1 : 2;
    const char *amps = "1";
    spec_get_str(s, "amps", &amps);
    sb_printf(b, ",n=%ld,freqs=", p->grid);
    for (int i = 0; i < p->nf * dims; i++) sb_printf(b, "%s%.0f", i ? "-" : "", p->freq[i]);
    sb_printf(b, ",amps=%s,phases=%s", amps, p->random_phase ? "random" : "zero");
  } else {
    sb_printf(b, ",n=%ld,d=%ld,k=%ld", p->n, p->d, p->k);
  }
  if (!strcmp(g, "classes") || !strcmp(g, "mixture")) {
    sb_append(b, ",sep=");
    sb_double(b, p->sep);
  }
  if (!strcmp(g, "teacher")) sb_printf(b, ",width=%ld", p->width);
  if (!strcmp(g, "teacher") || !strcmp(g, "spectrum")) {
    sb_append(b, ",noise=");
    sb_double(b, p->noise);
  }
  if (!strcmp(g, "spectrum")) {
    const char *eigs = NULL;
    spec_get_str(s, "eigs", &eigs);
    if (eigs) {
      sb_printf(b, ",eigs=%s", eigs);
    } else {
      sb_append(b, ",decay=");
      sb_double(b, p->decay);
    }
  }
  sb_printf(b, ",test=%ld", p->test);
}

/* ---- Samplers ----------------------------------------------------------- */

/* Gaussian classes / mixture. means [k][d] sep N(0,I)/sqrt(d); scale [k]. */
static void sample_gauss(const double *means, const double *scale, Rng *r, Dataset *ds,
                         int balanced) {
  size_t d = ds->d, k = ds->k;
  for (size_t i = 0; i < ds->n; i++) {
    size_t c = balanced ? i % k : rng_below(r, k);
    ds->labels[i] = (int)c;
    for (size_t j = 0; j < d; j++)
      ds->X[i * d + j] = means[c * d + j] + scale[c] * rng_normal(r);
  }
  one_hot(ds);
}

/* Teacher: y = W2 tanh(W1 x + b1) + noise; W1 [h][d], b1 [h], W2 [k][h]. */
static void sample_teacher(const Params *p, const double *w, Rng *r, Dataset *ds, double *hid) {
  size_t d = ds->d, k = ds->k, h = (size_t)p->width;
  const double *W1 = w, *b1 = w + h * d, *W2 = b1 + h;
  for (size_t i = 0; i < ds->n; i++) {
    double *x = ds->X + i * d;
    rng_normal_fill(r, x, d);
    for (size_t u = 0; u < h; u++) {
      double a = b1[u];
      for (size_t j = 0; j < d; j++) a += W1[u * d + j] * x[j];
      hid[u] = tanh(a);
    }
    for (size_t c = 0; c < k; c++) {
      double y = 0.0;
      for (size_t u = 0; u < h; u++) y += W2[c * h + u] * hid[u];
      ds->Y[i * k + c] = y + (p->noise > 0 ? p->noise * rng_normal(r) : 0.0);
    }
  }
}

/* Sines: the grid when r == NULL, else uniform points of [0,1)^dims. */
static void sample_sines(const Params *p, const double *phase, Rng *r, Dataset *ds) {
  size_t dims = ds->d, g = (size_t)p->grid;
  for (size_t i = 0; i < ds->n; i++) {
    double *z = ds->X + i * dims;
    if (r) {
      for (size_t a = 0; a < dims; a++) z[a] = rng_uniform(r);
    } else if (dims == 1) {
      z[0] = (double)i / (double)g;
    } else {
      z[0] = (double)(i / g) / (double)g;
      z[1] = (double)(i % g) / (double)g;
    }
    double y = 0.0;
    for (int f = 0; f < p->nf; f++) {
      double arg = phase[f];
      for (size_t a = 0; a < dims; a++) arg += p->freq[(size_t)f * dims + a] * z[a];
      y += p->amp[f] * sin(2.0 * M_PI * arg);
    }
    ds->Y[i] = y;
  }
}

/* Spectrum: x = sum_j sqrt(e_j) z_j u_j; y = W* x + noise. */
static void sample_spectrum(const Params *p, const double *U, const double *W, Rng *r,
                            Dataset *ds, double *z) {
  size_t d = ds->d, k = ds->k;
  for (size_t i = 0; i < ds->n; i++) {
    double *x = ds->X + i * d;
    for (size_t j = 0; j < d; j++) z[j] = sqrt(p->eigs[j]) * rng_normal(r);
    for (size_t a = 0; a < d; a++) x[a] = 0.0;
    for (size_t j = 0; j < d; j++)
      for (size_t a = 0; a < d; a++) x[a] += z[j] * U[j * d + a];
    for (size_t c = 0; c < k; c++) {
      double y = 0.0;
      for (size_t a = 0; a < d; a++) y += W[c * d + a] * x[a];
      ds->Y[i * k + c] = y + (p->noise > 0 ? p->noise * rng_normal(r) : 0.0);
    }
  }
}

/* Orthonormalises the rows of A [d][d] in place (modified Gram-Schmidt, twice). */
static void orthonormal_rows(double *A, size_t d) {
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < d; i++) {
      double *a = A + i * d;
      for (size_t j = 0; j < i; j++) {
        const double *b = A + j * d;
        double dot = 0.0;
        for (size_t t = 0; t < d; t++) dot += a[t] * b[t];
        for (size_t t = 0; t < d; t++) a[t] -= dot * b[t];
      }
      double nrm = 0.0;
      for (size_t t = 0; t < d; t++) nrm += a[t] * a[t];
      nrm = sqrt(nrm);
      for (size_t t = 0; t < d; t++) a[t] /= nrm;
    }
}

/* ---- Driver ------------------------------------------------------------- */

static const char *const GENS[] = {"classes", "mixture", "teacher", "sines", "sines2d",
                                   "spectrum"};

int data_synth(Spec *s, uint64_t seed, Dataset **train, Dataset **test, StrBuf *resolved,
               Err *err) {
  *train = *test = NULL;
  Params p;
  memset(&p, 0, sizeof p);
  p.gen = s->npos > 0 ? s->pos[0] : "";
  int known = 0;
  for (size_t i = 0; i < sizeof GENS / sizeof *GENS; i++) known |= !strcmp(p.gen, GENS[i]);
  if (!known)
    return err_set(err, CS_EINVAL,
                   "spec '%s': unknown generator '%s' (known: classes, mixture, teacher, sines, "
                   "sines2d, spectrum)",
                   s->text, p.gen);
  int rc = get_params(s, &p, err);
  if (!rc) rc = spec_check_unused(s, 1, err);
  if (rc) {
    free(p.eigs);
    return rc;
  }
  const char *g = p.gen;
  int cls = !strcmp(g, "classes") || !strcmp(g, "mixture");
  size_t n = (size_t)p.n, d = (size_t)p.d, k = (size_t)p.k, h = (size_t)p.width;
  Dataset *tr = dataset_alloc(n, d, k, cls), *te = dataset_alloc((size_t)p.test, d, k, cls);
  size_t nparam = cls ? k * d + k : !strcmp(g, "teacher") ? h * d + h + k * h
                  : !strcmp(g, "spectrum") ? d * d + k * d + d : (size_t)p.nf;
  double *w = malloc(nparam * sizeof *w);
  double *scratch = malloc((h > d ? h : d) * sizeof *scratch);
  if (!tr || !te || !w || !scratch) {
    rc = err_set(err, CS_ENOMEM, "spec '%s': out of memory for %zu x %zu", s->text, n, d);
    goto done;
  }
  Rng rp, rtr, rte;
  rng_seed_stream(&rp, seed, STREAM_PARAMS);
  rng_seed_stream(&rtr, seed, STREAM_TRAIN);
  rng_seed_stream(&rte, seed, STREAM_TEST);
  if (cls) {
    double *scale = w + k * d;
    for (size_t i = 0; i < k * d; i++) w[i] = p.sep * rng_normal(&rp) / sqrt((double)d);
    for (size_t c = 0; c < k; c++)
      scale[c] = !strcmp(g, "mixture") ? rng_uniform_in(&rp, 0.5, 1.5) : 1.0;
    sample_gauss(w, scale, &rtr, tr, !strcmp(g, "classes"));
    sample_gauss(w, scale, &rte, te, !strcmp(g, "classes"));
    snprintf(tr->name, sizeof tr->name, "synth:%s n=%zu d=%zu k=%zu sep=%g", g, n, d, k, p.sep);
  } else if (!strcmp(g, "teacher")) {
    for (size_t i = 0; i < h * d; i++) w[i] = rng_normal(&rp) / sqrt((double)d);
    for (size_t i = 0; i < h; i++) w[h * d + i] = 0.1 * rng_normal(&rp);
    for (size_t i = 0; i < k * h; i++) w[h * d + h + i] = rng_normal(&rp) / sqrt((double)h);
    sample_teacher(&p, w, &rtr, tr, scratch);
    sample_teacher(&p, w, &rte, te, scratch);
    snprintf(tr->name, sizeof tr->name, "synth:teacher n=%zu d=%zu k=%zu width=%zu", n, d, k, h);
  } else if (!strcmp(g, "spectrum")) {
    double *U = w, *W = w + d * d;
    rng_normal_fill(&rp, U, d * d);
    orthonormal_rows(U, d);
    rng_normal_fill(&rp, W, k * d);
    sample_spectrum(&p, U, W, &rtr, tr, scratch);
    sample_spectrum(&p, U, W, &rte, te, scratch);
    tr->pcs = malloc(d * d * sizeof *tr->pcs);
    tr->w_star = malloc(k * d * sizeof *tr->w_star);
    tr->pc_var = p.eigs;
    p.eigs = NULL;
    if (!tr->pcs || !tr->w_star) {
      rc = err_set(err, CS_ENOMEM, "spec '%s': out of memory", s->text);
      goto done;
    }
    memcpy(tr->pcs, U, d * d * sizeof *U);
    memcpy(tr->w_star, W, k * d * sizeof *W);
    snprintf(tr->name, sizeof tr->name, "synth:spectrum n=%zu d=%zu k=%zu", n, d, k);
  } else { /* sines, sines2d */
    for (int f = 0; f < p.nf; f++) w[f] = p.random_phase ? rng_uniform(&rp) : 0.0;
    sample_sines(&p, w, NULL, tr);
    sample_sines(&p, w, &rte, te);
    size_t nf = (size_t)p.nf;
    tr->nfreqs = p.nf;
    tr->grid_dims = (int)d;
    tr->grid_n = (size_t)p.grid;
    tr->freqs = malloc(nf * d * sizeof *tr->freqs);
    tr->amps = malloc(nf * sizeof *tr->amps);
    tr->phases = malloc(nf * sizeof *tr->phases);
    if (!tr->freqs || !tr->amps || !tr->phases) {
      rc = err_set(err, CS_ENOMEM, "spec '%s': out of memory", s->text);
      goto done;
    }
    memcpy(tr->freqs, p.freq, nf * d * sizeof *p.freq);
    memcpy(tr->amps, p.amp, nf * sizeof *p.amp);
    memcpy(tr->phases, w, nf * sizeof *w);
    snprintf(tr->name, sizeof tr->name, "synth:%s n=%zu nfreqs=%d", g, n, p.nf);
  }
  snprintf(te->name, sizeof te->name, "%.100s (test)", tr->name);
  if (resolved) params_resolved(s, &p, resolved);

done:
  free(w);
  free(scratch);
  free(p.eigs);
  if (rc) {
    dataset_free(tr);
    dataset_free(te);
    return rc;
  }
  *train = tr;
  *test = te;
  return CS_OK;
}
