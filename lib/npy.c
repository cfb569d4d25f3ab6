/* numpy .npy reading and writing (format versions 1.0, 2.0 and 3.0).
 *
 * A .npy file is: the magic "\x93NUMPY", a major and a minor version byte,
 * the header length (uint16 little-endian in 1.0, uint32 in 2.0 and 3.0),
 * then the header, a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and a final '\n' so that the data starts on a 64-byte
 * boundary, then the raw elements. Every size read from a file is checked
 * for overflow and against the bytes actually present before anything is
 * allocated from it.
 */
#define _POSIX_C_SOURCE 200809L

#include "dyad/npy.h"

#include "dyad/arena.h"
#include "dyad/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* numpy's constants (numpy/lib/format.py). */
#define NPY_MAGIC_LEN 8           /* "\x93NUMPY" + major + minor */
#define NPY_ARRAY_ALIGN 64        /* data starts on this boundary */
#define NPY_GROWTH_AXIS_DIGITS 21 /* spare room numpy leaves in the header */

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

static const struct {
  const char *name;  /* numpy's dtype name */
  const char *descr; /* what numpy writes as 'descr' */
  size_t size;
} dtype_info[] = {
    [DY_NPY_F32] = {"float32", "<f4", 4}, [DY_NPY_F64] = {"float64", "<f8", 8},
    [DY_NPY_I8] = {"int8", "|i1", 1},     [DY_NPY_U8] = {"uint8", "|u1", 1},
    [DY_NPY_I16] = {"int16", "<i2", 2},   [DY_NPY_I32] = {"int32", "<i4", 4},
    [DY_NPY_I64] = {"int64", "<i8", 8},   [DY_NPY_BOOL] = {"bool", "|b1", 1},
};

#define NPY_NDTYPES ((int)(sizeof dtype_info / sizeof dtype_info[0]))

const char *dy_npy_dtype_name(DyNpyDtype t) {
  return (unsigned)t < (unsigned)NPY_NDTYPES ? dtype_info[t].name : "?";
}

size_t dy_npy_dtype_size(DyNpyDtype t) {
  return (unsigned)t < (unsigned)NPY_NDTYPES ? dtype_info[t].size : 0;
}

void dy_npy_free(DyNpy *a) {
  free(a->data);
  memset(a, 0, sizeof *a);
}

static DyLoc file_loc(const char *name) {
  DyLoc loc = {name, 0, 0};
  return loc;
}

static int host_is_little_endian(void) {
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}

/* --- header parsing --- */

/* A cursor over the header text. */
typedef struct HdrParser {
  const char *p, *end;
  const char *start; /* for offsets in messages */
  const char *name;  /* file name for diagnostics */
  DyDiag *d;
} HdrParser;

static int hdr_fail(HdrParser *h, const char *what) {
  dy_error(h->d, file_loc(h->name), "malformed header: %s at offset %ld", what,
           (long)(h->p - h->start));
  return 1;
}

