/*
 * sweep.h: a sweep's grid, expanded into train command lines (curvscope sweep).
 *
 * --grid 'lr=0.01,0.02;batch=32,128' names train options (docs/INPUTS.md: '-' and '_'
 * alike, old spellings too) with comma-separated values; the grid is their Cartesian
 * product, the first key varying slowest, each point run --repeat times with seeds
 * seed, seed+1, ... . Task k (0-based) is point k / repeat, repetition k % repeat. A task's
 * command line is the user's train flags, then --key=value for each grid key (later flags
 * win), then what the sweep sets: --seed, --name, --group and --threads unless the flags or
 * the grid give them, and --db.
 *
 * Ownership: sweep_grid_parse fills a caller-owned SweepGrid (no allocation);
 * sweep_task_argv returns a malloc'd NULL-terminated vector freed by sweep_argv_free.
 * Thread safety: none needed (the CLI's main thread).
 */
#ifndef CS_CLI_SWEEP_H
#define CS_CLI_SWEEP_H

#include <stddef.h>

#include "core/err.h"

#define SWEEP_MAX_KEYS 16
#define SWEEP_MAX_VALUES 256
#define SWEEP_MAX_TASKS 100000

typedef struct SweepGrid {
  int nkeys;
  char key[SWEEP_MAX_KEYS][64];     /* the option's own name (run_opts_table), e.g. "lr" */
  char text[4096];                  /* the values, NUL-separated (pointed into below) */
  const char *val[SWEEP_MAX_KEYS][SWEEP_MAX_VALUES];
  int nval[SWEEP_MAX_KEYS];
  long repeat;                      /* runs per point, >= 1 */
  long npoints, ntasks;             /* npoints * repeat = ntasks */
} SweepGrid;

/* Parses spec into g. CS_EINVAL naming what is wrong: an empty or malformed grid, a key
 * that is no train option (or is --db, which the sweep sets per task), a key given twice,
 * an empty value, too many keys, values or tasks. */
int sweep_grid_parse(const char *spec, long repeat, SweepGrid *g, Err *err);
/* The point of task k as "lr=0.01;batch=32" (with ";rep=R" when repeat > 1). */
void sweep_task_label(const SweepGrid *g, long k, char *out, size_t n);

/* What the sweep adds to every task's command line. */
typedef struct SweepTaskCtx {
  char *const *train;  /* the user's train flags (after `train`) */
  int ntrain;
  long seed;           /* the train flags' seed (their default when not given) */
  const char *group;   /* --group to add, or NULL when the flags have one */
  int add_name;        /* add --name LABEL (the flags have none) */
  const char *threads; /* --threads to add, or NULL */
} SweepTaskCtx;

/* argv of `curvscope train` for task k, writing to db: "train", flags..., NULL. */
char **sweep_task_argv(const SweepGrid *g, const SweepTaskCtx *c, long k, const char *db);
void sweep_argv_free(char **argv);
/* A Slurm job array of the tasks (sweep_slurm.c): in dir, sweep.sbatch (task k is array
 * index k, writing dir/task-k.db, its output in dir/task-k.log), merge.sbatch (merges every
 * task file there is into db and names the tasks that left none; submitted with
 * --dependency=afterany on the array) and submit.sh, which submits both. exe and cwd are
 * absolute: the curvscope binary and the directory the tasks run in. */
typedef struct SweepSlurm {
  const char *dir, *db, *exe, *cwd, *group;
  const char *partition, *time; /* "" when not set */
  long cpus, max_running;       /* cpus per task; max_running 0: no %N limit */
} SweepSlurm;
int sweep_slurm_write(const SweepGrid *g, const SweepTaskCtx *c, const SweepSlurm *s, Err *err);
/* Appends arg to a shell command line in single quotes (' as '\''). */
struct StrBuf;
void sweep_shell_quote(struct StrBuf *b, const char *arg);

/* The number of arguments of a vector from sweep_task_argv. */
int sweep_argc(char *const *argv);

#endif
