/* vghelper: Valgrind's client requests as functions a Python subject can call through ctypes.
 *
 * A client request is a sequence of instructions valgrind.h emits inline: only
 * compiled code can make one. pyharness's pytest plugin
 * (pyharness/_subject/_pyharness_pertest.py) loads this object to mark each
 * test in memcheck's output and to search for leaks after it. Natively every
 * function does nothing (and ph_running_on_valgrind says 0), so loading it is
 * safe in any process. Built by pyharness.native.helper("vghelper") with the
 * machine's valgrind.h (Debian's valgrind package ships it).
 */
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>

/* 0 natively, 1 under Valgrind. */
int ph_running_on_valgrind(void) { return RUNNING_ON_VALGRIND; }

/* One line in memcheck's output: a <clientmsg> element under --xml=yes. The text goes
 * through "%s": a '%' in a test id is not a conversion. */
int ph_printf(const char *text) { return VALGRIND_PRINTF("%s\n", text); }

/* A leak search that prints only the loss records that grew since the previous search
 * ("96 (+32) bytes in 3 (+1) blocks are definitely lost..."). Never mixed with a quick
 * search: that resets the baseline without printing (measured with valgrind 3.19). */
void ph_leak_check_added(void) { VALGRIND_DO_ADDED_LEAK_CHECK; }

/* The errors (not leaks) memcheck has counted so far, repeats included: it prints an
 * error only the first time its stack is seen. */
unsigned ph_count_errors(void) { return VALGRIND_COUNT_ERRORS; }
