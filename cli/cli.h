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
int cmd_merge(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_study(int argc, char **argv);
/* The studies (cli/study_<name>.c), argv[0] being the study's name. */
int study_eos(int argc, char **argv);
int study_batch(int argc, char **argv);
int study_spectral(int argc, char **argv);
int study_pcbias(int argc, char **argv);
int study_stein(int argc, char **argv);
int study_ntk(int argc, char **argv);
int study_kinks(int argc, char **argv);
int study_freqp(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* The exit status for an error: 2 when the input is refused, 1 when the machine failed. */
int cli_exit_status(const Err *err);
/* Prints "curvscope: msg" to stderr and returns the exit code for err's status. */
int cli_fail(const Err *err);
/* curvscope merge OUT IN...: checks every input, then merges them one by one into out;
 * verbose 2: a line per input and a total, 1: the total, 0: errors only. Returns the exit
 * code (2 for a bad input). */
int cli_merge_files(const char *out, char *const *in, int n, int verbose);
/* The progress of a run on stderr (cli/progress.c): on a terminal one line rewritten in
 * place, with the latest sharpness once a probe measured one; else a plain line every
 * CURVSCOPE_PROGRESS_S seconds (default 10). The run records through tap, which forwards
 * every call to inner and notes the sharpness on its way. */
typedef struct CliProgress {
  Recorder tap, *inner;
  double sharpness;
  long sharpness_step;   /* -1: none measured yet */
  int sharpness_precond; /* Adam's preconditioned sharpness */
  int tty, pending;      /* pending: a line on the terminal not yet ended */
  double interval, last;
} CliProgress;
/* CS_EINVAL for a bad CURVSCOPE_PROGRESS_S (checked before anything is written); set
 * p->inner before the run records through p->tap. */
int cli_progress_init(CliProgress *p, Err *err);
void cli_progress(void *ctx, const TrainProgress *t); /* TrainConfig.progress, ctx a CliProgress */
/* Shows a line of the caller's (a study's per-repeat progress) the same way: always when
 * force, else only once the interval has passed since the last line. */
void cli_progress_show(CliProgress *p, const char *line, int force);
/* Ends a line left on the terminal, so what is printed next starts a line of its own. */
void cli_progress_end(CliProgress *p);
/* SIGINT, SIGTERM and SIGHUP ask the training loop to stop after the current
 * step, saving everything (a second one too, with a note); a third exits at
 * once (128 + the first signal), leaving the run to db_mark_stale. */
void cli_install_stop_signals(void);
/* 128 + the first stop signal's number when one arrived (130 Ctrl-C, 143 SIGTERM,
 * 129 SIGHUP), as shells expect of an interrupted command, whether it then ended
 * cleanly or gave up (a study that needs a finished run); else code. */
int cli_stop_exit(int code);
int cli_is_help(int argc, char **argv);
/* The group of one study invocation's runs: "<study>-<yyyymmdd>-<hhmmss>-<pid>" (UTC).
 * The pid keeps two invocations started in the same second (a sweep script, a test
 * suite) from sharing a group. */
void cli_study_group(const char *study, char *out, size_t n);
/* A list of learning rates, comma-separated items each a number or a dash list
 * (spec_parse_double_list), each a valid step size; at most max. CS_EINVAL names flag. */
int cli_parse_lr_list(const char *flag, const char *text, double *lr, int max, int *n, Err *err);
/* Opens the database for a command: db_open, the recorders' lock policy from
 * the environment (CURVSCOPE_BUSY_MS, CURVSCOPE_LOCK_WAIT_S; a bad value is
 * CS_EINVAL naming it), then db_mark_stale (a failure there is a warning).
 * Every subcommand that opens a database goes through here. */
int cli_db_open(const char *path, Db **db, Err *err);
/* As cli_db_open through db_open_existing: for commands that read what is there
 * (runs, rm, analyze, study NAME --run), a missing file is CS_ENOTFOUND, not created. */
int cli_db_open_existing(const char *path, Db **db, Err *err);
/* A study's options: t[0] its own table (an int --preset field at preset_off, of a struct
 * of so_size bytes), t[1] run_opts_table. A first pass on copies finds --preset; preset()
 * then sets both tables' defaults, and either --help prints help(t, 2) (*helped = 1) or
 * the second pass reads the flags over the preset's values. CS_OK or the parse error. */
struct OptTable;
struct RunOpts;
int cli_study_opts_parse(const struct OptTable *t, size_t so_size, size_t preset_off,
                         void (*preset)(struct RunOpts *run, void *so),
                         void (*help)(const struct OptTable *t, int nt), int argc, char **argv,
                         int *helped, Err *err);

/* Trains one run (options already parsed), records it in the database, runs the
 * EoS analysis when sharpness was tracked, prints a summary. Returns an exit code.
 * *db is opened at db_file when NULL, and only once the run is set up (options,
 * data, model, probes all checked), so bad input writes nothing; the caller closes
 * it. */
struct RunOpts;
int cli_train_run(const struct RunOpts *o, const char *db_file, Db **db, int64_t *run_id,
                  int print_summary);
/* The same with a study's probes and after-training work (run_opts.h). */
struct RunExtras;
int cli_train_run_with(const struct RunOpts *o, const char *db_file, Db **db,
                       const struct RunExtras *x, int64_t *run_id, int print_summary);
/* The EoS analysis of a stored run: reads sharpness, thresholds, loss and the
 * output-layer norm, writes run-level metrics and phases. */
int cli_eos_analyze_run(Db *db, int64_t run, int iii_at_crossing, int print, Err *err);

#endif
