/*
 * replay.c: runs a fuzz harness once on every file of its corpus, without
 * libFuzzer, so any compiler (and the sanitizer build) turns the committed
 * corpus -- seeds and every input that once crashed -- into a regression test.
 *
 *   fuzz_replay_<target> FILE|DIR...     TAP: one "ok" per file or directory
 *
 * An input that crashes ends the program (the sanitizers abort); the
 * "# FILE" line printed before each run names it in the log.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int g_n = 0;

/* Runs the harness on one file; -1 when it cannot be read, else its size. */
static long run_input(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t cap = 1 << 16, n = 0, got;
  uint8_t *buf = malloc(cap);
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) buf = realloc(buf, cap *= 2);
  }
  fclose(f);
  if (!buf) return -1;
  printf("# %s\n", path);
  fflush(stdout);
  LLVMFuzzerTestOneInput(buf, n);
  free(buf);
  return (long)n;
}

static int run_file(const char *path) {
  long n = run_input(path);
  if (n < 0) printf("not ok %d - %s cannot be read\n", ++g_n, path);
  else printf("ok %d - %s (%ld bytes) runs cleanly\n", ++g_n, path, n);
  return n < 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files of a directory in name order, so every run is the same. */
static int run_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) {
    printf("not ok %d - cannot open %s\n", ++g_n, dir);
    return 1;
  }
  char **names = NULL;
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') {
      names = realloc(names, (n + 1) * sizeof *names);
      names[n++] = strdup(e->d_name);
    }
  closedir(d);
  qsort(names, n, sizeof *names, cmp_str);
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    bad += run_input(path) < 0;
    free(names[i]);
  }
  free(names);
  int ok = n > 0 && bad == 0;
  printf("%sok %d - %s: %zu inputs run cleanly%s\n", ok ? "" : "not ", ++g_n, dir, n - bad,
         n == 0 ? " (it holds none)" : bad ? ", some unreadable" : "");
  return !ok;
}

int main(int argc, char **argv) {
  int fails = 0;
  for (int i = 1; i < argc; i++) {
    struct stat sb;
    fails += stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode) ? run_dir(argv[i]) : run_file(argv[i]);
  }
  printf("1..%d\n", g_n);
  return fails ? 1 : 0;
}
