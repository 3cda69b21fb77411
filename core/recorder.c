/* recorder.c: null-safe dispatch over the Recorder vtable (see recorder.h). */
#include "recorder.h"

#define DISPATCH(slot, ...) \
  return (r && r->slot) ? r->slot(r->self, __VA_ARGS__) : CS_OK

int rec_run_begin(Recorder *r, const RunInfo *info, int64_t *run_id, Err *err) {
  DISPATCH(run_begin, info, run_id, err);
}
int rec_step(Recorder *r, const StepRecord *s, Err *err) { DISPATCH(step, s, err); }
int rec_metric(Recorder *r, long step, const char *name, double value, Err *err) {
  DISPATCH(metric, step, name, value, err);
}
int rec_series(Recorder *r, long step, const char *name, size_t n, const double *v, Err *err) {
  DISPATCH(series, step, name, n, v, err);
}
int rec_eigs(Recorder *r, const EigRecord *e, Err *err) { DISPATCH(eigs, e, err); }
int rec_density(Recorder *r, long step, const char *op, size_t n, const double *x,
                const double *y, Err *err) {
  DISPATCH(density, step, op, n, x, y, err);
}
int rec_phase(Recorder *r, const char *phase, long start, long end, const char *detail,
              Err *err) {
  DISPATCH(phase, phase, start, end, detail, err);
}
int rec_checkpoint(Recorder *r, long step, const double *params, size_t n, Err *err) {
  DISPATCH(checkpoint, step, params, n, err);
}
int rec_opt_state(Recorder *r, long step, const char *meta_json, const double *state, size_t n,
                  Err *err) {
  DISPATCH(opt_state, step, meta_json, state, n, err);
}
int rec_flush(Recorder *r, Err *err) { DISPATCH(flush, err); }
int rec_run_end(Recorder *r, const char *status, const char *error, Err *err) {
  DISPATCH(run_end, status, error, err);
}
