/* cmd_analyze.c: `curvscope analyze`: curvature of a stored checkpoint, after the fact. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/json.h"
#include "core/spec.h"
#include "core/threads.h"
#include "hessian/curv.h"
#include "hessian/ops.h"
#include "lanczos/eig.h"
#include "run_opts.h"

typedef struct AnalyzeOpts {
  const char *db, *op;
  int64_t run;
  long step;          /* -1: last */
  long top, bottom, samples, probes, lanczos_steps, grid, threads;
  double tol;
  int trace, density, solver_lanczos;
  uint64_t seed;
} AnalyzeOpts;

static void help(void) {
  printf(
      "usage: curvscope analyze --run ID [--db runs.db] [--step S|last]\n"
      "         [--operator hessian|ggn|precond|batch:B|layer:L] [--top K] [--bottom K]\n"
      "         [--trace] [--density] [--samples N] [--tol T] [--solver arpack|lanczos]\n\n"
      "Loads a stored checkpoint and its run's data and configuration, measures the curvature\n"
      "and writes it to the database (eigs with residuals and products; metrics trace and\n"
      "trace_se; densities) as well as printing it.\n\n"
      "  --operator hessian   the training-loss Hessian (default); ggn: Gauss-Newton;\n"
      "             precond   Adam's P^{-1/2} H P^{-1/2} from the optimizer state at that step;\n"
      "             batch:B   the Hessian of a random mini-batch of B examples (seeded);\n"
      "             layer:L   the diagonal block of layer L (0 = first; L1-L2 for several)\n"
      "  --top K / --bottom K eigenvalues at each end (default --top 1)\n"
      "  --trace              Hutchinson trace with --probes M Rademacher vectors (default 100)\n"
      "  --density            SLQ spectral density (--probes M, --lanczos-steps m, default 10, 80)\n"
      "  --samples N          use the first N training examples (default: all)\n"
      "  --tol T              eigensolver tolerance (default 1e-8)\n"
      "  --solver S           arpack (default: the reference the probes' own Lanczos is\n"
      "                       checked against) or lanczos (fewer products, docs/LANCZOS.md)\n"
      "  --seed S             seed of probes and mini-batches (default 0)\n"
      "  --threads N          OpenMP/BLAS threads (0: all cores; at most 4 per core and 63)\n");
}

static int parse(AnalyzeOpts *a, int argc, char **argv, Err *err) {
  memset(a, 0, sizeof *a);
  a->db = "runs.db";
  a->op = "hessian";
  a->run = -1;
  a->step = -1;
  a->tol = 1e-8;
  a->probes = -1;
  a->lanczos_steps = 80;
  a->grid = 400;
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i];
    int flag_only = !strcmp(f, "--trace") || !strcmp(f, "--density");
    if (flag_only) {
      if (!strcmp(f, "--trace")) a->trace = 1;
      else a->density = 1;
      continue;
    }
    if (i + 1 >= argc) return err_set(err, CS_EINVAL, "option '%s' needs a value (see --help)", f);
    const char *v = argv[++i];
    long *lp = NULL;
    if (!strcmp(f, "--db")) a->db = v;
    else if (!strcmp(f, "--operator")) a->op = v;
    else if (!strcmp(f, "--solver")) {
      if (strcmp(v, "arpack") && strcmp(v, "lanczos"))
        return err_set(err, CS_EINVAL, "--solver '%s' (use arpack or lanczos)", v);
      a->solver_lanczos = !strcmp(v, "lanczos");
    } else if (!strcmp(f, "--step") && !strcmp(v, "last")) a->step = -1;
    else if (!strcmp(f, "--tol")) {
      if (parse_double(v, &a->tol) || !(a->tol > 0))
        return err_set(err, CS_EINVAL, "--tol '%s' is not a positive number", v);
    } else if (!strcmp(f, "--run") || !strcmp(f, "--seed")) {
      long x;
      if (parse_long(v, &x) || x < 0) return err_set(err, CS_EINVAL, "%s '%s' is not a valid id", f, v);
      if (!strcmp(f, "--run")) a->run = x;
      else a->seed = (uint64_t)x;
    } else {
      if (!strcmp(f, "--step")) lp = &a->step;
      else if (!strcmp(f, "--top")) lp = &a->top;
      else if (!strcmp(f, "--bottom")) lp = &a->bottom;
      else if (!strcmp(f, "--samples")) lp = &a->samples;
      else if (!strcmp(f, "--probes")) lp = &a->probes;
      else if (!strcmp(f, "--lanczos-steps")) lp = &a->lanczos_steps;
      else if (!strcmp(f, "--grid")) lp = &a->grid;
      else if (!strcmp(f, "--threads")) lp = &a->threads;
      else return err_set(err, CS_EINVAL, "unknown option '%s' (see --help)", f);
      if (parse_long(v, lp) || *lp < 0)
        return err_set(err, CS_EINVAL, "%s '%s' is not a non-negative integer", f, v);
    }
  }
  if (threads_check(a->threads, err)) return CS_EINVAL;
  if (a->run < 0) return err_set(err, CS_EINVAL, "analyze needs --run ID (see curvscope runs)");
  if (!a->top && !a->bottom && !a->trace && !a->density) a->top = 1;
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
  *b = (Batch){ds->X, ds->Y, ds->labels, n};
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

