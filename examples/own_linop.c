/*
 * own_linop.c: curvscope's Lanczos on an operator of your own.
 *
 * Any symmetric operator you can apply is a Linop: a size, an apply function
 * y = A x and a pointer to your state. Here A is the n x n Clement (Kac-Sylvester)
 * matrix, tridiagonal with zero diagonal and off-diagonals sqrt(i (n - i)), whose
 * eigenvalues are known in closed form: n - 1 - 2j, j = 0..n-1, evenly spaced from
 * -(n-1) to n-1. The program asks eig_lanczos_top for the K largest and K smallest,
 * prints each beside its exact value, and fails (exit 1) when one is off by more
 * than 1e-8 relative.
 *
 *   usage: own_linop [N [K]]        (default N = 400, K = 3)
 *   build: cc own_linop.c $(pkg-config --cflags --libs curvscope) -lm -o own_linop
 */
#include <curvscope/curvscope.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct Clement {
  size_t n;
  double *off;  /* off[i] = A[i][i+1] = A[i+1][i] = sqrt((i+1)(n-i-1)), i < n-1 */
} Clement;

/* y = A x: the only thing the solver asks of the operator. */
static int clement_apply(void *self, const double *x, double *y) {
  const Clement *c = self;
  size_t n = c->n;
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    if (i > 0) s += c->off[i - 1] * x[i - 1];
    if (i + 1 < n) s += c->off[i] * x[i + 1];
    y[i] = s;
  }
  return CS_OK;
}

static int print_and_check(const char *end, const double *values, int k, double first,
                           double step, double scale) {
  int bad = 0;
  for (int j = 0; j < k; j++) {
    double exact = first + step * j;
    int off = fabs(values[j] - exact) > 1e-8 * scale;
    printf("%s[%d] = %.12g   exact %.12g%s\n", end, j, values[j], exact, off ? "   WRONG" : "");
    bad |= off;
  }
  return bad;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? strtol(argv[1], NULL, 10) : 400, k = argc > 2 ? strtol(argv[2], NULL, 10) : 3;
  if (n < 4 || k < 1 || 2 * k >= n) {
    fprintf(stderr, "usage: own_linop [N >= 4 [K >= 1, 2K < N]]\n");
    return 2;
  }
  Clement c = {(size_t)n, malloc((size_t)(n - 1) * sizeof(double))};
  if (!c.off) return 1;
  for (long i = 0; i < n - 1; i++) c.off[i] = sqrt((double)(i + 1) * (double)(n - i - 1));

  Linop op = {.n = (size_t)n, .apply = clement_apply, .apply_block = NULL, .self = &c};
  EigOpts o;
  eig_opts_default(&o);
  o.k = (int)k;
  o.which = EIG_BOTH;   /* the k largest, then the k smallest */
  o.tol = 1e-10;
  o.maxit = 20000;
  o.seed = 1;
  EigResult r = {0};
  Err err = {0};
  printf("curvscope %s: Clement matrix n = %ld, %ld eigenvalues at each end\n", cs_version(), n, k);
  int rc = eig_lanczos_top(&op, &o, &r, &err);
  if (rc) {
    fprintf(stderr, "own_linop: %s\n", err.msg);
    free(c.off);
    return 1;
  }
  printf("%ld products, converged %d\n", r.matvecs, r.converged);
  double scale = (double)(n - 1);
  int bad = print_and_check("top", r.values, r.ntop, (double)(n - 1), -2.0, scale);
  bad |= print_and_check("bottom", r.values + r.ntop, r.nbottom, -(double)(n - 1), 2.0, scale);
  eig_result_free(&r);
  free(c.off);
  return bad ? 1 : 0;
}
