/*
 * dataset.h: in-memory datasets, their loaders and synthetic generators.
 *
 * A Dataset is row-major: X is [n][d] inputs, Y is [n][k] targets (one-hot 0/1
 * for classification, real values for regression), labels is [n] class indices
 * (NULL for regression). Everything is deterministic given the seed.
 *
 * data_load() turns a --data spec into a train and a test Dataset (every key and
 * default in docs/DATA.md; unknown keys are errors):
 *   fashion-mnist:n=5000,test=1000,classes=1-3-6-8,standardize=full|subset|none,
 *                 scale=255,dir=/usr/share/datasets/fashion-mnist
 *   idx:IMAGES.gz,LABELS.gz[,n=..,test_images=..,test_labels=..,test=..,classes=..,
 *       standardize=..,scale=..] (gzip or raw)
 *   csv:PATH,label=NAME|none[,targets=c1-c2,test=FRACTION|COUNT,standardize=..]
 *   synth:classes|mixture|teacher|sines|sines2d|spectrum,...  (data_synth.c)
 *   image:PATH[,downsample=K]  a PNG photograph, pixel coordinates -> gray value
 * and, on any kind, the transforms whiten=zca and labels=shuffled (data_transform.c).
 * Standardisation (Cohen's convention) uses statistics of the full training set
 * the subset was drawn from, and is applied to train and test alike.
 *
 * Ownership: data_load allocates; dataset_free releases (NULL is a no-op).
 * Thread safety: every function is reentrant; no global state.
 */
#ifndef CS_DATASET_H
#define CS_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct Dataset {
  size_t n;        /* examples */
  size_t d;        /* input dimension */
  size_t k;        /* target dimension (classes for classification) */
  double *X;       /* [n][d] */
  double *Y;       /* [n][k] */
  int *labels;     /* [n] class index, or NULL for regression targets */
  int nclasses;    /* number of classes when labels != NULL, else 0 */
  char name[128];  /* what it is, for logs: "fashion-mnist n=5000" */

  /* Optional ground truth of synthetic generators, NULL/0 when absent; owned by
   * the Dataset (dataset_free releases them; dataset_subset does not copy them).
   * Filled on the training set only. */
  double *pcs;     /* [d][d] synth:spectrum: row j is principal direction u_j */
  double *pc_var;  /* [d] variance along pcs row j (the requested eigs) */
  double *w_star;  /* [k][d] synth:spectrum: Y = X W*^T (+ noise) */
  int nfreqs;      /* synth:sines / sines2d: number of components */
  double *freqs;   /* [nfreqs][grid_dims] integer frequencies (cycles per unit) */
  double *amps;    /* [nfreqs] amplitudes A_i */
  double *phases;  /* [nfreqs] phases phi_i in [0,1) (term sin(2pi(k.z) + 2pi phi)) */
  int grid_dims;   /* 1 or 2 for grid data (sines, sines2d), else 0 */
  size_t grid_n;   /* points per axis: X is the grid z = i/grid_n, row-major */
  double *weight;  /* [n] per-example loss weights (owned), or NULL: all 1 (see Batch in loss.h).
                    * Full-batch training only; dataset_subset copies them. */
  /* A rank's share of a data-parallel run (dataset_shard; core/comm.h): these n rows are
   * rows [row0, row0 + n) of the n_all every rank loaded. comm NULL: not sharded. */
  size_t n_all, row0;
  const struct Comm *comm;
} Dataset;

#define IDX_MAX_DIMS 8

Dataset *dataset_alloc(size_t n, size_t d, size_t k, int with_labels);
void dataset_free(Dataset *ds);
/* A new Dataset holding rows idx[0..m) of src. */
Dataset *dataset_subset(const Dataset *src, const size_t *idx, size_t m);
/* Keeps only this rank's contiguous share of the rows (comm_share with weights w, NULL:
 * equal shares) and releases the rest; ds->n_all, row0 and comm say what it was. An
 * inactive comm (NULL or one rank) changes nothing. The ground-truth arrays stay whole. */
struct Comm;
int dataset_shard(Dataset *ds, const struct Comm *comm, const double *w, Err *err);
/* Rows of the whole data set: n_all when sharded, else n. */
size_t dataset_rows_all(const Dataset *ds);
/* Copies rows idx[0..m) of src into caller-owned X [m][d], Y [m][k] and labels [m]
 * (labels may be NULL, and is ignored when src has none). */
void dataset_gather(const Dataset *src, const size_t *idx, size_t m, double *X, double *Y,
                    int *labels);

/* Builds train (and test, possibly with n = 0; never NULL on success) from a
 * --data spec; seed drives the synthetic data and the csv split. On error both
 * are NULL and err names the bad key, value or file. */
