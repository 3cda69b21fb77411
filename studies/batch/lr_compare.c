/* lr_compare.c: the learner against the best fixed learning rate (see lr_compare.h). */
#include "lr_compare.h"

#include <math.h>

int lr_compare_best(const double *loss, int n) {
  int best = -1;
  for (int i = 0; i < n; i++)
    if (isfinite(loss[i]) && (best < 0 || loss[i] < loss[best])) best = i;
  return best;
}

double lr_compare_excess(double loss, double best) {
  if (!isfinite(loss) || !isfinite(best) || !(best > 0)) return NAN;
  return loss / best - 1.0;
}
