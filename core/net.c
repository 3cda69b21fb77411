/* net.c: model specs, layer structure and the parameter layout (see net.h). */
#include "net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "spec.h"

void netspec_default(NetSpec *spec) {
  memset(spec, 0, sizeof *spec);
  spec->act.kind = ACT_TANH;
  spec->act.w0 = 1.0;
  spec->init = INIT_TORCH;
  spec->ntk_beta = 0.1;
  spec->fourier_m = 256;
  spec->fourier_sigma = 10.0;
}

int netspec_parse_model(NetSpec *spec, const char *text, Err *err) {
  Spec s;
  if (spec_parse(&s, text, err)) return CS_EINVAL;
  int rc = CS_OK;
  if (strcmp(s.kind, "mlp") && strcmp(s.kind, "linear")) {
    rc = err_set(err, CS_EINVAL, "unknown model '%s' in '%s' (known: mlp, linear)", s.kind, text);
    goto done;
  }
  if (s.npos != 1) {
    rc = err_set(err, CS_EINVAL, "model '%s' needs its widths, e.g. mlp:784-200-200-10", text);
    goto done;
  }
  if ((rc = spec_parse_int_list(s.pos[0], spec->widths, NET_MAX_LAYERS + 1, &spec->nwidths, err)))
    goto done;
  if (spec->nwidths < 2) {
    rc = err_set(err, CS_EINVAL, "model '%s' needs at least input and output widths", text);
    goto done;
  }
  for (int i = 0; i < spec->nwidths; i++)
    if (spec->widths[i] <= 0 || spec->widths[i] > 1000000) {
      rc = err_set(err, CS_EINVAL, "model '%s': width %ld out of range", text, spec->widths[i]);
      goto done;
    }
  if (!strcmp(s.kind, "linear")) spec->act.kind = ACT_IDENTITY;
  const char *b = NULL;
  spec_get_str(&s, "bias", &b);
  if (b) {
    if (!strcmp(b, "init") || !strcmp(b, "true")) spec->bias = BIAS_INIT;
    else if (!strcmp(b, "zero")) spec->bias = BIAS_ZERO;
    else if (!strcmp(b, "none") || !strcmp(b, "false")) spec->bias = BIAS_NONE;
    else {
      rc = err_set(err, CS_EINVAL, "model '%s': bias=%s (use init, zero or none)", text, b);
      goto done;
    }
  }
  rc = spec_check_unused(&s, 1, err);
done:
  spec_free(&s);
  return rc;
}

int netspec_parse_embed(NetSpec *spec, const char *text, Err *err) {
  Spec s;
  if (spec_parse(&s, text, err)) return CS_EINVAL;
  int rc = CS_OK;
  if (!strcmp(s.kind, "none")) {
    spec->embed = EMB_NONE;
  } else if (!strcmp(s.kind, "fourier")) {
    spec->embed = EMB_FOURIER;
    if ((rc = spec_get_int(&s, "m", &spec->fourier_m, err))) goto done;
    if ((rc = spec_get_double(&s, "sigma", &spec->fourier_sigma, err))) goto done;
    if ((rc = spec_get_bool(&s, "learned", &spec->fourier_learned, err))) goto done;
    if (spec->fourier_m <= 0 || spec->fourier_m > 100000) {
      rc = err_set(err, CS_EINVAL, "embedding '%s': m=%ld out of range", text, spec->fourier_m);
      goto done;
    }
  } else if (!strcmp(s.kind, "basic")) {
    spec->embed = EMB_BASIC;
  } else if (!strcmp(s.kind, "mscale")) {
    spec->embed = EMB_MSCALE;
    const char *sc = "1-2-4-8";
    spec_get_str(&s, "scales", &sc);
    if ((rc = spec_parse_double_list(sc, spec->mscale, NET_MAX_LAYERS * 4, &spec->mscale_n, err)))
      goto done;
  } else {
    rc = err_set(err, CS_EINVAL, "unknown embedding '%s' (known: none, fourier, basic, mscale)",
                 s.kind);
    goto done;
  }
  rc = spec_check_unused(&s, 0, err);
done:
  spec_free(&s);
  return rc;
}

