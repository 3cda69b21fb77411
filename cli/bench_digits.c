/*
 * bench_digits.c: the real 8×8 digits (1797 images) for `curvscope bench
 * --workload digits`, read from scikit-learn's copy (Debian's python3-sklearn)
 * exactly as bench/peer_torch.py loads them: X = pixels / 16 in [0,1],
 * one-hot labels. With the same data on both sides the eigen-solves compare the
 * same spectrum; without the file the benchmark falls back to synthetic data.
 */
#include "bench_digits.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

const char *const BENCH_DIGITS_PATH =
    "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";

int bench_digits_load(const char *path, size_t n, double *X, double *Y, Err *err) {
  gzFile f = gzopen(path, "rb");
  if (!f) return err_set(err, CS_ENOTFOUND, "%s: cannot open", path);
  char line[1024];
  size_t row = 0;
  int rc = CS_OK;
  while (row < n && gzgets(f, line, sizeof line)) {
    char *p = line, *end;
    for (int j = 0; j <= 64; j++) {
      long v = strtol(p, &end, 10);
      if (end == p || v < 0 || v > 16 || (j < 64 && *end != ',')) {
        rc = err_set(err, CS_EFORMAT, "%s:%zu: column %d is not a pixel (0..16) or label", path,
                     row + 1, j + 1);
        goto out;
      }
      if (j < 64) X[row * 64 + (size_t)j] = (double)v / 16.0;
      else if (v > 9) {
        rc = err_set(err, CS_EFORMAT, "%s:%zu: label %ld is not a digit", path, row + 1, v);
        goto out;
      } else {
        memset(Y + row * 10, 0, 10 * sizeof *Y);
        Y[row * 10 + (size_t)v] = 1.0;
      }
      p = end + (j < 64);
    }
    row++;
  }
  if (row < n) rc = err_set(err, CS_EFORMAT, "%s: %zu rows, expected %zu", path, row, n);
out:
  gzclose(f);
  return rc;
}
