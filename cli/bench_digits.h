/* bench_digits.h: scikit-learn's digits for the benchmark (see bench_digits.c). */
#ifndef CS_BENCH_DIGITS_H
#define CS_BENCH_DIGITS_H

#include <stddef.h>

#include "core/err.h"

extern const char *const BENCH_DIGITS_PATH;

/* The first n rows of the gzipped CSV at path (64 pixels 0..16, then the label):
 * X [n][64] = pixels / 16, Y [n][10] one-hot. CS_ENOTFOUND when the file is absent,
 * CS_EFORMAT when it is not that file. */
int bench_digits_load(const char *path, size_t n, double *X, double *Y, Err *err);

#endif
