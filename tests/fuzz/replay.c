/*
 * replay.c: runs a fuzz harness once on every file of its corpus, without
 * libFuzzer, so any compiler (and the sanitizer build) turns the committed
 * corpus -- seeds and every input that once crashed -- into a regression test.
 *
 *   fuzz_replay_<target> FILE|DIR...     TAP: one "ok" per input run
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

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    printf("not ok %d - cannot open %s\n", ++g_n, path);
    return 1;
  }
  size_t cap = 1 << 16, n = 0, got;
  uint8_t *buf = malloc(cap);
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) buf = realloc(buf, cap *= 2);
  }
  fclose(f);
  if (!buf) {
    printf("not ok %d - out of memory reading %s\n", ++g_n, path);
    return 1;
  }
  printf("# %s\n", path);
  fflush(stdout);
  LLVMFuzzerTestOneInput(buf, n);
  free(buf);
  printf("ok %d - %s (%zu bytes) runs cleanly\n", ++g_n, path, n);
  fflush(stdout);
  return 0;
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
  int fails = n == 0;
  if (n == 0) printf("not ok %d - %s holds no inputs\n", ++g_n, dir);
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    fails += run_file(path);
    free(names[i]);
  }
  free(names);
  return fails;
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
