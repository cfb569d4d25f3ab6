/* Arena allocator: chunked bump allocation, freed all at once. */
#include "dyad/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct DyArenaChunk {
  DyArenaChunk *next;
  size_t size; /* usable bytes after the header */
  size_t used;
  /* data follows, 16-byte aligned */
};

#define DY_CHUNK_HDR ((sizeof(DyArenaChunk) + 15) & ~(size_t)15)
#define DY_CHUNK_MIN ((size_t)64 * 1024)

DyArena *dy_arena_create(void) {
  DyArena *a = calloc(1, sizeof *a);
  if (!a) {
    fprintf(stderr, "dyad: out of memory\n");
    abort();
  }
  return a;
}

void dy_arena_destroy(DyArena *a) {
  if (!a)
    return;
  DyArenaChunk *c = a->head;
  while (c) {
    DyArenaChunk *next = c->next;
    free(c);
    c = next;
  }
  free(a);
}

int dy_mul_overflow(size_t a, size_t b, size_t *out) {
  if (a != 0 && b > SIZE_MAX / a)
    return 1;
  *out = a * b;
  return 0;
}

void *dy_arena_try_alloc(DyArena *a, size_t size) {
  if (size > SIZE_MAX - 15 - DY_CHUNK_HDR)
    return NULL;
  size = (size + 15) & ~(size_t)15;
  DyArenaChunk *c = a->head;
  if (!c || c->size - c->used < size) {
    /* Big requests get a chunk of their own behind the current one, so the
     * current chunk's free space is not wasted. */
    size_t csize = size > DY_CHUNK_MIN / 4 ? size : DY_CHUNK_MIN;
    DyArenaChunk *n = malloc(DY_CHUNK_HDR + csize);
    if (!n)
      return NULL;
    n->size = csize;
    n->used = 0;
    if (c && csize == size) {
      n->next = c->next;
      c->next = n;
    } else {
      n->next = c;
      a->head = n;
    }
    c = n;
  }
  void *p = (char *)c + DY_CHUNK_HDR + c->used;
  c->used += size;
  a->total += size;
  memset(p, 0, size);
  return p;
}

void *dy_arena_alloc(DyArena *a, size_t size) {
  void *p = dy_arena_try_alloc(a, size);
  if (!p) {
    fprintf(stderr, "dyad: out of memory allocating %zu bytes\n", size);
    abort();
  }
  return p;
}

char *dy_arena_strndup(DyArena *a, const char *s, size_t n) {
  char *p = dy_arena_alloc(a, n + 1);
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

char *dy_arena_strdup(DyArena *a, const char *s) {
  return dy_arena_strndup(a, s, strlen(s));
}

void *dy_arena_memdup(DyArena *a, const void *p, size_t n) {
  void *q = dy_arena_alloc(a, n ? n : 1);
  if (n)
    memcpy(q, p, n);
  return q;
}
