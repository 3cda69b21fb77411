/* cmd_sweep.c: `curvscope sweep --grid SPEC [--repeat R] [--jobs N | --slurm ...] -- train
 * FLAGS`: a grid of train runs as local worker processes, or as a Slurm job array
 * (sweep_slurm.c), each task writing its own database file, merged into --db. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "core/threads.h"
#include "core/json.h"
#include "run_opts.h"
#include "sweep.h"

#define SWEEP_PATH (PATH_MAX + 1024) /* the work directory and --db, absolute */
#define TASK_PATH (SWEEP_PATH + 64) /* a file in it */

typedef struct SweepArgs {
  char grid[4096];
  long repeat, jobs, threads;
  int slurm, dry_run;
  char partition[64], time[32];
  long cpus;
  char db[512], dir[512];
} SweepArgs;

static const CliOpt sweep_opts[] = {
    OPT_STR(SweepArgs, grid, "SPEC", "the grid: KEY=V1,V2,...;KEY=... (keys: train options)",
            NULL),
    OPT_LONG(SweepArgs, repeat, "R", "runs per grid point, seeds seed, seed+1, ...", NULL),
    OPT_LONG(SweepArgs, jobs, "N", "local worker processes at once (with --slurm: the array's "
             "%N limit, 0 none)", NULL),
    {"threads", OPT_LONG, offsetof(SweepArgs, threads), 0, "N", "threads in all, split evenly "
     "between the --jobs workers unless FLAGS give --threads (0: every core)", NULL,
     opts_parse_threads, NULL},
    OPT_FLAG(SweepArgs, slurm, "write a Slurm job array and its merge job instead of running",
             NULL),
    OPT_STR(SweepArgs, partition, "P", "--slurm: the partition (sbatch --partition)", NULL),
    OPT_STR(SweepArgs, time, "T", "--slurm: each task's time limit (sbatch --time)", NULL),
    OPT_LONG(SweepArgs, cpus, "C", "--slurm: CPUs per task (its --threads)", NULL),
    OPT_FLAG(SweepArgs, dry_run, "list the expanded runs and stop", "n"),
    OPT_STR(SweepArgs, db, "FILE", "the database every run is merged into", NULL),
    OPT_STR(SweepArgs, dir, "DIR", "the tasks' databases, logs and scripts (default: GROUP "
            "beside --db)", NULL),
    OPT_END};

static void help(const OptTable *t) {
  printf("usage: curvscope sweep --grid 'lr=0.01,0.02;batch=32,128' [--repeat R]\n"
         "                       [--jobs N | --slurm [--partition P --time T --cpus C]]\n"
         "                       [--dry-run] [--db runs.db] -- train FLAGS\n\n"
         "Runs `curvscope train FLAGS` at every point of the grid (the Cartesian product of the\n"
         "keys' values, the first key varying slowest), --repeat times each. Every task writes\n"
         "its own database file in --dir; they are merged into --db when all have ended\n"
         "(curvscope merge). Runs are named by their point and share a group (the sweep's,\n"
         "unless FLAGS give --name or --group). Without --slurm the tasks run here, --jobs at\n"
         "a time, with --threads split between them. With --slurm nothing runs: sweep.sbatch\n"
         "(a job array, one task per run), merge.sbatch (after the array, afterany) and\n"
         "submit.sh are written to --dir, and how to submit them is printed (docs/SWEEPS.md).\n\n");
  opts_help_print(stdout, t, 1);
}

static volatile sig_atomic_t g_stop = 0;
static void on_stop(int sig) { g_stop = sig; }

/* Creates dir (and its parent) unless it exists. */
static int make_dir(const char *dir, Err *err) {
  char p[SWEEP_PATH];
  snprintf(p, sizeof p, "%s", dir);
  for (char *s = p + 1; *s; s++)
    if (*s == '/') {
      *s = '\0';
      if (mkdir(p, 0777) && errno != EEXIST)
        return err_set(err, CS_EIO, "cannot create %s: %s", p, strerror(errno));
      *s = '/';
    }
  if (mkdir(p, 0777) && errno != EEXIST)
    return err_set(err, CS_EIO, "cannot create %s: %s", p, strerror(errno));
  return CS_OK;
}

