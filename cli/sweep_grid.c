/* sweep_grid.c: parsing a sweep's --grid and building each task's train command line
 * (sweep.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_opts.h"
#include "sweep.h"

/* Splits text in place at sep into at most max pieces; returns the count or -1. */
static int split(char *text, char sep, char **out, int max) {
  int n = 0;
  for (char *p = text;; p++) {
    if (n == max) return -1;
    out[n++] = p;
    p = strchr(p, sep);
    if (!p) return n;
    *p = '\0';
  }
}

/* Leading and trailing blanks off, in place. */
static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
  return s;
}

int sweep_grid_parse(const char *spec, long repeat, SweepGrid *g, Err *err) {
  memset(g, 0, sizeof *g);
  if (repeat < 1) return err_set(err, CS_EINVAL, "--repeat %ld: at least 1", repeat);
  if (!spec || strlen(spec) >= sizeof g->text)
    return err_set(err, CS_EINVAL, "--grid: %s", spec ? "longer than 4095 bytes" : "missing");
  snprintf(g->text, sizeof g->text, "%s", spec);
  char *axes[SWEEP_MAX_KEYS + 1];
  int na = split(g->text, ';', axes, SWEEP_MAX_KEYS + 1);
  if (na < 0 || na > SWEEP_MAX_KEYS)
    return err_set(err, CS_EINVAL, "--grid '%s': more than %d keys", spec, SWEEP_MAX_KEYS);
  g->repeat = repeat;
  g->npoints = 1;
  for (int a = 0; a < na; a++) {
    char *ax = trim(axes[a]), *eq = strchr(ax, '=');
    if (!*ax && na > 1 && a == na - 1) break; /* a trailing ';' */
    if (!eq)
      return err_set(err, CS_EINVAL, "--grid '%s': '%s' is not KEY=V1,V2,... (keys are train "
                     "options, e.g. lr=0.01,0.02;batch=32,128)", spec, ax);
    *eq = '\0';
    char *key = trim(ax);
    const CliOpt *o = opts_find(run_opts_table, key);
    if (!*key || !o)
      return err_set(err, CS_EINVAL, "--grid: unknown key '%s': grid keys are the train "
                     "options' names (curvscope train --help)", key);
    if (!strcmp(o->name, "db"))
      return err_set(err, CS_EINVAL, "--grid: key 'db': every task writes its own database; "
                     "give the sweep's --db");
    for (int b = 0; b < g->nkeys; b++)
      if (!strcmp(g->key[b], o->name))
        return err_set(err, CS_EINVAL, "--grid: key '%s' given twice", key);
    int k = g->nkeys++;
    snprintf(g->key[k], sizeof g->key[k], "%s", o->name);
    char *vals[SWEEP_MAX_VALUES];
    int nv = split(eq + 1, ',', vals, SWEEP_MAX_VALUES);
    if (nv < 0)
      return err_set(err, CS_EINVAL, "--grid: key '%s' has more than %d values", key,
                     SWEEP_MAX_VALUES);
    for (int v = 0; v < nv; v++) {
      g->val[k][v] = trim(vals[v]);
      if (!*g->val[k][v])
        return err_set(err, CS_EINVAL, "--grid: key '%s' has an empty value", key);
    }
    g->nval[k] = nv;
    if (g->npoints * nv > SWEEP_MAX_TASKS)
      return err_set(err, CS_EINVAL, "--grid '%s': more than %d points", spec, SWEEP_MAX_TASKS);
    g->npoints *= nv;
  }
  if (g->nkeys == 0) return err_set(err, CS_EINVAL, "--grid '%s': no keys", spec);
  if (g->npoints * repeat > SWEEP_MAX_TASKS)
    return err_set(err, CS_EINVAL, "--grid and --repeat: %ld runs, more than %d",
                   g->npoints * repeat, SWEEP_MAX_TASKS);
  g->ntasks = g->npoints * repeat;
  return CS_OK;
}

/* The value index of key a at point p (the first key varies slowest). */
static int value_at(const SweepGrid *g, long p, int a) {
  for (int b = g->nkeys - 1; b > a; b--) p /= g->nval[b];
  return (int)(p % g->nval[a]);
}

void sweep_task_label(const SweepGrid *g, long k, char *out, size_t n) {
  long p = k / g->repeat;
  size_t len = 0;
  out[0] = '\0';
  for (int a = 0; a < g->nkeys && len < n; a++)
    len += (size_t)snprintf(out + len, n - len, "%s%s=%s", a ? ";" : "", g->key[a],
                            g->val[a][value_at(g, p, a)]);
  if (g->repeat > 1 && len < n) snprintf(out + len, n - len, ";rep=%ld", k % g->repeat);
}

/* Whether key is one of the grid's (then the sweep does not set that option itself). */
static int grid_has(const SweepGrid *g, const char *key) {
  for (int a = 0; a < g->nkeys; a++)
    if (!strcmp(g->key[a], key)) return 1;
  return 0;
}

static char *dup_printf(const char *fmt, const char *a, const char *b) {
  size_t n = strlen(fmt) + strlen(a) + strlen(b) + 1;
  char *s = malloc(n);
  if (s) snprintf(s, n, fmt, a, b);
  return s;
}

char **sweep_task_argv(const SweepGrid *g, const SweepTaskCtx *c, long k, const char *db) {
  int max = 1 + c->ntrain + g->nkeys + 5 + 1, n = 0, oom = 0;
  char **v = calloc((size_t)max, sizeof *v);
  if (!v) return NULL;
  v[n++] = strdup("train");
  for (int i = 0; i < c->ntrain; i++) v[n++] = strdup(c->train[i]);
  long p = k / g->repeat;
  for (int a = 0; a < g->nkeys; a++) {
    char flag[80];
    snprintf(flag, sizeof flag, "--%s", g->key[a]);
    for (char *s = flag; *s; s++) *s = *s == '_' ? '-' : *s;
    v[n++] = dup_printf("%s=%s", flag, g->val[a][value_at(g, p, a)]);
  }
  char num[32], label[1024];
  if (g->repeat > 1) { /* seeds seed, seed+1, ...; from the grid's seed when it has one */
    long seed = c->seed;
    for (int a = 0; a < g->nkeys; a++)
      if (!strcmp(g->key[a], "seed")) seed = strtol(g->val[a][value_at(g, p, a)], NULL, 10);
    snprintf(num, sizeof num, "%ld", seed + k % g->repeat);
    v[n++] = dup_printf("--seed=%s%s", num, "");
  }
  if (c->add_name && !grid_has(g, "name")) {
    sweep_task_label(g, k, label, sizeof label);
    v[n++] = dup_printf("--name=%s%s", label, "");
  }
  if (c->group && !grid_has(g, "group")) v[n++] = dup_printf("--group=%s%s", c->group, "");
  if (c->threads && !grid_has(g, "threads")) v[n++] = dup_printf("--threads=%s%s", c->threads, "");
  v[n++] = dup_printf("--db=%s%s", db, "");
  for (int i = 0; i < n; i++) oom |= !v[i];
  if (oom) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
    return NULL;
  }
  return v;
}

void sweep_argv_free(char **argv) {
  if (!argv) return;
  for (char **a = argv; *a; a++) free(*a);
  free(argv);
}

int sweep_argc(char *const *argv) {
  int n = 0;
  while (argv && argv[n]) n++;
  return n;
}
