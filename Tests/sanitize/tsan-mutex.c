// Teaches ThreadSanitizer about the contended paths of Synchronization.Mutex on Linux (TSan runs only).
//
// Mutex's fast paths (`_lock`, `_unlock`) are inlined into our code, so under --sanitize=thread their
// compare-exchange on the lock word is instrumented and TSan sees the happens-before edge. When the lock is
// contended they call `_lockSlow` / `_tryLockSlow` / `_unlockSlow` in libswiftSynchronization.so, which is not
// instrumented and hands the lock over in the kernel (FUTEX_LOCK_PI / FUTEX_UNLOCK_PI): no atomic TSan can see,
// so it reports a "Swift access race" between two critical sections of the same Mutex that cannot overlap.
//
// This library, preloaded (LD_PRELOAD) into the TSan test process by Tests/sanitize.sh, wraps those three
// functions: after the real slow path acquires the lock it calls __tsan_acquire on the lock word's address, and
// before the real slow path releases it, __tsan_release on the same address (the address the instrumented fast
// paths synchronize on). It adds exactly the edges the kernel hand-over provides and removes none, so it hides
// no race in our code. The three symbols are ABI (clients call them from inlined code), so their names and
// calling convention (self in the Swift context register) are stable.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define SWIFTCALL __attribute__((swiftcall))
#define SWIFT_SELF __attribute__((swift_context))

#define LOCK_SLOW "$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF"
#define TRY_LOCK_SLOW "$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF"
#define UNLOCK_SLOW "$s15Synchronization12_MutexHandleV11_unlockSlowyyF"

// Defined by the TSan runtime linked into the test executable; null in any other process.
void __tsan_acquire(void *addr) __attribute__((weak));
void __tsan_release(void *addr) __attribute__((weak));

typedef SWIFTCALL void (*LockSlowFn)(uint32_t self_id, void *SWIFT_SELF handle);
typedef SWIFTCALL bool (*TryLockSlowFn)(void *SWIFT_SELF handle);
typedef SWIFTCALL void (*UnlockSlowFn)(void *SWIFT_SELF handle);

static LockSlowFn real_lock_slow;
static TryLockSlowFn real_try_lock_slow;
static UnlockSlowFn real_unlock_slow;

static void *resolve(const char *name) {
    void *fn = dlsym(RTLD_NEXT, name);
    if (fn == NULL) {
        fprintf(stderr, "tsan-mutex: %s not found (%s)\n", name, dlerror());
        abort();
    }
    return fn;
}

__attribute__((constructor)) static void tsan_mutex_init(void) {
    // libswiftSynchronization.so is a dependency of the test executable, so it is loaded before this runs.
    // Processes without it (llvm-symbolizer, which TSan spawns with our environment) never call these wrappers.
    if (dlsym(RTLD_NEXT, UNLOCK_SLOW) == NULL) return;
    real_lock_slow = (LockSlowFn)resolve(LOCK_SLOW);
    real_try_lock_slow = (TryLockSlowFn)resolve(TRY_LOCK_SLOW);
    real_unlock_slow = (UnlockSlowFn)resolve(UNLOCK_SLOW);
    if (__tsan_acquire && getenv("TSAN_MUTEX_VERBOSE") != NULL) {
        fprintf(stderr, "tsan-mutex: annotating Mutex slow paths for ThreadSanitizer\n");
    }
}

SWIFTCALL void tsan_mutex_lock_slow(uint32_t self_id, void *SWIFT_SELF handle) __asm__(LOCK_SLOW);
SWIFTCALL void tsan_mutex_lock_slow(uint32_t self_id, void *SWIFT_SELF handle) {
    real_lock_slow(self_id, handle);
    if (__tsan_acquire) __tsan_acquire(handle);
}

SWIFTCALL bool tsan_mutex_try_lock_slow(void *SWIFT_SELF handle) __asm__(TRY_LOCK_SLOW);
SWIFTCALL bool tsan_mutex_try_lock_slow(void *SWIFT_SELF handle) {
    bool locked = real_try_lock_slow(handle);
    if (locked && __tsan_acquire) __tsan_acquire(handle);
    return locked;
}

SWIFTCALL void tsan_mutex_unlock_slow(void *SWIFT_SELF handle) __asm__(UNLOCK_SLOW);
SWIFTCALL void tsan_mutex_unlock_slow(void *SWIFT_SELF handle) {
    if (__tsan_release) __tsan_release(handle);
    real_unlock_slow(handle);
}
