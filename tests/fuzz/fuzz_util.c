/* fuzz_util.c: temporary files and checks shared by the harnesses (see fuzz.h). */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/dataset.h"

static char g_dir[256];

/* Removes the directory and whatever the last input left in it. */
static void dir_remove(void) {
  DIR *d = opendir(g_dir);
  if (d) {
    struct dirent *e;
    char path[sizeof g_dir + 256];
    while ((e = readdir(d)))
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
        snprintf(path, sizeof path, "%s/%s", g_dir, e->d_name);
        unlink(path);
      }
    closedir(d);
  }
  rmdir(g_dir);
}

static const char *dir_get(void) {
  if (!g_dir[0]) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/cs_fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
      perror("fuzz: mkdtemp");
      abort();
    }
    atexit(dir_remove);
  }
  return g_dir;
}

void fuzz_file_write(const char *name, const uint8_t *data, size_t size, char *path) {
  snprintf(path, FUZZ_PATH_MAX, "%s/%s", dir_get(), name);
  FILE *f = fopen(path, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) {
    perror(path);
    abort();
  }
}

void fuzz_file_remove(const char *path) {
  static const char *const side[] = {"", "-wal", "-shm", "-journal"};
  char p[FUZZ_PATH_MAX + 16];
  for (size_t i = 0; i < sizeof side / sizeof *side; i++) {
    snprintf(p, sizeof p, "%s%s", path, side[i]);
    unlink(p);
  }
}

int fuzz_file_equals(const char *path, const uint8_t *data, size_t size) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  uint8_t buf[4096];
  size_t off = 0, got;
  int same = 1;
  while (same && (got = fread(buf, 1, sizeof buf, f)) > 0) {
    same = off + got <= size && !memcmp(buf, data + off, got);
    off += got;
  }
  fclose(f);
  return same && off == size;
}

char *fuzz_string(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) abort();
  memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

void fuzz_fail(const char *what, const char *file, int line) {
  fprintf(stderr, "%s:%d: property failed: %s\n", file, line, what);
  abort();
}

void fuzz_dataset_check(const Dataset *ds) {
  FUZZ_CHECK(ds != NULL);
  FUZZ_CHECK(ds->n == 0 || ds->d == 0 || ds->X != NULL);
  FUZZ_CHECK(ds->n == 0 || ds->k == 0 || ds->Y != NULL);
  if (!ds->labels) return;
  FUZZ_CHECK((size_t)ds->nclasses == ds->k && (ds->n == 0 || ds->nclasses >= 1));
  for (size_t i = 0; i < ds->n; i++) {
    int c = ds->labels[i];
    FUZZ_CHECK(c >= 0 && c < ds->nclasses);
    double sum = 0;
    for (size_t j = 0; j < ds->k; j++) sum += ds->Y[i * ds->k + j];
    FUZZ_CHECK(ds->Y[i * ds->k + (size_t)c] == 1.0 && sum == 1.0);
  }
}
