/*
 * fuzz_config.c: the --config file reader (run_opts_from_file in
 * cli/run_opts.c, through its public entry point on a file holding the input)
 * and the reader of the config JSON stored with every run (run_opts_from_json,
 * used by analyze and study --run).
 *
 * Properties: a refused file is bad usage (CS_EINVAL) with a message; the
 * options a file set survive the trip through the stored JSON: writing them,
 * reading them back and writing again gives the same text. Any text read as a
 * stored config either fails cleanly or gives options that write out.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/run_opts.h"
#include "fuzz.h"

static void json_roundtrip_check(const RunOpts *o) {
  Err err;
  RunOpts back;
  char *json = run_opts_to_json(o);
  FUZZ_CHECK(json != NULL);
  FUZZ_CHECK(run_opts_from_json(&back, json, &err) == CS_OK);
  char *again = run_opts_to_json(&back);
  FUZZ_CHECK(again && !strcmp(json, again));
  free(json);
  free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[FUZZ_PATH_MAX];
  fuzz_file_write("run.conf", data, size, path);
  RunOpts o;
  Err err;
  err_clear(&err);
  run_opts_default(&o);
  if (run_opts_from_file(&o, path, &err) != CS_OK)
    FUZZ_CHECK(err.code == CS_EINVAL && err.msg[0] != '\0');
  json_roundtrip_check(&o);
  fuzz_file_remove(path);

  char *text = fuzz_string(data, size);
  if (run_opts_from_json(&o, text, &err) == CS_OK) free(run_opts_to_json(&o));
  free(text);
  return 0;
}
