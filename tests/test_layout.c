/*
 * test_layout.c: the machine's chunk choice (core/layout.c) and what callers rely on.
 *
 * - The rule (layout_rows_for, on described machines): between 1 row and one part's
 *   share of the batch; the AVX2 kernels take the largest chunk up to 5000 rows, the
 *   AVX-512 ones fewer rows when a chunk's input would not fit a thread's share of the L3,
 *   never fewer for a larger L3, never below 128 unless a part's share is smaller; the parts'
 *   row totals differ by at most one chunk.
 * - A fixed chunk is taken as given: layout_chunk_rows = threads_chunk_rows (the function
 *   every pass used before), so a fixed --chunk keeps its bits; 'auto' is the same bits
 *   as passing its rows as a fixed chunk.
 * - Results do not depend on the layout beyond rounding: loss, gradient (training's
 *   data-parallel objective and the curvature build) and HVP, MSE and CE, agree across
 *   chunkings (1 to 1100 rows, both machines' choices) to 1e-12 relative.
 * - Nor on the forward GEMMs' transposed form (net_gemm_swap_set), forced on and off: the
 *   same to 1e-12, the HVP against central differences, and it runs only where it applies.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/layout.h"
#include "core/loss.h"
#include "core/rng.h"
#include "core/threads.h"
#include "hessian/curv.h"
#include "tests/net_util.h"
#include "tests/tap.h"

static const LayoutMachine AVX2 = {"Haswell", 0, 1u << 20, 32u << 20};
static const LayoutMachine AVX512 = {"Cooperlake", 1, 1u << 20, 32u << 20};

/* max - min of the parts' row totals for n rows in chunks of `rows` on T parts */
static size_t part_imbalance(size_t n, size_t rows, int T) {
  size_t nch = (n + rows - 1) / rows, lo_rows = (size_t)-1, hi_rows = 0;
  for (int p = 0; p < T; p++) {
    size_t lo, hi;
    threads_part_range(nch, T, p, &lo, &hi);
    size_t r = 0;
    for (size_t i = lo; i < hi; i++) r += (i + 1) * rows <= n ? rows : n - i * rows;
    if (r < lo_rows) lo_rows = r;
    if (r > hi_rows) hi_rows = r;
  }
  return hi_rows - lo_rows;
}