int netspec_parse_init(NetSpec *spec, const char *text, Err *err) {
  Spec s;
  if (spec_parse(&s, text, err)) return CS_EINVAL;
  int rc = CS_OK;
  static const char *const names[] = {"torch", "he", "xavier", "siren", "ntk", "orthogonal"};
  int found = -1;
  for (int i = 0; i < 6; i++)
    if (!strcmp(s.kind, names[i])) found = i;
  if (!strcmp(s.kind, "kaiming") || !strcmp(s.kind, "default")) found = INIT_TORCH;
  if (found < 0) {
    rc = err_set(err, CS_EINVAL,
                 "unknown init '%s' (known: torch, he, xavier, siren, ntk, orthogonal)", s.kind);
    goto done;
  }
  spec->init = (InitKind)found;
  spec->ntk_param = found == INIT_NTK;
  if ((rc = spec_get_double(&s, "beta", &spec->ntk_beta, err))) goto done;
  const char *b = NULL;
  spec_get_str(&s, "bias", &b);
  if (b) {
    if (!strcmp(b, "zero")) spec->bias = BIAS_ZERO;
    else if (!strcmp(b, "none")) spec->bias = BIAS_NONE;
    else if (!strcmp(b, "init")) spec->bias = BIAS_INIT;
    else {
      rc = err_set(err, CS_EINVAL, "init '%s': bias=%s (use init, zero or none)", text, b);
      goto done;
    }
  }
  rc = spec_check_unused(&s, 0, err);
done:
  spec_free(&s);
  return rc;
}

static void add_layer(Net *net, size_t in, size_t out, Act act, int bias, int trainable,
                      size_t *p_off, size_t *f_off) {
  Layer *L = &net->layer[net->nlayers++];
  memset(L, 0, sizeof *L);
  L->in = in;
  L->out = out;
  L->act = act;
  L->out_act = act.kind == ACT_COSSIN ? 2 * out : out;
  L->has_bias = bias;
  L->trainable = trainable;
  L->alpha = 1.0;
  L->beta = 1.0;
  size_t *off = trainable ? p_off : f_off;
  L->w_off = *off;
  *off += in * out;
  if (bias) {
    L->b_off = *off;
    *off += out;
  }
}

int net_init(Net *net, const NetSpec *spec, Rng *rng, Err *err) {
  memset(net, 0, sizeof *net);
  net->spec = *spec;
  int nw = spec->nwidths;
  int ndense = nw - 1;
  if (ndense < 1) return err_set(err, CS_EINVAL, "model needs at least one layer");
  if (ndense + (spec->embed == EMB_FOURIER || spec->embed == EMB_BASIC) > NET_MAX_LAYERS)
    return err_set(err, CS_EINVAL, "model has more than %d layers", NET_MAX_LAYERS);
  net->d_in = (size_t)spec->widths[0];
  net->d_out = (size_t)spec->widths[nw - 1];
  size_t p_off = 0, f_off = 0;
  size_t in = net->d_in;
  Act cossin = {ACT_COSSIN, 1.0};
  if (spec->embed == EMB_FOURIER) {
    add_layer(net, in, (size_t)spec->fourier_m, cossin, 0, spec->fourier_learned, &p_off, &f_off);
    in = 2 * (size_t)spec->fourier_m;
  } else if (spec->embed == EMB_BASIC) {
    add_layer(net, in, in, cossin, 0, 0, &p_off, &f_off);
    in = 2 * in;
  }
  int bias = spec->bias != BIAS_NONE;
  for (int l = 0; l < ndense; l++) {
    size_t out = (size_t)spec->widths[l + 1];
    Act act = l == ndense - 1 ? (Act){ACT_IDENTITY, 1.0} : spec->act;
    add_layer(net, in, out, act, bias, 1, &p_off, &f_off);
    Layer *L = &net->layer[net->nlayers - 1];
    if (spec->ntk_param) {
      L->alpha = 1.0 / sqrt((double)in);
      L->beta = spec->ntk_beta;
    }
    in = out;
  }
  net->n_params = p_off;
  if (f_off) {
    net->frozen = calloc(f_off, sizeof *net->frozen);
    if (!net->frozen) return err_set(err, CS_ENOMEM, "out of memory for embedding");
    Layer *E = &net->layer[0];
    double *W = net->frozen + E->w_off;
    const double two_pi = 2.0 * M_PI;
    if (spec->embed == EMB_BASIC) {
      for (size_t i = 0; i < E->out; i++) W[i * E->in + i] = two_pi;
    } else {
      for (size_t i = 0; i < E->out * E->in; i++)
        W[i] = two_pi * spec->fourier_sigma * rng_normal(rng);
    }
    net->n_frozen = f_off;
    net->frozen32 = malloc(f_off * sizeof *net->frozen32);
    if (!net->frozen32) return err_set(err, CS_ENOMEM, "out of memory for embedding");
    for (size_t i = 0; i < f_off; i++) net->frozen32[i] = (float)net->frozen[i];
  }
  if (spec->embed == EMB_MSCALE) {
    Layer *L = &net->layer[0];
    net->scales = malloc(L->out * sizeof *net->scales);
    if (!net->scales) return err_set(err, CS_ENOMEM, "out of memory for scales");
    int g = spec->mscale_n > 0 ? spec->mscale_n : 1;
    for (size_t i = 0; i < L->out; i++) {
      size_t grp = i * (size_t)g / L->out;  /* contiguous groups of near-equal size */
      net->scales[i] = spec->mscale_n > 0 ? spec->mscale[grp] : 1.0;
    }
    L->s = net->scales;
  }
  net->first_trainable = 0;
  while (net->first_trainable < net->nlayers && !net->layer[net->first_trainable].trainable)
    net->first_trainable++;
  if (net->n_params == 0) return err_set(err, CS_EINVAL, "model has no trainable parameters");
  return CS_OK;
}

