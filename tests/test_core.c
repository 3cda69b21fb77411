/* test_core.c: specs, strict numbers, UTF-8 checks, JSON writing and reading, the RNG, error
 * messages. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/rng.h"
#include "core/spec.h"
#include "core/utf8.h"
#include "tap.h"

static void test_spec(void) {
  Spec s;
  Err e = {0};
  tap_ok(spec_parse(&s, "mlp:784-200-10,bias=none", &e) == CS_OK, "spec with positional and key");
  tap_ok(!strcmp(s.kind, "mlp") && s.npos == 1 && !strcmp(s.pos[0], "784-200-10"), "kind and positional");
  const char *b = NULL;
  spec_get_str(&s, "bias", &b);
  tap_ok(b && !strcmp(b, "none"), "key value read");
  tap_ok(spec_check_unused(&s, 1, &e) == CS_OK, "all keys used");
  spec_free(&s);

  spec_parse(&s, "fashion-mnist:n=50,tset=3", &e);
  long n = 0;
  spec_get_int(&s, "n", &n, &e);
  tap_ok(n == 50, "integer key");
  int rc = spec_check_unused(&s, 0, &e);
  tap_ok(rc == CS_EINVAL && strstr(e.msg, "'tset'"), "unknown key named: %s", e.msg);
  spec_free(&s);

  tap_ok(spec_parse(&s, "x:a=1,a=2", &e) == CS_EINVAL && strstr(e.msg, "twice"), "duplicate key refused");
  tap_ok(spec_parse(&s, "x:a=1,pos", &e) == CS_EINVAL && strstr(e.msg, "'pos'"), "positional after keys refused");
  tap_ok(spec_parse(&s, ":a=1", &e) == CS_EINVAL, "missing kind refused");
  tap_ok(spec_parse(&s, "x:a=1,,b=2", &e) == CS_EINVAL, "empty item refused");

  spec_parse(&s, "x:lr=abc,on=maybe", &e);
  double d = 0;
  tap_ok(spec_get_double(&s, "lr", &d, &e) == CS_EINVAL && strstr(e.msg, "lr=abc"), "bad number named: %s", e.msg);
  int flag = 0;
  tap_ok(spec_get_bool(&s, "on", &flag, &e) == CS_EINVAL, "bad boolean refused");
  spec_free(&s);

  long w[8];
  int nw;
  tap_ok(spec_parse_int_list("784-200-200-10", w, 8, &nw, &e) == CS_OK && nw == 4 && w[0] == 784 && w[3] == 10, "int list");
  tap_ok(spec_parse_int_list("784-x-10", w, 8, &nw, &e) == CS_EINVAL && strstr(e.msg, "'x'"), "bad list item named: %s", e.msg);
  tap_ok(spec_parse_int_list("1-2-3", w, 2, &nw, &e) == CS_EINVAL, "list longer than max refused");
  double dl[4];
  tap_ok(spec_parse_double_list("0.01-0.5", dl, 4, &nw, &e) == CS_OK && nw == 2 && dl[1] == 0.5, "double list");
  /* Empty items were once dropped: mlp:5--2 became 5-2 and -0.1 became 0.1. */
  const char *empty[] = {"5--2", "-0.1", "3-", "-"};
  for (int i = 0; i < 4; i++)
    tap_ok(spec_parse_double_list(empty[i], dl, 4, &nw, &e) == CS_EINVAL &&
               strstr(e.msg, "empty item") && strstr(e.msg, empty[i]),
           "list '%s' with an empty item refused: %s", empty[i], e.msg);
  tap_ok(spec_parse_int_list("784-0x10", w, 8, &nw, &e) == CS_EINVAL && strstr(e.msg, "'0x10'"),
         "hex list item refused: %s", e.msg);
}

