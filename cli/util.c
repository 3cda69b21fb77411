/* util.c: error printing, stop signals and opening the
 * database for the subcommands. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dist.h"
#include "opts.h"
#include "run_opts.h"
#include "core/optim.h"
#include "core/spec.h"
#include "core/threads.h"

/* Exit 2 when what the user gave is refused (a flag or value, a file or database that is
 * corrupt, of another program or of a newer curvscope, a run or file that is not there);
 * exit 1 when the machine failed us (I/O, disk full, a lock never released, memory). */
int cli_exit_status(const Err *err) {
  switch (err->code) {
  case CS_EINVAL: case CS_EFORMAT: case CS_EVERSION: case CS_ENOTFOUND: return EXIT_USAGE;
  default: return EXIT_FAIL;
  }
}

int cli_fail(const Err *err) {
  const char *msg = err->msg[0] ? err->msg : cs_status_name(err->code);
  if (cli_rank() > 0) { /* bad input is every rank's alike: rank 0 says it (dist.h) */
    if (err->code != CS_EINVAL && cli_dist_err_fd() >= 0)
      dprintf(cli_dist_err_fd(), "curvscope: rank %d: %s\n", cli_rank(), msg);
    return cli_exit_status(err);
  }
  fprintf(stderr, "curvscope: %s\n", msg);
  return cli_exit_status(err);
}

int cli_is_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
  return 0;
}

static volatile sig_atomic_t first_signal = 0, n_signals = 0;

/* Async-signal-safe: flags and write(2) only. */
static void on_stop_signal(int sig) {
  static const char first[] = "\ncurvscope: stopping after this step, saving the run\n",
                    again[] = "\ncurvscope: still saving the run (once more to quit at once)\n";
  if (!first_signal) first_signal = sig;
  n_signals++;
  if (n_signals >= 3) _exit(128 + first_signal);
  const char *msg = n_signals == 1 ? first : again;
  size_t len = n_signals == 1 ? sizeof first - 1 : sizeof again - 1;
  if (write(STDERR_FILENO, msg, len) < 0) { /* nothing to be done about it */ }
  train_request_stop();
}

void cli_install_stop_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
}

int cli_stop_exit(int code) { return first_signal ? 128 + first_signal : code; }

/* An environment variable as a positive number at most max; *v untouched when unset. */
static int env_positive(const char *name, double max, double *v, Err *err) {
  const char *s = getenv(name);
  if (!s) return CS_OK;
  double x;
  if (parse_double(s, &x) || !(x > 0) || x > max)
    return err_set(err, CS_EINVAL, "environment variable %s='%s' is not a number in (0, %g]",
                   name, s, max);
  *v = x;
  return CS_OK;
}

/* cli_db_open and cli_db_open_existing: opener is db_open or db_open_existing. */
static int db_open_with(int (*opener)(const char *, Db **, Err *), const char *path, Db **db,
                        Err *err) {
  DbWritePolicy p = {0}; /* zero: the defaults */
  double busy = 0, wait = 0;
  if (env_positive("CURVSCOPE_BUSY_MS", 600000, &busy, err) ||
      env_positive("CURVSCOPE_LOCK_WAIT_S", 1e6, &wait, err))
    return err->code;
  p.busy_ms = (int)busy;
  if (busy > 0 && p.busy_ms < 1) p.busy_ms = 1;
  p.wait_s = wait;
  if (opener(path, db, err)) return err->code;
  db_set_write_policy(*db, &p);
  int n = 0;
  Err e = {0};
  if (db_mark_stale(*db, &n, &e))
    fprintf(stderr, "curvscope: warning: could not check for dead runs: %s\n", e.msg);
  else if (n > 0)
    fprintf(stderr, "curvscope: %d run%s of processes that are gone marked interrupted\n", n,
            n == 1 ? "" : "s");
  return CS_OK;
}

int cli_db_open(const char *path, Db **db, Err *err) { return db_open_with(db_open, path, db, err); }

int cli_db_open_existing(const char *path, Db **db, Err *err) {
  return db_open_with(db_open_existing, path, db, err);
}

/* Builds without the optional subcommands still link (the meson file says which). */
#ifdef CS_NO_BENCH
int cmd_bench(int argc, char **argv) {
  (void)argc, (void)argv;
  fprintf(stderr, "curvscope: bench is not part of this build\n");
  return EXIT_FAIL;
}
#endif
#ifdef CS_NO_REPORT
int cmd_report(int argc, char **argv) {
  (void)argc, (void)argv;
  fprintf(stderr, "curvscope: report is not part of this build\n");
  return EXIT_FAIL;
}
#endif

void cli_study_group(const char *study, char *out, size_t n) {
  time_t now = time(NULL);
  struct tm tm;
  char stamp[32] = "unknown-time";
  if (gmtime_r(&now, &tm)) strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  snprintf(out, n, "%s-%s-%ld", study, stamp, (long)getpid());
}

int cli_study_opts_parse(const OptTable *t, size_t so_size, size_t preset_off,
                         void (*preset)(RunOpts *run, void *so),
                         void (*help)(const OptTable *t, int nt), int argc, char **argv,
                         int *helped, Err *err) {
  *helped = 0;
  void *first = malloc(so_size);
  RunOpts *scratch = malloc(sizeof *scratch);
  if (!first || !scratch) {
    free(first), free(scratch);
    return err_set(err, CS_ENOMEM, "out of memory for the options");
  }
  memcpy(first, t[0].base, so_size);
  memcpy(scratch, t[1].base, sizeof *scratch);
  OptTable t0[2] = {{t[0].opts, first, NULL, NULL}, {t[1].opts, scratch, NULL, NULL}};
  int help_asked = cli_is_help(argc, argv); /* then only the preset matters */
  int rc = opts_parse(t0, 2, argc, argv, 1, NULL, NULL, err);
  memcpy((char *)t[0].base + preset_off, (char *)first + preset_off, sizeof(int));
  free(first), free(scratch);
  if (rc && !help_asked) return rc;
  err_clear(err);
  preset(t[1].base, t[0].base);
  if (help_asked) {
    help(t, 2);
    *helped = 1;
    return CS_OK;
  }
  return opts_parse(t, 2, argc, argv, 1, NULL, NULL, err);
}

/* Step sizes separated by ',' (each may be written 1e-3) or joined by '-' as lists in specs
 * are (0.02-0.04); each must be a valid learning rate (optconfig_check). */
int cli_parse_lr_list(const char *flag, const char *text, double *lr, int max, int *n, Err *err) {
  char buf[256];
  *n = 0;
  if (strlen(text) >= sizeof buf)
    return err_set(err, CS_EINVAL, "%s '%.40s...' is too long", flag, text);
  strcpy(buf, text);
  for (char *item = buf;;) {
    char *comma = strchr(item, ',');
    if (comma) *comma = '\0';
    int k = 0;
    if (*n < max && parse_double(item, &lr[*n]) == CS_OK)
      k = 1;
    else if (spec_parse_double_list(item, lr + *n, max - *n, &k, err))
      return err_prefix(err, "%s '%s'", flag, text);
    *n += k;
    if (!comma) break;
    item = comma + 1;
  }
  for (int i = 0; i < *n; i++) {
    OptConfig c;
    optconfig_default(&c);
    c.lr = lr[i];
    if (optconfig_check(&c, err)) return err_prefix(err, "%s '%s'", flag, text);
  }
  return CS_OK;
}
