/* Built without -fsanitize: ASan sees none of its accesses, as it sees none of the interpreter's. */
#include <stdint.h>

void bump_first_word(void* p) { ++*(volatile int64_t*)p; }
