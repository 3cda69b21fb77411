/* cmd_study.c: `curvscope study NAME ...`: dispatches to one cli/study_<name>.c per study. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct Study {
  const char *name;
  int (*run)(int argc, char **argv); /* argv[0] is the study's name */
  const char *summary;
} Study;

static const Study studies[] = {
    {"eos", study_eos, "edge of stability: Cohen et al.'s experiment, or the analysis of a run"},
    {"batch-scaling", study_batch, "mini-batch Hessian extremes and stable step sizes against B"},
    {"spectral-bias", study_spectral, "which frequencies a network learns first (Rahaman et al.)"},
    {"pc-bias", study_pcbias, "principal-component bias of deep linear nets (Hacohen & Weinshall)"},
    {"stein", study_stein, "neural Stein critics with staged L2 regularisation (Repasky et al.)"},
    {"ntk", study_ntk, "the empirical NTK: spectrum, residual projections, rates, drift"},
    {"relu-kinks", study_kinks, "do two-layer ReLU kinks reach the data? (Holzmuller & Steinwart)"},
    {"freq-principle", study_freqp, "low- before high-frequency fit on real data (Xu et al.)"},
};
#define NSTUDIES (sizeof studies / sizeof *studies)

static void usage(FILE *f) {
  fprintf(f, "usage: curvscope study NAME [options]   (curvscope study NAME --help)\n\n");
  for (size_t i = 0; i < NSTUDIES; i++)
    fprintf(f, "  %-14s %s\n", studies[i].name, studies[i].summary);
}

int cmd_study(int argc, char **argv) {
  if (argc < 2 || (argv[1][0] == '-' && cli_is_help(argc, argv))) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? EXIT_USAGE : EXIT_OK;
  }
  for (size_t i = 0; i < NSTUDIES; i++)
    if (!strcmp(argv[1], studies[i].name)) return studies[i].run(argc - 1, argv + 1);
  fprintf(stderr, "curvscope study: unknown study '%s' (available:", argv[1]);
  for (size_t i = 0; i < NSTUDIES; i++) fprintf(stderr, " %s", studies[i].name);
  fprintf(stderr, ")\n");
  return EXIT_USAGE;
}
