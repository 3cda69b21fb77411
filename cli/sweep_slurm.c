/* sweep_slurm.c: a sweep as a Slurm job array and a merge job after it (sweep.h). The
 * scripts call this curvscope binary by its absolute path and cd to the directory the
 * sweep was started in, so relative --data paths mean what they meant there. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/json.h"
#include "sweep.h"

void sweep_shell_quote(StrBuf *b, const char *arg) {
  int plain = *arg != '\0';
  for (const char *s = arg; *s && plain; s++)
    plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,/:+@%",
                   *s) != NULL;
  if (plain) {
    sb_append(b, arg);
    return;
  }
  sb_append(b, "'");
  for (const char *s = arg; *s; s++) {
    if (*s == '\'') sb_append(b, "'\\''");
    else sb_append_n(b, s, 1);
  }
  sb_append(b, "'");
}

/* The #SBATCH lines of a job of the sweep: its name (the group + suffix), one task of cpus
 * CPUs, its output file in dir, the partition and time limit when given. */
static void sbatch_header(StrBuf *b, const SweepSlurm *s, const char *suffix, long cpus,
                          const char *output) {
  StrBuf t;
  sb_init(&t);
  sb_printf(&t, "%s%s", s->group, suffix);
  sb_append(b, "#SBATCH --job-name="), sweep_shell_quote(b, t.p ? t.p : "");
  sb_reset(&t);
  sb_printf(&t, "%s/%s", s->dir, output);
  sb_printf(b, "\n#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=%ld\n#SBATCH --output=", cpus);
  sweep_shell_quote(b, t.p ? t.p : "");
  sb_append(b, "\n");
  sb_free(&t);
  if (s->partition[0]) sb_append(b, "#SBATCH --partition="), sweep_shell_quote(b, s->partition),
                       sb_append(b, "\n");
  if (s->time[0]) sb_append(b, "#SBATCH --time="), sweep_shell_quote(b, s->time), sb_append(b, "\n");
}

static int write_file(const char *dir, const char *name, const StrBuf *b, Err *err) {
  char p[8192];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  if (b->oom) return err_set(err, CS_ENOMEM, "out of memory writing %s", p);
  FILE *f = fopen(p, "w");
  if (!f) return err_set(err, CS_EIO, "cannot write %s: %s", p, strerror(errno));
  int ok = fwrite(b->p, 1, b->len, f) == b->len;
  ok &= fclose(f) == 0;
  if (!ok) return err_set(err, CS_EIO, "cannot write %s: %s", p, strerror(errno));
  chmod(p, 0755);
  return CS_OK;
}

static int array_script(const SweepGrid *g, const SweepTaskCtx *c, const SweepSlurm *s,
                        Err *err) {
  StrBuf b;
  sb_init(&b);
  sb_append(&b, "#!/bin/bash\n# curvscope sweep: one train run per array task (written by "
                "curvscope sweep --slurm; submit with submit.sh)\n");
  sb_printf(&b, "#SBATCH --array=0-%ld", g->ntasks - 1);
  if (s->max_running > 0) sb_printf(&b, "%%%ld", s->max_running);
  sb_append(&b, "\n");
  sbatch_header(&b, s, "", s->cpus, "task-%a.log");
  sb_append(&b, "set -u\ncd ");
  sweep_shell_quote(&b, s->cwd);
  sb_append(&b, " || exit 1\ncase \"${SLURM_ARRAY_TASK_ID:?not a Slurm array task}\" in\n");
  for (long k = 0; k < g->ntasks; k++) {
    char db[8192], label[1024];
    snprintf(db, sizeof db, "%s/task-%ld.db", s->dir, k);
    sweep_task_label(g, k, label, sizeof label);
    char **argv = sweep_task_argv(g, c, k, db);
    if (!argv) return sb_free(&b), err_set(err, CS_ENOMEM, "out of memory");
    sb_printf(&b, "  %ld) # %s\n    exec ", k, label);
    sweep_shell_quote(&b, s->exe);
    for (char **a = argv; *a; a++) sb_append(&b, " "), sweep_shell_quote(&b, *a);
    sb_append(&b, " --quiet ;;\n");
    sweep_argv_free(argv);
  }
  sb_printf(&b, "  *) echo \"curvscope sweep: no task $SLURM_ARRAY_TASK_ID (0-%ld)\" >&2; "
                "exit 2 ;;\nesac\n", g->ntasks - 1);
  int rc = write_file(s->dir, "sweep.sbatch", &b, err);
  sb_free(&b);
  return rc;
}

