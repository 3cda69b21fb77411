/*
 * opts.h: the one option parser of every subcommand and study.
 *
 * A command describes its options as tables of CliOpt, one line per option, each naming
 * a field of the command's own struct; opts_parse reads argv (and `--config FILE`) into
 * those structs through the tables, and opts_help prints them with their defaults (the
 * struct's values before parsing). The pattern, for a command or a study:
 *
 *   typedef struct FooArgs { char lr[256]; long every; double update_tol; int crossing; } FooArgs;
 *   static const CliOpt foo_opts[] = {
 *       OPT_STR(FooArgs, lr, "LIST", "step sizes, comma- or dash-separated", NULL),
 *       OPT_LONG(FooArgs, every, "K", "sharpness every K steps", NULL),
 *       OPT_POS(FooArgs, update_tol, "U", "one-product update tolerance", "utol"),
 *       OPT_FLAG(FooArgs, crossing, "phase III ends at the crossing", NULL),
 *       OPT_END};
 *   FooArgs a = {"0.02,0.04", 10, 1e-2, 0};          -- the defaults, shown by --help
 *   RunOpts o; run_opts_default(&o);                   -- and the train options, if any
 *   OptTable t[] = {{foo_opts, &a, "study options", NULL}, {run_opts_table, &o, NULL, NULL}};
 *   if (cli_is_help(argc, argv)) return opts_help_print(stdout, t, 2), EXIT_OK;
 *   if (opts_parse(t, 2, argc, argv, 1, NULL, NULL, &err)) return cli_fail(&err);
 *
 * Adding a flag is adding a field and a table line. The naming rule (docs/INPUTS.md): the
 * field's name is the option's name, so `update_tol` is the flag `--update-tol` and the
 * config key `update_tol`; '-' and '_' are the same everywhere. Old spellings go in the
 * last column (space-separated, no dashes; one letter is a short flag: "q" is -q). The
 * first table that has a name wins, so a study's table placed before the train table
 * overrides a train option of the same name. `--flag=value` and `--flag value` both work;
 * a flag (OPT_FLAG) takes no value on the command line (`--flag=true|false` and
 * `flag = true` in a config file do). A flag no table has is "unknown option", exit 2.
 */
#ifndef CS_CLI_OPTS_H
#define CS_CLI_OPTS_H

#include <stddef.h>
#include <stdio.h>

#include "core/err.h"

typedef enum {
  OPT_STR,    /* char field[size] */
  OPT_DBL,    /* double, finite */
  OPT_POS,    /* double, finite and > 0 */
  OPT_LONG,   /* long >= 0 */
  OPT_FLAG,   /* int, 1 when given */
  OPT_FN,     /* parsed by .parse; its default shown by .show */
  OPT_REFUSE, /* refused with .help as the reason (a study fixing a train option) */
} OptKind;

typedef struct CliOpt CliOpt;
struct CliOpt {
  const char *name;  /* the field's name: --name-with-dashes, config key name_with_underscores */
  OptKind kind;
  size_t off, size;  /* the field in the table's struct; size: OPT_STR's buffer */
  const char *meta;  /* the value's placeholder in --help ("N", "FILE") */
  const char *help;
  const char *alias; /* old spellings, space-separated, or NULL */
  /* OPT_FN (or any kind, replacing its checks): sets the field from value (base: the
   * table's struct); CS_EINVAL naming the flag. */
  int (*parse)(void *base, const CliOpt *opt, const char *value, Err *err);
  /* OPT_FN: the default as text for --help ("" for none). */
  void (*show)(const void *base, const CliOpt *opt, char *out, size_t n);
};

