/*
 * data_idx.c: reader for IDX files (the MNIST / Fashion-MNIST container),
 * gzip-compressed or raw.
 *
 * Layout: a 4-byte magic {0, 0, type, ndims}, ndims big-endian uint32 sizes,
 * then the product of the sizes as big-endian elements of the type. zlib's
 * gzread reads gzip and plain files alike; the 1f 8b magic is only peeked so
 * the messages can say which it was.
 *
 * Hostile input: the header is checked before any allocation (dims count,
 * zero or overflowing products, a 4 GiB payload cap), and the payload buffer
 * grows only as data actually arrives, so a tiny file claiming gigabytes never
 * makes us allocate them. A short payload (truncated), bytes after it
 * (trailing garbage), zlib errors (corrupt gzip) and NaN or infinite float
 * elements are CS_EFORMAT naming the file. Workload: a few files per run, up
 * to the 47 MB Fashion-MNIST images.
 */
#include "dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IDX_MAX_BYTES ((size_t)4 << 30) /* payload cap: 4 GiB */
#define IDX_FIRST_CHUNK ((size_t)1 << 20)

static size_t type_size(int type) {
  switch (type) {
    case 0x08: /* unsigned byte */
    case 0x09: /* signed byte */
      return 1;
    case 0x0B: /* short */
      return 2;
    case 0x0C: /* int */
    case 0x0D: /* float */
      return 4;
    case 0x0E: /* double */
      return 8;
    default:
      return 0;
  }
}

