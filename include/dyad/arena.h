/* Arena allocation: every graph owns one arena, passes take a scratch arena. */
#ifndef DYAD_ARENA_H
#define DYAD_ARENA_H

#include <stddef.h>

typedef struct DyArenaChunk DyArenaChunk;

/* A bump allocator made of chunks; everything is freed at once by
 * dy_arena_destroy. */
typedef struct DyArena {
  DyArenaChunk *head; /* newest chunk first */
  size_t total;       /* bytes handed out, for statistics */
} DyArena;

DyArena *dy_arena_create(void);
void dy_arena_destroy(DyArena *a);

/* Returns zeroed memory aligned to 16 bytes. Small requests that cannot be
 * met are an internal failure (out of memory) and stop the process with a
 * message; use dy_arena_try_alloc for sizes that come from user input. */
void *dy_arena_alloc(DyArena *a, size_t size);

/* Like dy_arena_alloc but returns NULL when memory cannot be had. */
void *dy_arena_try_alloc(DyArena *a, size_t size);

/* Copies a string (or n bytes of it) into the arena. */
char *dy_arena_strdup(DyArena *a, const char *s);
char *dy_arena_strndup(DyArena *a, const char *s, size_t n);
void *dy_arena_memdup(DyArena *a, const void *p, size_t n);

/* Checked size arithmetic: return 0 and set *out on success, 1 on overflow. */
int dy_mul_overflow(size_t a, size_t b, size_t *out);

#endif