int data_load(const char *spec, uint64_t seed, Dataset **train, Dataset **test, Err *err);
/* As data_load, and *resolved (malloc'd, caller frees; NULL on error) gets the
 * resolved spec: the kind, then every key the loader knows with the value it used --
 * defaults filled in, counts as loaded (n=, test=), classes=all when not chosen, the
 * idx scale the image type implied -- and paths made absolute (realpath; kept as
 * given when the absolute path holds ',' or '='). Loading the resolved spec from any
 * directory gives the same data; specs that differ only in defaults resolve alike. */
int data_load_resolved(const char *spec, uint64_t seed, Dataset **train, Dataset **test,
                       char **resolved, Err *err);

/* Readers, exposed for tests and for `idx:` / `csv:` specs. */
/* Reads an IDX file (gzip-compressed or raw, detected by magic). Returns the dims
 * in dims[0..*ndims) and the values as doubles (raw unsigned bytes or the type
 * the header names). */
int idx_read(const char *path, double **values, size_t *dims, int *ndims, Err *err);
/* dims must hold IDX_MAX_DIMS entries. */

/* The raw contents of an IDX file: values decoded from big-endian to native,
 * in the header's element type (ubyte 0x08, byte 0x09, short 0x0B, int 0x0C,
 * float 0x0D, double 0x0E). Free with idx_raw_free. */
typedef struct IdxRaw {
  int type;                     /* the type byte of the magic */
  int ndims;
  size_t dims[IDX_MAX_DIMS];
  size_t count;                 /* product of dims */
  size_t elem_size;             /* bytes per element */
  void *data;                   /* [count] elements of the type */
} IdxRaw;
int idx_read_raw(const char *path, IdxRaw *out, Err *err);
void idx_raw_free(IdxRaw *r);
/* Element i of r as a double. */
double idx_raw_get(const IdxRaw *r, size_t i);

/* Reads a numeric CSV with a header row. label_col: name of the label column or
 * NULL for none; the other columns are the features. Labels may be any integers;
 * they are remapped to 0..c-1 in sorted order, with one-hot targets. */
int csv_read(const char *path, const char *label_col, Dataset **out, Err *err);
/* As csv_read, with regression targets: the columns named targets[0..ntargets)
 * become Y (in that order), the remaining non-label columns X. With neither a
 * label nor targets, k = 0 and Y = NULL. label_col and targets are exclusive. */
int csv_read_targets(const char *path, const char *label_col, const char *const *targets,
                     int ntargets, Dataset **out, Err *err);

/* Synthetic generators behind `synth:` (the spec already parsed; keys documented
 * in docs/DATA.md). n_test further independent examples go to *test. When resolved
 * is not NULL, the resolved spec is appended to it (see data_load_resolved). */
struct Spec;
struct StrBuf;
int data_synth(struct Spec *s, uint64_t seed, Dataset **train, Dataset **test,
               struct StrBuf *resolved, Err *err);
/* Appends path to a resolved spec: absolute (realpath), unless the absolute path cannot
 * be written in a spec (a ',' or '=' in it), then as given. */
void data_spec_path(struct StrBuf *b, const char *path);
/* `image:PATH[,downsample=K]`: a PNG as coordinate regression, train on the even pixel
 * grid, test on the odd offsets (data_image.c); resolved as data_synth's. */
int data_image(struct Spec *s, Dataset **train, Dataset **test, struct StrBuf *resolved,
               Err *err);

/* Transforms any spec may ask for after its loader (data_transform.c, docs/DATA.md):
 * whiten=zca|none[,whiten_eps=E] and labels=shuffled|original. data_load applies them;
 * parse marks the keys read, so the loaders' unused-key check passes. */
typedef struct DataTransform {
  int whiten;          /* ZCA with training statistics */
  double whiten_eps;   /* ε added to the covariance eigenvalues (default 1e-5) */
  int shuffle_labels;  /* training targets permuted across examples (seed stream 5) */
} DataTransform;
int data_transform_parse(struct Spec *s, DataTransform *t, Err *err);
int data_transform_apply(const DataTransform *t, uint64_t seed, Dataset *train, Dataset *test,
                         Err *err);
/* Appends the transform's keys to a resolved spec (nothing when there is none). */
void data_transform_resolved(const DataTransform *t, struct StrBuf *resolved);

/* Standardises columns of X in place: (x - mean) / std with statistics from ref
 * (a column with std 0 keeps std 1: it is only centred). column_stats gives the
 * population mean and std (divide by n, numpy's default) of each column of X;
 * both arrays have d entries. A std below 1e-12 (1 + |mean|) is reported as 0. */
void dataset_standardize(Dataset *ds, const double *mean, const double *std);
void dataset_column_stats(const Dataset *ds, double *mean, double *std);

/* Fraction of rows whose argmax of F (n x k) equals labels (first maximum wins);
 * NAN when ds has no labels or no rows. */
double dataset_accuracy(const Dataset *ds, const double *F);

#endif
