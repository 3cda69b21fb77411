/*
 * cli.h: the subcommands and the few helpers they share. cli/ is the only
 * place that prints to the user and exits: 0 success, 1 failure, 2 bad usage.
 */
#ifndef CS_CLI_H
#define CS_CLI_H

#include <stdint.h>

#include "core/err.h"
#include "core/train.h"
#include "db/db.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

int cmd_train(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_study(int argc, char **argv);
/* The studies (cli/study_<name>.c), argv[0] being the study's name. */
int study_eos(int argc, char **argv);
int study_batch(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* Prints "curvscope: msg" to stderr and returns the exit code for err's status. */
int cli_fail(const Err *err);
/* A progress line on stderr when it is a terminal (TrainConfig.progress). */
void cli_progress(void *ctx, const TrainProgress *p);
/* Ctrl-C asks the training loop to stop; a second Ctrl-C exits at once. */
void cli_install_sigint(void);
int cli_is_help(int argc, char **argv);

/* Trains one run (options already parsed), records it in db, runs the EoS
 * analysis when sharpness was tracked, prints a summary. Returns an exit code. */
struct RunOpts;
int cli_train_run(const struct RunOpts *o, Db *db, int64_t *run_id, int print_summary);
/* The EoS analysis of a stored run: reads sharpness, thresholds, loss and the
 * output-layer norm, writes run-level metrics and phases. */
int cli_eos_analyze_run(Db *db, int64_t run, int iii_at_crossing, int print, Err *err);

#endif
