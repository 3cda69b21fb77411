/*
 * freqp.h: the frequency principle on high-dimensional data (Xu et al.; docs/FREQP.md).
 *
 * The low-frequency part of a function g on the n training inputs is its Gaussian-filtered
 * version on the data,
 *   g^low_i = Σ_j g_j G_δ(x_i − x_j) / Σ_j G_δ(x_i − x_j),   G_δ(x) = exp(−‖x‖² / (2δ)),
 * and g^high = g − g^low. δ is a variance (squared input distance), Xu et al.'s convention;
 * by default a fraction FREQP_DELTA_FRAC of the median squared distance between training
 * inputs. With W the row-normalised kernel matrix, g^low = W g for every output column.
 * e_low = ‖y^low − h^low‖/‖y^low‖ and e_high = ‖y^high − h^high‖/‖y^high‖ for the targets y
 * and the network's output h (softmax probabilities under cross-entropy).
 *
 * Ownership: _alloc/_free pairs (NULL-safe); arrays are caller-owned and sized as stated.
 * Thread safety: one call at a time per filter (BLAS threads inside).
 */
#ifndef CS_FREQP_H
#define CS_FREQP_H

#include <stddef.h>

#include "core/dataset.h"
#include "core/err.h"
#include "core/loss.h"
#include "core/net.h"
#include "core/train.h"

#define FREQP_DELTA_FRAC 0.1 /* default δ = this × median squared distance */
#define FREQP_MAX_N 12000    /* W is n × n doubles (1.15 GB at the limit) */

typedef struct FreqFilter FreqFilter;
/* The filter on rows X [n][d]; delta > 0 as given, delta <= 0: the default from the data.
 * CS_EINVAL for n < 2 or n > FREQP_MAX_N, CS_ENOMEM. */
FreqFilter *freqp_filter_alloc(const double *X, size_t n, size_t d, double delta, Err *err);
void freqp_filter_free(FreqFilter *f);
double freqp_filter_delta(const FreqFilter *f);
/* Median squared distance between distinct training inputs (the default δ's scale). */
double freqp_filter_median_d2(const FreqFilter *f);
/* low [n][k] = W G for G [n][k] (low and G distinct). */
void freqp_filter_low(const FreqFilter *f, const double *G, size_t k, double *low);
/* ‖a − b‖ / ‖a‖ over m values (NAN when ‖a‖ = 0). */
double freqp_rel_err(const double *a, const double *b, size_t m);

/*
 * Probe spec: freqp:every=K,delta=D,eps=E
 * Every K steps (and at the last) on the whole training set: metrics freqp_e_low and
 * freqp_e_high; run-level (step -1, rewritten at each measurement so the last stands):
 * freqp_tau_low / freqp_tau_high (first measured step with e <= eps; absent until
 * reached), freqp_low_first (1 when low converged strictly first, 0 when high converged
 * first or together, absent while neither has), freqp_low_ahead (the fraction of
 * measurements after step 0 with e_low < e_high), freqp_delta, freqp_median_d2 and
 * freqp_low_share (‖y^low‖/‖y‖). MSE or cross-entropy. docs/SCHEMA.md.
 */
int freqp_probe_matches(const char *text);
int freqp_probe_create(const char *text, const Net *net, const Dataset *train, LossKind loss,
                       Probe *out, Err *err);

#endif