static void test_numbers(void) {
  double d;
  long l;
  tap_ok(parse_double("1e-3", &d) == CS_OK && d == 1e-3, "1e-3 parses");
  tap_ok(parse_double("1e-3x", &d) == CS_EINVAL, "trailing junk refused");
  tap_ok(parse_double("", &d) == CS_EINVAL && parse_double("nan", &d) == CS_EINVAL, "empty and nan refused");
  tap_ok(parse_long("42", &l) == CS_OK && l == 42, "integer parses");
  tap_ok(parse_long("1e4", &l) == CS_OK && l == 10000, "integral float accepted as count");
  tap_ok(parse_long("2.5", &l) == CS_EINVAL, "fraction refused as integer");
  /* strtod's extensions are not numbers here. */
  const char *bad[] = {"0x10", "0X1p3", "inf", "-Infinity", "nan", "NAN(1)", " 1", "1 ", "\f2",
                       "1e", "1e+", ".", "+", "--1", "1e400", "1e-400", "١"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    tap_ok(parse_double(bad[i], &d) == CS_EINVAL && parse_long(bad[i], &l) == CS_EINVAL,
           "'%s' is not a number", bad[i]);
  const char *good[] = {"+2", "-3", ".5", "5.", "1E+05", "007"};
  const double want[] = {2, -3, 0.5, 5, 1e5, 7};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++)
    tap_ok(parse_double(good[i], &d) == CS_OK && d == want[i], "'%s' parses as %g", good[i], want[i]);
  tap_ok(parse_long("0x10", &l) == CS_EINVAL && parse_long("-7", &l) == CS_OK && l == -7,
         "parse_long: hex refused, a sign accepted");
  Err e = {0};
  tap_ok(range_check("beta2", 1, 0, 1, RANGE_HI_OPEN, &e) == CS_EINVAL && strstr(e.msg, "beta2 1") &&
             strstr(e.msg, "[0, 1)"),
         "range_check names key, value and range: %s", e.msg);
  tap_ok(range_check("eps", 0, 0, INFINITY, RANGE_LO_OPEN, &e) == CS_EINVAL &&
             range_check("eps", NAN, 0, INFINITY, 0, &e) == CS_EINVAL &&
             range_check("eps", 1e-8, 0, INFINITY, RANGE_LO_OPEN, &e) == CS_OK &&
             range_check("b", 0, 0, 1, RANGE_HI_OPEN, &e) == CS_OK,
         "range_check: open ends, NaN and an infinite bound");
}

