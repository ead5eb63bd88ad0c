// RobustMutex: a process-shared pthread mutex marked robust, so that a worker killed while holding
// it (SIGKILL, crash) does not freeze every other process: the kernel walks the dead thread's
// robust list and the next locker gets EOWNERDEAD instead of blocking forever.
#include <cerrno>
#include <cstring>

#include "core/shm/zone.h"

namespace gw::shm {

void RobustMutex::init() {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&m_, &attr);
    pthread_mutexattr_destroy(&attr);
}

bool RobustMutex::lock() {
    for (;;) {
        int rc = pthread_mutex_lock(&m_);
        if (rc == 0) return false;
        if (rc == EOWNERDEAD) {
            // We own it now; mark it consistent so later unlocks keep it usable. Whatever the
            // dead owner was doing under it may be half done: the caller is told (true).
            pthread_mutex_consistent(&m_);
            return true;
        }
        if (rc == ENOTRECOVERABLE) {
            // Someone unlocked after EOWNERDEAD without making it consistent. The mutex can never
            // be locked again, so rebuild it in place rather than fail every caller forever.
            init();
            continue;
        }
        // EINVAL/EAGAIN etc. cannot happen for a mutex we initialised; retrying would spin, so
        // report "recovered" to make the caller treat the protected state with suspicion.
        return true;
    }
}

void RobustMutex::unlock() { pthread_mutex_unlock(&m_); }

}  // namespace gw::shm
