/* cases.h: the activation and embedding grid shared by the gradient and HVP tests. */
#ifndef CS_TEST_CASES_H
#define CS_TEST_CASES_H

#include "core/act.h"

enum { E_NONE, E_FOURIER, E_FOURIER_LEARNED, E_BASIC, E_MSCALE, E_COUNT };
static const char *const embed_text[E_COUNT] = {
    "none", "fourier:m=4,sigma=1", "fourier:m=4,sigma=1,learned=true", "basic",
    "mscale:scales=1-2-4"};

typedef struct {
  const char *name;
  Act act;
} ActCase;

static const ActCase acts[] = {
    {"identity", {ACT_IDENTITY, 1.0}}, {"relu", {ACT_RELU, 1.0}},
    {"tanh", {ACT_TANH, 1.0}},         {"softplus", {ACT_SOFTPLUS, 1.0}},
    {"gelu", {ACT_GELU, 1.0}},         {"sine:w0=30", {ACT_SINE, 30.0}},
    {"sine:w0=1", {ACT_SINE, 1.0}},    {"hat", {ACT_HAT, 1.0}},
    {"sigmoid", {ACT_SIGMOID, 1.0}},   {"swish", {ACT_SWISH, 1.0}},
};
#define NACTS (int)(sizeof acts / sizeof *acts)

#endif
