/*
 * fuzz_idx.c: the IDX loader (core/data_idx.c, gzip or raw) through
 * idx_read and data_load's idx: spec on an image/label pair.
 *
 * Input layout: byte 0 picks the spec's options, bytes 1-2 (big-endian) are
 * the length of the images file, which follows; the rest is the labels file
 * (tests/fuzz/make_seeds.sh writes seeds this way).
 * Properties: idx_read's dims multiply to the values it returns; a loaded
 * image/label pair has a sane shape with one row per kept image.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/dataset.h"
#include "fuzz.h"

static const char *const options[] = {
    "", ",n=2,test=0", ",classes=1-0,standardize=subset", ",scale=1,standardize=none",
    ",test_images=@I,test_labels=@L,test=all",
};
#define NOPTIONS (sizeof options / sizeof *options)

static void idx_read_check(const char *path) {
  double *v = NULL;
  size_t dims[IDX_MAX_DIMS];
  int nd = 0;
  Err err;
  if (idx_read(path, &v, dims, &nd, &err) != CS_OK) {
    FUZZ_CHECK(v == NULL && err.msg[0] != '\0');
    return;
  }
  FUZZ_CHECK(nd >= 1 && nd <= IDX_MAX_DIMS);
  size_t count = 1;
  for (int i = 0; i < nd; i++) count *= dims[i];
  FUZZ_CHECK(count >= 1 && v != NULL);
  volatile double last = v[count - 1]; /* ASan: the buffer holds all of them */
  (void)last;
  free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  size_t ilen = ((size_t)data[1] << 8) | data[2];
  if (ilen > size - 3) ilen = size - 3;
  char img[FUZZ_PATH_MAX], lab[FUZZ_PATH_MAX], spec[4 * FUZZ_PATH_MAX];
  fuzz_file_write("images.idx", data + 3, ilen, img);
  fuzz_file_write("labels.idx", data + 3 + ilen, size - 3 - ilen, lab);
  idx_read_check(img);
  idx_read_check(lab);

  const char *opt = options[data[0] % NOPTIONS];
  int n = snprintf(spec, sizeof spec, "idx:%s,%s", img, lab);
  for (const char *p = opt; *p && n < (int)sizeof spec - FUZZ_PATH_MAX; p++) {
    if (*p == '@') n += snprintf(spec + n, sizeof spec - n, "%s", *++p == 'I' ? img : lab);
    else spec[n++] = *p, spec[n] = '\0';
  }
  Dataset *train = NULL, *test = NULL;
  Err err;
  if (data_load(spec, 1, &train, &test, &err) == CS_OK) {
    fuzz_dataset_check(train);
    fuzz_dataset_check(test);
    FUZZ_CHECK(train->n >= 1 && train->labels && train->d == test->d && train->k == test->k);
    dataset_free(train);
    dataset_free(test);
  } else {
    FUZZ_CHECK(train == NULL && test == NULL && err.msg[0] != '\0');
  }
  fuzz_file_remove(img);
  fuzz_file_remove(lab);
  return 0;
}
