#include "modules/auth/crypt_worker.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace gw::auth {

namespace {

void wipe(std::string& s) {
    if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
    s.clear();
}

}  // namespace

CryptWorker::CryptWorker(event::Loop& loop, size_t capacity)
    : loop_(loop), jobs_(capacity), queue_(capacity), finished_(), draining_() {
    finished_.reserve(capacity);
    draining_.reserve(capacity);
    for (Job& j : jobs_) j.password.reserve(64);
}

CryptWorker::~CryptWorker() {
    if (thread_.joinable()) {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_one();
        thread_.join();  // at most the one check under way
    }
    if (event_fd_ >= 0) {
        loop_.remove(event_fd_);
        close(event_fd_);
    }
    for (Job& j : jobs_) wipe(j.password);
}

bool CryptWorker::start(std::string& error) {
    event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (event_fd_ < 0) {
        error = std::string("eventfd: ") + strerror(errno);
        return false;
    }
    if (!loop_.add(event_fd_, EPOLLIN, this)) {
        error = "cannot watch the eventfd";
        return false;
    }
    // The thread inherits the mask: every signal stays the loop thread's.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    try {
        thread_ = std::thread([this] { run(); });
    } catch (const std::system_error& e) {
        error = std::string("cannot start the password-check thread: ") + e.what();
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return thread_.joinable();
}

uint64_t CryptWorker::submit(const std::string& hash, std::string_view password, Done done, void* owner) {
    if (password.size() > kMaxPassword || !thread_.joinable()) return 0;
    std::unique_lock lock(mutex_);
    if (busy_ == jobs_.size()) return 0;
    uint32_t index = 0;
    while (jobs_[index].state != State::Free) ++index;  // busy_ < size: one is free
    Job& j = jobs_[index];
    j.state = State::Queued;
    j.cancelled = false;
    j.ok = false;
    ++j.serial;
    j.hash = &hash;
    j.password.assign(password);
    j.done = done;
    j.owner = owner;
    ++busy_;
    queue_[(queue_head_ + queue_size_) % queue_.size()] = index;
    ++queue_size_;
    lock.unlock();
    wake_.notify_one();
    return static_cast<uint64_t>(j.serial) << 32 | index;
}

void CryptWorker::cancel(uint64_t ticket) {
    if (ticket == 0) return;
    uint32_t index = static_cast<uint32_t>(ticket), serial = static_cast<uint32_t>(ticket >> 32);
    std::lock_guard lock(mutex_);
    if (index < jobs_.size() && jobs_[index].serial == serial && jobs_[index].state != State::Free)
        jobs_[index].cancelled = true;
}

size_t CryptWorker::queued() const {
    std::lock_guard lock(mutex_);
    return busy_;
}

void CryptWorker::run() {
    // crypt_rn's work area (~32 KiB) and a private copy of the job's inputs: the lock is never
    // held during a check.
    auto data = std::make_unique<crypt_data>();
    std::string password, hash;
    password.reserve(kMaxPassword);
    for (;;) {
        uint32_t index;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stop_ || queue_size_ > 0; });
            if (stop_) break;
            index = queue_[queue_head_];
            queue_head_ = (queue_head_ + 1) % queue_.size();
            --queue_size_;
            Job& j = jobs_[index];
            j.state = State::Running;
            password.assign(j.password);
            hash.assign(*j.hash);
            wipe(j.password);
        }
        // The setting is the stored hash itself (its prefix names the method, cost and salt).
        const char* out = crypt_rn(password.c_str(), hash.c_str(), data.get(), sizeof *data);
        bool ok = out && out[0] != '*' && strlen(out) == hash.size() && CRYPTO_memcmp(out, hash.data(), hash.size()) == 0;
        wipe(password);
        OPENSSL_cleanse(data.get(), sizeof *data);
        {
            std::lock_guard lock(mutex_);
            jobs_[index].ok = ok;
            jobs_[index].state = State::Finished;
            finished_.push_back(index);  // reserved for every slot: never grows
        }
        uint64_t one = 1;
        ssize_t n = write(event_fd_, &one, sizeof one);
        (void)n;  // EAGAIN: the counter is saturated, the loop wakes anyway
    }
}

void CryptWorker::on_io(uint32_t) {
    uint64_t count;
    while (read(event_fd_, &count, sizeof count) > 0) {
    }
    {
        std::lock_guard lock(mutex_);
        draining_.swap(finished_);
    }
    for (uint32_t index : draining_) {
        Done done;
        void* owner;
        bool ok, cancelled;
        {
            std::lock_guard lock(mutex_);
            Job& j = jobs_[index];
            done = j.done;
            owner = j.owner;
            ok = j.ok;
            cancelled = j.cancelled;
            j.state = State::Free;
            j.hash = nullptr;
            --busy_;
        }
        // Freed first: the callback may queue another check.
        if (!cancelled && done) done(owner, ok);
    }
    draining_.clear();
}

}  // namespace gw::auth
