/*
 * data_image.c: a photograph as a coordinate-regression task,
 * `image:PATH[,downsample=K,color=gray|rgb]` (docs/DATA.md), as Tancik et al.: the PNG (read
 * by libpng, converted to 8-bit gray, or to 8-bit RGB for color=rgb: three targets per pixel,
 * values /255 in [0, 1]) optionally box-averaged over K x K blocks (each channel alike),
 * then the pixels on the even grid (2i, 2j) are the training set and those at the odd
 * offsets (2i+1, 2j+1) the test set. Inputs are the coordinates (row/H, column/W) in [0, 1)², rows in
 * row-major order, so a square image's training set is an n x n grid (n = H/2) whose 2-D
 * FFT bin k is frequency k: grid_dims = 2, grid_n = n, no target frequencies (nfreqs 0).
 * Workload: once per run.
 */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "json.h"
#include "spec.h"

#define MAX_SIDE 16384

/* The coordinates and values (C channels) of pixels (2i + off, 2j + off) of img [H][W][C]. */
static Dataset *take_grid(const double *img, size_t H, size_t W, size_t C, size_t off) {
  size_t h = H / 2, w = W / 2;
  Dataset *ds = dataset_alloc(h * w, 2, C, 0);
  if (!ds) return NULL;
  for (size_t i = 0; i < h; i++)
    for (size_t j = 0; j < w; j++) {
      size_t r = i * w + j, y = 2 * i + off, x = 2 * j + off;
      ds->X[2 * r] = (double)y / (double)H;
      ds->X[2 * r + 1] = (double)x / (double)W;
      for (size_t c = 0; c < C; c++) ds->Y[r * C + c] = img[(y * W + x) * C + c];
    }
  return ds;
}

int data_image(struct Spec *s, Dataset **train, Dataset **test, StrBuf *resolved, Err *err) {
  *train = *test = NULL;
  long k = 1;
  const char *color = "gray";
  int rc = spec_get_int(s, "downsample", &k, err);
  if (!rc) {
    spec_get_str(s, "color", &color);
    rc = spec_check_unused(s, 1, err);
  }
  if (rc) return rc;
  if (strcmp(color, "gray") && strcmp(color, "rgb"))
    return err_set(err, CS_EINVAL, "--data '%s': color=%s (use gray or rgb)", s->text, color);
  size_t C = strcmp(color, "rgb") ? 1 : 3;
  if (s->npos != 1)
    return err_set(err, CS_EINVAL, "--data '%s': give the PNG file, image:PATH", s->text);
  if (k < 1 || k > 1024)
    return err_set(err, CS_EINVAL, "--data '%s': downsample=%ld out of range [1, 1024]", s->text,
                   k);
  const char *path = s->pos[0];
  png_image im;
  memset(&im, 0, sizeof im);
  im.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&im, path))
    return err_set(err, CS_EINVAL, "--data: cannot read '%s' as PNG: %s", path, im.message);
  im.format = C == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  size_t H0 = im.height, W0 = im.width;
  if (H0 > MAX_SIDE || W0 > MAX_SIDE) {
    png_image_free(&im);
    return err_set(err, CS_EINVAL, "--data: '%s' is %zux%zu, larger than %d on a side", path, W0,
                   H0, MAX_SIDE);
  }
  unsigned char *px = malloc(PNG_IMAGE_SIZE(im));
  if (!px) {
    png_image_free(&im);
    return err_set(err, CS_ENOMEM, "--data: out of memory for '%s'", path);
  }
  if (!png_image_finish_read(&im, NULL, px, 0, NULL)) {
    free(px);
    return err_set(err, CS_EINVAL, "--data: cannot decode '%s': %s", path, im.message);
  }
  /* box average over K x K blocks; a partial block at the edge is cropped, as is an odd
   * last row or column after it */
  size_t H = H0 / (size_t)k, W = W0 / (size_t)k;
  H -= H % 2, W -= W % 2;
  if (H < 4 || W < 4) {
    free(px);
    return err_set(err, CS_EINVAL, "--data '%s': %zux%zu pixels after downsample=%ld (need 4x4)",
                   s->text, W0 / (size_t)k, H0 / (size_t)k, k);
  }
  double *img = malloc(H * W * C * sizeof *img);
  if (!img) {
    free(px);
    return err_set(err, CS_ENOMEM, "--data: out of memory for '%s'", path);
  }
  for (size_t y = 0; y < H; y++)
    for (size_t x = 0; x < W; x++)
      for (size_t c = 0; c < C; c++) {
        double a = 0;
        for (size_t dy = 0; dy < (size_t)k; dy++)
          for (size_t dx = 0; dx < (size_t)k; dx++)
            a += px[((y * (size_t)k + dy) * W0 + x * (size_t)k + dx) * C + c];
        img[(y * W + x) * C + c] = a / (255.0 * (double)(k * k));
      }
  free(px);
  Dataset *tr = take_grid(img, H, W, C, 0), *te = take_grid(img, H, W, C, 1);
  free(img);
  if (!tr || !te) {
    dataset_free(tr), dataset_free(te);
    return err_set(err, CS_ENOMEM, "--data: out of memory for '%s'", path);
  }
  if (H == W) {
    tr->grid_dims = 2;
    tr->grid_n = H / 2;
  }
  snprintf(tr->name, sizeof tr->name, "image %.80s %zux%zu%s (even pixels)", path, W, H,
           C == 3 ? " rgb" : "");
  snprintf(te->name, sizeof te->name, "image %.80s %zux%zu%s (odd pixels)", path, W, H,
           C == 3 ? " rgb" : "");
  if (resolved) {
    sb_append(resolved, "image:");
    data_spec_path(resolved, path);
    sb_printf(resolved, ",downsample=%ld,color=%s", k, C == 3 ? "rgb" : "gray");
  }
  *train = tr;
  *test = te;
  return CS_OK;
}