static int merge_script(const SweepGrid *g, const SweepSlurm *s, Err *err) {
  StrBuf b;
  sb_init(&b);
  sb_append(&b, "#!/bin/bash\n# curvscope sweep: merges the tasks' databases once the array "
                "has ended (afterany)\n");
  sbatch_header(&b, s, "-merge", 1, "merge.log");
  sb_append(&b, "set -u\ndir=");
  sweep_shell_quote(&b, s->dir);
  sb_printf(&b, "\nn=%ld\nhave=() missing=()\n"
                "for ((k = 0; k < n; k++)); do\n"
                "  if [ -s \"$dir/task-$k.db\" ]; then have+=(\"$dir/task-$k.db\");"
                " else missing+=(\"$k\"); fi\n"
                "done\nstatus=0\n"
                "if [ ${#have[@]} -gt 0 ]; then\n  ", g->ntasks);
  sweep_shell_quote(&b, s->exe);
  sb_append(&b, " merge ");
  sweep_shell_quote(&b, s->db);
  sb_append(&b, " \"${have[@]}\" || status=$?\nfi\n"
                "echo \"sweep ");
  sb_append(&b, s->group);
  sb_append(&b, ": $n tasks, ${#have[@]} merged, ${#missing[@]} missing${missing[*]:+: "
                "tasks ${missing[*]}}\"\n");
  sweep_shell_quote(&b, s->exe);
  sb_append(&b, " runs --db ");
  sweep_shell_quote(&b, s->db);
  sb_append(&b, " --group ");
  sweep_shell_quote(&b, s->group);
  sb_append(&b, "\n[ \"$status\" -ne 0 ] && exit \"$status\"\n[ ${#missing[@]} -eq 0 ]\n");
  int rc = write_file(s->dir, "merge.sbatch", &b, err);
  sb_free(&b);
  return rc;
}

static int submit_script(const SweepGrid *g, const SweepSlurm *s, Err *err) {
  StrBuf b;
  sb_init(&b);
  sb_append(&b, "#!/bin/bash\n# submits the sweep's job array, then its merge job after it\n"
                "set -euo pipefail\ndir=");
  sweep_shell_quote(&b, s->dir);
  sb_printf(&b, "\narray=$(sbatch --parsable \"$dir/sweep.sbatch\")\narray=${array%%%%;*}\n"
                "merge=$(sbatch --parsable --dependency=afterany:$array \"$dir/merge.sbatch\")\n"
                "merge=${merge%%%%;*}\n"
                "echo \"array job $array (%ld tasks), merge job $merge after it; the merge "
                "writes $dir/merge.log\"\n", g->ntasks);
  int rc = write_file(s->dir, "submit.sh", &b, err);
  sb_free(&b);
  return rc;
}

int sweep_slurm_write(const SweepGrid *g, const SweepTaskCtx *c, const SweepSlurm *s, Err *err) {
  int rc = array_script(g, c, s, err);
  if (!rc) rc = merge_script(g, s, err);
  if (!rc) rc = submit_script(g, s, err);
  if (rc) return rc;
  printf("sweep %s: %ld runs as a Slurm job array, scripts in %s\n"
         "submit with:\n  bash %s/submit.sh\n"
         "or by hand:\n  jid=$(sbatch --parsable %s/sweep.sbatch)\n"
         "  sbatch --dependency=afterany:${jid%%;*} %s/merge.sbatch\n"
         "the merge job merges every task's database into %s and names the tasks that left "
         "none (%s/merge.log)\n",
         s->group, g->ntasks, s->dir, s->dir, s->dir, s->dir, s->db, s->dir);
  return CS_OK;
}