static void hdr_skip_ws(HdrParser *h) {
  while (h->p < h->end &&
         (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r'))
    h->p++;
}

/* Consumes c (after whitespace) if it is next; returns 1 if it was. */
static int hdr_accept(HdrParser *h, char c) {
  hdr_skip_ws(h);
  if (h->p < h->end && *h->p == c) {
    h->p++;
    return 1;
  }
  return 0;
}

/* Parses a quoted string without escapes: 'abc' or "abc". */
static int hdr_string(HdrParser *h, const char **s, size_t *n) {
  hdr_skip_ws(h);
  if (h->p >= h->end || (*h->p != '\'' && *h->p != '"'))
    return hdr_fail(h, "expected a string");
  char q = *h->p++;
  const char *b = h->p;
  while (h->p < h->end && *h->p != q) {
    if (*h->p == '\\' || *h->p == '\n')
      return hdr_fail(h, "unsupported character in string");
    h->p++;
  }
  if (h->p >= h->end)
    return hdr_fail(h, "unterminated string");
  *s = b;
  *n = (size_t)(h->p - b);
  h->p++;
  return 0;
}

/* Parses True or False. */
static int hdr_bool(HdrParser *h, int *v) {
  hdr_skip_ws(h);
  size_t left = (size_t)(h->end - h->p);
  if (left >= 4 && memcmp(h->p, "True", 4) == 0) {
    h->p += 4;
    *v = 1;
    return 0;
  }
  if (left >= 5 && memcmp(h->p, "False", 5) == 0) {
    h->p += 5;
    *v = 0;
    return 0;
  }
  return hdr_fail(h, "expected True or False");
}

/* Parses a non-negative decimal integer (Python 2 files may add 'L'). */
static int hdr_dim(HdrParser *h, int64_t *v) {
  hdr_skip_ws(h);
  if (h->p < h->end && *h->p == '-') {
    dy_error(h->d, file_loc(h->name), "shape has a negative dimension");
    return 1;
  }
  if (h->p >= h->end || *h->p < '0' || *h->p > '9')
    return hdr_fail(h, "expected a non-negative integer");
  int64_t x = 0;
  while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
    int digit = *h->p - '0';
    if (x > (INT64_MAX - digit) / 10) {
      dy_error(h->d, file_loc(h->name), "shape dimension overflows int64");
      return 1;
    }
    x = x * 10 + digit;
    h->p++;
  }
  if (h->p < h->end && (*h->p == 'L' || *h->p == 'l'))
    h->p++;
  *v = x;
  return 0;
}

/* Parses a shape tuple: (), (3,), (2, 3) or (2, 3,). */
static int hdr_shape(HdrParser *h, DyNpy *out) {
  if (!hdr_accept(h, '('))
    return hdr_fail(h, "expected '(' starting the shape");
  out->rank = 0;
  if (hdr_accept(h, ')'))
    return 0;
  for (;;) {
    int64_t v = 0;
    if (hdr_dim(h, &v))
      return 1;
    if (out->rank >= DY_NPY_MAX_RANK) {
      dy_error(h->d, file_loc(h->name), "rank exceeds the maximum of %d",
               DY_NPY_MAX_RANK);
      return 1;
    }
    out->dims[out->rank++] = v;
    if (hdr_accept(h, ')'))
      return 0;
    if (!hdr_accept(h, ','))
      return hdr_fail(h, "expected ',' or ')' in the shape");
    if (hdr_accept(h, ')'))
      return 0;
  }
}

/* Maps a descr string such as '<f4' to a dtype. */
static int parse_descr(HdrParser *h, const char *s, size_t n, DyNpyDtype *out) {
  char order = '=';
  const char *t = s;
  size_t tn = n;
  if (tn > 0 && (t[0] == '<' || t[0] == '>' || t[0] == '|' || t[0] == '=')) {
    order = t[0];
    t++;
    tn--;
  }
  for (int i = 0; i < NPY_NDTYPES; i++) {
    const char *want = dtype_info[i].descr + 1; /* without the order char */
    if (tn != strlen(want) || memcmp(t, want, tn) != 0)
      continue;
    /* byte order means nothing for one byte: '|i1', '<i1', '>i1' agree */
    if (order == '>' && dtype_info[i].size > 1) {
      dy_error(h->d, file_loc(h->name),
               "big-endian data is not supported: '%.*s'", (int)n, s);
      return 1;
    }
    if (dtype_info[i].size > 1 && !host_is_little_endian()) {
      dy_error(h->d, file_loc(h->name),
               "reading .npy files on a big-endian host is not supported");
      return 1;
    }
    *out = (DyNpyDtype)i;
    return 0;
  }
  dy_error(h->d, file_loc(h->name), "unsupported dtype '%.*s'", (int)n, s);
  return 1;
}

/* Parses the header dict: the keys descr, fortran_order and shape, each
 * exactly once, in any order, with an optional trailing comma. */
static int parse_header(HdrParser *h, DyNpy *out, int *fortran) {
  int have_descr = 0, have_fortran = 0, have_shape = 0;
  if (!hdr_accept(h, '{'))
    return hdr_fail(h, "expected '{'");
  while (!hdr_accept(h, '}')) {
    const char *key;
    size_t klen;
    if (hdr_string(h, &key, &klen))
      return 1;
    if (!hdr_accept(h, ':'))
      return hdr_fail(h, "expected ':'");
    int *seen;
    if (klen == 5 && memcmp(key, "descr", 5) == 0) {
      const char *s;
      size_t n;
      hdr_skip_ws(h);
      if (h->p < h->end && *h->p == '[') {
        dy_error(h->d, file_loc(h->name),
                 "structured dtypes are not supported");
        return 1;
      }
      if (hdr_string(h, &s, &n) || parse_descr(h, s, n, &out->dtype))
        return 1;
      seen = &have_descr;
    } else if (klen == 13 && memcmp(key, "fortran_order", 13) == 0) {
      if (hdr_bool(h, fortran))
        return 1;
      seen = &have_fortran;
    } else if (klen == 5 && memcmp(key, "shape", 5) == 0) {
      if (hdr_shape(h, out))
        return 1;
      seen = &have_shape;
    } else {
      dy_error(h->d, file_loc(h->name), "unexpected key '%.*s' in header",
               (int)klen, key);
      return 1;
    }
    if (*seen) {
      dy_error(h->d, file_loc(h->name), "duplicate key '%.*s' in header",
               (int)klen, key);
      return 1;
    }
    *seen = 1;
    if (!hdr_accept(h, ',')) {
      if (hdr_accept(h, '}'))
        break;
      return hdr_fail(h, "expected ',' or '}'");
    }
  }
  hdr_skip_ws(h);
  if (h->p != h->end)
    return hdr_fail(h, "unexpected text after the dict");
  const char *missing = !have_descr     ? "descr"
                        : !have_fortran ? "fortran_order"
                        : !have_shape   ? "shape"
                                        : NULL;
  if (missing) {
    dy_error(h->d, file_loc(h->name), "header lacks the key '%s'", missing);
    return 1;
  }
  return 0;
}

/* Copies Fortran-order (column-major) data into C order. */
static void fortran_to_c(const DyNpy *a, const unsigned char *src,
                         unsigned char *dst, size_t count) {
  size_t esize = dy_npy_dtype_size(a->dtype);
  int64_t fstride[DY_NPY_MAX_RANK], coord[DY_NPY_MAX_RANK];
  int64_t s = 1;
  for (int k = 0; k < a->rank; k++) {
    fstride[k] = s;
    s *= a->dims[k];
    coord[k] = 0;
  }
  for (size_t i = 0; i < count; i++) {
    int64_t off = 0;
    for (int k = 0; k < a->rank; k++)
      off += coord[k] * fstride[k];
    memcpy(dst + i * esize, src + (size_t)off * esize, esize);
    /* advance the C-order coordinate: last axis fastest */
    for (int k = a->rank - 1; k >= 0; k--) {
      if (++coord[k] < a->dims[k])
        break;
      coord[k] = 0;
    }
  }
}

int dy_npy_parse(const char *name, const void *buf, size_t len, DyNpy *out,
                 DyDiag *d) {
  const unsigned char *b = buf;
  memset(out, 0, sizeof *out);
  if (len < sizeof npy_magic || memcmp(b, npy_magic, sizeof npy_magic) != 0) {
    dy_error(d, file_loc(name), "bad magic: not a .npy file");
    return 1;
  }
  if (len < NPY_MAGIC_LEN) {
    dy_error(d, file_loc(name), "truncated header");
    return 1;
  }
  int major = b[6], minor = b[7];
  size_t prefix, hlen;
  if (major == 1 && minor == 0) {
    prefix = NPY_MAGIC_LEN + 2;
    if (len < prefix) {
      dy_error(d, file_loc(name), "truncated header");
      return 1;
    }
    hlen = (size_t)b[8] | (size_t)b[9] << 8;
  } else if ((major == 2 || major == 3) && minor == 0) {
    prefix = NPY_MAGIC_LEN + 4;
    if (len < prefix) {
      dy_error(d, file_loc(name), "truncated header");
      return 1;
    }
    hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 |
           (size_t)b[11] << 24;
  } else {
    dy_error(d, file_loc(name), "unsupported .npy format version %d.%d", major,
             minor);
    return 1;
  }
  if (hlen > len - prefix) {
    dy_error(d, file_loc(name), "truncated header: expected %zu bytes, got %zu",
             hlen, len - prefix);
    return 1;
  }

  HdrParser h = {(const char *)b + prefix, (const char *)b + prefix + hlen,
                 (const char *)b + prefix, name, d};
  int fortran = 0;
  if (parse_header(&h, out, &fortran)) {
    memset(out, 0, sizeof *out);
    return 1;
  }

  /* element count and bytes, checked before anything is allocated */
  size_t esize = dy_npy_dtype_size(out->dtype);
  size_t count = 1, nbytes;
  for (int k = 0; k < out->rank; k++) {
    if ((uint64_t)out->dims[k] > SIZE_MAX ||
        dy_mul_overflow(count, (size_t)out->dims[k], &count)) {
      dy_error(d, file_loc(name), "shape overflows: too many elements");
      memset(out, 0, sizeof *out);
      return 1;
    }
  }
  if (count > (size_t)INT64_MAX || dy_mul_overflow(count, esize, &nbytes)) {
    dy_error(d, file_loc(name), "shape overflows: data size exceeds memory");
    memset(out, 0, sizeof *out);
    return 1;
  }
  size_t avail = len - prefix - hlen;
  if (avail < nbytes) {
    dy_error(d, file_loc(name), "truncated data: expected %zu bytes, got %zu",
             nbytes, avail);
    memset(out, 0, sizeof *out);
    return 1;
  }
  if (avail > nbytes) {
    dy_error(d, file_loc(name),
             "trailing bytes after the data: expected %zu bytes, got %zu",
             nbytes, avail);
    memset(out, 0, sizeof *out);
    return 1;
  }

  void *data = malloc(nbytes ? nbytes : 1);
  if (!data) {
    dy_error(d, file_loc(name), "out of memory reading %zu bytes", nbytes);
    memset(out, 0, sizeof *out);
    return 1;
  }
  const unsigned char *src = b + prefix + hlen;
  if (fortran && out->rank > 1)
    fortran_to_c(out, src, data, count);
  else if (nbytes)
    memcpy(data, src, nbytes);
  out->data = data;
  out->nbytes = nbytes;
  return 0;
}

/* Reads the whole of a stream into a malloc'd buffer. */
static int read_all(FILE *f, const char *path, unsigned char **buf, size_t *len,
                    DyDiag *d) {
  size_t cap = 1 << 16, n = 0;
  unsigned char *p = malloc(cap);
  if (!p) {
    dy_error(d, file_loc(path), "out of memory");
    return 1;
  }
  for (;;) {
    if (n == cap) {
      size_t ncap;
      unsigned char *q;
      if (dy_mul_overflow(cap, 2, &ncap) || !(q = realloc(p, ncap))) {
        free(p);
        dy_error(d, file_loc(path), "out of memory");
        return 1;
      }
      p = q;
      cap = ncap;
    }
    size_t got = fread(p + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      if (ferror(f)) {
        dy_error(d, file_loc(path), "cannot read: %s", strerror(errno));
        free(p);
        return 1;
      }
      break;
    }
  }
  *buf = p;
  *len = n;
  return 0;
}

int dy_npy_read(const char *path, DyNpy *out, DyDiag *d) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) {
    dy_error(d, file_loc(path), "cannot open: %s", strerror(errno));
    return 1;
  }
  unsigned char *buf;
  size_t len;
  int rc = read_all(f, path, &buf, &len, d);
  fclose(f);
  if (rc)
    return 1;
  rc = dy_npy_parse(path, buf, len, out, d);
  free(buf);
  return rc;
}