#define OPT_STR(T, f, meta, help, alias) \
  {#f, OPT_STR, offsetof(T, f), sizeof(((T *)0)->f), meta, help, alias, NULL, NULL}
#define OPT_DBL(T, f, meta, help, alias) \
  {#f, OPT_DBL, offsetof(T, f), 0, meta, help, alias, NULL, NULL}
#define OPT_POS(T, f, meta, help, alias) \
  {#f, OPT_POS, offsetof(T, f), 0, meta, help, alias, NULL, NULL}
#define OPT_LONG(T, f, meta, help, alias) \
  {#f, OPT_LONG, offsetof(T, f), 0, meta, help, alias, NULL, NULL}
#define OPT_FLAG(T, f, help, alias) \
  {#f, OPT_FLAG, offsetof(T, f), 0, NULL, help, alias, NULL, NULL}
#define OPT_FN(T, f, meta, help, alias, parse, show) \
  {#f, OPT_FN, offsetof(T, f), 0, meta, help, alias, parse, show}
#define OPT_REFUSE(name, why) {name, OPT_REFUSE, 0, 0, NULL, why, NULL, NULL, NULL}
#define OPT_END {NULL, OPT_STR, 0, 0, NULL, NULL, NULL, NULL, NULL}

#define OPTS_MAX_LINES 64 /* lines of one table at most (the size of a seen array) */

/* One table and the struct it fills. seen, when not NULL, has one byte per table line and
 * is set to 1 for each option given (a command that must know what the user chose). */
typedef struct OptTable {
  const CliOpt *opts; /* ends with OPT_END */
  void *base;
  const char *title;  /* a heading in --help, or NULL */
  unsigned char *seen;
} OptTable;

/* Parses argv[start..argc): `--config FILE` first (wherever it is; later flags override
 * it), then every option in order. Arguments that are not options (and all after `--`)
 * go to pos[0..*npos) when pos is given (room for argc), else are refused. Bad input:
 * CS_EINVAL naming the token. */
int opts_parse(const OptTable *t, int nt, int argc, char **argv, int start, char **pos,
               int *npos, Err *err);
/* Reads `key = value` lines (docs/INPUTS.md) through the tables. */
int opts_from_file(const OptTable *t, int nt, const char *path, Err *err);
/* Sets one option by name (dashes or underscores, no leading "--") from text. */
int opts_set(const OptTable *t, int nt, const char *name, const char *value, Err *err);
/* The option lines of every table with their defaults, then --config and --help. */
void opts_help_print(FILE *f, const OptTable *t, int nt);
/* Parsers and shows for OPT_LONG lines that several commands share (the field a long):
 * --threads N (threads_check), --step S|last (last: -1), --run ID (unset: -1, shown as
 * nothing). */
int opts_parse_threads(void *base, const CliOpt *opt, const char *value, Err *err);
int opts_parse_step(void *base, const CliOpt *opt, const char *value, Err *err);
void opts_show_step(const void *base, const CliOpt *opt, char *out, size_t n);
int opts_parse_id(void *base, const CliOpt *opt, const char *value, Err *err);
void opts_show_id(const void *base, const CliOpt *opt, char *out, size_t n);
/* --preset default|ci into an int field (1 for ci). */
int opts_parse_preset(void *base, const CliOpt *opt, const char *value, Err *err);
void opts_show_preset(const void *base, const CliOpt *opt, char *out, size_t n);
#define OPT_PRESET(T, f, help) \
  {#f, OPT_FN, offsetof(T, f), 0, "P", help, NULL, opts_parse_preset, opts_show_preset}
#define OPT_THREADS(T, f) \
  {#f, OPT_LONG, offsetof(T, f), 0, "N", \
   "OpenMP and BLAS threads (0: all cores; at most 4 per core and 63)", NULL, \
   opts_parse_threads, NULL}
#define OPT_STEP(T, f, help) \
  {#f, OPT_FN, offsetof(T, f), 0, "S|last", help, NULL, opts_parse_step, opts_show_step}
/* --chunk N|auto into a long field: rows per GEMM chunk, 0 for no limit, 'auto' (-1) for
 * the machine's choice (core/layout.h: layout_chunk_arg turns it into an allocator's). */
int opts_parse_chunk(void *base, const CliOpt *opt, const char *value, Err *err);
void opts_show_chunk(const void *base, const CliOpt *opt, char *out, size_t n);
#define OPT_CHUNK(T, f, help) \
  {#f, OPT_LONG, offsetof(T, f), 0, "N|auto", help, NULL, opts_parse_chunk, opts_show_chunk}
/* --precision f64|mixed|f32 (core/precision.h) into a Precision field. */
int opts_parse_precision(void *base, const CliOpt *opt, const char *value, Err *err);
void opts_show_precision(const void *base, const CliOpt *opt, char *out, size_t n);
#define OPT_PRECISION(T, f) \
  {#f, OPT_FN, offsetof(T, f), 0, "P", \
   "arithmetic of the passes: f64, or mixed (float32 forward, backward and R-passes, float64 " \
   "everything else; f32 is the same engine)", NULL, opts_parse_precision, opts_show_precision}
#define OPT_ID(T, f, help) \
  {#f, OPT_FN, offsetof(T, f), 0, "ID", help, NULL, opts_parse_id, opts_show_id}

/* Whether option `name` of t was given (t->seen must be set). */
int opts_seen(const OptTable *t, const char *name);
/* The line `name` of table opts, or NULL. */
const CliOpt *opts_find(const CliOpt *opts, const char *name);
/* "--name-with-dashes" of an option, into out. */
void opts_flag_name(const CliOpt *o, char *out, size_t n);

#endif
