/*
 * section_freqp.c: the report section of a run with the freqp probe (curvscope study
 * freq-principle, docs/FREQP.md): e_low and e_high against the step in one chart (Xu et
 * al.'s picture: the low-frequency part converges first), with the run's δ and the
 * convergence steps in a note. All SQL is fixed text with int64 binds.
 */
#include <math.h>
#include <stdio.h>

#include "report_internal.h"

int section_freqp_applies(Report *r, const ReportRun *run, Err *err) {
  return rep_exists(r, "SELECT 1 FROM metrics WHERE run_id=?1 AND name='freqp_e_low' LIMIT 1",
                    run->id, err);
}

int section_freqp_emit(Report *r, ReportRun *run, Err *err) {
  static const char *const names[] = {"freqp_delta", "freqp_tau_low", "freqp_tau_high",
                                      "freqp_low_share"};
  double v[4];
  if (db_run_metrics(r->db, run->id, names, 4, v, err)) return -1;
  rep_section_open(r, run, "freqp", "Frequency principle");
  sb_append(&r->runs, "<p class=\"note\">Low- and high-frequency parts on the training inputs "
            "by the Gaussian filter g^low_i = Σ_j g_j G_δ(x_i − x_j) / Σ_j G_δ(x_i − x_j), "
            "G_δ(x) = exp(−‖x‖²/(2δ)), applied to the targets y and the output h; e_low = "
            "‖y^low − h^low‖/‖y^low‖, e_high likewise (docs/FREQP.md). δ = ");
  rep_num(&r->runs, v[0]);
  sb_append(&r->runs, ", ‖y^low‖/‖y‖ = ");
  rep_num(&r->runs, v[3]);
  sb_append(&r->runs, "; first step below the threshold: low ");
  if (isnan(v[1])) sb_append(&r->runs, "not reached");
  else rep_num(&r->runs, v[1]);
  sb_append(&r->runs, ", high ");
  if (isnan(v[2])) sb_append(&r->runs, "not reached");
  else rep_num(&r->runs, v[2]);
  sb_append(&r->runs, ".</p>\n");
  char kl[96], kh[96];
  int a = rep_metric_ds(r, run, "freqp_e_low", kl, sizeof kl, err);
  int b = a < 0 ? -1 : rep_metric_ds(r, run, "freqp_e_high", kh, sizeof kh, err);
  if (a < 0 || b < 0) {
    rep_section_close(r);
    return -1;
  }
  int first = 1;
  rep_chart_begin(r, &r->runs, "relative error of the low- and high-frequency parts");
  sb_append(&r->charts, ",\"y\":\"relative error\",\"log\":1,\"lines\":[");
  if (a) rep_line_ref(&r->charts, &first, kl, "e_low");
  if (b) rep_line_ref(&r->charts, &first, kh, "e_high");
  sb_append(&r->charts, "]");
  rep_chart_end(r);
  rep_section_close(r);
  return 0;
}
