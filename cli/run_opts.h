/*
 * run_opts.h: the options of a training run, from flags, a config file or a
 * stored run's config JSON, and everything built from them.
 *
 * One table (run_opts_table, the pattern of opts.h) lists every option once: its
 * name (the flag --name-with-dashes and the JSON key name_with_underscores), its
 * type and help. Flags, `--config FILE` lines (`key = value`; '#' starts a
 * comment at the line start or after white space; "quoted" values kept whole) and
 * the config JSON stored with each run are all read through that table, so
 * `curvscope analyze` rebuilds exactly the network and data a run trained on.
 * A study passes run_opts_table after its own table to opts_parse, so every
 * train option works in it.
 */
#ifndef CS_RUN_OPTS_H
#define CS_RUN_OPTS_H

#include <stdint.h>
#include <stdio.h>

#include "core/dataset.h"
#include "core/err.h"
#include "core/loss.h"
#include "core/net.h"
#include "core/optim.h"
#include "core/precision.h"
#include "core/train.h"
#include "opts.h"

#define RUN_MAX_PROBES 8

typedef struct RunOpts {
  char data[2048], model[256], act[64], embed[128], init[64], loss[64], opt[16];
  double lr, momentum, beta1, beta2, eps, weight_decay, stop_acc, diverge_factor;
  long batch, steps, eval_every, checkpoint_every, chunk, seed, threads;
  char db[512], name[128], study[32], group[64];
  int nprobes;
  char probe[RUN_MAX_PROBES][256];
  char lr_schedule[256]; /* "" or lanczos:... (studies/batch/lr_learner.h) */
  char precision[8];     /* f64 | mixed | f32 (core/precision.h): the loop's and probes' passes */
  int quiet;
} RunOpts;

/* The train options, on a RunOpts (ends with OPT_END). */
extern const CliOpt run_opts_table[];

void run_opts_default(RunOpts *o);
/* Parses argv[start..argc) into o. Unknown flags or bad values: CS_EINVAL naming
 * the token. Positional arguments are refused. `--config FILE` may appear anywhere;
 * later flags override earlier ones and the file. */
int run_opts_parse(RunOpts *o, int argc, char **argv, int start, Err *err);
/* For a study on a stored run (--run): of the train options (t: run_opts_table with its
 * seen array) only --db, --threads and --quiet apply; any other given is CS_EINVAL
 * naming it (the model, data and seed come from the stored run). */
int run_opts_refuse_training(const OptTable *t, Err *err);
int run_opts_from_file(RunOpts *o, const char *path, Err *err);
/* Sets one option by its key (without dashes) from text. */
int run_opts_set(RunOpts *o, const char *key, const char *value, Err *err);
/* The options as a flat JSON object (caller frees). */
char *run_opts_to_json(const RunOpts *o);
int run_opts_from_json(RunOpts *o, const char *json, Err *err);
/* The options with o's values as their defaults. */
void run_opts_help(FILE *f, const RunOpts *o);

/* What a run is made of. */
typedef struct RunSetup {
  Net net;
  double *theta;
  Dataset *train, *test;
  Optimizer *opt;
  const OptimizerType *opt_type;
  OptConfig opt_cfg;
  LossKind loss;
  LossMetric *metric;   /* --loss sobolev: M on the training grid (tcfg.metric), else NULL */
  TrainConfig tcfg;
  char *data_resolved;  /* the --data spec resolved (data_load_resolved): what is stored */
  Precision precision;  /* --precision */
} RunSetup;

/* What a study adds to a training run (cli_train_run_with): probes built on the run's
 * set-up, and work after training through the run's recorder. Either may be NULL. */
#define RUN_MAX_EXTRA_PROBES 4
typedef struct RunExtras {
  void *ctx;
  /* Fills probes[0..*n), at most max, after run_setup; the run calls each destroy(). */
  int (*probes)(void *ctx, const struct RunOpts *o, const struct RunSetup *s, Probe *probes,
                int max, int *n, Err *err);
  /* After training finished, diverged or was interrupted, before the run ends: rec still
   * records run `run`. A failure ends the run as failed. */
  int (*finish)(void *ctx, const struct RunSetup *s, int64_t run, Probe *probes, int n,
                Recorder *rec, const TrainResult *res, Err *err);
  /* The EoS analysis after training (when sharpness was tracked): phase III ends at the
   * downward crossing of the threshold instead of the peak (study eos --iii-at-crossing). */
  int eos_iii_at_crossing;
} RunExtras;

/* Checks the optimizer's and the loop's settings (optconfig_check, trainconfig_check),
 * loads data, builds the net (widths checked against the data), initialises θ from
 * the seed, and the optimizer. Every bad input is CS_EINVAL before anything is
 * written anywhere. */
int run_setup(const RunOpts *o, RunSetup *s, Err *err);
void run_setup_free(RunSetup *s);

#endif
