/* dist.c: the MPI job around a command (see dist.h). */
#include "dist.h"

#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "run_opts.h"
#include "lanczos/eig.h"
#ifdef CS_HAVE_MPI
#include "dist/comm_mpi.h"
#endif
#ifdef CS_HAVE_PARPACK
#include "dist/eig_parpack.h"
#endif

static Comm job;         /* filled by comm_mpi_init */
static int started;      /* MPI was initialised */
static int err_fd = -1;  /* rank > 0: the real stderr */

const Comm *cli_comm(void) { return comm_active(&job) ? &job : NULL; }
int cli_rank(void) { return started ? job.rank : 0; }
int cli_dist_err_fd(void) { return err_fd; }

static int launched(void) {
  const char *v[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"};
  for (size_t i = 0; i < sizeof v / sizeof *v; i++)
    if (getenv(v[i])) return 1;
  return 0;
}

#ifdef CS_HAVE_MPI
/* train, analyze and study eos (not its --run analysis) run data-parallel. */
static int runs_distributed(int argc, char **argv) {
  if (argc < 2) return 0;
  if (!strcmp(argv[1], "train") || !strcmp(argv[1], "analyze")) return 1;
  if (strcmp(argv[1], "study") || argc < 3 || strcmp(argv[2], "eos")) return 0;
  for (int i = 3; i < argc; i++)
    if (!strcmp(argv[i], "--run") || !strncmp(argv[i], "--run=", 6)) return 0;
  return 1;
}

static int is_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") || !strcmp(argv[i], "--version"))
      return 1;
  return argc < 2;
}
#endif

int cli_dist_start(int *argc, char ***argv) {
  if (!launched()) return -1;
  const char *ws = getenv("OMPI_COMM_WORLD_SIZE");
#ifndef CS_HAVE_MPI
  if (ws && atoi(ws) > 1) {
    fprintf(stderr, "curvscope: started by mpirun on %s ranks, but this build has no MPI "
            "(rebuild with -Dmpi=enabled and libopenmpi-dev)\n", ws);
    return EXIT_USAGE;
  }
  (void)argc, (void)argv;
  return -1;
#else
  (void)ws;
  Err err = {0};
  if (comm_mpi_init(argc, argv, &job, &err)) {
    fprintf(stderr, "curvscope: %s\n", err.msg);
    return EXIT_FAIL;
  }
  started = 1;
  if (job.size < 2) return -1;
  if (!is_help(*argc, *argv) && !runs_distributed(*argc, *argv)) {
    if (job.rank == 0)
      fprintf(stderr, "curvscope: '%s' does not run on %d MPI ranks (only train, analyze and "
              "study eos do): run it without mpirun\n", *argc > 1 ? (*argv)[1] : "", job.size);
    return cli_dist_finish(EXIT_USAGE);
  }
  if (job.rank > 0) { /* rank 0 prints; the others keep stderr for their own failures */
    err_fd = dup(STDERR_FILENO);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
      dup2(null, STDOUT_FILENO);
      dup2(null, STDERR_FILENO);
      close(null);
    }
  }
  return -1;
#endif
}

int cli_dist_finish(int code) {
#ifdef CS_HAVE_MPI
  if (!started) return code;
  fflush(stdout);
  fflush(stderr);
  /* An error ends every rank. Bad input fails every rank alike: rank 0 aborts the job, and
   * the others wait a moment for it (Open MPI's launcher garbles concurrent aborts, exit
   * 134), then abort themselves: a failure of theirs alone still ends the job. */
  if (code != EXIT_OK && job.size > 1) {
    if (job.rank > 0) sleep(3);
    comm_mpi_abort(code);
  }
  comm_mpi_finalize();
#endif
  return code;
}

