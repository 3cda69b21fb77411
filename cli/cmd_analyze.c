/* cmd_analyze.c: `curvscope analyze`: curvature of a stored checkpoint, after the fact. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dist.h"
#include "core/json.h"
#include "core/spec.h"
#include "core/threads.h"
#include "hessian/curv.h"
#include "hessian/curv_start.h"
#include "hessian/ops.h"
#include "core/layout.h"
#include "lanczos/eig.h"
#include "run_opts.h"

typedef struct AnalyzeOpts {
  char db[512], operator[64], solver[16], start[32];
  CurvStart start_spec; /* start, parsed */
  long run, step;     /* step -1: last */
  long top, bottom, samples, probes, lanczos_steps, grid, threads, seed;
  double tol;
  int trace, density;
  Precision precision;
} AnalyzeOpts;

static void show_probes(const void *base, const CliOpt *opt, char *out, size_t n) {
  long p = *(const long *)((const char *)base + opt->off);
  if (p < 0) snprintf(out, n, "100 with --trace, 10 with --density");
  else snprintf(out, n, "%ld", p);
}

static int parse_probes(void *base, const CliOpt *opt, const char *value, Err *err) {
  long *p = (long *)((char *)base + opt->off);
  if (parse_long(value, p) || *p < 0)
    return err_set(err, CS_EINVAL, "--probes '%s' is not a non-negative integer", value);
  return CS_OK;
}

#define A_LONG(f, m, h) OPT_LONG(AnalyzeOpts, f, m, h, NULL)
static const CliOpt analyze_opts[] = {
    OPT_ID(AnalyzeOpts, run, "the run (curvscope runs lists them)"),
    OPT_STR(AnalyzeOpts, db, "FILE", "the database", NULL),
    OPT_STEP(AnalyzeOpts, step, "the checkpoint"),
    OPT_STR(AnalyzeOpts, operator, "OP",
            "hessian: the training-loss Hessian; ggn: Gauss-Newton; precond: Adam's "
            "P^{-1/2} H P^{-1/2} from the optimizer state at that step; batch:B: the Hessian of "
            "a random mini-batch of B examples (seeded); layer:L: the diagonal block of layer L "
            "(0 = first; L1-L2 for several)", NULL),
    A_LONG(top, "K", "eigenvalues at the top (1 when nothing else is asked)"),
    A_LONG(bottom, "K", "eigenvalues at the bottom"),
    OPT_FLAG(AnalyzeOpts, trace, "Hutchinson trace with --probes Rademacher vectors", NULL),
    OPT_FLAG(AnalyzeOpts, density, "SLQ spectral density (--probes, --lanczos-steps)", NULL),
    {"probes", OPT_FN, offsetof(AnalyzeOpts, probes), 0, "M", "probe vectors", NULL,
     parse_probes, show_probes},
    A_LONG(lanczos_steps, "N", "Lanczos steps per density probe"),
    A_LONG(grid, "N", "density grid points"),
    A_LONG(samples, "N", "use the first N training examples (0: all)"),
    OPT_POS(AnalyzeOpts, tol, "T",
            "eigensolver tolerance (under --precision mixed or f32 the default is the float32 "
            "floor, 1e-5, and a tighter one is refused)", NULL),
    OPT_PRECISION(AnalyzeOpts, precision),
    OPT_STR(AnalyzeOpts, solver, "S",
            "auto: own Lanczos (fewer products, docs/LANCZOS.md), then ARPACK from its vectors "
            "only if a pair's exact residual misses ARPACK's test (tol * max(|lambda|, "
            "eps^(2/3))); arpack (the reference) or lanczos alone; parpack: ARPACK with its basis "
            "split over the MPI ranks (mpirun, --top or --bottom; docs/SCALING.md); lobpcg: the "
            "block solver over the block Hessian product (k vectors per pass; more products "
            "than lanczos on the bench workloads, docs/PERFORMANCE.md)", NULL),
    OPT_STR(AnalyzeOpts, start, "S",
            "the eigen-solve's start vector: gaussian (seeded by --seed) or jmean[:frac=F], "
            "the outputs' mean Jacobian over a fraction F of the rows (default 0.1), which "
            "saves products on the top end where the Gauss-Newton outlier dominates "
            "(docs/LANCZOS.md); hessian and ggn operators, MSE and cross-entropy", NULL),
    A_LONG(seed, "S", "seed of probes and mini-batches"),
    OPT_THREADS(AnalyzeOpts, threads),
    OPT_END};