void net_deinit(Net *net) {
  if (!net) return;
  free(net->frozen);
  free(net->frozen32);
  free(net->scales);
  memset(net, 0, sizeof *net);
}

const double *net_W(const Net *net, int l, const double *theta) {
  const Layer *L = &net->layer[l];
  return (L->trainable ? theta : net->frozen) + L->w_off;
}

const double *net_b(const Net *net, int l, const double *theta) {
  const Layer *L = &net->layer[l];
  if (!L->has_bias) return NULL;
  return (L->trainable ? theta : net->frozen) + L->b_off;
}

const float *net_W_f32(const Net *net, int l, const float *theta) {
  const Layer *L = &net->layer[l];
  return (L->trainable ? theta : net->frozen32) + L->w_off;
}

const float *net_b_f32(const Net *net, int l, const float *theta) {
  const Layer *L = &net->layer[l];
  if (!L->has_bias) return NULL;
  return (L->trainable ? theta : net->frozen32) + L->b_off;
}

void net_output_block(const Net *net, size_t *off, size_t *len) {
  const Layer *L = &net->layer[net->nlayers - 1];
  *off = L->w_off;
  *len = L->in * L->out;
}

char *net_layout_json(const Net *net) {
  StrBuf b;
  sb_init(&b);
  sb_printf(&b, "{\"n_params\":%zu,\"dtype\":\"<f8\",\"order\":\"per layer: W row-major [out][in], then b [out]\",\"layers\":[",
            net->n_params);
  int first = 1;
  for (int l = 0; l < net->nlayers; l++) {
    const Layer *L = &net->layer[l];
    if (!first) sb_append(&b, ",");
    first = 0;
    sb_printf(&b, "{\"index\":%d,\"in\":%zu,\"out\":%zu,\"act\":", l, L->in, L->out);
    sb_json_str(&b, act_name(L->act.kind));
    if (L->act.kind == ACT_SINE) sb_printf(&b, ",\"w0\":%.17g", L->act.w0);
    sb_printf(&b, ",\"trainable\":%s", L->trainable ? "true" : "false");
    if (L->trainable) {
      sb_printf(&b, ",\"W\":{\"offset\":%zu,\"shape\":[%zu,%zu]}", L->w_off, L->out, L->in);
      if (L->has_bias) sb_printf(&b, ",\"b\":{\"offset\":%zu,\"shape\":[%zu]}", L->b_off, L->out);
    }
    if (L->alpha != 1.0 || L->beta != 1.0)
      sb_printf(&b, ",\"alpha\":%.17g,\"beta\":%.17g", L->alpha, L->beta);
    sb_append(&b, "}");
  }
  sb_append(&b, "]}");
  return sb_take(&b);
}
