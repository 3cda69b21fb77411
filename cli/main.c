/* main.c: `curvscope SUBCOMMAND ...` dispatch, --help and --version. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/blas_kernel.h"
#include "cli.h"
#include "dist.h"


typedef struct Command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *help;
} Command;

static const Command commands[] = {
    {"train", cmd_train, "train a network, logging the run (and probes) to the database"},
    {"runs", cmd_runs, "list the runs in a database"},
    {"export", cmd_export, "a run's steps, metrics, eigenvalues or series as CSV or JSON"},
    {"rm", cmd_rm, "remove runs and everything recorded of them"},
    {"merge", cmd_merge, "copy the runs of other databases into one (ids remapped, by uuid)"},
    {"sweep", cmd_sweep, "a grid of train runs: local workers (--jobs) or a Slurm job array"},
    {"analyze", cmd_analyze, "curvature of a stored checkpoint: top/bottom eigenvalues, trace, density"},
    {"study", cmd_study, "run a study preset (eos) or analyse a run (study eos --run ID)"},
    {"report", cmd_report, "write a self-contained HTML report of the database"},
    {"bench", cmd_bench, "benchmarks: gradient, HVP and eigensolver speed (--json)"},
    {"demo", cmd_demo, "the main job: a short edge-of-stability reproduction and its report"},
};
#define NCOMMANDS (sizeof commands / sizeof *commands)

static void usage(FILE *f) {
  fprintf(f, "curvscope %s: exact curvature of neural-network training\n\n", CURVSCOPE_VERSION);
  fprintf(f, "usage: curvscope COMMAND [options]   (curvscope COMMAND --help for its options)\n\n");
  for (size_t i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
  fprintf(f, "\n  --version  print the version\n");
}

/* Two settings take effect only when the process starts, so they are set by re-running
 * ourselves once (CURVSCOPE_REEXEC marks the second run; exec failing, without /proc,
 * leaves the runtime's defaults). A user's own setting always wins.
 * - OpenMP threads that spin while waiting starve each other, and BLAS, on a shared
 *   machine (3-9x slower HVPs measured with one other busy process on 2 cores): libgomp
 *   reads OMP_WAIT_POLICY before main, so the default becomes passive unless
 *   OMP_WAIT_POLICY or GOMP_SPINCOUNT is set.
 * - OpenBLAS picks its kernel when it loads, and on a CPU newer than the library falls
 *   back to a generic one (Prescott on a recent Xeon: 8x slower GEMMs); unless
 *   OPENBLAS_CORETYPE is set, a kernel below what the CPU runs is replaced by the CPU's
 *   (core/blas_kernel.h), and CURVSCOPE_BLAS_CHOSEN keeps what OpenBLAS had chosen. */
static void prefer_machine_settings(char **argv) {
  if (getenv("CURVSCOPE_REEXEC")) return;
  int again = 0;
  if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT")) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    again = 1;
  }
  if (!getenv("OPENBLAS_CORETYPE")) {
    BlasCpu cpu;
    blas_cpu_read(&cpu);
    const char *loaded = openblas_get_corename(), *best = blas_kernel_upgrade(&cpu, loaded);
    if (best) {
      setenv("CURVSCOPE_BLAS_CHOSEN", loaded, 1);
      setenv("OPENBLAS_CORETYPE", best, 1);
      again = 1;
    }
  }
  if (!again) return;
  char self[4096];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len > 0) {
    self[len] = '\0';  /* the real path, so the process keeps its name in ps and top */
    setenv("CURVSCOPE_REEXEC", "1", 1);
    execv(self, argv);
  }
  /* not re-run: this process keeps the kernel it loaded, so say nothing else of it */
  if (getenv("CURVSCOPE_BLAS_CHOSEN")) {
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("CURVSCOPE_BLAS_CHOSEN");
  }
  unsetenv("CURVSCOPE_REEXEC");
}

static int run_command(int argc, char **argv);

int main(int argc, char **argv) {
  prefer_machine_settings(argv);
  /* A file-size limit (ulimit -f) then fails a write (the recorder ends the run as
   * failed with the error) instead of killing the process mid-run. */
  signal(SIGXFSZ, SIG_IGN);
  int dist = cli_dist_start(&argc, &argv); /* under mpirun or srun (dist.h) */
  if (dist >= 0) return dist;
  return cli_dist_finish(run_command(argc, argv));
}

static int run_command(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return EXIT_OK;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("curvscope %s\n", CURVSCOPE_VERSION);
    return EXIT_OK;
  }
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "curvscope: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return EXIT_USAGE;
}
