/* net_util.h: a test's MLP from its model text, with θ drawn from a seed. */
#ifndef CS_TEST_NET_UTIL_H
#define CS_TEST_NET_UTIL_H

#include <stdint.h>
#include <stdlib.h>

#include "core/net.h"
#include "core/rng.h"
#include "tests/tap.h"

/* An MLP of activation kind (model e.g. "mlp:1-8-1"); caller frees θ and net_deinit. */
static double *test_mlp(Net *net, const char *model, ActKind kind, uint64_t seed) {
  NetSpec ns;
  Err err = {0};
  netspec_default(&ns);
  ns.act.kind = kind;
  Rng rng;
  rng_seed(&rng, seed);
  if (netspec_parse_model(&ns, model, &err) || net_init(net, &ns, &rng, &err)) {
    tap_diag("net %s: %s", model, err.msg);
    return NULL;
  }
  double *theta = malloc(net->n_params * sizeof *theta);
  if (theta) net_init_params(net, theta, &rng);
  return theta;
}

#endif
