/* util.c: error printing, the progress line and Ctrl-C handling for the subcommands. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/threads.h"

int cli_fail(const Err *err) {
  fprintf(stderr, "curvscope: %s\n", err->msg[0] ? err->msg : cs_status_name(err->code));
  return err->code == CS_EINVAL ? EXIT_USAGE : EXIT_FAIL;
}

int cli_is_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
  return 0;
}

void cli_progress(void *ctx, const TrainProgress *p) {
  static double last = 0;
  (void)ctx;
  if (!isatty(STDERR_FILENO)) return;
  double now = wall_time();
  if (now - last < 0.1 && p->step < p->steps) return;
  last = now;
  fprintf(stderr, "\r  step %ld/%ld  loss %.6g", p->step, p->steps, p->loss);
  if (p->accuracy == p->accuracy) fprintf(stderr, "  acc %.4f", p->accuracy);
  fprintf(stderr, "  %.1f steps/s  ETA %.0fs   ", p->steps_per_s, p->eta_s);
  if (p->step >= p->steps) fputc('\n', stderr);
  fflush(stderr);
}

static void on_sigint(int sig) {
  (void)sig;
  if (train_stop_requested()) _exit(130);  /* second Ctrl-C: give up at once */
  train_request_stop();
}

void cli_install_sigint(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
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
