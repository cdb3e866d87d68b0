/* Overlapping copies for memcheck, one case per argument (built at -O0 and at -O2):
 * memcpy of a constant small size, of a constant large size, of a size known only at
 * run time, and, as the control memcheck does report, an overlapping strcpy. */
#include <stdlib.h>
#include <string.h>

char* volatile sink;

__attribute__((noinline)) void const_small(char* b) { memcpy(b + 4, b, 16); }
__attribute__((noinline)) void const_large(char* b) { memcpy(b + 100, b, 1000); }
__attribute__((noinline)) void variable(char* b, size_t n) { memcpy(b + n / 4, b, n); }
__attribute__((noinline)) void overlapping_strcpy(char* b) { strcpy(b, b + 4); }

int main(int argc, char** argv) {
  const char* what = argc > 1 ? argv[1] : "";
  size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 200;
  char* b = malloc(4096);
  memset(b, 'a', 4096);
  b[40] = '\0';
  if (strcmp(what, "const_small") == 0) const_small(b);
  if (strcmp(what, "const_large") == 0) const_large(b);
  if (strcmp(what, "variable") == 0) variable(b, n);
  if (strcmp(what, "strcpy") == 0) overlapping_strcpy(b);
  sink = b;
  free(b);
  return 0;
}
