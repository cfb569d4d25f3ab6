/* Atomic file writes and directory creation. */
#include "dyad/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int dy_write_file_atomic(const char *path, const void *data, size_t len,
                         DyDiag *d) {
  DyLoc loc = {path, 0, 0};
  if (strcmp(path, "-") == 0) {
    if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
      dy_error(d, loc, "cannot write to stdout");
      return 1;
    }
    return 0;
  }
  size_t n = strlen(path);
  char *tmp = malloc(n + 16);
  if (!tmp) {
    dy_error(d, loc, "out of memory");
    return 1;
  }
  memcpy(tmp, path, n);
  memcpy(tmp + n, ".tmp.XXXXXX", 12);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    dy_error(d, loc, "cannot create a temporary file: %s", strerror(errno));
    free(tmp);
    return 1;
  }
  const char *p = data;
  size_t left = len;
  int err = 0;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      err = errno ? errno : EIO;
      break;
    }
    p += w;
    left -= (size_t)w;
  }
  if (close(fd) != 0 && !err)
    err = errno;
  /* mkstemp creates 0600; give the file the usual permissions. */
  if (!err) {
    mode_t mask = umask(0);
    umask(mask);
    if (chmod(tmp, 0666 & ~mask) != 0)
      err = errno;
  }
  if (!err && rename(tmp, path) != 0)
    err = errno;
  if (err) {
    unlink(tmp);
    dy_error(d, loc, "cannot write: %s", strerror(err));
  }
  free(tmp);
  return err ? 1 : 0;
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
