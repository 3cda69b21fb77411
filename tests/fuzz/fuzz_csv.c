/*
 * fuzz_csv.c: the CSV loader (core/data_csv.c) through its public entry
 * points on a file holding the input: csv_read with a label column and with
 * none, csv_read_targets with a regression target, and data_load's csv: spec
 * (train/test split and standardisation).
 *
 * Column names the seeds use: label, y. Properties: every loaded Dataset has
 * a sane shape (fuzz_dataset_check); the values csv_read returns are finite,
 * as the reader refuses NaN and infinities; a refused file names the problem.
 */
#include <math.h>
#include <stdio.h>

#include "core/dataset.h"
#include "fuzz.h"

static void values_check(const Dataset *ds) {
  fuzz_dataset_check(ds);
  for (size_t i = 0; i < ds->n * ds->d; i++) FUZZ_CHECK(isfinite(ds->X[i]));
  for (size_t i = 0; ds->Y && i < ds->n * ds->k; i++) FUZZ_CHECK(isfinite(ds->Y[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[FUZZ_PATH_MAX], spec[FUZZ_PATH_MAX + 64];
  fuzz_file_write("data.csv", data, size, path);
  Dataset *ds = NULL, *test = NULL;
  Err err;
  if (csv_read(path, "label", &ds, &err) == CS_OK) {
    FUZZ_CHECK(ds->labels != NULL);
    values_check(ds);
    dataset_free(ds);
  } else {
    FUZZ_CHECK(err.msg[0] != '\0');
  }
  if (csv_read(path, NULL, &ds, &err) == CS_OK) {
    FUZZ_CHECK(ds->labels == NULL && ds->k == 0);
    values_check(ds);
    dataset_free(ds);
  }
  const char *const targets[] = {"y"};
  if (csv_read_targets(path, NULL, targets, 1, &ds, &err) == CS_OK) {
    FUZZ_CHECK(ds->labels == NULL && ds->k == 1);
    values_check(ds);
    dataset_free(ds);
  }
  snprintf(spec, sizeof spec, "csv:%s,label=label,test=0.25,standardize=subset", path);
  if (data_load(spec, 1, &ds, &test, &err) == CS_OK) {
    fuzz_dataset_check(ds);
    fuzz_dataset_check(test);
    FUZZ_CHECK(ds->d == test->d && ds->k == test->k);
    dataset_free(ds);
    dataset_free(test);
  } else {
    FUZZ_CHECK(ds == NULL && test == NULL && err.msg[0] != '\0');
  }
  fuzz_file_remove(path);
  return 0;
}
