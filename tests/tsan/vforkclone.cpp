// SPDX-License-Identifier: MIT
// Linked into the test programs of a ThreadSanitizer build only (tests/CMakeLists.txt).
//
// QProcess starts its child through forkfd, which calls glibc's clone() with CLONE_VM | CLONE_VFORK: the
// child runs in the parent's memory, on the parent thread's TLS, until it execs. ThreadSanitizer's clone()
// interceptor takes every clone for a fork and runs its fork-child bookkeeping in the child, which here
// writes into the parent's own ThreadSanitizer state: the parent is left marked "after a multi-threaded
// fork" (its next thread start kills it: "starting new threads after multi-threaded fork is not
// supported") and the thread that started the process keeps ignoring synchronization from then on.
//
// This clone() comes before the interceptor: a clone that shares memory goes straight to glibc (the
// child only sets up its descriptors and execs, as it would without the sanitizer); any other clone goes
// on to the interceptor as before.
#include <dlfcn.h>
#include <sched.h>
#include <sys/types.h>

#include <cstdarg>

extern "C" int __clone(int (*fn)(void *), void *stack, int flags, void *arg, ...);

extern "C" int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    auto *parentTid = va_arg(ap, pid_t *);
    void *tls = va_arg(ap, void *);
    auto *childTid = va_arg(ap, pid_t *);
    va_end(ap);
    if (flags & CLONE_VM)
        return __clone(fn, stack, flags, arg, parentTid, tls, childTid);
    using Clone = int (*)(int (*)(void *), void *, int, void *, ...);
    static const auto next = reinterpret_cast<Clone>(dlsym(RTLD_NEXT, "clone"));
    return next(fn, stack, flags, arg, parentTid, tls, childTid);
}