static void help(const OptTable *t) {
  printf(
      "usage: curvscope analyze --run ID [--db runs.db] [--step S|last] [--operator OP]\n"
      "         [--top K] [--bottom K] [--trace] [--density] [options]\n\n"
      "Loads a stored checkpoint and its run's data and configuration, measures the curvature\n"
      "and writes it to the database (eigs with residuals and products; metrics trace and\n"
      "trace_se; densities) as well as printing it.\n\n");
  opts_help_print(stdout, t, 1);
}

static void defaults(AnalyzeOpts *a) {
  memset(a, 0, sizeof *a);
  strcpy(a->db, "runs.db");
  strcpy(a->operator, "hessian");
  strcpy(a->solver, "auto");
  strcpy(a->start, "gaussian");
  a->run = -1;
  a->step = -1;
  a->tol = 1e-8;
  a->probes = -1;
  a->lanczos_steps = 80;
  a->grid = 400;
}

static int parse(AnalyzeOpts *a, int argc, char **argv, Err *err) {
  unsigned char seen[OPTS_MAX_LINES] = {0};
  OptTable t = {analyze_opts, a, NULL, seen};
  if (opts_parse(&t, 1, argc, argv, 1, NULL, NULL, err)) return CS_EINVAL;
  if (!opts_seen(&t, "tol") && precision_tol_min(a->precision) > a->tol)
    a->tol = precision_tol_min(a->precision);
  if (precision_check_tol(a->precision, a->tol, "--tol", err)) return CS_EINVAL;
  if (strcmp(a->solver, "auto") && strcmp(a->solver, "arpack") && strcmp(a->solver, "lanczos") &&
      strcmp(a->solver, "parpack") && strcmp(a->solver, "lobpcg"))
    return err_set(err, CS_EINVAL, "--solver '%s' (use auto, arpack, lanczos, parpack or lobpcg)",
                   a->solver);
  if (!strcmp(a->solver, "parpack") && a->top && a->bottom)
    return err_set(err, CS_EINVAL, "--solver parpack: one end at a time (--top or --bottom)");
  if (a->grid < 2) return err_set(err, CS_EINVAL, "--grid '%ld': at least 2 points", a->grid);
  if (a->run < 0) return err_set(err, CS_EINVAL, "analyze needs --run ID (see curvscope runs)");
  if (!a->top && !a->bottom && !a->trace && !a->density) a->top = 1;
  if (curv_start_parse(a->start, &a->start_spec, err)) return CS_EINVAL;
  if (a->start_spec.kind == CURV_START_JMEAN && strcmp(a->operator, "hessian") && strcmp(a->operator, "ggn") &&
      strncmp(a->operator, "batch:", 6))
    return err_set(err, CS_EINVAL, "--start jmean: for the hessian, ggn and batch:B operators "
                   "(not %s)", a->operator);
  return CS_OK;
}

/* The rows the operator is built on: the first N, or a seeded random mini-batch. */
static int pick_rows(const Dataset *ds, long samples, long batch, uint64_t seed, Dataset **owned,
                     Batch *b, Err *err) {
  *owned = NULL;
  size_t n = samples > 0 && (size_t)samples < ds->n ? (size_t)samples : ds->n;
  if (batch > 0) {
    if ((size_t)batch > ds->n)
      return err_set(err, CS_EINVAL, "--operator batch:%ld exceeds the %zu training examples",
                     batch, ds->n);
    size_t *idx = malloc(ds->n * sizeof *idx);
    if (!idx) return err_set(err, CS_ENOMEM, "out of memory");
    for (size_t i = 0; i < ds->n; i++) idx[i] = i;
    Rng r;
    rng_seed_stream(&r, seed, 0xba7cULL);
    rng_shuffle(&r, idx, ds->n);
    *owned = dataset_subset(ds, idx, (size_t)batch);
    free(idx);
    if (!*owned) return err_set(err, CS_ENOMEM, "out of memory");
    ds = *owned;
    n = ds->n;
  }
  *b = (Batch){ds->X, ds->Y, ds->labels, n, NULL, NULL};
  return CS_OK;
}