int cmd_analyze(int argc, char **argv) {
  if (cli_is_help(argc, argv)) {
    help();
    return EXIT_OK;
  }
  AnalyzeOpts a;
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
  if (cli_db_open_existing(a.db, &db, &err) || db_run_get(db, a.run, &row, &err)) goto fail;
  if (run_opts_from_json(&ro, row.config, &err) || run_setup(&ro, &s, &err)) goto fail;
  size_t n = 0;
  long step = 0;
  if (db_checkpoint_read(db, a.run, a.step, &params, &n, &step, &err)) goto fail;
  if (n != s.net.n_params) {
    err_set(&err, CS_EFORMAT, "checkpoint of run %lld has %zu values, its model %zu",
            (long long)a.run, n, s.net.n_params);
    goto fail;
  }
  /* Operator spec: hessian | ggn | batch:B | layer:L | precond */
  long batch = 0;
  const char *opname = a.op, *layers = NULL;
  char opbuf[64];
  if (!strncmp(a.op, "batch:", 6)) {
    if (parse_long(a.op + 6, &batch) || batch < 1) {
      err_set(&err, CS_EINVAL, "--operator '%s': batch size must be a positive integer", a.op);
      goto fail;
    }
    opname = "batch";
  } else if (!strncmp(a.op, "layer:", 6)) {
    layers = a.op + 6;
    snprintf(opbuf, sizeof opbuf, "layer:%s", layers);
    opname = opbuf;
  } else if (!strcmp(a.op, "precond")) {
    if (s.opt_type != optim_adam) {
      err_set(&err, CS_EINVAL, "--operator precond needs a run trained with Adam (run %lld used %s)",
              (long long)a.run, s.opt_type->name);
      goto fail;
    }
    if (load_adam(db, a.run, step, s.opt, &err)) goto fail;
  } else if (strcmp(a.op, "hessian") && strcmp(a.op, "ggn")) {
    err_set(&err, CS_EINVAL, "unknown --operator '%s' (hessian, ggn, precond, batch:B, layer:L)",
            a.op);
    goto fail;
  }
  Batch b;
  if (pick_rows(s.train, a.samples, batch, a.seed, &owned, &b, &err)) goto fail;
  if (!(curv = curv_alloc(&s.net, s.loss, b.n, (size_t)ro.chunk, &err))) goto fail;
  if (curv_build(curv, params, &b, &err)) goto fail;
  Linop op = strcmp(a.op, "ggn") ? curv_hessian_op(curv) : curv_ggn_op(curv);
  if (!strcmp(a.op, "precond")) { /* P^{-1/2} H P^{-1/2} from Adam's state at that step */
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
  if (db_recorder_attach(db, a.run, &rec, &err)) goto fail;
  have_rec = 1;
  printf("run %lld, step %ld, operator %s on %zu examples, %zu unknowns, loss %.6g\n",
         (long long)a.run, step, opname, b.n, op.n, curv_loss(curv));
  if (a.top || a.bottom) {
    EigOpts eo;
    eig_opts_default(&eo);
    eo.tol = a.tol;
    eo.seed = a.seed;
    eo.k = (int)(a.top > a.bottom ? a.top : a.bottom);
    eo.which = a.top && a.bottom ? EIG_BOTH : a.top ? EIG_TOP : EIG_BOTTOM;
    if ((size_t)(eo.which == EIG_BOTH ? 2 * eo.k : eo.k) >= op.n) {
      err_set(&err, CS_EINVAL, "asked for %d eigenvalues of a %zu-dimensional operator", eo.k, op.n);
      goto fail;
    }
    EigResult r = {0};
    int rc = a.solver_lanczos ? eig_lanczos_top(&op, &eo, &r, &err) : eig_arpack(&op, &eo, &r, &err);
    if (rc && rc != CS_ENOCONV) goto fail;
    printf("eigenvalues (%ld products, %.2f s%s):\n", r.matvecs, r.wall_s,
           r.converged ? "" : ", NOT CONVERGED: values below are the converged ones only");
    print_eigs("top", &r, 0, r.ntop < a.top ? r.ntop : (int)a.top);
    print_eigs("bottom", &r, r.ntop, r.nbottom < a.bottom ? r.nbottom : (int)a.bottom);
    rc = record_eigs(&rec, step, opname, (long)b.n, &r, (int)a.top, (int)a.bottom, &err);
    eig_result_free(&r);
    if (rc) goto fail;
  }
  if (a.trace) {
    double mean, se;
    long m = a.probes >= 0 ? a.probes : 100;
    if (m < 2) m = 2;
    double t0 = wall_time();
    if (trace_hutchinson(&op, (int)m, a.seed, &mean, &se, &err)) goto fail;
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
    int rc = slq_density(&op, (int)steps, (int)m, a.seed, (int)a.grid, 0.0, x, y, NULL, NULL, &err);
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