/* 1 when the file starts with the gzip magic, 0 otherwise, -1 when unreadable. */
static int peek_gzip(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  unsigned char m[2] = {0, 0};
  size_t got = fread(m, 1, 2, f);
  fclose(f);
  return got == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

/* zlib prefixes its messages with the path; we name the file ourselves. */
static const char *zmsg_strip(const char *m) {
  if (!m) return "unknown zlib error";
  const char *c = NULL;
  for (const char *q = strstr(m, ": "); q; q = strstr(q + 1, ": ")) c = q; /* the last one */
  return c ? c + 2 : m;
}

/* Reads up to len bytes; returns the count, or -1 with a zlib message in *zmsg. */
static long read_full(gzFile f, unsigned char *buf, size_t len, const char **zmsg) {
  size_t got = 0;
  while (got < len) {
    size_t want = len - got;
    if (want > (1u << 30)) want = 1u << 30;
    int r = gzread(f, buf + got, (unsigned)want);
    if (r < 0) {
      int zerr;
      *zmsg = zmsg_strip(gzerror(f, &zerr));
      return -1;
    }
    if (r == 0) break;
    got += (size_t)r;
  }
  /* A gzip stream cut short reads as a short count with an error set. */
  int zerr = Z_OK;
  const char *m = gzerror(f, &zerr);
  if (zerr != Z_OK && zerr != Z_STREAM_END) {
    *zmsg = zmsg_strip(m);
    return -1;
  }
  return (long)got;
}

static void swap_to_native(unsigned char *p, size_t count, size_t size) {
  const unsigned int one = 1;
  if (size == 1 || *(const unsigned char *)&one == 0) return; /* big-endian host */
  for (size_t i = 0; i < count; i++, p += size)
    for (size_t a = 0, b = size - 1; a < b; a++, b--) {
      unsigned char t = p[a];
      p[a] = p[b];
      p[b] = t;
    }
}

void idx_raw_free(IdxRaw *r) {
  if (!r) return;
  free(r->data);
  memset(r, 0, sizeof *r);
}

double idx_raw_get(const IdxRaw *r, size_t i) {
  switch (r->type) {
    case 0x08: return ((const uint8_t *)r->data)[i];
    case 0x09: return ((const int8_t *)r->data)[i];
    case 0x0B: return ((const int16_t *)r->data)[i];
    case 0x0C: return ((const int32_t *)r->data)[i];
    case 0x0D: return ((const float *)r->data)[i];
    default: return ((const double *)r->data)[i];
  }
}

/* Reads the header into r; CS_EFORMAT naming what is wrong. */
static int read_header(gzFile f, const char *path, const char *what, IdxRaw *r, Err *err) {
  unsigned char m[4];
  const char *zmsg = NULL;
  long got = read_full(f, m, 4, &zmsg);
  if (got < 0)
    return err_set(err, CS_EFORMAT, "%s: corrupt %s data (%s)", path, what, zmsg);
  if (got < 4)
    return err_set(err, CS_EFORMAT, "%s: %ld bytes, too short for an IDX header", path, got);
  if (m[0] != 0 || m[1] != 0)
    return err_set(err, CS_EFORMAT,
                   "%s: bad IDX magic %02x %02x %02x %02x (want 00 00 TYPE NDIMS)%s", path, m[0],
                   m[1], m[2], m[3],
                   m[0] == 0x1f && m[1] == 0x8b ? " (gzip inside gzip?)" : "");
  r->type = m[2];
  r->elem_size = type_size(r->type);
  if (!r->elem_size)
    return err_set(err, CS_EFORMAT,
                   "%s: unknown IDX element type 0x%02x (known: 08 ubyte, 09 byte, 0B short, "
                   "0C int, 0D float, 0E double)",
                   path, m[2]);
  r->ndims = m[3];
  if (r->ndims < 1 || r->ndims > IDX_MAX_DIMS)
    return err_set(err, CS_EFORMAT, "%s: IDX header has %d dimensions (1..%d supported)", path,
                   r->ndims, IDX_MAX_DIMS);
  unsigned char dbuf[4 * IDX_MAX_DIMS];
  size_t dlen = 4 * (size_t)r->ndims;
  got = read_full(f, dbuf, dlen, &zmsg);
  if (got < 0)
    return err_set(err, CS_EFORMAT, "%s: corrupt %s data (%s)", path, what, zmsg);
  if ((size_t)got < dlen)
    return err_set(err, CS_EFORMAT, "%s: truncated IDX header (%d dims need %zu bytes, got %ld)",
                   path, r->ndims, dlen, got);
  size_t count = 1;
  for (int i = 0; i < r->ndims; i++) {
    const unsigned char *b = dbuf + 4 * i;
    size_t v = ((size_t)b[0] << 24) | ((size_t)b[1] << 16) | ((size_t)b[2] << 8) | b[3];
    r->dims[i] = v;
    if (v == 0)
      return err_set(err, CS_EFORMAT, "%s: IDX dimension %d is 0", path, i);
    if (count > IDX_MAX_BYTES / v)
      return err_set(err, CS_EFORMAT, "%s: IDX dimensions overflow the %zu GiB limit", path,
                     IDX_MAX_BYTES >> 30);
    count *= v;
  }
  if (count > IDX_MAX_BYTES / r->elem_size)
    return err_set(err, CS_EFORMAT, "%s: IDX payload of %zu elements x %zu bytes exceeds %zu GiB",
                   path, count, r->elem_size, IDX_MAX_BYTES >> 30);
  r->count = count;
  return CS_OK;
}

/* Reads exactly `need` payload bytes into a buffer that grows as data arrives,
 * then checks that nothing follows. */
static int read_payload(gzFile f, const char *path, const char *what, IdxRaw *r, Err *err) {
  size_t need = r->count * r->elem_size, cap = 0, got = 0;
  unsigned char *buf = NULL;
  const char *zmsg = NULL;
  while (got < need) {
    if (got == cap) {
      size_t ncap = cap ? cap * 2 : IDX_FIRST_CHUNK;
      if (ncap > need) ncap = need;
      unsigned char *nb = realloc(buf, ncap);
      if (!nb) {
        free(buf);
        return err_set(err, CS_ENOMEM, "%s: out of memory reading %zu bytes", path, need);
      }
      buf = nb;
      cap = ncap;
    }
    long r1 = read_full(f, buf + got, cap - got, &zmsg);
    if (r1 < 0) {
      free(buf);
      return err_set(err, CS_EFORMAT, "%s: corrupt %s data (%s)", path, what, zmsg);
    }
    got += (size_t)r1;
    if (got < cap) break; /* end of data */
  }
  if (got < need) {
    free(buf);
    return err_set(err, CS_EFORMAT,
                   "%s: truncated IDX payload: header promises %zu bytes, file has %zu", path,
                   need, got);
  }
  unsigned char extra[64];
  long more = read_full(f, extra, sizeof extra, &zmsg);
  if (more < 0) {
    free(buf);
    return err_set(err, CS_EFORMAT, "%s: corrupt %s data after the payload (%s)", path, what,
                   zmsg);
  }
  if (more > 0) {
    free(buf);
    return err_set(err, CS_EFORMAT, "%s: trailing garbage after the %zu-byte IDX payload", path,
                   need);
  }
  swap_to_native(buf, r->count, r->elem_size);
  r->data = buf;
  return CS_OK;
}

/* Float payloads must be finite: a NaN or infinite pixel reaches the loss as NaN, and
 * the run would "diverge" at step 0 for a reason the data, not the step size, caused. */
static int check_finite(const IdxRaw *r, const char *path, Err *err) {
  if (r->type != 0x0D && r->type != 0x0E) return CS_OK;
  for (size_t i = 0; i < r->count; i++) {
    double v = idx_raw_get(r, i);
    if (!isfinite(v))
      return err_set(err, CS_EFORMAT, "%s: element %zu is %s (IDX float data must be finite)",
                     path, i, isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
  }
  return CS_OK;
}

int idx_read_raw(const char *path, IdxRaw *out, Err *err) {
  memset(out, 0, sizeof *out);
  int gz = peek_gzip(path);
  if (gz < 0) return err_set(err, CS_EIO, "%s: cannot open", path);
  gzFile f = gzopen(path, "rb");
  if (!f) return err_set(err, CS_EIO, "%s: cannot open", path);
  gzbuffer(f, 1 << 17);
  const char *what = gz ? "gzip" : "file";
  int rc = read_header(f, path, what, out, err);
  if (rc == CS_OK) rc = read_payload(f, path, what, out, err);
  gzclose(f);
  if (rc == CS_OK) rc = check_finite(out, path, err);
  if (rc != CS_OK) idx_raw_free(out);
  return rc;
}

int idx_read(const char *path, double **values, size_t *dims, int *ndims, Err *err) {
  IdxRaw r;
  *values = NULL;
  *ndims = 0;
  int rc = idx_read_raw(path, &r, err);
  if (rc) return rc;
  double *v = NULL;
  if (r.count > SIZE_MAX / sizeof *v || !(v = malloc(r.count * sizeof *v))) {
    idx_raw_free(&r);
    return err_set(err, CS_ENOMEM, "%s: out of memory for %zu values", path, r.count);
  }
  for (size_t i = 0; i < r.count; i++) v[i] = idx_raw_get(&r, i);
  for (int i = 0; i < r.ndims; i++) dims[i] = r.dims[i];
  *ndims = r.ndims;
  *values = v;
  idx_raw_free(&r);
  return CS_OK;
}