/* Adam's state (m, v, t) stored with the checkpoint at `step`, loaded into opt. */
static int load_adam(Db *db, int64_t run, long step, Optimizer *opt, Err *err) {
  char *meta = NULL;
  double *state = NULL, t = 0;
  size_t n = 0;
  int rc = db_opt_state_read(db, run, step, &meta, &state, &n, err);
  if (rc) return err_prefix(err, "--operator precond");
  if (n != 2 * opt->n || json_get_num(meta, "t", &t) || t < 1)
    rc = err_set(err, CS_EFORMAT, "run %lld: the optimizer state at step %ld is not Adam's "
                 "(m, v) for %zu parameters", (long long)run, step, opt->n);
  else {
    memcpy(opt->state, state, n * sizeof *state);
    opt->t = (long)t;
  }
  free(meta);
  free(state);
  return rc;
}

static void print_eigs(const char *what, const EigResult *r, int from, int count) {
  for (int j = from; j < from + count; j++)
    printf("  %s[%d] = %.10g   residual %.2e\n", what, j - from, r->values[j], r->residuals[j]);
}

/* Stores the ntop top and nbottom bottom values asked for (the solver may return more
 * at one end, since it solves the same count at both). */
static int record_eigs(Recorder *rec, long step, const char *op, long nb, const EigResult *r,
                       int ntop, int nbottom, Err *err) {
  if (ntop > r->ntop) ntop = r->ntop;
  if (nbottom > r->nbottom) nbottom = r->nbottom;
  EigRecord top = {step, op, nb, ntop, r->values, r->residuals, r->matvecs, r->wall_s,
                   r->converged, 0, 0, "analyze"};
  EigRecord bot = {step, op, nb, nbottom, r->values + r->ntop, r->residuals + r->ntop,
                   r->matvecs, r->wall_s, r->converged, 1, 0, "analyze"};
  int rc = ntop ? rec_eigs(rec, &top, err) : CS_OK;
  if (!rc && nbottom) rc = rec_eigs(rec, &bot, err);
  return rc;
}

/* What analyze cannot do data-parallel (bad input under mpirun). */
static int analyze_dist_check(const AnalyzeOpts *a, Err *err) {
  if (a->threads)
    return err_set(err, CS_EINVAL, "--threads %ld under MPI: give each rank its threads with "
                   "OMP_NUM_THREADS (mpirun -x OMP_NUM_THREADS=T)", a->threads);
  if (a->samples > 0)
    return err_set(err, CS_EINVAL, "--samples %ld under MPI: every rank's share of the "
                   "training rows is used", a->samples);
  if (strcmp(a->start, "gaussian"))
    return err_set(err, CS_EINVAL, "--start %s under MPI: every rank would start from its own "
                   "rows (use the gaussian start)", a->start);
  if (!strncmp(a->operator, "batch:", 6) || !strcmp(a->operator, "precond"))
    return err_set(err, CS_EINVAL, "--operator %s does not run under MPI (use hessian, ggn or "
                   "layer:L)", a->operator);
  return CS_OK;
}

