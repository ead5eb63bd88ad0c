// Shared-memory zones: named regions created by the master before it forks, shared by every
// worker, and (because each is a memfd) able to cross exec in a binary upgrade.
//
// Layout of a zone: ZoneHeader | user area. The user area is managed by a Slab (variable-size
// objects) guarded by a robust process-shared mutex; hot counters are plain std::atomic values
// placed in slab memory and updated lock-free. Everything inside a zone refers to other things
// inside it by offset, never by pointer, so a zone may be mapped at another address.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace gw::shm {

constexpr uint64_t kZoneMagic = 0x31454e4f5a57472aULL;  // "*GWZONE1"

// A robust process-shared mutex: a process that dies holding it does not deadlock the others;
// the next locker recovers it (EOWNERDEAD -> pthread_mutex_consistent) and is told so.
class RobustMutex {
  public:
    void init();              // once, by the zone creator
    bool lock();              // returns true if the previous owner died while holding it
    void unlock();

  private:
    pthread_mutex_t m_;
};

class LockGuard {
  public:
    explicit LockGuard(RobustMutex& m) : m_(m) { m_.lock(); }
    ~LockGuard() { m_.unlock(); }
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;

  private:
    RobustMutex& m_;
};

struct ZoneHeader {
    uint64_t magic;
    uint32_t layout_version;   // of the zone's user (e.g. the metrics store); checked on adoption
    uint32_t header_size;
    uint64_t size;             // whole mapping
    char name[32];
    RobustMutex mutex;         // guards the slab and whatever the user keeps under it
    uint64_t root;             // offset of the user's root object (0 = none yet)
    uint64_t slab;             // offset of the slab state
};

// A slab allocator over a zone's user area: size classes from 16 bytes to half a page, pages
// carved from the area, bigger objects as runs of whole pages. Offsets are from the zone start;
// 0 is never a valid allocation. The caller holds the zone mutex.
class Slab {
  public:
    static void init(void* zone_base, uint64_t zone_size, uint64_t area_offset);
    static uint64_t alloc(void* zone_base, uint64_t size);   // 0 when out of memory
    static void free(void* zone_base, uint64_t offset);
    struct Stats { uint64_t pages_total, pages_free, bytes_in_use; };
    static Stats stats(const void* zone_base);
};

class Zone {
  public:
    // Creates a zone: memfd_create + ftruncate + mmap(MAP_SHARED), header initialised, slab
    // initialised. Returns nullptr with errno set on failure.
    static std::unique_ptr<Zone> create(const std::string& name, uint64_t size,
                                        uint32_t layout_version);
    // Maps an existing zone memfd (binary upgrade). Fails when the magic, size or layout version
    // do not match; the caller then creates a fresh one.
    static std::unique_ptr<Zone> adopt(int fd, const std::string& name, uint32_t layout_version);
    ~Zone();

    const std::string& name() const { return name_; }
    uint64_t size() const { return size_; }
    int fd() const { return fd_; }
    ZoneHeader* header() const { return static_cast<ZoneHeader*>(base_); }
    char* base() const { return static_cast<char*>(base_); }
    RobustMutex& mutex() const { return header()->mutex; }

    // Slab allocation inside this zone; the caller holds mutex().
    uint64_t alloc(uint64_t size) { return Slab::alloc(base_, size); }
    void free(uint64_t offset) { Slab::free(base_, offset); }
    template <typename T> T* at(uint64_t offset) const {
        return offset ? reinterpret_cast<T*>(base() + offset) : nullptr;
    }

  private:
    Zone() = default;
    static std::unique_ptr<Zone> wrap(const std::string& name, uint64_t bytes, int fd, void* base);
    std::string name_;
    uint64_t size_ = 0;
    int fd_ = -1;
    void* base_ = nullptr;
};

// The master's set of zones. A reload asks for the zones its config needs; a zone whose name and
// size (and layout version) match an existing one is reused with its contents, others are created.
// Zones nobody uses any more are freed by release_unused().
class ZoneRegistry {
  public:
    // Returns the zone, reusing an existing one when it matches. nullptr on failure.
    Zone* get(const std::string& name, uint64_t size, uint32_t layout_version);
    Zone* find(const std::string& name) const;

    // Unmaps and closes every zone not in `in_use`, current or replaced: the master's is the
    // last mapping once the workers that used a zone have exited, so its memory goes back to
    // the system. When a name's current zone goes while a replaced one of that name is still
    // in use (a reload that resized it was rolled back), that one is current again.
    struct Released {
        std::string name;
        uint64_t size;
    };
    std::vector<Released> release_unused(const std::set<const Zone*>& in_use);
    // Binary upgrade: a zone descriptor inherited from the previous binary. The next get() of
    // that name adopts it with its contents when it matches (size and layout version) and
    // otherwise creates a fresh zone; `adopted` then says which happened.
    void offer(const std::string& name, int fd);
    // Inherited zones never asked for by get(): closed.
    void drop_offers();
    // Every zone, for handing over in a binary upgrade.
    std::map<std::string, int> descriptors() const;

    enum class Origin { Created, Reused, Adopted, Replaced };  // Replaced: an inherited one did not match
    Origin last_origin() const { return last_origin_; }

  private:
    std::map<std::string, std::unique_ptr<Zone>> zones_;
    // Zones replaced by get() (same name, other size or layout), oldest first: kept mapped
    // until release_unused(), because the generations that use them still run.
    std::vector<std::unique_ptr<Zone>> graveyard_;
    std::map<std::string, int> offers_;
    Origin last_origin_ = Origin::Created;
};

}  // namespace gw::shm
