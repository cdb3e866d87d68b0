/* asan_shift: every malloc'd block handed out 16 bytes into a larger one, so that
 * AddressSanitizer's record of where a block was freed survives an uninstrumented
 * program writing to the freed block.
 *
 * Why: ASan keeps a freed chunk's free-context id (thread and stack-depot id) in the
 * first 8 bytes of the chunk's user memory (ChunkBase::free_context_id overlaps it).
 * For a CPython object those bytes are ob_refcnt. The interpreter is not
 * instrumented, so its Py_INCREF of a dangling object adds 1 to the id unnoticed,
 * and the report's "freed by" stack is then another stack or none at all (the
 * runtime dies on CHECK "res.trace != 0"). Here the first 16 bytes of every block
 * are padding that no program writes: the id lands there, the object starts after it.
 *
 * Layout of a block of n bytes:  [raw+0: ASan's free-context slot, 0 while allocated]
 *                                [raw+8: tag = user ^ TAG_KEY]  [user = raw+16: n bytes]
 * The 16 bytes are poisoned (__asan_poison_memory_region), so an instrumented access
 * just before the block is still reported (as use-after-poison); one past its end is
 * past the real block, a heap-buffer-overflow as before. LeakSanitizer counts
 * interior pointers as references, so reachability is unchanged; its leak sizes
 * include the 16 bytes (pyharness's parser takes them off, seeing this file's frame).
 *
 * Preloaded before the ASan runtime (ASAN_OPTIONS=verify_asan_link_order=0), this
 * file's malloc family is the one every caller binds to; it reaches ASan's with
 * dlsym(RTLD_NEXT). Blocks it did not shift (aligned allocations, which it leaves to
 * ASan; ASan's own strdup) are told from its own by the tag, read only after ASan
 * says the address 16 bytes before is a live chunk's start. This file is compiled
 * without instrumentation: it reads and writes its padding freely.
 *
 * The dynamic loader's allocations are passed through untouched, by a tail call:
 * LeakSanitizer takes every block whose allocator's caller lies in ld.so as reachable
 * (link maps, dynamic TLS), and with this file's frame in between it reported the
 * loader's library-name records as leaks.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>

#define SHIFT 16
#define TAG_KEY 0xa5f1c0de5a17f00dULL /* its top bits are never a user-space address's */
#define ARENA_SIZE (64 * 1024)

typedef void* (*malloc_fn)(size_t);
typedef void* (*calloc_fn)(size_t, size_t);
typedef void* (*realloc_fn)(void*, size_t);
typedef void (*free_fn)(void*);
typedef size_t (*usable_fn)(void*);
typedef int (*ownership_fn)(const volatile void*);
typedef void (*poison_fn)(const volatile void*, size_t);
typedef const char* (*locate_fn)(void*, char*, size_t, void**, size_t*);

static malloc_fn real_malloc;
static calloc_fn real_calloc;
static realloc_fn real_realloc;
static free_fn real_free;
static usable_fn real_usable_size;
static ownership_fn asan_owns;
static poison_fn asan_poison;
static locate_fn asan_locate;

/* Allocations made while dlsym runs (it may allocate itself), never freed. */
static _Alignas(16) unsigned char arena[ARENA_SIZE];
static size_t arena_used;
static int resolving;

/* The dynamic loader's text, [linker_lo, linker_hi), found by the constructor. */
static uintptr_t linker_lo, linker_hi;

static int find_linker(struct dl_phdr_info* info, size_t size, void* base) {
  (void)size;
  if (info->dlpi_addr != (uintptr_t)base) return 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)* ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
    if (linker_lo == 0 || lo < linker_lo) linker_lo = lo;
    if (hi > linker_hi) linker_hi = hi;
  }
  return 1;
}

static int from_linker(const void* caller) { return (uintptr_t)caller >= linker_lo && (uintptr_t)caller < linker_hi; }

static int in_arena(const void* p) {
  return (const unsigned char*)p >= arena && (const unsigned char*)p < arena + ARENA_SIZE;
}

static void* arena_alloc(size_t n) {
  size_t need = (n + SHIFT + 15) & ~(size_t)15;
  size_t at = __atomic_fetch_add(&arena_used, need, __ATOMIC_RELAXED);
  if (at + need > ARENA_SIZE) return NULL;
  *(size_t*)(arena + at) = n; /* its size, for realloc */
  return arena + at + SHIFT;  /* zeroed: static storage */
}

static void resolve(void) {
  if (__atomic_load_n(&real_free, __ATOMIC_ACQUIRE) != NULL) return;
  __atomic_store_n(&resolving, 1, __ATOMIC_RELEASE);
  real_malloc = (malloc_fn)dlsym(RTLD_NEXT, "malloc");
  real_calloc = (calloc_fn)dlsym(RTLD_NEXT, "calloc");
  real_realloc = (realloc_fn)dlsym(RTLD_NEXT, "realloc");
  real_usable_size = (usable_fn)dlsym(RTLD_NEXT, "malloc_usable_size");
  asan_owns = (ownership_fn)dlsym(RTLD_DEFAULT, "__sanitizer_get_ownership");
  asan_poison = (poison_fn)dlsym(RTLD_DEFAULT, "__asan_poison_memory_region");
  asan_locate = (locate_fn)dlsym(RTLD_DEFAULT, "__asan_locate_address");
  __atomic_store_n(&real_free, (free_fn)dlsym(RTLD_NEXT, "free"), __ATOMIC_RELEASE);
  __atomic_store_n(&resolving, 0, __ATOMIC_RELEASE);
}