int cli_dist_share_run(char **config, double **params, size_t *n, long *step, Err *err) {
  if (!cli_comm()) return CS_OK;
#ifdef CS_HAVE_MPI
  int root = job.rank == 0;
  if (root && !*config) return err_set(err, CS_EFORMAT, "the run has no stored configuration");
  uint64_t head[3] = {root ? strlen(*config) + 1 : 0, root ? *n : 0, root ? (uint64_t)*step : 0};
  if (comm_mpi_bcast(head, sizeof head)) return err_set(err, CS_EIO, "MPI broadcast failed");
  if (!root) {
    *config = malloc(head[0]);
    *params = malloc((head[1] ? head[1] : 1) * sizeof **params);
    *n = head[1], *step = (long)head[2];
    /* every rank must take part in the broadcasts below: out of memory ends the job */
    if (!*config || !*params) comm_mpi_abort(EXIT_FAIL);
  }
  if (comm_mpi_bcast(*config, head[0]) || comm_mpi_bcast(*params, head[1] * sizeof **params))
    return err_set(err, CS_EIO, "MPI broadcast of the run failed");
#else
  (void)config, (void)params, (void)n, (void)step, (void)err;
#endif
  return CS_OK;
}

/* CURVSCOPE_MPI_WEIGHTS: size non-negative weights, not all zero. */
static int share_weights(double *w, int size, int *given, Err *err) {
  const char *env = getenv("CURVSCOPE_MPI_WEIGHTS");
  *given = env && *env;
  if (!*given) return CS_OK;
  const char *p = env;
  double total = 0.0;
  for (int r = 0; r < size; r++) {
    char *end;
    w[r] = strtod(p, &end);
    if (end == p || !(w[r] >= 0) || !isfinite(w[r]) || (r < size - 1 && *end != ',') ||
        (r == size - 1 && *end))
      return err_set(err, CS_EINVAL, "CURVSCOPE_MPI_WEIGHTS '%s': need %d non-negative numbers "
                     "separated by commas, one per rank", env, size);
    total += w[r];
    p = end + 1;
  }
  if (!(total > 0))
    return err_set(err, CS_EINVAL, "CURVSCOPE_MPI_WEIGHTS '%s': every weight is 0", env);
  return CS_OK;
}

int cli_dist_setup(const RunOpts *o, RunSetup *s, Err *err) {
  const Comm *c = cli_comm();
  if (!c) return CS_OK;
  if (o->threads)
    return err_set(err, CS_EINVAL, "--threads %ld under MPI (%d ranks): give each rank its "
                   "threads with OMP_NUM_THREADS (mpirun -x OMP_NUM_THREADS=T, srun "
                   "--cpus-per-task)", o->threads, c->size);
  if (loss_couples_rows(s->loss))
    return err_set(err, CS_EINVAL, "--loss %s couples every row of the grid: it does not run "
                   "under MPI", o->loss);
  if (s->train->n < (size_t)c->size)
    return err_set(err, CS_EINVAL, "%d MPI ranks for %zu training examples: at most one rank "
                   "per example", c->size, s->train->n);
  double w[1024];
  int given;
  if (c->size > 1024)
    return err_set(err, CS_EINVAL, "%d MPI ranks: at most 1024", c->size);
  int rc = share_weights(w, c->size, &given, err);
  if (!rc) rc = dataset_shard(s->train, c, given ? w : NULL, err);
  if (!rc && s->test) rc = dataset_shard(s->test, c, given ? w : NULL, err);
  return rc;
}

int cli_eig_parpack(const Linop *op, const EigOpts *o, EigResult *r, Err *err) {
#ifdef CS_HAVE_PARPACK
  if (started) return eig_parpack(op, o, r, err);
  return err_set(err, CS_EINVAL, "--solver parpack runs under mpirun (any number of ranks, "
                 "also -np 1)");
#else
  (void)op, (void)o, (void)r;
  return err_set(err, CS_EINVAL, "--solver parpack: this build has no %s (meson -Dmpi=enabled "
                 "with libopenmpi-dev and libparpack2-dev)",
#ifdef CS_HAVE_MPI
                 "PARPACK"
#else
                 "MPI"
#endif
  );
#endif
}
