/* A shared object built with -fsanitize=address: loading it names the ASan runtime again
 * (DT_NEEDED libasan.so.8, preloaded under another path), and the loader records the
 * new name in memory it allocates. */
int plugin_answer(void) { return 42; }