static int bootstrapping(void) {
  if (__atomic_load_n(&real_free, __ATOMIC_ACQUIRE) != NULL) return 0;
  if (__atomic_load_n(&resolving, __ATOMIC_ACQUIRE)) return 1;
  resolve();
  return real_free == NULL;
}

/* Set by the constructor once ASan's runtime is initialised (its own start-up allocates through
 * here before it can poison or look up anything): blocks allocated before are left as they are.
 * Without ASan's runtime there is nothing to work around, and no safe way to tell blocks apart. */
static int ready;

static int shifting(void) { return __atomic_load_n(&ready, __ATOMIC_ACQUIRE) && asan_owns != NULL; }

static uint64_t tag_of(const void* user) { return (uint64_t)(uintptr_t)user ^ TAG_KEY; }

static void* shifted(void* raw) {
  if (raw == NULL) return NULL;
  unsigned char* user = (unsigned char*)raw + SHIFT;
  ((uint64_t*)raw)[0] = 0;
  ((uint64_t*)raw)[1] = tag_of(user);
  if (asan_poison != NULL) asan_poison(raw, SHIFT);
  return user;
}

/* The block this file shifted that starts at `user`, or NULL: a block it did not shift. */
static void* raw_of(void* user) {
  unsigned char* raw = (unsigned char*)user - SHIFT;
  if ((uintptr_t)user < SHIFT || !shifting() || !asan_owns(raw)) return NULL;
  return ((uint64_t*)raw)[1] == tag_of(user) ? raw : NULL;
}

/* For a pointer that is no live block's start (a double free, a wild free): the address to
 * hand ASan so that its report describes the block (a freed shifted block's start, else as is). */
static void* for_report(void* user) {
  void* region = NULL;
  size_t size = 0;
  if (asan_locate != NULL && (uintptr_t)user >= SHIFT) {
    const char* kind = asan_locate(user, NULL, 0, &region, &size);
    if (kind != NULL && strcmp(kind, "heap") == 0 && (unsigned char*)region == (unsigned char*)user - SHIFT &&
        ((uint64_t*)region)[1] == tag_of(user))
      return region;
  }
  return user;
}

void* malloc(size_t n) {
  if (bootstrapping()) return arena_alloc(n);
  if (from_linker(__builtin_return_address(0))) return real_malloc(n);
  if (!shifting() || n > SIZE_MAX - SHIFT) return real_malloc(n); /* ASan's answer to an impossible size */
  return shifted(real_malloc(n + SHIFT));
}

void* calloc(size_t count, size_t size) {
  if (bootstrapping()) return arena_alloc(count * size); /* dlsym asks for a few bytes */
  if (from_linker(__builtin_return_address(0))) return real_calloc(count, size);
  size_t n;
  if (!shifting() || __builtin_mul_overflow(count, size, &n) || n > SIZE_MAX - SHIFT) return real_calloc(count, size);
  return shifted(real_calloc(1, n + SHIFT));
}

void free(void* user) {
  if (user == NULL || in_arena(user)) return;
  if (bootstrapping()) return; /* no allocator yet: nothing it returned can be freed */
  void* raw = raw_of(user);
  if (raw != NULL) {
    real_free(raw);
  } else if (shifting() && !asan_owns(user)) {
    real_free(for_report(user));
  } else {
    real_free(user);
  }
}

void* realloc(void* user, size_t n) {
  if (user == NULL) return malloc(n);
  if (in_arena(user)) {
    void* moved = malloc(n);
    size_t old = *(size_t*)((unsigned char*)user - SHIFT);
    if (moved != NULL) memcpy(moved, user, old < n ? old : n);
    return moved;
  }
  if (bootstrapping()) return NULL;
  void* raw = raw_of(user);
  if (raw == NULL && from_linker(__builtin_return_address(0))) return real_realloc(user, n);
  if (raw == NULL) return real_realloc(shifting() && !asan_owns(user) ? for_report(user) : user, n);
  if (n == 0) { /* as ASan's realloc does by default (allocator_frees_and_returns_null_on_realloc_zero) */
    real_free(raw);
    return NULL;
  }
  if (n > SIZE_MAX - SHIFT) {
    errno = ENOMEM;
    return NULL;
  }
  return shifted(real_realloc(raw, n + SHIFT));
}

void* reallocarray(void* user, size_t count, size_t size) {
  size_t n;
  if (__builtin_mul_overflow(count, size, &n)) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(user, n);
}

size_t malloc_usable_size(void* user) {
  if (user == NULL) return 0;
  if (in_arena(user)) return *(size_t*)((unsigned char*)user - SHIFT);
  if (bootstrapping()) return 0;
  void* raw = raw_of(user);
  return raw != NULL ? real_usable_size(raw) - SHIFT : real_usable_size(user);
}

__attribute__((constructor(101))) static void asan_shift_init(void) {
  resolve();
  dl_iterate_phdr(find_linker, (void*)getauxval(AT_BASE));
  /* ASan's malloc initialises the runtime if it has not started yet (then its start-up's own
   * allocations come back here, while `ready` is still 0); when it returns, ASan is ready. */
  real_free(real_malloc(1));
  __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
}