int cmd_analyze(int argc, char **argv) {
  AnalyzeOpts a;
  defaults(&a);
  if (cli_is_help(argc, argv)) {
    help(&(OptTable){analyze_opts, &a, NULL, NULL});
    return EXIT_OK;
  }
  Err err = {0};
  if (parse(&a, argc, argv, &err)) return cli_fail(&err);
  threads_set((int)a.threads);
  Db *db = NULL;
  RunRow row = {0};
  RunOpts ro;
  RunSetup s = {0};
  Dataset *owned = NULL;
  Curvature *curv = NULL;
  SubsetOp *sub = NULL;
  PrecondOp *pre = NULL;
  double *params = NULL;
  Recorder rec = {0};
  int code = EXIT_FAIL, have_rec = 0;
  size_t n = 0;
  long step = 0;
  /* under MPI rank 0 alone reads the database and hands the run to the others (dist.h) */
  if (cli_comm() && analyze_dist_check(&a, &err)) goto fail;
  if (cli_rank() == 0 &&
      (cli_db_open_existing(a.db, &db, &err) || db_run_get(db, a.run, &row, &err) ||
       db_checkpoint_read(db, a.run, a.step, &params, &n, &step, &err)))
    goto fail;
  if (cli_dist_share_run(&row.config, &params, &n, &step, &err)) goto fail;
  if (run_opts_from_json(&ro, row.config, &err) || run_setup(&ro, &s, &err)) goto fail;
  ro.threads = 0; /* the run's own count is not stored; --threads was checked above */
  if (cli_dist_setup(&ro, &s, &err)) goto fail;
  if (n != s.net.n_params) {
    err_set(&err, CS_EFORMAT, "checkpoint of run %lld has %zu values, its model %zu",
            (long long)a.run, n, s.net.n_params);
    goto fail;
  }
  /* Operator spec: hessian | ggn | batch:B | layer:L | precond */
  long batch = 0;
  const char *opname = a.operator, *layers = NULL;
  if (!strncmp(a.operator, "batch:", 6)) {
    if (parse_long(a.operator + 6, &batch) || batch < 1) {
      err_set(&err, CS_EINVAL, "--operator '%s': batch size must be a positive integer", a.operator);
      goto fail;
    }
    opname = "batch";
  } else if (!strncmp(a.operator, "layer:", 6)) {
    layers = a.operator + 6;
    opname = a.operator; /* layer:L */
  } else if (!strcmp(a.operator, "precond")) {
    if (s.opt_type != optim_adam) {
      err_set(&err, CS_EINVAL, "--operator precond needs a run trained with Adam (run %lld used %s)",
              (long long)a.run, s.opt_type->name);
      goto fail;
    }
    if (load_adam(db, a.run, step, s.opt, &err)) goto fail;
  } else if (strcmp(a.operator, "hessian") && strcmp(a.operator, "ggn")) {
    err_set(&err, CS_EINVAL, "unknown --operator '%s' (hessian, ggn, precond, batch:B, layer:L)",
            a.operator);
    goto fail;
  }
  Batch b;
  if (cli_comm()) /* every rank's share (analyze_dist_check refused --samples, batch:B) */
    b = batch_of_dataset(s.train);
  else if (pick_rows(s.train, a.samples, batch, (uint64_t)a.seed, &owned, &b, &err))
    goto fail;
  b.metric = s.metric; /* a Sobolev run's M: curv_build refuses rows that are not the grid */
  if (!(curv = curv_alloc(&s.net, s.loss, b.n ? b.n : 1, layout_chunk_arg(ro.chunk), &err))) goto fail;
  if (curv_set_precision(curv, a.precision, &err)) goto fail;
  if (curv_build(curv, params, &b, &err)) goto fail;
  Linop op = strcmp(a.operator, "ggn") ? curv_hessian_op(curv) : curv_ggn_op(curv);
  if (!strcmp(a.operator, "precond")) { /* P^{-1/2} H P^{-1/2} from Adam's state at that step */
    double *P = malloc(s.net.n_params * sizeof *P);
    if (!P || optim_adam_precond(s.opt, P, &err) || !(pre = precond_op_alloc(&op, P, &err))) {
      free(P);
      if (!err.code) err_set(&err, CS_ENOMEM, "out of memory");
      goto fail;
    }
    free(P);
    op = precond_op_linop(pre);
  }
  if (layers) {
    size_t ranges[2 * NET_MAX_LAYERS];
    int np;
    if (subset_ranges_for_layers(&s.net, layers, ranges, NET_MAX_LAYERS, &np, &err)) goto fail;
    if (!(sub = subset_op_alloc(&op, ranges, np, &err))) goto fail;
    op = subset_op_linop(sub);
  }
  if (db && db_recorder_attach(db, a.run, &rec, &err)) goto fail;
  have_rec = db != NULL;
  printf("run %lld, step %ld, operator %s on %zu examples, %zu unknowns, loss %.6g%s\n",
         (long long)a.run, step, opname, batch_rows_all(&b), op.n, curv_loss(curv),
         precision_f32_passes(a.precision) ? ", float32 passes" : "");
  if (a.top || a.bottom) {
    EigOpts eo;
    eig_opts_default(&eo);
    eo.tol = a.tol;
    eo.seed = (uint64_t)a.seed;
    eo.k = (int)(a.top > a.bottom ? a.top : a.bottom);
    eo.which = a.top && a.bottom ? EIG_BOTH : a.top ? EIG_TOP : EIG_BOTTOM;
    if ((size_t)(eo.which == EIG_BOTH ? 2 * eo.k : eo.k) >= op.n) {
      err_set(&err, CS_EINVAL, "asked for %d eigenvalues of a %zu-dimensional operator", eo.k, op.n);
      goto fail;
    }
    double *v0 = NULL;
    if (a.start_spec.kind == CURV_START_JMEAN) {
      double t0 = wall_time();
      size_t rows = 0;
      if (!(v0 = malloc(op.n * sizeof *v0))) {
        err_set(&err, CS_ENOMEM, "out of memory for the start vector");
        goto fail;
      }
      size_t k = (size_t)(a.top > 0 ? a.top : 1);
      if (curv_start_jmean(&s.net, s.loss, params, &b, a.start_spec.frac, k, v0, &rows, &err)) {
        free(v0);
        goto fail;
      }
      eo.warm = v0, eo.nwarm = 1;
      printf("start vector: the outputs' mean Jacobian on %zu rows (%.2f s)\n", rows,
             wall_time() - t0);
    }
    EigResult r = {0};
    const char *used = a.solver;
    int rc = !strcmp(a.solver, "arpack")    ? eig_arpack(&op, &eo, &r, &err)
             : !strcmp(a.solver, "parpack") ? cli_eig_parpack(&op, &eo, &r, &err)
             : !strcmp(a.solver, "lanczos") ? eig_lanczos_top(&op, &eo, &r, &err)
             : !strcmp(a.solver, "lobpcg")  ? eig_lobpcg(&op, &eo, &r, &err)
                                            : eig_solve_auto(&op, &eo, &r, &used, &err);
    free(v0);
    if (rc && rc != CS_ENOCONV) goto fail;
    printf("eigenvalues (%s, %ld products, %.2f s%s):\n", used, r.matvecs, r.wall_s,
           r.converged ? "" : ", NOT CONVERGED: values below are the converged ones only");
    print_eigs("top", &r, 0, r.ntop < a.top ? r.ntop : (int)a.top);
    print_eigs("bottom", &r, r.ntop, r.nbottom < a.bottom ? r.nbottom : (int)a.bottom);
    /* the ranks ran one solver on the same summed products: they must agree */
    rc = comm_check_same(cli_comm(), r.values, (size_t)r.k, "the eigenvalues", &err);
    if (!rc)
      rc = record_eigs(&rec, step, opname, (long)batch_rows_all(&b), &r, (int)a.top,
                       (int)a.bottom, &err);
    eig_result_free(&r);
    if (rc) goto fail;
  }
  if (a.trace) {
    double mean, se;
    long m = a.probes >= 0 ? a.probes : 100;
    if (m < 2) m = 2;
    double t0 = wall_time();
    if (trace_hutchinson(&op, (int)m, (uint64_t)a.seed, &mean, &se, &err) ||
        comm_check_same(cli_comm(), &mean, 1, "the trace", &err))
      goto fail;
    printf("trace = %.8g ± %.2g (Hutchinson, %ld probes, %.2f s)\n", mean, se, m, wall_time() - t0);
    if (rec_metric(&rec, step, "trace", mean, &err) || rec_metric(&rec, step, "trace_se", se, &err))
      goto fail;
  }
  if (a.density) {
    long m = a.probes >= 0 ? a.probes : 10, steps = a.lanczos_steps;
    if (m < 1) m = 1;
    if ((size_t)steps > op.n) steps = (long)op.n;
    double *x = malloc((size_t)a.grid * sizeof *x), *y = malloc((size_t)a.grid * sizeof *y);
    if (!x || !y) {
      free(x);
      free(y);
      err_set(&err, CS_ENOMEM, "out of memory");
      goto fail;
    }
    double t0 = wall_time();
    int rc = slq_density(&op, (int)steps, (int)m, (uint64_t)a.seed, (int)a.grid, 0.0, x, y, NULL, NULL, &err);
    if (!rc) rc = comm_check_same(cli_comm(), y, (size_t)a.grid, "the spectral density", &err);
    if (!rc) rc = rec_density(&rec, step, opname, (size_t)a.grid, x, y, &err);
    /* the settings beside the density, for the report (docs/SCHEMA.md) */
    const char *sfx[] = {"probes", "lanczos_steps", "grid", "seed"};
    double val[] = {(double)m, (double)steps, (double)a.grid, (double)a.seed};
    for (int k = 0; k < 4 && !rc; k++) {
      char name[96];
      snprintf(name, sizeof name, "%s_slq_%s", opname, sfx[k]);
      rc = rec_metric(&rec, step, name, val[k], &err);
    }
    if (!rc)
      printf("spectral density: %ld probes × %ld Lanczos steps on [%.4g, %.4g] (%.2f s), stored\n",
             m, steps, x[0], x[a.grid - 1], wall_time() - t0);
    free(x);
    free(y);
    if (rc) goto fail;
  }
  if (rec_flush(&rec, &err)) goto fail;
  code = EXIT_OK;
  goto out;
fail:
  code = cli_fail(&err);
out:
  if (have_rec) db_recorder_close(&rec);
  subset_op_free(sub);
  precond_op_free(pre);
  curv_free(curv);
  dataset_free(owned);
  free(params);
  run_setup_free(&s);
  run_row_free(&row);
  db_close(db);
  return code;
}
