/*
 * net_block.c: the block layout of k parameter vectors for the block R-passes (net.h,
 * "block R-passes"): packing k directions, unpacking k products. O(k·P) copies, done
 * once per block product (not per chunk).
 */
#include <string.h>

#include "net.h"

void net_block_pack(const Net *net, size_t k, const double *V, double *vf, double *vb) {
  size_t P = net->n_params;
  for (int l = net->first_trainable; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    if (!L->trainable) continue;
    size_t o = L->w_off, m = L->out * L->in;
    for (size_t j = 0; j < k; j++) {
      const double *src = V + j * P + o;
      memcpy(vf + k * o + j * m, src, m * sizeof *vf);
      for (size_t r = 0; r < L->out; r++)
        memcpy(vb + k * o + (r * k + j) * L->in, src + r * L->in, L->in * sizeof *vb);
      if (L->has_bias) {
        memcpy(vf + k * L->b_off + j * L->out, V + j * P + L->b_off, L->out * sizeof *vf);
        memcpy(vb + k * L->b_off + j * L->out, V + j * P + L->b_off, L->out * sizeof *vb);
      }
    }
  }
}

void net_block_unpack(const Net *net, size_t k, const double *outA, const double *outB,
                      double *out) {
  size_t P = net->n_params;
  for (int l = net->first_trainable; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    if (!L->trainable) continue;
    size_t o = L->w_off, m = L->out * L->in;
    for (size_t j = 0; j < k; j++) {
      double *dst = out + j * P + o;
      const double *a = outA + k * o + j * m;
      for (size_t r = 0; r < L->out; r++) {
        const double *b = outB ? outB + k * o + (r * k + j) * L->in : NULL;
        for (size_t c = 0; c < L->in; c++)
          dst[r * L->in + c] = a[r * L->in + c] + (b ? b[c] : 0.0);
      }
      if (L->has_bias)
        memcpy(out + j * P + L->b_off, outA + k * L->b_off + j * L->out, L->out * sizeof *out);
    }
  }
}
