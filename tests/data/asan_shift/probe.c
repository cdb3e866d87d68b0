/* What the asan_shift allocation shim must keep working, one case per argument
 * (built with -fsanitize=address; run with the shim preloaded before the runtime).
 * "incref" is the reason the shim exists: an uninstrumented write to a freed block's
 * first word (what Py_INCREF does to a dangling object), then a checked read of it. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bump_first_word(void* p); /* probe_uninstrumented.c, built without -fsanitize */

void* volatile sink;

__attribute__((noinline)) static void release(char* p) { free(p); /* probe: the free */ }

int main(int argc, char** argv) {
  const char* what = argc > 1 ? argv[1] : "clean";
  if (strcmp(what, "incref") == 0) {
    char* p = malloc(43);
    memset(p, 'x', 43);
    release(p);
    bump_first_word(p);
    return p[32];
  }
  if (strcmp(what, "overflow") == 0) {
    char* p = malloc(40);
    sink = p;
    p[40] = 1; /* probe: one past the end */
    return 0;
  }
  if (strcmp(what, "underflow") == 0) {
    char* p = malloc(40);
    sink = p;
    p[-1] = 1; /* probe: one before the start, in the shim's padding */
    return 0;
  }
  if (strcmp(what, "double_free") == 0) {
    char* p = malloc(40);
    release(p);
    free(p); /* probe: the second free */
    return 0;
  }
  if (strcmp(what, "leak") == 0) {
    for (int i = 0; i < 3; i++) sink = malloc(100); /* probe: three leaks of 100 bytes */
    sink = NULL;
    char** kept = malloc(sizeof *kept);
    *kept = (char*)malloc(50) + 20; /* reachable through an interior pointer only: not a leak */
    static char** root;
    root = kept;
    (void)root;
    return 0;
  }
  /* clean: every entry point, and blocks the shim did not shift, freed through it */
  char* a = calloc(10, 10);
  for (int i = 0; i < 100; i++)
    if (a[i] != 0) return 3;
  a = realloc(a, 1000);
  memset(a, 1, 1000);
  a = reallocarray(a, 20, 100);
  if (malloc_usable_size(a) < 2000) return 4;
  free(a);
  char* s = strdup("not shifted: ASan's strdup allocates itself");
  free(s);
  void* al = NULL;
  if (posix_memalign(&al, 64, 100) != 0 || ((size_t)al & 63) != 0) return 5;
  al = realloc(al, 200);
  free(al);
  void* m = memalign(256, 10);
  if (((size_t)m & 255) != 0) return 6;
  free(m);
  if (realloc(malloc(10), 0) != NULL) return 7;
  free(NULL);
  puts("clean");
  return 0;
}
