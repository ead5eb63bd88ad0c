// The metrics store in a shared-memory zone.
//
// Layout (all links are zone offsets, 0 = none):
//   Root:    magic, family list (creation order), a fixed array of hash buckets.
//   Family:  name, help, type, its series in creation order, next family.
//   Series:  family, labels, hash, next in bucket chain, next in family, type, then the value
//            (atomic<uint64_t>, atomic<int64_t> or Histogram) right after the record.
//   String:  uint32_t length, then the bytes.
//   Ledger:  one chain of blocks per process that owns gauges, linked by `next`; each entry is
//            {offset of a gauge's value, the net amount that process has added to it}.
//
// Writers (find-or-create) hold the zone mutex. Every list is append-only and a record is fully
// built before the single release store that links it in, so readers (the lock-free lookup
// fast path and render()) walk the lists with acquire loads and never take the mutex.
//
// A ledger is written by its own process only: blocks and entries are added under the mutex,
// amounts are changed lock-free by OwnedGauge. It is read (and freed) by settle_ledger() under
// the mutex once that process is dead. Every step that links something is a release store of a
// fully built record, so a ledger left behind by a process killed mid-append is still whole.
#include "core/metrics/store.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <new>
#include <vector>

#include "core/text_escape.h"

namespace gw::metrics {

namespace {

static_assert(std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<int64_t>::is_always_lock_free,
              "atomics in shared memory must be lock-free (address-free)");

constexpr uint64_t kRootMagic = 0x3153434952544d2aULL;  // "*MTRICS1"

struct Family {
    uint64_t name;                        // String
    uint64_t help;                        // String
    Type type;
    std::atomic<uint64_t> first_series;   // published with release
    uint64_t last_series;                 // writers only (under the mutex)
    std::atomic<uint64_t> next;           // next family, published with release
};

struct Series {
    uint64_t family;
    uint64_t labels;                      // String, 0 when there are no labels
    uint64_t hash;
    std::atomic<uint64_t> hash_next;
    std::atomic<uint64_t> family_next;
    Type type;
};
constexpr uint64_t kValueOffset = (sizeof(Series) + 7) & ~uint64_t{7};

struct RootHead {
    uint64_t magic;
    std::atomic<uint64_t> first_family;
    uint64_t last_family;                 // writers only
};
// The bucket array fills the rest of one page (509 buckets, a prime).
constexpr size_t kBuckets = (4096 - sizeof(RootHead)) / sizeof(uint64_t);
struct Root : RootHead {
    std::atomic<uint64_t> buckets[kBuckets];
};
static_assert(sizeof(Root) <= 4096);

uint64_t hash_key(std::string_view name, std::string_view labels) {
    uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
    auto mix = [&h](unsigned char c) { h = (h ^ c) * 0x100000001b3ULL; };
    for (char c : name) mix(static_cast<unsigned char>(c));
    mix(0xff);  // cannot occur in a name: separates ("ab","c") from ("a","bc")
    for (char c : labels) mix(static_cast<unsigned char>(c));
    return h;
}

bool valid_name(std::string_view name) {
    if (name.empty()) return false;
    for (size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

std::string_view str_at(const shm::Zone& zone, uint64_t off) {
    if (!off) return {};
    uint32_t len;
    std::memcpy(&len, zone.base() + off, sizeof(len));
    return {zone.base() + off + sizeof(uint32_t), len};
}

uint64_t new_string(shm::Zone& zone, std::string_view s) {
    if (s.size() > UINT32_MAX - sizeof(uint32_t)) return 0;
    uint64_t off = zone.alloc(sizeof(uint32_t) + s.size());
    if (!off) return 0;
    uint32_t len = uint32_t(s.size());
    std::memcpy(zone.base() + off, &len, sizeof(len));
    if (!s.empty()) std::memcpy(zone.base() + off + sizeof(uint32_t), s.data(), s.size());
    return off;
}

Root* root_of(const shm::Zone& zone) {
    auto* root = zone.at<Root>(zone.header()->root);
    return root && root->magic == kRootMagic ? root : nullptr;
}

// Lock-free lookup; safe concurrently with a writer because chains only grow at the head by a
// release store of a fully built series.
uint64_t find_series(const shm::Zone& zone, const Root* root, uint64_t hash,
                     std::string_view name, std::string_view labels) {
    uint64_t off = root->buckets[hash % kBuckets].load(std::memory_order_acquire);
    while (off) {
        const auto* s = zone.at<Series>(off);
        if (s->hash == hash && str_at(zone, s->labels) == labels &&
            str_at(zone, zone.at<Family>(s->family)->name) == name)
            return off;
        off = s->hash_next.load(std::memory_order_acquire);
    }
    return 0;
}

uint64_t value_size(Type type) {
    switch (type) {
        case Type::Counter: return sizeof(std::atomic<uint64_t>);
        case Type::Gauge: return sizeof(std::atomic<int64_t>);
        case Type::Histogram: return sizeof(Histogram);
    }
    return 0;
}

// Find-or-create; returns the zone offset of the series' value, 0 on a type clash, a bad name,
// or when the zone is full.
uint64_t series_value(shm::Zone& zone, std::string_view name, std::string_view labels,
                      std::string_view help, Type type, std::span<const double> bounds) {
    Root* root = root_of(zone);
    if (!root || !valid_name(name)) return 0;
    uint64_t hash = hash_key(name, labels);

    // Fast path, no lock: the series usually exists already.
    if (uint64_t off = find_series(zone, root, hash, name, labels))
        return zone.at<Series>(off)->type == type ? off + kValueOffset : 0;

    shm::LockGuard lock(zone.mutex());
    if (uint64_t off = find_series(zone, root, hash, name, labels))  // lost a race
        return zone.at<Series>(off)->type == type ? off + kValueOffset : 0;

    uint64_t fam_off = 0;
    for (uint64_t f = root->first_family.load(std::memory_order_relaxed); f;
         f = zone.at<Family>(f)->next.load(std::memory_order_relaxed)) {
        if (str_at(zone, zone.at<Family>(f)->name) == name) {
            fam_off = f;
            break;
        }
    }
    if (fam_off && zone.at<Family>(fam_off)->type != type) return 0;

    // Allocate everything first, so that running out of memory leaves nothing half linked.
    bool new_family = fam_off == 0;
    uint64_t name_off = 0, help_off = 0;
    if (new_family) {
        fam_off = zone.alloc(sizeof(Family));
        name_off = new_string(zone, name);
        help_off = help.empty() ? 0 : new_string(zone, help);
    }
    uint64_t labels_off = labels.empty() ? 0 : new_string(zone, labels);
    uint64_t series_off = zone.alloc(kValueOffset + value_size(type));
    if ((new_family && (!fam_off || !name_off || (!help.empty() && !help_off))) ||
        (!labels.empty() && !labels_off) || !series_off) {
        if (new_family) {
            zone.free(fam_off);
            zone.free(name_off);
            zone.free(help_off);
        }
        zone.free(labels_off);
        zone.free(series_off);
        return 0;
    }

    Family* fam;
    if (new_family) {
        fam = new (zone.at<Family>(fam_off)) Family{};
        fam->name = name_off;
        fam->help = help_off;
        fam->type = type;
    } else {
        fam = zone.at<Family>(fam_off);
    }

    auto* s = new (zone.at<Series>(series_off)) Series{};
    s->family = fam_off;
    s->labels = labels_off;
    s->hash = hash;
    s->type = type;
    char* value = zone.base() + series_off + kValueOffset;
    switch (type) {
        case Type::Counter: new (value) std::atomic<uint64_t>(0); break;
        case Type::Gauge: new (value) std::atomic<int64_t>(0); break;
        case Type::Histogram: {
            auto* h = new (value) Histogram{};
            h->bucket_count = uint32_t(bounds.size());
            for (size_t i = 0; i < bounds.size(); ++i) h->bounds[i] = bounds[i];
            break;
        }
    }

    // Publish: the series into its family, a new family into the family list, then the series
    // into its hash chain (which is what makes the fast path see it).
    if (fam->last_series)
        zone.at<Series>(fam->last_series)->family_next.store(series_off, std::memory_order_release);
    else
        fam->first_series.store(series_off, std::memory_order_release);
    fam->last_series = series_off;
    if (new_family) {
        if (root->last_family)
            zone.at<Family>(root->last_family)->next.store(fam_off, std::memory_order_release);
        else
            root->first_family.store(fam_off, std::memory_order_release);
        root->last_family = fam_off;
    }
    auto& bucket = root->buckets[hash % kBuckets];
    s->hash_next.store(bucket.load(std::memory_order_relaxed), std::memory_order_relaxed);
    bucket.store(series_off, std::memory_order_release);
    return series_off + kValueOffset;
}

struct LedgerEntry {
    uint64_t gauge;                // zone offset of the series' std::atomic<int64_t>
    std::atomic<int64_t> amount;   // net amount the owner has added to it; the owner writes it
};

struct LedgerBlock {
    uint32_t magic;
    uint16_t capacity;             // entries
    std::atomic<uint16_t> used;    // entries filled, published with release
    std::atomic<uint64_t> next;    // next block, published with release
    // LedgerEntry entries[capacity] follow
};
static_assert(sizeof(LedgerEntry) == 16 && sizeof(LedgerBlock) == 16);

constexpr uint32_t kLedgerMagic = 0x3144474cU;  // "LGD1"
// Blocks double from 256 bytes (15 entries: most workers need no more) to the biggest slab
// class, 2048 bytes (127 entries), and stay there.
constexpr uint64_t kFirstLedgerBlock = 256;
constexpr uint64_t kMaxLedgerBlock = 2048;

LedgerEntry* ledger_entries(LedgerBlock* b) { return reinterpret_cast<LedgerEntry*>(b + 1); }

bool in_zone(const shm::Zone& zone, uint64_t off, uint64_t size) {
    return off != 0 && off % 8 == 0 && off < zone.size() && size <= zone.size() - off;
}

// The block at `off`, or nullptr when `off` is not a plausible ledger block: settling must not
// walk off into the zone after a bogus or repeated offset.
LedgerBlock* ledger_block(const shm::Zone& zone, uint64_t off) {
    if (!in_zone(zone, off, sizeof(LedgerBlock))) return nullptr;
    auto* b = zone.at<LedgerBlock>(off);
    if (b->magic != kLedgerMagic || b->capacity == 0 ||
        !in_zone(zone, off, sizeof(LedgerBlock) + b->capacity * sizeof(LedgerEntry)))
        return nullptr;
    return b;
}

void append_uint(std::string& out, uint64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    out.append(buf, r.ptr);
}

void append_int(std::string& out, int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    out.append(buf, r.ptr);
}

// Microseconds as decimal seconds, exactly: 7103000 -> "7.103", 2000000 -> "2".
void append_micros_as_seconds(std::string& out, uint64_t micros) {
    append_uint(out, micros / 1000000);
    uint64_t frac = micros % 1000000;
    if (!frac) return;
    char digits[7] = {};
    for (int i = 5; i >= 0; --i, frac /= 10) digits[i] = char('0' + frac % 10);
    int n = 6;
    while (digits[n - 1] == '0') --n;
    out.push_back('.');
    out.append(digits, size_t(n));
}

// The shortest text that reads back as the same double: 0.005, 0.1, 1, 2.5. Plain notation for
// ordinary magnitudes, exponent notation only for very small or very large bounds.
void append_bound(std::string& out, double v) {
    char buf[64];
    double mag = std::fabs(v);
    auto fmt = (mag == 0 || (mag >= 1e-4 && mag < 1e21)) ? std::chars_format::fixed
                                                         : std::chars_format::general;
    auto r = std::to_chars(buf, buf + sizeof(buf), v, fmt);
    out.append(buf, r.ptr);
}

// HELP text escapes backslash and newline (format 0.0.4).
void append_help(std::string& out, std::string_view help) {
    for (char c : help) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else out.push_back(c);
    }
}

void append_series_name(std::string& out, std::string_view name, std::string_view suffix,
                        std::string_view labels) {
    out.append(name);
    out.append(suffix);
    if (!labels.empty()) {
        out.push_back('{');
        out.append(labels);
        out.push_back('}');
    }
    out.push_back(' ');
}

}  // namespace

void Histogram::observe_micros(uint64_t micros) {
    // Bounds are seconds; micros / 1e6 is correctly rounded, so an observation of exactly a
    // bound written as a decimal literal (5000us vs 0.005) lands in that bound's bucket.
    double seconds = double(micros) / 1e6;
    uint32_t i = 0;
    while (i < bucket_count && seconds > bounds[i]) ++i;
    buckets[i].fetch_add(1, std::memory_order_relaxed);
    count.fetch_add(1, std::memory_order_relaxed);
    sum_micros.fetch_add(micros, std::memory_order_relaxed);
}

Store::Store(shm::Zone& zone) : zone_(zone) {
    shm::LockGuard lock(zone_.mutex());
    if (zone_.header()->root) return;
    uint64_t off = zone_.alloc(sizeof(Root));
    if (!off) return;  // zone too small: every find-or-create will return nullptr
    auto* root = new (zone_.at<Root>(off)) Root{};
    root->magic = kRootMagic;
    // Other processes read header()->root only after taking the mutex (in their Store
    // constructor), so a plain store is enough.
    zone_.header()->root = off;
}

Store::~Store() {
    if (!ledger_home_ && ledger_head_) settle_ledger(ledger_head_);
}

std::atomic<uint64_t>* Store::counter(std::string_view name, std::string_view labels,
                                      std::string_view help) {
    uint64_t off = series_value(zone_, name, labels, help, Type::Counter, {});
    return zone_.at<std::atomic<uint64_t>>(off);
}

std::atomic<int64_t>* Store::gauge(std::string_view name, std::string_view labels,
                                   std::string_view help) {
    uint64_t off = series_value(zone_, name, labels, help, Type::Gauge, {});
    return zone_.at<std::atomic<int64_t>>(off);
}

Histogram* Store::histogram(std::string_view name, std::string_view labels, std::string_view help,
                            std::span<const double> bounds_seconds) {
    // Bounds must be finite and strictly ascending (+Inf is implicit); an existing series keeps
    // the bounds it was created with.
    if (bounds_seconds.size() > kMaxBuckets) return nullptr;
    for (size_t i = 0; i < bounds_seconds.size(); ++i) {
        if (!std::isfinite(bounds_seconds[i])) return nullptr;
        if (i > 0 && !(bounds_seconds[i - 1] < bounds_seconds[i])) return nullptr;
    }
    uint64_t off = series_value(zone_, name, labels, help, Type::Histogram, bounds_seconds);
    return zone_.at<Histogram>(off);
}

OwnedGauge Store::owned_gauge(std::string_view name, std::string_view labels,
                              std::string_view help) {
    uint64_t off = series_value(zone_, name, labels, help, Type::Gauge, {});
    if (!off) return {};
    uint64_t entry = 0;
    if (auto it = ledger_index_.find(off); it != ledger_index_.end()) {
        entry = it->second;
    } else {
        shm::LockGuard lock(zone_.mutex());
        entry = new_ledger_entry(off);
        // No entry, no counting: a share nobody could settle would drift again.
        if (!entry) return {};
        ledger_index_.emplace(off, entry);
    }
    return OwnedGauge(zone_.at<std::atomic<int64_t>>(off), &zone_.at<LedgerEntry>(entry)->amount);
}

uint64_t Store::new_ledger_entry(uint64_t gauge_offset) {
    LedgerBlock* tail = zone_.at<LedgerBlock>(ledger_tail_);
    if (!tail || tail->used.load(std::memory_order_relaxed) == tail->capacity) {
        uint64_t size = tail ? std::min<uint64_t>(
                                   (sizeof(LedgerBlock) + tail->capacity * sizeof(LedgerEntry)) * 2,
                                   kMaxLedgerBlock)
                             : kFirstLedgerBlock;
        uint64_t off = zone_.alloc(size);
        if (!off) return 0;
        auto* b = new (zone_.at<LedgerBlock>(off)) LedgerBlock{};  // slab memory is zeroed
        b->magic = kLedgerMagic;
        b->capacity = uint16_t((size - sizeof(LedgerBlock)) / sizeof(LedgerEntry));
        if (tail) {
            tail->next.store(off, std::memory_order_release);
        } else {
            ledger_head_ = off;
            // Published before any entry can hold an amount: from here on, whatever this
            // process adds can be undone.
            if (ledger_home_) ledger_home_->store(off, std::memory_order_release);
        }
        ledger_tail_ = off;
        tail = b;
    }
    uint16_t i = tail->used.load(std::memory_order_relaxed);
    LedgerEntry* e = new (&ledger_entries(tail)[i]) LedgerEntry{};
    e->gauge = gauge_offset;
    tail->used.store(uint16_t(i + 1), std::memory_order_release);
    return uint64_t(reinterpret_cast<char*>(e) - zone_.base());
}

void Store::set_ledger_home(std::atomic<uint64_t>* home) {
    ledger_home_ = home;
    if (!home) return;
    uint64_t left = home->exchange(ledger_head_, std::memory_order_acq_rel);
    // A slot is reused only after its previous process was reaped, so a ledger still there
    // is a dead process's that was never settled (say, by a master that died itself).
    if (left && left != ledger_head_) settle_ledger(left);
}

void Store::settle_ledger(uint64_t ledger) {
    if (!ledger) return;
    if (ledger == ledger_head_) {  // this process's own, at its end
        if (ledger_home_) {
            uint64_t expected = ledger;
            ledger_home_->compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
        }
        ledger_head_ = ledger_tail_ = 0;
        ledger_index_.clear();
    }
    shm::LockGuard lock(zone_.mutex());
    // Bounded, in case of a cycle: no zone holds more blocks than this.
    uint64_t max_blocks = zone_.size() / kFirstLedgerBlock;
    for (uint64_t off = ledger; off && max_blocks--;) {
        LedgerBlock* b = ledger_block(zone_, off);
        if (!b) break;
        uint16_t used = std::min(b->used.load(std::memory_order_acquire), b->capacity);
        for (uint16_t i = 0; i < used; ++i) {
            const LedgerEntry& e = ledger_entries(b)[i];
            int64_t amount = e.amount.load(std::memory_order_relaxed);
            uint64_t g = e.gauge;
            if (!amount || g <= kValueOffset || !in_zone(zone_, g, sizeof(std::atomic<int64_t>)))
                continue;
            if (zone_.at<Series>(g - kValueOffset)->type != Type::Gauge) continue;
            zone_.at<std::atomic<int64_t>>(g)->fetch_sub(amount, std::memory_order_relaxed);
        }
        uint64_t next = b->next.load(std::memory_order_acquire);
        b->magic = 0;  // a second settle of the same offset stops here
        zone_.free(off);
        off = next;
    }
}

void Store::render(std::string& out) const {
    const Root* root = root_of(zone_);
    if (!root) return;
    for (uint64_t f = root->first_family.load(std::memory_order_acquire); f;
         f = zone_.at<Family>(f)->next.load(std::memory_order_acquire)) {
        const Family* fam = zone_.at<Family>(f);
        std::string_view name = str_at(zone_, fam->name);
        std::string_view help = str_at(zone_, fam->help);
        if (!help.empty()) {  // an empty HELP line says nothing; leave it out
            out += "# HELP ";
            out += name;
            out.push_back(' ');
            append_help(out, help);
            out.push_back('\n');
        }
        out += "# TYPE ";
        out += name;
        out += fam->type == Type::Counter ? " counter\n"
               : fam->type == Type::Gauge ? " gauge\n"
                                          : " histogram\n";

        for (uint64_t s = fam->first_series.load(std::memory_order_acquire); s;
             s = zone_.at<Series>(s)->family_next.load(std::memory_order_acquire)) {
            std::string_view labels = str_at(zone_, zone_.at<Series>(s)->labels);
            const char* value = zone_.base() + s + kValueOffset;
            switch (fam->type) {
                case Type::Counter:
                    append_series_name(out, name, {}, labels);
                    append_uint(out, reinterpret_cast<const std::atomic<uint64_t>*>(value)->load(
                                         std::memory_order_relaxed));
                    out.push_back('\n');
                    break;
                case Type::Gauge:
                    append_series_name(out, name, {}, labels);
                    append_int(out, reinterpret_cast<const std::atomic<int64_t>*>(value)->load(
                                        std::memory_order_relaxed));
                    out.push_back('\n');
                    break;
                case Type::Histogram: {
                    const auto* h = reinterpret_cast<const Histogram*>(value);
                    // _count is the +Inf bucket, summed from the same loads, so the exposition
                    // stays self-consistent while observations race with the scrape.
                    uint64_t cumulative = 0;
                    for (uint32_t i = 0; i <= h->bucket_count; ++i) {
                        cumulative += h->buckets[i].load(std::memory_order_relaxed);
                        out += name;
                        out += "_bucket{";
                        if (!labels.empty()) {
                            out += labels;
                            out.push_back(',');
                        }
                        out += "le=\"";
                        if (i < h->bucket_count)
                            append_bound(out, h->bounds[i]);
                        else
                            out += "+Inf";
                        out += "\"} ";
                        append_uint(out, cumulative);
                        out.push_back('\n');
                    }
                    append_series_name(out, name, "_sum", labels);
                    append_micros_as_seconds(out, h->sum_micros.load(std::memory_order_relaxed));
                    out.push_back('\n');
                    append_series_name(out, name, "_count", labels);
                    append_uint(out, cumulative);
                    out.push_back('\n');
                    break;
                }
            }
        }
    }
}

void Store::render_json(std::string& out) const {
    out.push_back('[');
    const Root* root = root_of(zone_);
    bool first_family = true;
    for (uint64_t f = root ? root->first_family.load(std::memory_order_acquire) : 0; f;
         f = zone_.at<Family>(f)->next.load(std::memory_order_acquire)) {
        const Family* fam = zone_.at<Family>(f);
        if (!first_family) out.push_back(',');
        first_family = false;
        out += "{\"name\":\"";
        append_json_escaped_text(out, str_at(zone_, fam->name));
        out += fam->type == Type::Counter ? "\",\"type\":\"counter\""
               : fam->type == Type::Gauge ? "\",\"type\":\"gauge\""
                                          : "\",\"type\":\"histogram\"";
        out += ",\"help\":\"";
        append_json_escaped_text(out, str_at(zone_, fam->help));
        out += "\",\"series\":[";
        bool first_series = true;
        for (uint64_t s = fam->first_series.load(std::memory_order_acquire); s;
             s = zone_.at<Series>(s)->family_next.load(std::memory_order_acquire)) {
            if (!first_series) out.push_back(',');
            first_series = false;
            out += "{\"labels\":";
            append_labels_json(out, str_at(zone_, zone_.at<Series>(s)->labels));
            const char* value = zone_.base() + s + kValueOffset;
            switch (fam->type) {
                case Type::Counter:
                    out += ",\"value\":";
                    append_uint(out, reinterpret_cast<const std::atomic<uint64_t>*>(value)->load(
                                         std::memory_order_relaxed));
                    break;
                case Type::Gauge:
                    out += ",\"value\":";
                    append_int(out, reinterpret_cast<const std::atomic<int64_t>*>(value)->load(
                                        std::memory_order_relaxed));
                    break;
                case Type::Histogram: {
                    const auto* h = reinterpret_cast<const Histogram*>(value);
                    out += ",\"le\":[";
                    for (uint32_t i = 0; i < h->bucket_count; ++i) {
                        if (i) out.push_back(',');
                        append_bound(out, h->bounds[i]);
                    }
                    // Cumulative, and count from the same loads (as render() does).
                    out += "],\"buckets\":[";
                    uint64_t cumulative = 0;
                    for (uint32_t i = 0; i <= h->bucket_count; ++i) {
                        if (i) out.push_back(',');
                        cumulative += h->buckets[i].load(std::memory_order_relaxed);
                        append_uint(out, cumulative);
                    }
                    out += "],\"sum\":";
                    append_micros_as_seconds(out, h->sum_micros.load(std::memory_order_relaxed));
                    out += ",\"count\":";
                    append_uint(out, cumulative);
                    break;
                }
            }
            out.push_back('}');
        }
        out += "]}";
    }
    out.push_back(']');
}

void append_labels_json(std::string& out, std::string_view labels) {
    // Parsed first, written after: text not in the expected form is written whole instead.
    std::vector<std::pair<std::string_view, std::string>> pairs;
    size_t i = 0;
    bool ok = true;
    while (ok && i < labels.size()) {
        size_t eq = labels.find('=', i);
        if (eq == std::string_view::npos || eq == i || eq + 1 >= labels.size() || labels[eq + 1] != '"') {
            ok = false;
            break;
        }
        std::string_view name = labels.substr(i, eq - i);
        std::string value;
        size_t j = eq + 2;
        bool closed = false;
        while (j < labels.size()) {
            char c = labels[j++];
            if (c == '"') {
                closed = true;
                break;
            }
            if (c == '\\') {
                if (j >= labels.size()) break;
                char e = labels[j++];
                value.push_back(e == 'n' ? '\n' : e);
            } else {
                value.push_back(c);
            }
        }
        if (!closed) ok = false;
        pairs.emplace_back(name, std::move(value));
        if (j < labels.size()) {
            if (labels[j] != ',') ok = false;
            ++j;
            if (j == labels.size()) ok = false;  // a trailing comma
        }
        i = j;
    }
    out.push_back('{');
    if (!ok) {
        out += "\"_labels\":\"";
        append_json_escaped_text(out, labels);
        out += "\"}";
        return;
    }
    for (size_t k = 0; k < pairs.size(); ++k) {
        if (k) out.push_back(',');
        out.push_back('"');
        append_json_escaped_text(out, pairs[k].first);
        out += "\":\"";
        append_json_escaped_text(out, pairs[k].second);
        out.push_back('"');
    }
    out.push_back('}');
}

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out.push_back(c);
    }
    return out;
}

}  // namespace gw::metrics