static void test_rule(void) {
  const char *models[] = {"mlp:3072-200-200-10", "mlp:784-1024-1024-10", "mlp:64-200-200-10",
                          "mlp:1-48-48-1"};
  size_t ns[] = {1, 2, 3, 10, 255, 1797, 4096, 5000, 12000, 60000};
  int bad_range = 0, bad_avx2 = 0, bad_min = 0, bad_mono = 0, bad_bal = 0;
  for (size_t m = 0; m < sizeof models / sizeof *models; m++) {
    Net net;
    double *th = test_mlp(&net, models[m], ACT_TANH, 1);
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
      for (int T = 1; T <= 4; T++) {
        size_t n = ns[i], share = (n + (size_t)T - 1) / (size_t)T;
        size_t r2 = layout_rows_for(&AVX2, &net, n, T), r5 = layout_rows_for(&AVX512, &net, n, T);
        LayoutMachine big = AVX512;
        big.l3_bytes *= 4;
        size_t r5big = layout_rows_for(&big, &net, n, T);
        bad_range += r2 < 1 || r2 > share || r5 < 1 || r5 > share;
        /* AVX2: one chunk per part while a part's share is at most 5000 rows */
        bad_avx2 += share <= 5000 ? r2 != share : r2 > 5000;
        /* evening the rows out over a multiple of T chunks takes off less than half */
        size_t floor = share < 256 ? share : 256;
        bad_min += 2 * r5 < floor;
        bad_mono += r5big < r5;
        bad_bal += part_imbalance(n, r2, T) > r2 || part_imbalance(n, r5, T) > r5;
      }
    free(th);
    net_deinit(&net);
  }
  tap_ok(!bad_range, "rows between 1 and a part's share (%d bad)", bad_range);
  tap_ok(!bad_avx2, "AVX2: one chunk per part up to 5000 rows (%d bad)", bad_avx2);
  tap_ok(!bad_min, "AVX-512: over 128 rows, unless a part's share is smaller (%d bad)",
         bad_min);
  tap_ok(!bad_mono, "AVX-512: a larger L3 never gives fewer rows (%d bad)", bad_mono);
  tap_ok(!bad_bal, "parts' row totals differ by at most one chunk (%d bad)", bad_bal);

  /* the two kinds differ where the issue says they do: cohen's skinny GEMMs */
  Net net;
  double *th = test_mlp(&net, "mlp:3072-200-200-10", ACT_TANH, 1);
  size_t c2 = layout_rows_for(&AVX2, &net, 5000, 2), c5 = layout_rows_for(&AVX512, &net, 5000, 2);
  tap_ok(c2 == 2500 && c5 < c2 && c5 >= 256 && c5 * 3072 * 8 <= (32u << 20) / 2,
         "cohen, 2 parts: AVX2 2500 rows a chunk, AVX-512 fewer, their X in half the L3 "
         "(%zu, %zu)", c2, c5);
  free(th);
  net_deinit(&net);
  /* inputs narrow enough to fit whole: both kinds one chunk per part */
  const char *narrow[] = {"mlp:784-1024-1024-10", "mlp:64-200-200-10"};
  size_t nn[] = {4096, 1797};
  for (int i = 0; i < 2; i++) {
    th = test_mlp(&net, narrow[i], ACT_TANH, 1);
    size_t a = layout_rows_for(&AVX2, &net, nn[i], 2), b = layout_rows_for(&AVX512, &net, nn[i], 2);
    tap_ok(a == (nn[i] + 1) / 2 && b == a, "%s, N %zu: one chunk per part on both (%zu, %zu)",
           narrow[i], nn[i], a, b);
    free(th);
    net_deinit(&net);
  }

  /* an unknown L3 leaves the AVX-512 rule at the AVX2 one */
  LayoutMachine blind = AVX512;
  blind.l3_bytes = 0;
  th = test_mlp(&net, "mlp:3072-200-200-10", ACT_TANH, 1);
  tap_ok(layout_rows_for(&blind, &net, 5000, 2) == 2500, "unknown L3: the largest chunk");
  free(th);
  net_deinit(&net);

  LayoutMachine here;
  layout_machine_read(&here);
  tap_diag("this machine: OpenBLAS %s (%s), L2 %zu KiB, L3 %zu KiB", here.corename,
           here.avx512 ? "AVX-512" : "not AVX-512", here.l2_bytes / 1024, here.l3_bytes / 1024);
  tap_ok(here.corename[0] != '\0', "layout_machine_read names the kernel");
}

static void test_fixed_chunk(void) {
  Net net;
  double *th = test_mlp(&net, "mlp:20-64-64-5", ACT_TANH, 2);
  int bad = 0;
  size_t ns[] = {1, 7, 100, 1100, 5000, 20000}, chunks[] = {0, 1, 7, 17, 256, 1000, 5000, 99999};
  for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
    for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++)
      for (int T = 1; T <= 4; T++)
        bad += layout_chunk_rows(&net, ns[i], chunks[c], T) !=
               threads_chunk_rows(ns[i], chunks[c], T);
  tap_ok(!bad, "a fixed chunk is threads_chunk_rows' (%d bad)", bad);
  tap_ok(layout_chunk_arg(-1) == LAYOUT_CHUNK_AUTO && layout_chunk_arg(0) == 0 &&
             layout_chunk_arg(5000) == 5000,
         "--chunk auto / 0 / N reach the allocators as AUTO / no limit / N");
  free(th);
  net_deinit(&net);
}

typedef struct Eval {
  double loss, curv_loss;
  double *grad, *curv_grad, *hv;
  size_t rows_obj, rows_curv;
} Eval;

/* Loss and gradient through objective_eval_parallel, the build's loss and gradient and
 * one HVP, with `chunk` rows a chunk. */
static int eval_at(const Net *net, const double *th, LossKind loss, const Batch *b, size_t chunk,
                   const double *v, Eval *e) {
  size_t P = net->n_params;
  Err err = {0};
  ObjectiveWork *w = objective_work_alloc(net, b->n, chunk);
  Curvature *c = curv_alloc(net, loss, b->n, chunk, &err);
  e->grad = malloc(P * sizeof *e->grad);
  e->curv_grad = malloc(P * sizeof *e->curv_grad);
  e->hv = malloc(P * sizeof *e->hv);
  if (!w || !c || !e->grad || !e->curv_grad || !e->hv) return -1;
  e->rows_obj = w->chunk;
  objective_eval_parallel(net, th, loss, b, w, e->grad, &e->loss, NULL);
  if (curv_build(c, th, b, &err)) return tap_diag("curv_build: %s", err.msg), -1;
  e->curv_loss = curv_loss(c);
  memcpy(e->curv_grad, curv_grad(c), P * sizeof *e->curv_grad);
  curv_hvp(c, v, e->hv);
  objective_work_free(w);
  curv_free(c);
  return 0;
}

