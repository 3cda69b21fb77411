/*
 * kinks.h: do the kinks of a two-layer ReLU net move? Holzmüller & Steinwart's
 * Monte-Carlo experiment (docs/KINKS.md).
 *
 * The net f(x) = c + Σ_i w_i ReLU(a_i x + b_i) is the engine's mlp:1-n-1 (relu): layer 0
 * holds a [n] then b [n], layer 1 holds w [n] then c. Neuron i's kink sits at −b_i/a_i;
 * He init with zero biases puts every kink at 0. Data: x ∈ {−3,−2,−1,1,2,3} with the
 * paper's targets y = (−1,2,−1,1,−2,1) (+ an offset), each point weighted by its count in N
 * multinomial draws, N = n² (per run), as the engine's per-example weights (mean 1, so
 * the loss ½·(1/6)Σ_j w_j r_j² is the paper's Σ_j p_j r_j²/2). Full-batch training through
 * core/train.c with a probe that tracks max_t max_i |b_i/a_i| and stops the run when a kink
 * reaches min_j |x_j| = 1 ("crossed"), when the gradient norm falls below a tolerance
 * ("converged") or at the step limit ("unfinished").
 *
 * Ownership: kinks_study_run fills a caller-owned KinksResult (kinks_result_free).
 * Threads: the Monte-Carlo runs of a width run concurrently (OpenMP, each run on one thread
 * with single-threaded BLAS); every run draws from its own stream (seed, width, run), so
 * the results do not depend on the thread count.
 * Shapes: per width, `runs` KinksRun records in run order.
 */
#ifndef CS_KINKS_H
#define CS_KINKS_H
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/net.h"
#include "core/optim.h"

#define KINKS_NPOINTS 6
#define KINKS_MAX_WIDTHS 16

/* The paper's inputs and targets (before --offset). */
extern const double kinks_x[KINKS_NPOINTS], kinks_y[KINKS_NPOINTS];

typedef enum { KINKS_LR_PAPER = 0, KINKS_LR_SMALL, KINKS_LR_FIXED } KinksLrRule;
/* he: a ~ N(0, 2), w ~ N(0, 2/n), b = c = 0 (the paper's); he-swapped: the variances of a
 * and w exchanged (the paper's counter-example); xavier: the engine's Xavier, zero biases;
 * torch: PyTorch's default, biases too (kinks start spread out). */
typedef enum { KINKS_INIT_HE = 0, KINKS_INIT_HE_SWAPPED, KINKS_INIT_XAVIER, KINKS_INIT_TORCH }
    KinksInit;

typedef struct KinksOptions {
  long widths[KINKS_MAX_WIDTHS];
  int nwidths;
  long runs;                 /* Monte-Carlo runs per width */
  long steps;                /* step limit per run */
  KinksLrRule lr_rule;       /* paper: 1/λ_max(A_ref M) per run; small: 0.01/n */
  double lr;                 /* KINKS_LR_FIXED */
  const OptimizerType *opt;  /* gd (the paper's), momentum, nesterov, adam */
  OptConfig optcfg;          /* momentum, betas, eps (lr set per run) */
  KinksInit init;
  int uniform_weights;       /* 1: every w_j = 1 instead of the multinomial counts */
  double offset;             /* added to every target (the paper: 0, 0.01, 0.1) */
  double grad_tol;           /* stop when ‖∇L‖ < grad_tol (0: never) */
  uint64_t seed;
} KinksOptions;

typedef enum { KINKS_CROSSED = 0, KINKS_CONVERGED, KINKS_UNFINISHED, KINKS_FAILED } KinksStatus;

typedef struct KinksRun {
  double max_ratio;          /* max over steps and neurons of |b_i/a_i| */
  long cross_step;           /* first step with max_i |b_i/a_i| >= 1, or -1 */
  long steps;                /* updates taken */
  KinksStatus status;
  int a_degenerate;          /* every a_i of one sign at init */
  int linear;                /* at the end, no kink inside (−3,−1) or (1,3): f affine on each side */
  double ls_gap;             /* max_j |f(x_j) − ℓ_s(x_j)|, ℓ_s the weighted least-squares line
                              * of side s (linear regression on each side) */
  double final_loss;
  double lr;
} KinksRun;

typedef struct KinksWidth {
  long width;
  long runs, crossed, converged, unfinished, linear, degenerate;
  double p_cross, lo, hi;    /* crossed/runs and its 95% Wilson interval */
  double ls_gap_median;      /* over the runs that did not cross */
  double wall_s;
  KinksRun *run;             /* [runs] */
} KinksWidth;

typedef struct KinksResult {
  int nwidths;
  KinksWidth width[KINKS_MAX_WIDTHS];
  double wall_s;
} KinksResult;

void kinks_options_default(KinksOptions *o);
int kinks_init_parse(const char *text, KinksInit *out, Err *err);
const char *kinks_init_name(KinksInit k);

/* Wilson's score interval for k successes in n trials at normal quantile z:
 * centre (p + z²/2n)/(1 + z²/n) ± z√(p(1−p)/n + z²/4n²)/(1 + z²/n), p = k/n, clipped to
 * [0, 1]; n = 0 gives [0, 1]. */
void kinks_wilson(long k, long n, double z, double *lo, double *hi);

/* The kinks −b_i/a_i of a 1-n-1 net's θ (±INFINITY where a_i = 0, NAN where both are 0),
 * and max_i |b_i/a_i| (neurons with a_i = 0 skipped). */
void kinks_positions(const Net *net, const double *theta, double *kink);
double kinks_max_ratio(const Net *net, const double *theta);

/* The per-point weights of one run: the counts of N draws uniform over the 6 points, times
 * 6/N (mean 1). */
void kinks_weights_draw(uint64_t N, Rng *rng, double *w);
/* The weighted least-squares line on each side of 0 (x > 0 and x < 0 separately):
 * fit[j] is its value at x_j. CS_EINVAL when a side has fewer than 2 weighted points. */
int kinks_side_ls(const double *x, const double *y, const double *w, size_t n, double *fit,
                  Err *err);
/* The paper's step size 1/λ_max(A_ref M) for θ (a 1-n-1 net) on points x with weights w
 * (mean 1; p_j = w_j/n): A_ref from the neurons' Σ_s sums of each sign of a, M the
 * per-side second moments of (x, 1) under p (docs/KINKS.md). λ_max(A_ref M) is the
 * largest eigenvalue of the weighted tangent kernel P^{1/2} K P^{1/2} while no kink
 * lies between the data points. */
int kinks_paper_lr(const Net *net, const double *theta, const double *x, const double *w,
                   size_t n, double *lr, Err *err);

/* The whole study: every width, o->runs runs each. stop (may be NULL) is polled between
 * runs; a stopped study keeps the widths it finished (r->nwidths). done (may be NULL) is
 * called on the calling thread after each finished width (progress lines). */
int kinks_study_run(const KinksOptions *o, int (*stop)(void),
                    void (*done)(void *ctx, const KinksWidth *w), void *ctx, KinksResult *r,
                    Err *err);
/* One run (width n, index `run`), on the calling thread. */
int kinks_run_one(const KinksOptions *o, long n, long run, KinksRun *out, Err *err);
void kinks_result_free(KinksResult *r);

#endif
