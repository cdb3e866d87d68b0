#include <stdlib.h>
#include <string.h>
void *keep;
__attribute__((noinline)) void *suppressed_leak(void) { char *p = malloc(48); memset(p, 1, 48); return p; }
__attribute__((noinline)) void *real_leak(void) { char *p = malloc(96); memset(p, 2, 96); return p; }
int main(void) { suppressed_leak(); suppressed_leak(); real_leak(); keep = 0; return 0; }