static void eval_free(Eval *e) { free(e->grad), free(e->curv_grad), free(e->hv); }

static void test_results_across_chunks(void) {
  Net net;
  double *th = test_mlp(&net, "mlp:20-64-64-5", ACT_TANH, 3);
  size_t n = 1100, d = 20, k = 5, P = net.n_params;
  double *X = malloc(n * d * sizeof *X), *Y = calloc(n * k, sizeof *Y), *v = malloc(P * sizeof *v);
  int *lab = malloc(n * sizeof *lab);
  Rng r;
  rng_seed(&r, 11);
  rng_normal_fill(&r, X, n * d);
  rng_normal_fill(&r, v, P);
  for (size_t i = 0; i < n; i++) lab[i] = (int)rng_below(&r, k), Y[i * k + (size_t)lab[i]] = 1.0;
  Batch b = {X, Y, lab, n, NULL, NULL};
  int T0 = omp_get_max_threads();
  omp_set_num_threads(2);
  size_t chunks[] = {0, 1, 7, 100, 256, 1000, layout_rows_for(&AVX2, &net, n, 2),
                     layout_rows_for(&AVX512, &net, n, 2), LAYOUT_CHUNK_AUTO};
  const int nc = (int)(sizeof chunks / sizeof *chunks);
  LossKind losses[] = {LOSS_MSE, LOSS_CE};
  for (int li = 0; li < 2; li++) {
    Eval ref;
    if (eval_at(&net, th, losses[li], &b, 0, v, &ref)) {
      tap_ok(0, "reference evaluation");
      continue;
    }
    double worst_l = 0, worst_g = 0, worst_cg = 0, worst_h = 0;
    for (int c = 1; c < nc; c++) {
      Eval e;
      if (eval_at(&net, th, losses[li], &b, chunks[c], v, &e)) {
        tap_ok(0, "evaluation at chunk %zu", chunks[c]);
        continue;
      }
      worst_l = fmax(worst_l, fmax(fabs(e.loss - ref.loss), fabs(e.curv_loss - ref.loss)) /
                                  fabs(ref.loss));
      worst_g = fmax(worst_g, tap_max_rel(e.grad, ref.grad, P));
      worst_cg = fmax(worst_cg, tap_max_rel(e.curv_grad, ref.grad, P));
      worst_h = fmax(worst_h, tap_max_rel(e.hv, ref.hv, P));
      if (chunks[c] == LAYOUT_CHUNK_AUTO) {
        /* auto is a chunking like any other: the same bits as its rows given fixed */
        Eval f;
        int same = !eval_at(&net, th, losses[li], &b, e.rows_obj, v, &f) && f.loss == e.loss &&
                   !memcmp(f.grad, e.grad, P * sizeof *f.grad) &&
                   !memcmp(f.hv, e.hv, P * sizeof *f.hv);
        tap_ok(same, "%s: auto (%zu rows) has the bits of --chunk %zu",
               losses[li] == LOSS_MSE ? "MSE" : "CE", e.rows_obj, e.rows_obj);
        eval_free(&f);
      }
      eval_free(&e);
    }
    const char *ln = losses[li] == LOSS_MSE ? "MSE" : "CE";
    tap_ok(worst_l <= 1e-12, "%s loss across %d chunkings: %.1e relative", ln, nc, worst_l);
    tap_ok(worst_g <= 1e-12, "%s gradient (objective) across chunkings: %.1e", ln, worst_g);
    tap_ok(worst_cg <= 1e-12, "%s gradient (curvature build) across chunkings: %.1e", ln,
           worst_cg);
    tap_ok(worst_h <= 1e-12, "%s HVP across chunkings: %.1e", ln, worst_h);
    eval_free(&ref);
  }
  omp_set_num_threads(T0);
  free(X), free(Y), free(v), free(lab), free(th);
  net_deinit(&net);
}

/* The forward GEMMs' transposed form (core/net.h, net_gemm_swap_set): forced on and off on
 * nets whose first layer has the shape for it (600 inputs, 550 rows a part), plain and with
 * a Fourier (cos/sin) embedding: loss, gradient and HVP agree to rounding; the HVP also against central differences of the gradient; the
 * transposed GEMMs ran only where the shape asks for them. */
