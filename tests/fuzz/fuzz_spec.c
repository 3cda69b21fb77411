/*
 * fuzz_spec.c: the `kind:key=value,...` parser (core/spec.c), its getters and
 * list parsers, strict numbers, and the core parsers built on it: --act,
 * --model, --embed, --init, --loss, --opt.
 *
 * Properties: a parsed spec has a kind and at most SPEC_MAX_ITEMS items, each
 * key is found again with the value the parser stored; once every key has been
 * read, spec_check_unused accepts it; a refused spec carries a message; a
 * parsed model has 2..NET_MAX_LAYERS+1 widths in range.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/act.h"
#include "core/loss.h"
#include "core/net.h"
#include "core/optim.h"
#include "core/spec.h"
#include "fuzz.h"

/* Every getter and list parser on one value (the results only need to be sane). */
static void values_try(Spec *s, const char *key, const char *val) {
  Err err;
  long l = 0, list[64];
  double d = 0, dlist[64];
  int b = 0, n = -1;
  spec_get_int(s, key, &l, &err);
  if (spec_get_double(s, key, &d, &err) == CS_OK) FUZZ_CHECK(!isnan(d));
  spec_get_bool(s, key, &b, &err);
  FUZZ_CHECK(b == 0 || b == 1);
  if (spec_parse_int_list(val, list, 64, &n, &err) == CS_OK) FUZZ_CHECK(n >= 1 && n <= 64);
  else FUZZ_CHECK(err.msg[0] != '\0');
  if (spec_parse_double_list(val, dlist, 64, &n, &err) == CS_OK) FUZZ_CHECK(n >= 1 && n <= 64);
}

static void spec_try(const char *text) {
  Spec s;
  Err err;
  err_clear(&err);
  if (spec_parse(&s, text, &err) != CS_OK) {
    FUZZ_CHECK(err.code == CS_EINVAL && err.msg[0] != '\0');
    return;
  }
  FUZZ_CHECK(s.kind && s.kind[0] != '\0' && !strcmp(s.text, text));
  FUZZ_CHECK(s.npos >= 0 && s.nkv >= 0 && s.npos + s.nkv <= SPEC_MAX_ITEMS);
  for (int i = 0; i < s.npos; i++) values_try(&s, "", s.pos[i]);
  for (int i = 0; i < s.nkv; i++) {
    const char *v = NULL;
    FUZZ_CHECK(spec_has(&s, s.key[i]));
    spec_get_str(&s, s.key[i], &v);
    FUZZ_CHECK(v == s.val[i]);
    values_try(&s, s.key[i], s.val[i]);
  }
  FUZZ_CHECK(spec_check_unused(&s, s.npos, &err) == CS_OK);
  if (s.npos > 0) FUZZ_CHECK(spec_check_unused(&s, s.npos - 1, &err) == CS_EINVAL);
  spec_free(&s);
}

static void consumers_try(const char *text) {
  Err err;
  Act a;
  NetSpec ns;
  LossKind lk;
  const OptimizerType *ot;
  double d;
  long l;
  if (parse_double(text, &d) == CS_OK) FUZZ_CHECK(!isnan(d));
  parse_long(text, &l);
  act_parse(text, &a, &err);
  netspec_default(&ns);
  if (netspec_parse_model(&ns, text, &err) == CS_OK) {
    FUZZ_CHECK(ns.nwidths >= 2 && ns.nwidths <= NET_MAX_LAYERS + 1);
    for (int i = 0; i < ns.nwidths; i++) FUZZ_CHECK(ns.widths[i] > 0 && ns.widths[i] <= 1000000);
  }
  netspec_parse_embed(&ns, text, &err);
  netspec_parse_init(&ns, text, &err);
  loss_parse(text, &lk, &err);
  optim_parse(text, &ot, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0; /* specs are command-line words */
  char *text = fuzz_string(data, size);
  spec_try(text);
  consumers_try(text);
  free(text);
  return 0;
}
