// SPDX-License-Identifier: MIT
// Linked into the programs of a ThreadSanitizer build only (tests/tsan/CMakeLists.txt).
//
// Debian's Qt is not built with ThreadSanitizer: whatever synchronizes inside libQt6Core (its own QMutex
// slow paths, QSemaphore, the posted-event queue, QThread's state) does so with futexes and atomics that
// ThreadSanitizer never sees. The inline parts of QMutex are annotated in Qt's headers (qtsan_impl.h), so
// lokiqt's own locking is seen; the hand-offs below are not, and every one of them shows as a race.
//
// Instead of suppressing the races they cause (which would hide real races in the same code), these
// definitions come before Qt's for the calls that lokiqt's code makes, call Qt's own function and tell
// ThreadSanitizer exactly the happens-before edge that Qt documents for it:
//
//  - QWaitCondition::wait(QMutex *): unlocks the mutex and locks it again inside Qt. Annotated as an
//    unlock before and a lock after, so the mutex stays one mutex for ThreadSanitizer.
//  - QMetaObject::invokeMethod (through QMetaObject::invokeMethodImpl): the call is posted in one thread
//    and run in another. The slot object is wrapped: everything the caller did before posting happens
//    before the call; with Qt::BlockingQueuedConnection the call happens before invokeMethod returns;
//    whoever frees the slot object last has seen the call.
//  - QThread::wait(): returns once the thread has finished. A direct connection to QThread::finished
//    (emitted in the thread after run() returns) releases, a wait() that returns true acquires.
//
// Only calls from this program's own code (lokiqt, its tests and tools) are wrapped: calls from inside Qt
// keep Qt's own behaviour. Nothing here hides a report; a race that Qt does not order stays reported.
#include <QtCore/QMetaObject>
#include <QtCore/QMutex>
#include <QtCore/QObject>
#include <QtCore/QThread>
#include <QtCore/QVariant>
#include <QtCore/QWaitCondition>

#include <sanitizer/tsan_interface.h>

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

namespace {

// Qt's definition of a function this file replaces; aborts when it is missing (another Qt ABI).
template<typename Fn>
Fn qtFunction(const char *symbol)
{
    void *fn = dlsym(RTLD_NEXT, symbol);
    if (!fn) {
        std::fprintf(stderr, "tests/tsan/qtsync.cpp: %s not found in Qt\n", symbol);
        std::abort();
    }
    return reinterpret_cast<Fn>(fn);
}

// True when the code at @p address belongs to this program (not to Qt or another library).
bool inThisProgram(const void *address)
{
    static const void *const base = [] {
        Dl_info info{};
        dladdr(reinterpret_cast<const void *>(&inThisProgram), &info);
        return info.dli_fbase;
    }();
    Dl_info info{};
    return dladdr(address, &info) != 0 && info.dli_fbase == base;
}

#define LOKIQT_CALLER __builtin_extract_return_addr(__builtin_return_address(0))

// Wraps the slot object of an invokeMethod() call, taking over the caller's reference to it.
class TsanSlotObject : public QtPrivate::QSlotObjectBase
{
public:
    explicit TsanSlotObject(QtPrivate::QSlotObjectBase *inner)
        : QSlotObjectBase(&impl)
        , m_inner(inner)
    {}

private:
    static void impl(int which, QSlotObjectBase *base, QObject *receiver, void **args, bool *ret)
    {
        auto *self = static_cast<TsanSlotObject *>(base);
        switch (which) {
        case Destroy:
            __tsan_acquire(self); // the last reference may be dropped by either side
            self->m_inner->destroyIfLastRef();
            delete self;
            break;
        case Call:
            __tsan_acquire(self); // posted -> run
            self->m_inner->call(receiver, args);
            __tsan_release(self); // run -> a blocking caller returns, or the slot object is freed
            break;
        case Compare:
            *ret = false;
            break;
        }
    }

    QtPrivate::QSlotObjectBase *const m_inner;
};

} // namespace

bool QWaitCondition::wait(QMutex *lockedMutex, QDeadlineTimer deadline)
{
    using Fn = bool (*)(QWaitCondition *, QMutex *, QDeadlineTimer);
    static const Fn qt = qtFunction<Fn>("_ZN14QWaitCondition4waitEP6QMutex14QDeadlineTimer");
    if (!inThisProgram(LOKIQT_CALLER))
        return qt(this, lockedMutex, deadline);
    __tsan_mutex_pre_unlock(lockedMutex, 0);
    __tsan_mutex_post_unlock(lockedMutex, 0);
    const bool woken = qt(this, lockedMutex, deadline);
    __tsan_mutex_pre_lock(lockedMutex, 0);
    __tsan_mutex_post_lock(lockedMutex, 0, 0);
    return woken;
}

bool QWaitCondition::wait(QMutex *lockedMutex, unsigned long time)
{
    using Fn = bool (*)(QWaitCondition *, QMutex *, unsigned long);
    static const Fn qt = qtFunction<Fn>("_ZN14QWaitCondition4waitEP6QMutexm");
    if (!inThisProgram(LOKIQT_CALLER))
        return qt(this, lockedMutex, time);
    __tsan_mutex_pre_unlock(lockedMutex, 0);
    __tsan_mutex_post_unlock(lockedMutex, 0);
    const bool woken = qt(this, lockedMutex, time);
    __tsan_mutex_pre_lock(lockedMutex, 0);
    __tsan_mutex_post_lock(lockedMutex, 0, 0);
    return woken;
}

bool QMetaObject::invokeMethodImpl(QObject *object, QtPrivate::QSlotObjectBase *slot, Qt::ConnectionType type,
                                   void *ret)
{
    using Fn = bool (*)(QObject *, QtPrivate::QSlotObjectBase *, Qt::ConnectionType, void *);
    static const Fn qt = qtFunction<Fn>(
        "_ZN11QMetaObject16invokeMethodImplEP7QObjectPN9QtPrivate15QSlotObjectBaseEN2Qt14ConnectionTypeEPv");
    if (!inThisProgram(LOKIQT_CALLER))
        return qt(object, slot, type, ret);
    auto *wrapped = new TsanSlotObject(slot);
    __tsan_release(wrapped); // everything before the post happens before the call
    // Qt drops the caller's reference (ours) before it returns: only a blocking call may still be read.
    const bool blocking = type == Qt::BlockingQueuedConnection;
    if (blocking)
        wrapped->ref();
    const bool ok = qt(object, wrapped, type, ret);
    if (blocking) {
        __tsan_acquire(wrapped); // the call has run
        wrapped->destroyIfLastRef();
    }
    return ok;
}

void QThread::start(Priority priority)
{
    using Fn = void (*)(QThread *, Priority);
    static const Fn qt = qtFunction<Fn>("_ZN7QThread5startENS_8PriorityE");
    if (inThisProgram(LOKIQT_CALLER) && !property("_lokiqt_tsan").toBool()) {
        setProperty("_lokiqt_tsan", true);
        // In the finishing thread, after run() has returned: all it did happens before wait() returns.
        connect(
            this, &QThread::finished, this, [this] { __tsan_release(this); }, Qt::DirectConnection);
    }
    qt(this, priority);
}

bool QThread::wait(QDeadlineTimer deadline)
{
    using Fn = bool (*)(QThread *, QDeadlineTimer);
    static const Fn qt = qtFunction<Fn>("_ZN7QThread4waitE14QDeadlineTimer");
    const bool fromHere = inThisProgram(LOKIQT_CALLER);
    const bool finished = qt(this, deadline);
    if (fromHere && finished)
        __tsan_acquire(this);
    return finished;
}