static void test_gemm_swap(void) {
  const char *models[] = {"mlp:600-48-32-5", "mlp:600-64-5", "mlp:200-48-5"};
  const char *embeds[] = {"none", "fourier:m=40,sigma=0.5", "none"};
  int T0 = omp_get_max_threads();
  omp_set_num_threads(2);
  for (int m = 0; m < 3; m++) {
    NetSpec ns;
    Err err = {0};
    Net net;
    Rng r;
    rng_seed(&r, 21);
    netspec_default(&ns);
    ns.act.kind = ACT_TANH;
    if (netspec_parse_model(&ns, models[m], &err) || netspec_parse_embed(&ns, embeds[m], &err) ||
        net_init(&net, &ns, &r, &err)) {
      tap_ok(0, "net %s: %s", models[m], err.msg);
      continue;
    }
    size_t n = 1100, d = net.d_in, k = net.d_out, P = net.n_params;
    double *th = malloc(P * sizeof *th), *X = malloc(n * d * sizeof *X),
           *Y = malloc(n * k * sizeof *Y), *v = malloc(P * sizeof *v);
    net_init_params(&net, th, &r);
    rng_normal_fill(&r, X, n * d);
    rng_normal_fill(&r, Y, n * k);
    rng_normal_fill(&r, v, P);
    Batch b = {X, Y, NULL, n, NULL, NULL};
    Eval off, on;
    net_gemm_swap_set(0);
    unsigned long c0 = net_gemm_swap_calls();
    int bad = eval_at(&net, th, LOSS_MSE, &b, 0, v, &off);
    unsigned long c1 = net_gemm_swap_calls();
    net_gemm_swap_set(1);
    bad |= eval_at(&net, th, LOSS_MSE, &b, 0, v, &on);
    unsigned long c2 = net_gemm_swap_calls();
    if (bad) {
      tap_ok(0, "%s: evaluations", models[m]);
      continue;
    }
    /* a frozen embedding's forward has no G or D buffer to spare: it runs plain */
    int wide = d >= 512 && !strcmp(embeds[m], "none");
    tap_ok(c1 == c0 && (wide ? c2 > c1 : c2 == c1),
           "%s %s: %lu transposed GEMMs forced off, %lu on (%s)", models[m], embeds[m], c1 - c0,
           c2 - c1, wide ? "some expected" : d < 512 ? "none: 200 inputs" : "none: frozen embedding");
    double el = fabs(on.loss - off.loss) / fabs(off.loss), eg = tap_max_rel(on.grad, off.grad, P),
           ecg = tap_max_rel(on.curv_grad, off.curv_grad, P), eh = tap_max_rel(on.hv, off.hv, P);
    tap_ok(el <= 1e-12 && eg <= 1e-12 && ecg <= 1e-12 && eh <= 1e-12,
           "%s %s: on against off: loss %.1e, gradient %.1e / %.1e, HVP %.1e", models[m],
           embeds[m], el, eg, ecg, eh);
    /* central differences of the (transposed-form) gradient along v */
    double h = 1e-5, *tp = malloc(P * sizeof *tp), *tm = malloc(P * sizeof *tm), *fd = malloc(P * sizeof *fd);
    Eval ep, em;
    for (size_t i = 0; i < P; i++) tp[i] = th[i] + h * v[i], tm[i] = th[i] - h * v[i];
    if (!eval_at(&net, tp, LOSS_MSE, &b, 0, v, &ep) && !eval_at(&net, tm, LOSS_MSE, &b, 0, v, &em)) {
      for (size_t i = 0; i < P; i++) fd[i] = (ep.curv_grad[i] - em.curv_grad[i]) / (2 * h);
      double num = 0, den = 0;
      for (size_t i = 0; i < P; i++) num += (fd[i] - on.hv[i]) * (fd[i] - on.hv[i]), den += on.hv[i] * on.hv[i];
      tap_ok(sqrt(num / den) <= 1e-6, "%s %s: HVP with the transposed form against central "
             "differences: %.1e relative (norm)", models[m], embeds[m], sqrt(num / den));
      eval_free(&ep), eval_free(&em);
    } else {
      tap_ok(0, "%s: finite-difference evaluations", models[m]);
    }
    net_gemm_swap_set(-1);
    eval_free(&off), eval_free(&on);
    free(tp), free(tm), free(fd), free(th), free(X), free(Y), free(v);
    net_deinit(&net);
  }
  omp_set_num_threads(T0);
}

int main(void) {
  test_rule();
  test_fixed_chunk();
  test_results_across_chunks();
  test_gemm_swap();
  return tap_done();
}