/* Starts `exe argv...` with stdout and stderr to log; returns the pid or -1. */
static pid_t spawn(const char *exe, char **argv, const char *log) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0666), nul = open("/dev/null", O_RDONLY);
  if (fd < 0 || nul < 0) _exit(127);
  dup2(nul, 0), dup2(fd, 1), dup2(fd, 2);
  signal(SIGINT, SIG_DFL), signal(SIGTERM, SIG_DFL);
  /* argv[0] is "train": the command line is curvscope's own */
  char **full = calloc((size_t)sweep_argc(argv) + 2, sizeof *full);
  if (!full) _exit(127);
  full[0] = "curvscope";
  for (int i = 0; argv[i]; i++) full[i + 1] = argv[i];
  execv(exe, full);
  _exit(127);
}

/* Runs the tasks here, `jobs` at a time; *failed gets how many did not exit 0. */
static int run_local(const SweepGrid *g, char ***argv, const char *dir, const char *exe,
                     long jobs, long *failed) {
  pid_t *pid = calloc((size_t)g->ntasks, sizeof *pid);
  double *t0 = calloc((size_t)g->ntasks, sizeof *t0);
  if (!pid || !t0) return free(pid), free(t0), -1;
  struct sigaction sa = {0};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL), sigaction(SIGTERM, &sa, NULL), sigaction(SIGHUP, &sa, NULL);
  long next = 0, running = 0, done = 0;
  int forwarded = 0;
  *failed = 0;
  while (done < next || (next < g->ntasks && !g_stop)) {
    while (!g_stop && next < g->ntasks && running < jobs) {
      char log[TASK_PATH];
      snprintf(log, sizeof log, "%s/task-%ld.log", dir, next);
      t0[next] = wall_time();
      pid[next] = spawn(exe, argv[next], log);
      if (pid[next] < 0) {
        fprintf(stderr, "curvscope: sweep: cannot start task %ld: %s\n", next, strerror(errno));
        (*failed)++, done++;
      } else {
        running++;
      }
      next++;
    }
    if (g_stop && !forwarded) { /* each train saves its run on SIGTERM */
      for (long k = 0; k < next; k++)
        if (pid[k] > 0) kill(pid[k], SIGTERM);
      forwarded = 1;
    }
    if (running == 0) break;
    int status;
    pid_t w = waitpid(-1, &status, 0);
    if (w < 0) {
      if (errno == EINTR) continue;
      break;
    }
    long k = 0;
    while (k < next && pid[k] != w) k++;
    if (k == next) continue;
    pid[k] = 0, running--, done++;
    char label[1024];
    sweep_task_label(g, k, label, sizeof label);
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok) (*failed)++;
    if (ok)
      printf("[%ld/%ld] task %ld (%s) finished in %.1f s\n", done, g->ntasks, k, label,
             wall_time() - t0[k]);
    else if (WIFEXITED(status))
      printf("[%ld/%ld] task %ld (%s) failed (exit %d): see %s/task-%ld.log\n", done, g->ntasks,
             k, label, WEXITSTATUS(status), dir, k);
    else
      printf("[%ld/%ld] task %ld (%s) killed by signal %d: see %s/task-%ld.log\n", done,
             g->ntasks, k, label, WTERMSIG(status), dir, k);
    fflush(stdout);
  }
  if (next < g->ntasks) {
    printf("sweep stopped: %ld of %ld tasks not started\n", g->ntasks - next, g->ntasks);
    *failed += g->ntasks - next;
  }
  free(pid), free(t0);
  return 0;
}

/* The task files that exist, for the merge (paths malloc'd into files). */
static int existing_tasks(const char *dir, long ntasks, char **files, long *missing) {
  int n = 0;
  *missing = 0;
  for (long k = 0; k < ntasks; k++) {
    char p[TASK_PATH];
    struct stat sb;
    snprintf(p, sizeof p, "%s/task-%ld.db", dir, k);
    if (stat(p, &sb) == 0 && sb.st_size > 0 && (files[n] = strdup(p))) n++;
    else (*missing)++;
  }
  return n;
}