static void test_utf8(void) {
  const char *valid[] = {"", "plain", "caf\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
                         "\xF4\x8F\xBF\xBF"};
  for (size_t i = 0; i < sizeof valid / sizeof *valid; i++)
    tap_ok(utf8_invalid_offset(valid[i]) == UTF8_VALID, "valid UTF-8 #%zu accepted", i);
  struct { const char *s; size_t at; const char *what; } bad[] = {
      {"a\xFF" "b", 1, "a stray 0xFF"},        {"ab\xC3", 2, "a cut-off sequence"},
      {"\xC0\xAF", 0, "an overlong '/'"},  {"\xE0\x80\xAF", 0, "an overlong 3-byte form"},
      {"x\xED\xA0\x80", 1, "a surrogate"}, {"\xF4\x90\x80\x80", 0, "above U+10FFFF"},
      {"\x80", 0, "a lone continuation byte"}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    tap_ok(utf8_invalid_offset(bad[i].s) == bad[i].at, "%s refused at byte %zu", bad[i].what,
           bad[i].at);
  char out[32];
  utf8_escape("a\xFF\xC3\xA9", out, sizeof out);
  tap_ok(!strcmp(out, "a\\xFF\xC3\xA9"), "escape shows the bad byte, keeps the good ones: %s", out);
  utf8_escape("abcdef", out, 4);
  tap_ok(!strcmp(out, "abc"), "escape truncates to the buffer");
}

static void test_json(void) {
  StrBuf b;
  sb_init(&b);
  sb_append(&b, "{\"name\":");
  sb_json_str(&b, "a \"q\" <script>\n");
  sb_append(&b, ",\"lr\":");
  sb_json_num(&b, 0.125);
  sb_append(&b, ",\"bad\":");
  sb_json_num(&b, NAN);
  sb_append(&b, ",\"probe\":[\"sharpness:every=5\",\"gn-sharpness\"],\"nested\":{\"x\":[1,{\"y\":2}]},\"last\":7}");
  tap_ok(!strstr(b.p, "<script>") && strstr(b.p, "\\u003cscript\\u003e"), "< and > escaped for HTML embedding");
  tap_ok(strstr(b.p, "\"bad\":null") != NULL, "NaN written as null");
  char s[64];
  double v;
  tap_ok(json_get_str(b.p, "name", s, sizeof s) == CS_OK && !strcmp(s, "a \"q\" <script>\n"), "string round trip");
  tap_ok(json_get_num(b.p, "lr", &v) == CS_OK && v == 0.125, "number round trip");
  tap_ok(json_get_num(b.p, "bad", &v) == CS_ENOTFOUND, "null reads as absent");
  tap_ok(json_get_num(b.p, "last", &v) == CS_OK && v == 7, "key after a nested object found");
  tap_ok(json_get_num(b.p, "x", &v) == CS_ENOTFOUND, "nested keys are not top-level");
  tap_ok(json_get_str(b.p, "missing", s, sizeof s) == CS_ENOTFOUND, "missing key");
  sb_free(&b);

  /* Found with fuzz_config's round trip: a stored config's integers went through a
   * double, so seed 2^53+1 came back as 2^53 and steps 2^63-1 overflowed the cast. */
  long l = 0;
  const char *cfg = "{\"seed\":9007199254740993,\"steps\":9223372036854775807,"
                    "\"big\":9223372036854775808,\"frac\":2.5,\"e\":1e4,\"neg\":-3 }";
  int rc = json_get_long(cfg, "seed", &l);
  tap_ok(rc == CS_OK && l == 9007199254740993L, "integer beyond 2^53 read exactly (%ld)", l);
  rc = json_get_long(cfg, "steps", &l);
  tap_ok(rc == CS_OK && l == 9223372036854775807L, "LONG_MAX read exactly (%ld)", l);
  tap_ok(json_get_long(cfg, "big", &l) == CS_EFORMAT, "an integer beyond a long is malformed");
  tap_ok(json_get_long(cfg, "frac", &l) == CS_EFORMAT, "a fraction is malformed");
  tap_ok(json_get_long(cfg, "e", &l) == CS_OK && l == 10000, "1e4 reads as 10000");
  tap_ok(json_get_long(cfg, "neg", &l) == CS_OK && l == -3, "a negative integer before a space");
  tap_ok(json_get_long(cfg, "none", &l) == CS_ENOTFOUND, "a missing integer is absent");
}

static void test_rng(void) {
  Rng a, b;
  rng_seed(&a, 7);
  rng_seed(&b, 7);
  int same = 1;
  for (int i = 0; i < 100; i++) same &= rng_u64(&a) == rng_u64(&b);
  tap_ok(same, "same seed, same stream");
  rng_seed_stream(&a, 7, 1);
  rng_seed_stream(&b, 7, 2);
  tap_ok(rng_u64(&a) != rng_u64(&b), "different streams differ");
  rng_seed(&a, 1);
  double m = 0, m2 = 0, u = 0;
  int N = 200000;
  for (int i = 0; i < N; i++) {
    double z = rng_normal(&a);
    m += z;
    m2 += z * z;
    u += rng_uniform(&a);
  }
  m /= N;
  m2 /= N;
  u /= N;
  tap_ok(fabs(m) < 0.01 && fabs(m2 - 1) < 0.02, "normal mean %.4f variance %.4f", m, m2);
  tap_ok(fabs(u - 0.5) < 0.005, "uniform mean %.4f", u);
  size_t idx[50];
  for (size_t i = 0; i < 50; i++) idx[i] = i;
  rng_shuffle(&a, idx, 50);
  int seen[50] = {0}, perm = 1, moved = 0;
  for (size_t i = 0; i < 50; i++) {
    perm &= idx[i] < 50 && !seen[idx[i]];
    seen[idx[i] < 50 ? idx[i] : 0] = 1;
    moved += idx[i] != i;
  }
  tap_ok(perm && moved > 25, "shuffle is a permutation that moves most items");
  double r[64];
  rng_rademacher(&a, r, 64);
  int pm = 1;
  for (int i = 0; i < 64; i++) pm &= r[i] == 1.0 || r[i] == -1.0;
  tap_ok(pm, "rademacher entries are ±1");
}

static void test_err(void) {
  Err e;
  err_set(&e, CS_EIO, "cannot read '%s'", "x.gz");
  err_prefix(&e, "--data");
  tap_ok(e.code == CS_EIO && !strcmp(e.msg, "--data: cannot read 'x.gz'"), "prefix keeps code: %s", e.msg);
  char big[400];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  err_set(&e, CS_EINVAL, "%s", big);
  err_prefix(&e, "ctx");
  tap_ok(strlen(e.msg) == sizeof e.msg - 1 && !strncmp(e.msg, "ctx: ", 5), "long messages truncated safely");
  tap_ok(err_set(NULL, CS_EDB, "x") == CS_EDB, "NULL Err still returns the code");
}

int main(void) {
  test_spec();
  test_numbers();
  test_utf8();
  test_json();
  test_rng();
  test_err();
  return tap_done();
}
