/* Output files: whole or not at all, without replacing what is not ours. */
#include "dyad/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes every part to fd; returns 0 or the errno of the failure. */
static int write_parts(int fd, const DyWriteBuf *parts, int nparts) {
  for (int i = 0; i < nparts; i++) {
    const char *p = parts[i].data;
    size_t left = parts[i].len;
    while (left > 0) {
      ssize_t w = write(fd, p, left);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        return w < 0 && errno ? errno : EIO;
      p += w;
      left -= (size_t)w;
    }
  }
  return 0;
}

/* The descriptor named by a path that stands for one of this process's open
 * files ("/dev/stdout", "/dev/stderr", "/dev/fd/N", "/proc/self/fd/N"), or
 * -1. Such a path is written through the descriptor itself: resolving it
 * would lead to a pipe, a terminal or the caller's own redirection. */
static int own_fd_path(const char *path) {
  if (strcmp(path, "/dev/stdout") == 0)
    return 1;
  if (strcmp(path, "/dev/stderr") == 0)
    return 2;
  const char *num = NULL;
  if (strncmp(path, "/dev/fd/", 8) == 0)
    num = path + 8;
  else if (strncmp(path, "/proc/self/fd/", 14) == 0)
    num = path + 14;
  if (!num || *num < '0' || *num > '9')
    return -1;
  long v = 0;
  for (; *num >= '0' && *num <= '9'; num++) {
    v = v * 10 + (*num - '0');
    if (v > 1 << 20)
      return -1;
  }
  return *num ? -1 : (int)v;
}

/* Follows symbolic links from path to the first name that is not one (which
 * may not exist yet). Returns a malloc'd path, or NULL with *err set. Stops
 * early, returning that name, at a link into this process's descriptors. */
static char *resolve_links(const char *path, int *err) {
  char *cur = strdup(path);
  for (int hops = 0; cur; hops++) {
    struct stat st;
    if (own_fd_path(cur) >= 0 || lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode))
      return cur;
    if (hops == 40) {
      free(cur);
      *err = ELOOP;
      return NULL;
    }
    size_t cap = (size_t)st.st_size + 1 > 256 ? (size_t)st.st_size + 1 : 256;
    char *link = malloc(cap);
    ssize_t n = link ? readlink(cur, link, cap) : -1;
    if (n < 0 || (size_t)n >= cap) {
      *err = n < 0 && link ? errno : ENOMEM;
      free(link);
      free(cur);
      return NULL;
    }
    link[n] = 0;
    char *next;
    const char *slash = strrchr(cur, '/');
    if (link[0] == '/' || !slash) {
      next = link;
    } else {
      /* relative to the link's directory */
      size_t dlen = (size_t)(slash - cur) + 1;
      next = malloc(dlen + (size_t)n + 1);
      if (next) {
        memcpy(next, cur, dlen);
        memcpy(next + dlen, link, (size_t)n + 1);
      }
      free(link);
    }
    free(cur);
    cur = next;
  }
  *err = ENOMEM;
  return NULL;
}

/* Writes straight into an existing file that is not a regular one (a
 * device, a FIFO): there is nothing to replace, and replacing would destroy
 * it. */
static int write_in_place(const char *path, const DyWriteBuf *parts,
                          int nparts) {
  int fd = open(path, O_WRONLY | O_NOCTTY);
  if (fd < 0)
    return errno;
  int err = write_parts(fd, parts, nparts);
  if (close(fd) != 0 && !err)
    err = errno;
  return err;
}

/* Writes PATH.tmp.XXXXXX in the target's directory and renames it over the
 * target once complete. An existing target keeps its permission bits (and,
 * where we may set them, its owner and group); a new one gets 0666 less the
 * umask, as a plain create would. */
static int write_replace(const char *target, const struct stat *old,
                         const DyWriteBuf *parts, int nparts) {
  size_t n = strlen(target);
  char *tmp = malloc(n + sizeof ".tmp.XXXXXX");
  if (!tmp)
    return ENOMEM;
  memcpy(tmp, target, n);
  memcpy(tmp + n, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
  int fd = mkstemp(tmp);
  if (fd < 0) {
    int e = errno;
    free(tmp);
    return e;
  }
  mode_t mode;
  if (old) {
    mode = old->st_mode & 07777;
    if (old->st_uid != geteuid() || old->st_gid != getegid())
      (void)!fchown(fd, old->st_uid, old->st_gid); /* best effort */
  } else {
    /* reading the umask means setting it, then restoring it at once */
    mode_t mask = umask(0);
    umask(mask);
    mode = 0666 & ~mask;
  }
  int err = fchmod(fd, mode) != 0 ? errno : 0;
  if (!err)
    err = write_parts(fd, parts, nparts);
  if (close(fd) != 0 && !err)
    err = errno;
  if (!err && rename(tmp, target) != 0)
    err = errno;
  if (err)
    unlink(tmp);
  free(tmp);
  return err;
}

int dy_write_file_parts(const char *path, const DyWriteBuf *parts, int nparts,
                        DyDiag *d) {
  DyLoc loc = {path, 0, 0};
  int err = 0;
  int fdn = strcmp(path, "-") == 0 ? 1 : own_fd_path(path);
  char *target = NULL;
  if (fdn < 0) {
    target = resolve_links(path, &err);
    if (target)
      fdn = own_fd_path(target);
  }
  if (fdn >= 0) {
    /* stdout may hold buffered text of ours that must come first */
    if (fflush(stdout) != 0 || fflush(stderr) != 0)
      err = errno ? errno : EIO;
    if (!err)
      err = write_parts(fdn, parts, nparts);
  } else if (target) {
    struct stat st;
    if (stat(target, &st) == 0) {
      if (S_ISDIR(st.st_mode))
        err = EISDIR;
      else if (!S_ISREG(st.st_mode))
        err = write_in_place(target, parts, nparts);
      else
        err = write_replace(target, &st, parts, nparts);
    } else if (errno == ENOENT) {
      err = write_replace(target, NULL, parts, nparts);
    } else {
      err = errno;
    }
  }
  free(target);
  if (err) {
    dy_error(d, loc, "cannot write: %s", strerror(err));
    return 1;
  }
  return 0;
}

int dy_write_file(const char *path, const void *data, size_t len, DyDiag *d) {
  DyWriteBuf part = {data, len};
  return dy_write_file_parts(path, &part, 1, d);
}

int dy_mkdir_p(const char *path, DyDiag *d) {
  DyLoc loc = {path, 0, 0};
  size_t n = strlen(path);
  char *buf = malloc(n + 1);
  if (!buf) {
    dy_error(d, loc, "out of memory");
    return 1;
  }
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != 0)
      continue;
    char c = buf[i];
    buf[i] = 0;
    struct stat st;
    if (stat(buf, &st) != 0) {
      if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
        dy_error(d, loc, "cannot create directory '%s': %s", buf,
                 strerror(errno));
        free(buf);
        return 1;
      }
    } else if (!S_ISDIR(st.st_mode)) {
      dy_error(d, loc, "'%s' exists and is not a directory", buf);
      free(buf);
      return 1;
    }
    buf[i] = c;
  }
  free(buf);
  return 0;
}
