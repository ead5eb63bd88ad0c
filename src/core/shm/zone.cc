// Zones and the registry of zones. A zone is a memfd: it has no name in the file system, goes away
// when the last process unmaps and closes it, and its descriptor can be passed across exec.
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/shm/zone.h"

namespace gw::shm {

namespace {

constexpr uint64_t kPageSize = 4096;

// Zone sizes are whole pages (mmap works in pages anyway). 0 on overflow or for 0.
uint64_t round_to_pages(uint64_t size) {
    if (size == 0 || size > UINT64_MAX - (kPageSize - 1)) return 0;
    return (size + kPageSize - 1) & ~(kPageSize - 1);
}

// The slab state starts on a cache line after the header, so the mutex (in the header) and the
// slab's hot fields do not share one.
uint64_t slab_offset() { return (sizeof(ZoneHeader) + 63) & ~uint64_t{63}; }

// The header keeps a NUL-terminated, possibly truncated copy of the name (for debugging and for
// the adoption check).
void copy_name(char (&dst)[32], const std::string& name) {
    size_t n = std::min(name.size(), sizeof(dst) - 1);
    std::memcpy(dst, name.data(), n);
    dst[n] = '\0';
}

bool name_matches(const char (&stored)[32], const std::string& name) {
    size_t n = std::min(name.size(), sizeof(stored) - 1);
    return std::memcmp(stored, name.data(), n) == 0 && stored[n] == '\0';
}

}  // namespace

std::unique_ptr<Zone> Zone::wrap(const std::string& name, uint64_t bytes, int fd, void* base) {
    std::unique_ptr<Zone> zone(new Zone());
    zone->name_ = name;
    zone->size_ = bytes;
    zone->fd_ = fd;
    zone->base_ = base;
    return zone;
}

std::unique_ptr<Zone> Zone::create(const std::string& name, uint64_t size,
                                   uint32_t layout_version) {
    uint64_t bytes = round_to_pages(size);
    if (name.empty() || bytes == 0 || bytes > uint64_t(INT64_MAX)) {
        errno = EINVAL;
        return nullptr;
    }
    // The memfd name shows up in /proc/<pid>/maps and fd links; Linux caps it at 249 bytes.
    std::string memfd_name = "gatewayd:" + name.substr(0, 200);
    int fd = memfd_create(memfd_name.c_str(), MFD_CLOEXEC);
    if (fd < 0) return nullptr;
    if (ftruncate(fd, off_t(bytes)) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return nullptr;
    }
    void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        int saved = errno;
        close(fd);
        errno = saved;
        return nullptr;
    }

    // A fresh memfd reads as zeros, so only the non-zero fields need writing.
    auto* h = static_cast<ZoneHeader*>(base);
    h->layout_version = layout_version;
    h->header_size = sizeof(ZoneHeader);
    h->size = bytes;
    copy_name(h->name, name);
    h->mutex.init();
    h->root = 0;
    h->slab = slab_offset();
    Slab::init(base, bytes, h->slab);
    if (Slab::stats(base).pages_total == 0) {  // too small to hold even one page
        munmap(base, bytes);
        close(fd);
        errno = EINVAL;
        return nullptr;
    }
    // Magic last: a zone is recognisable only once everything else is in place.
    h->magic = kZoneMagic;

    return wrap(name, bytes, fd, base);
}

std::unique_ptr<Zone> Zone::adopt(int fd, const std::string& name, uint32_t layout_version) {
    struct stat st;
    if (fstat(fd, &st) != 0) return nullptr;
    if (st.st_size < off_t(kPageSize) || uint64_t(st.st_size) % kPageSize != 0) {
        errno = EINVAL;
        return nullptr;
    }
    uint64_t bytes = uint64_t(st.st_size);
    void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) return nullptr;

    // Anything that does not look exactly like what this binary would have created is refused;
    // the caller then creates a fresh zone (and keeps ownership of fd, which we do not close).
    const auto* h = static_cast<const ZoneHeader*>(base);
    bool ok = h->magic == kZoneMagic && h->layout_version == layout_version &&
              h->header_size == sizeof(ZoneHeader) && h->size == bytes &&
              h->slab == slab_offset() && name_matches(h->name, name);
    if (!ok) {
        munmap(base, bytes);
        errno = EINVAL;
        return nullptr;
    }

    return wrap(name, bytes, fd, base);
}

Zone::~Zone() {
    if (base_) munmap(base_, size_);
    if (fd_ >= 0) close(fd_);
}

Zone* ZoneRegistry::get(const std::string& name, uint64_t size, uint32_t layout_version) {
    auto it = zones_.find(name);
    if (it != zones_.end()) {
        Zone* z = it->second.get();
        if (z->size() == round_to_pages(size) && z->header()->layout_version == layout_version) {
            last_origin_ = Origin::Reused;
            return z;
        }
    }
    last_origin_ = Origin::Created;
    if (auto offer = offers_.find(name); offer != offers_.end() && it == zones_.end()) {
        int fd = offer->second;
        offers_.erase(offer);
        std::unique_ptr<Zone> adopted = Zone::adopt(fd, name, layout_version);
        if (adopted && adopted->size() == round_to_pages(size)) {
            fcntl(fd, F_SETFD, FD_CLOEXEC);  // cleared for the exec that brought it here
            last_origin_ = Origin::Adopted;
            return zones_.emplace(name, std::move(adopted)).first->second.get();
        }
        if (adopted)
            adopted.reset();  // mapped, but of another size: unmapped, and fd closed with it
        else
            close(fd);
        last_origin_ = Origin::Replaced;
    }
    std::unique_ptr<Zone> fresh = Zone::create(name, size, layout_version);
    if (!fresh) return nullptr;
    Zone* result = fresh.get();
    if (it != zones_.end()) {
        // The previous generation may still use the old zone; kept mapped until none does
        // (release_unused).
        graveyard_.push_back(std::move(it->second));
        it->second = std::move(fresh);
    } else {
        zones_.emplace(name, std::move(fresh));
    }
    return result;
}

std::vector<ZoneRegistry::Released> ZoneRegistry::release_unused(const std::set<const Zone*>& in_use) {
    std::vector<Released> released;
    auto unused = [&](const std::unique_ptr<Zone>& z) {
        if (in_use.count(z.get())) return false;
        released.push_back({z->name(), z->size()});
        return true;
    };
    std::erase_if(graveyard_, unused);
    for (auto it = zones_.begin(); it != zones_.end();) {
        if (!unused(it->second)) {
            ++it;
            continue;
        }
        auto older = std::find_if(graveyard_.rbegin(), graveyard_.rend(),
                                  [&](const std::unique_ptr<Zone>& z) { return z->name() == it->first; });
        if (older == graveyard_.rend()) {
            it = zones_.erase(it);
            continue;
        }
        it->second = std::move(*older);
        graveyard_.erase(std::next(older).base());
        ++it;
    }
    return released;
}

void ZoneRegistry::offer(const std::string& name, int fd) {
    if (auto it = offers_.find(name); it != offers_.end()) close(it->second);
    offers_[name] = fd;
}

void ZoneRegistry::drop_offers() {
    for (const auto& [name, fd] : offers_) close(fd);
    offers_.clear();
}

std::map<std::string, int> ZoneRegistry::descriptors() const {
    std::map<std::string, int> out;
    for (const auto& [name, zone] : zones_) out[name] = zone->fd();
    return out;
}

Zone* ZoneRegistry::find(const std::string& name) const {
    auto it = zones_.find(name);
    return it == zones_.end() ? nullptr : it->second.get();
}

}  // namespace gw::shm