/* --- writing --- */

/* Builds the header exactly as numpy's format.write_array does for a
 * C-order array: the dict with sorted keys, the spare room numpy leaves for
 * growing the first axis, spaces up to the 64-byte boundary and '\n'.
 * Returns the total length of magic + length field + header, or 0 if buf is
 * too small. */
static size_t build_header(const DyNpy *a, unsigned char *buf, size_t cap) {
  char dict[64 + DY_NPY_MAX_RANK * 24 + NPY_GROWTH_AXIS_DIGITS];
  size_t n = 0;
  n += (size_t)snprintf(dict + n, sizeof dict - n,
                        "{'descr': '%s', 'fortran_order': False, 'shape': (",
                        dtype_info[a->dtype].descr);
  for (int k = 0; k < a->rank; k++)
    n += (size_t)snprintf(dict + n, sizeof dict - n, "%s%lld", k ? ", " : "",
                          (long long)a->dims[k]);
  n += (size_t)snprintf(dict + n, sizeof dict - n, "%s), }",
                        a->rank == 1 ? "," : "");
  if (a->rank > 0) {
    char first[24];
    int digits = snprintf(first, sizeof first, "%lld", (long long)a->dims[0]);
    for (int i = digits; i < NPY_GROWTH_AXIS_DIGITS; i++)
      dict[n++] = ' ';
  }
  /* hlen counts the final '\n'; the pad brings the data to the boundary and
   * is a full 64 bytes when already aligned, as in numpy */
  size_t hlen = n + 1;
  int major = 1;
  size_t lenfield = 2;
  size_t pad =
      NPY_ARRAY_ALIGN - (NPY_MAGIC_LEN + lenfield + hlen) % NPY_ARRAY_ALIGN;
  if (hlen + pad > 0xffff) {
    major = 2;
    lenfield = 4;
    pad = NPY_ARRAY_ALIGN - (NPY_MAGIC_LEN + lenfield + hlen) % NPY_ARRAY_ALIGN;
  }
  size_t total = NPY_MAGIC_LEN + lenfield + hlen + pad;
  if (total > cap)
    return 0;
  size_t field = hlen + pad;
  memcpy(buf, npy_magic, sizeof npy_magic);
  buf[6] = (unsigned char)major;
  buf[7] = 0;
  for (size_t i = 0; i < lenfield; i++)
    buf[8 + i] = (unsigned char)(field >> (8 * i));
  unsigned char *p = buf + NPY_MAGIC_LEN + lenfield;
  memcpy(p, dict, n);
  memset(p + n, ' ', pad);
  p[n + pad] = '\n';
  return total;
}