/* Splits argv at "--": the sweep's options before, `train FLAGS` after. */
static int split_args(int argc, char **argv, int *dd, Err *err) {
  *dd = 1;
  while (*dd < argc && strcmp(argv[*dd], "--")) (*dd)++;
  if (*dd == argc || *dd + 1 == argc || strcmp(argv[*dd + 1], "train"))
    return err_set(err, CS_EINVAL, "sweep: end with -- train FLAGS (the runs' train options), "
                   "e.g. curvscope sweep --grid 'lr=0.01,0.02' -- train --data ... --model ...");
  return CS_OK;
}

int cmd_sweep(int argc, char **argv) {
  SweepArgs a = {"", 1, 1, 0, 0, 0, "", "", 1, "runs.db", ""};
  unsigned char sseen[OPTS_MAX_LINES] = {0};
  OptTable t = {sweep_opts, &a, NULL, sseen};
  int dd = 1;
  for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return help(&t), EXIT_OK;
  Err err = {0};
  SweepGrid *g = calloc(1, sizeof *g);
  if (!g) return cli_fail(&(Err){CS_ENOMEM, "out of memory"});
  int rc = split_args(argc, argv, &dd, &err);
  if (!rc) rc = opts_parse(&t, 1, dd, argv, 1, NULL, NULL, &err);
  if (!rc && !a.grid[0]) rc = err_set(&err, CS_EINVAL, "sweep: --grid is required");
  if (!rc) rc = sweep_grid_parse(a.grid, a.repeat, g, &err);
  if (!rc && a.jobs < 1 && !a.slurm) rc = err_set(&err, CS_EINVAL, "--jobs %ld: at least 1", a.jobs);
  if (!rc && a.cpus < 1) rc = err_set(&err, CS_EINVAL, "--cpus %ld: at least 1", a.cpus);
  if (!rc && !a.slurm && (a.partition[0] || a.time[0] || a.cpus != 1))
    rc = err_set(&err, CS_EINVAL, "--partition, --time and --cpus are for --slurm");
  /* the train flags, checked as train checks them, and what they set */
  RunOpts o;
  run_opts_default(&o);
  unsigned char seen[OPTS_MAX_LINES] = {0};
  OptTable tt = {run_opts_table, &o, NULL, seen};
  char **train = argv + dd + 2;
  int ntrain = argc - dd - 2;
  if (!rc) rc = opts_parse(&tt, 1, ntrain + 1, train - 1, 1, NULL, NULL, &err);
  if (!rc && opts_seen(&tt, "db"))
    rc = err_set(&err, CS_EINVAL, "sweep: --db after `train`: every task writes its own file; "
                 "give --db before --");
  if (rc) {
    free(g);
    return cli_fail(&err);
  }
  char group[128], threads[32] = "";
  if (opts_seen(&tt, "group")) snprintf(group, sizeof group, "%s", o.group);
  else cli_study_group("sweep", group, sizeof group);
  long per = 0;
  if (a.slurm) {
    per = a.cpus;
  } else {
    long total = a.threads ? a.threads : sysconf(_SC_NPROCESSORS_ONLN);
    per = total / a.jobs > 0 ? total / a.jobs : 1;
  }
  snprintf(threads, sizeof threads, "%ld", per);
  SweepTaskCtx c = {train, ntrain, o.seed, opts_seen(&tt, "group") ? NULL : group,
                    !opts_seen(&tt, "name"), opts_seen(&tt, "threads") ? NULL : threads};
  /* the work directory: absolute, so the Slurm scripts work from anywhere */
  char dir[SWEEP_PATH], cwd[PATH_MAX], exe[PATH_MAX], db[SWEEP_PATH];
  if (!getcwd(cwd, sizeof cwd) || !realpath("/proc/self/exe", exe)) {
    free(g);
    return cli_fail(&(Err){CS_EIO, "sweep: cannot find the working directory or curvscope"});
  }
  snprintf(db, sizeof db, "%s%s%s", a.db[0] == '/' ? "" : cwd, a.db[0] == '/' ? "" : "/", a.db);
  if (a.dir[0])
    snprintf(dir, sizeof dir, "%s%s%s", a.dir[0] == '/' ? "" : cwd, a.dir[0] == '/' ? "" : "/",
             a.dir);
  else {
    snprintf(dir, sizeof dir, "%s", db);
    char *slash = strrchr(dir, '/');
    snprintf(slash + 1, sizeof dir - (size_t)(slash + 1 - dir), "%s", group);
  }
  if (strlen(dir) >= PATH_MAX - 64 || strlen(db) >= PATH_MAX)
    rc = err_set(&err, CS_EINVAL, "sweep: the path of --db or --dir is too long");
  /* every task's command line, each parsed as train will parse it: a bad value stops the
   * sweep here, before anything runs */
  char ***targv = calloc((size_t)g->ntasks, sizeof *targv);
  for (long k = 0; targv && k < g->ntasks && !rc; k++) {
    char p[TASK_PATH];
    snprintf(p, sizeof p, "%s/task-%ld.db", dir, k);
    targv[k] = sweep_task_argv(g, &c, k, p);
    if (!targv[k]) rc = err_set(&err, CS_ENOMEM, "out of memory");
    RunOpts check;
    run_opts_default(&check);
    char label[1024];
    sweep_task_label(g, k, label, sizeof label);
    if (!rc && run_opts_parse(&check, sweep_argc(targv[k]), targv[k], 1, &err))
      rc = err_prefix(&err, "sweep: task %ld (%s)", k, label);
  }
  if (!targv) rc = err_set(&err, CS_ENOMEM, "out of memory");
  int code = EXIT_OK;
  if (rc) {
    code = cli_fail(&err);
  } else if (a.dry_run) {
    printf("sweep %s: %ld runs (%ld points x %ld), task files in %s, merged into %s\n", group,
           g->ntasks, g->npoints, g->repeat, dir, db);
    for (long k = 0; k < g->ntasks; k++) {
      char label[1024];
      StrBuf line;
      sb_init(&line);
      sweep_task_label(g, k, label, sizeof label);
      sb_append(&line, "curvscope");
      for (char **s = targv[k]; *s; s++) sb_append(&line, " "), sweep_shell_quote(&line, *s);
      printf("%ld\t%s\t%s\n", k, label, line.p ? line.p : "");
      sb_free(&line);
    }
  } else if ((rc = make_dir(dir, &err))) {
    code = cli_fail(&err);
  } else if (a.slurm) {
    SweepSlurm s = {dir, db, exe, cwd, group, a.partition, a.time, a.cpus,
                    opts_seen(&t, "jobs") ? a.jobs : 0};
    code = sweep_slurm_write(g, &c, &s, &err) ? cli_fail(&err) : EXIT_OK;
  } else {
    printf("sweep %s: %ld runs, %ld at a time, %s thread%s each; task files in %s\n", group,
           g->ntasks, a.jobs, c.threads ? c.threads : "(train's --threads)",
           per == 1 ? "" : "s", dir);
    fflush(stdout);
    long failed = 0, missing = 0;
    run_local(g, targv, dir, exe, a.jobs, &failed);
    char **files = calloc((size_t)g->ntasks, sizeof *files);
    int n = files ? existing_tasks(dir, g->ntasks, files, &missing) : 0;
    int mc = n ? cli_merge_files(db, files, n, 1) : EXIT_OK;
    for (int i = 0; i < n; i++) free(files[i]);
    free(files);
    if (missing) printf("%ld task%s left no database (see the logs in %s)\n", missing,
                        missing == 1 ? "" : "s", dir);
    printf("sweep %s: %ld of %ld tasks succeeded; runs in %s (curvscope runs --db %s --group %s)\n",
           group, g->ntasks - failed, g->ntasks, db, a.db, group);
    code = mc != EXIT_OK ? mc : failed ? EXIT_FAIL : EXIT_OK;
    if (g_stop) code = 128 + g_stop;
  }
  for (long k = 0; targv && k < g->ntasks; k++) sweep_argv_free(targv[k]);
  free(targv);
  free(g);
  return code;
}