int dy_npy_write(const char *path, const DyNpy *a, DyDiag *d) {
  if ((unsigned)a->dtype >= (unsigned)NPY_NDTYPES) {
    dy_error(d, file_loc(path), "invalid dtype %d", (int)a->dtype);
    return 1;
  }
  if (a->rank < 0 || a->rank > DY_NPY_MAX_RANK) {
    dy_error(d, file_loc(path), "invalid rank %d", a->rank);
    return 1;
  }
  size_t count = 1, nbytes;
  for (int k = 0; k < a->rank; k++) {
    if (a->dims[k] < 0 || (uint64_t)a->dims[k] > SIZE_MAX ||
        dy_mul_overflow(count, (size_t)a->dims[k], &count)) {
      dy_error(d, file_loc(path), "invalid shape");
      return 1;
    }
  }
  if (dy_mul_overflow(count, dy_npy_dtype_size(a->dtype), &nbytes) ||
      nbytes != a->nbytes || (nbytes && !a->data)) {
    dy_error(d, file_loc(path),
             "array data holds %zu bytes but its shape needs %zu", a->nbytes,
             nbytes);
    return 1;
  }
  if (!host_is_little_endian() && dy_npy_dtype_size(a->dtype) > 1) {
    dy_error(d, file_loc(path),
             "writing .npy files on a big-endian host is not supported");
    return 1;
  }

  unsigned char header[1024 + DY_NPY_MAX_RANK * 24];
  size_t hsize = build_header(a, header, sizeof header);
  DY_ASSERT(hsize > 0);

  DyWriteBuf parts[2] = {{header, hsize}, {a->data, nbytes}};
  return dy_write_file_parts(path, parts, 2, d);
}
