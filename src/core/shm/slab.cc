// The slab allocator of a zone.
//
// Layout of the user area: SlabState | PageDesc[page_count] | pad to a page | pages.
// Small objects (16..2048 bytes, powers of two) live in pages dedicated to one size class; the
// free slots of such a page form a singly linked list threaded through the slots themselves
// (each free slot starts with the zone offset of the next). Bigger objects take a run of whole
// pages. Free pages form runs kept in an address-ordered list (first fit); each free run is
// marked on its first and last page descriptor (boundary tags), so freeing a run merges it with
// its neighbours in O(1) before it is put back in the list.
//
// Everything is an offset (zone offsets for memory, page index + 1 for list links, 0 = none),
// because the zone may be mapped at another address by another binary.
#include <cstring>

#include "core/shm/zone.h"

namespace gw::shm {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kMinShift = 4;                     // smallest class: 16 bytes
constexpr uint64_t kMaxSmall = kPage / 2;             // largest class: 2048 bytes
constexpr uint32_t kClassCount = 8;                   // 16, 32, ..., 2048
constexpr uint64_t kSlabMagic = 0x31424c5357472aULL;  // "*GWSLB1"

enum Kind : uint8_t {
    kFreeBody = 0,  // inside a free run (neither end), or never looked at
    kFreeHead,      // first page of a free run (also its last when the run is one page)
    kFreeTail,      // last page of a free run of two or more pages
    kClassPage,     // a page of small objects of one class
    kRunHead,       // first page of an allocated run
    kRunBody,       // other pages of an allocated run
};

struct PageDesc {
    uint8_t kind;
    uint8_t cls;         // class index (class pages)
    uint16_t used;       // slots in use (class pages)
    uint32_t pages;      // run length (free head/tail, run head)
    uint64_t free_slot;  // zone offset of the first free slot (class pages), 0 = full
    uint32_t next;       // page index + 1: partial list of the class, or free-run list
    uint32_t prev;
};
static_assert(sizeof(PageDesc) == 24);

struct SlabState {
    uint64_t magic;
    uint64_t descs;       // zone offset of PageDesc[page_count]
    uint64_t pages;       // zone offset of page 0 (page aligned)
    uint64_t page_count;
    uint64_t pages_free;
    uint64_t bytes_in_use;
    uint32_t free_runs;               // head of the free-run list (address order)
    uint32_t partial[kClassCount];    // per class: pages with at least one free slot
};

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

// A view of the slab of one zone, rebuilt on every call (cheap: two loads).
struct Ctx {
    char* base;
    SlabState* s;
    PageDesc* d;

    explicit Ctx(const void* zone_base)
        : base(static_cast<char*>(const_cast<void*>(zone_base))),
          s(reinterpret_cast<SlabState*>(base + reinterpret_cast<ZoneHeader*>(base)->slab)),
          d(reinterpret_cast<PageDesc*>(base + s->descs)) {}

    uint64_t page_off(uint32_t i) const { return s->pages + uint64_t(i) * kPage; }
    uint64_t& slot_next(uint64_t off) const { return *reinterpret_cast<uint64_t*>(base + off); }

    // Doubly linked lists of page descriptors; `head` is a page index + 1.
    void unlink(uint32_t& head, uint32_t i) {
        PageDesc& p = d[i];
        if (p.prev) d[p.prev - 1].next = p.next; else head = p.next;
        if (p.next) d[p.next - 1].prev = p.prev;
        p.next = p.prev = 0;
    }
    void push_front(uint32_t& head, uint32_t i) {
        d[i].prev = 0;
        d[i].next = head;
        if (head) d[head - 1].prev = i + 1;
        head = i + 1;
    }
    // Inserts free run i into the free-run list, keeping address order (so first fit prefers
    // low pages and the high end of the zone stays in big runs).
    void insert_free_run(uint32_t i) {
        uint32_t prev = 0;
        uint32_t cur = s->free_runs;
        while (cur && cur - 1 < i) {
            prev = cur;
            cur = d[cur - 1].next;
        }
        d[i].prev = prev;
        d[i].next = cur;
        if (prev) d[prev - 1].next = i + 1; else s->free_runs = i + 1;
        if (cur) d[cur - 1].prev = i + 1;
    }

    void mark_free_run(uint32_t i, uint32_t n) {
        d[i].kind = kFreeHead;
        d[i].pages = n;
        if (n > 1) {
            d[i + n - 1].kind = kFreeTail;
            d[i + n - 1].pages = n;
        }
    }

    // First fit: takes n pages from the front of the first run that is long enough.
    // Returns the first page index, or UINT32_MAX.
    uint32_t alloc_pages(uint64_t n) {
        for (uint32_t r = s->free_runs; r; r = d[r - 1].next) {
            uint32_t i = r - 1;
            uint32_t len = d[i].pages;
            if (len < n) continue;
            if (len > n) {
                // The rest of the run takes this run's place in the list (same address order).
                uint32_t rest = i + uint32_t(n);
                d[rest].prev = d[i].prev;
                d[rest].next = d[i].next;
                if (d[rest].prev) d[d[rest].prev - 1].next = rest + 1; else s->free_runs = rest + 1;
                if (d[rest].next) d[d[rest].next - 1].prev = rest + 1;
                mark_free_run(rest, len - uint32_t(n));
                d[i].next = d[i].prev = 0;
            } else {
                unlink(s->free_runs, i);
            }
            s->pages_free -= n;
            return i;
        }
        return UINT32_MAX;
    }

    // Returns pages [i, i+n) to the free runs, merging with free neighbours.
    void free_pages(uint32_t i, uint32_t n) {
        s->pages_free += n;
        for (uint32_t k = i; k < i + n; ++k) d[k].kind = kFreeBody;
        if (i > 0) {
            PageDesc& p = d[i - 1];
            if (p.kind == kFreeHead || p.kind == kFreeTail) {
                uint32_t len = p.pages;
                uint32_t head = i - len;  // the run ends at i-1
                unlink(s->free_runs, head);
                d[head].kind = kFreeBody;
                p.kind = kFreeBody;
                i = head;
                n += len;
            }
        }
        if (uint64_t(i) + n < s->page_count) {
            PageDesc& q = d[i + n];
            if (q.kind == kFreeHead) {
                uint32_t len = q.pages;
                unlink(s->free_runs, i + n);
                q.kind = kFreeBody;
                if (len > 1) d[i + n + len - 1].kind = kFreeBody;
                n += len;
            }
        }
        mark_free_run(i, n);
        insert_free_run(i);
    }
};

uint32_t class_of(uint64_t size) {
    uint32_t cls = 0;
    while ((uint64_t{1} << (cls + kMinShift)) < size) ++cls;
    return cls;
}

}  // namespace

void Slab::init(void* zone_base, uint64_t zone_size, uint64_t area_offset) {
    char* base = static_cast<char*>(zone_base);
    // alloc()/free() find the state through the header, so record where it is.
    area_offset = align_up(area_offset, 8);
    reinterpret_cast<ZoneHeader*>(base)->slab = area_offset;
    auto* s = reinterpret_cast<SlabState*>(base + area_offset);
    std::memset(s, 0, sizeof(*s));
    s->magic = kSlabMagic;
    s->descs = align_up(area_offset + sizeof(SlabState), 8);

    // Each page costs a page plus a descriptor; shrink until the padded layout fits.
    uint64_t n = 0;
    if (zone_size > s->descs) n = (zone_size - s->descs) / (kPage + sizeof(PageDesc));
    if (n > UINT32_MAX - 1) n = UINT32_MAX - 1;  // links are page index + 1 in 32 bits
    while (n > 0 && align_up(s->descs + n * sizeof(PageDesc), kPage) + n * kPage > zone_size) --n;
    s->page_count = n;
    s->pages = align_up(s->descs + n * sizeof(PageDesc), kPage);
    std::memset(base + s->descs, 0, n * sizeof(PageDesc));

    if (n > 0) {
        Ctx c(zone_base);
        c.mark_free_run(0, uint32_t(n));
        c.insert_free_run(0);
        s->pages_free = n;
    }
}

uint64_t Slab::alloc(void* zone_base, uint64_t size) {
    Ctx c(zone_base);
    if (size == 0) size = 1;  // like malloc(0): a distinct, smallest object

    if (size <= kMaxSmall) {
        uint32_t cls = class_of(size);
        uint64_t sz = uint64_t{1} << (cls + kMinShift);
        if (!c.s->partial[cls]) {
            uint32_t p = c.alloc_pages(1);
            if (p == UINT32_MAX) return 0;
            PageDesc& pd = c.d[p];
            pd.kind = kClassPage;
            pd.cls = uint8_t(cls);
            pd.used = 0;
            // Thread every slot, lowest first, so allocation walks the page in address order.
            uint64_t first = c.page_off(p);
            for (uint64_t off = first; off < first + kPage; off += sz)
                c.slot_next(off) = off + sz < first + kPage ? off + sz : 0;
            pd.free_slot = first;
            c.push_front(c.s->partial[cls], p);
        }
        uint32_t p = c.s->partial[cls] - 1;
        PageDesc& pd = c.d[p];
        uint64_t off = pd.free_slot;
        pd.free_slot = c.slot_next(off);
        ++pd.used;
        if (pd.free_slot == 0) c.unlink(c.s->partial[cls], p);
        std::memset(c.base + off, 0, sz);
        c.s->bytes_in_use += sz;
        return off;
    }

    if (size > c.s->page_count * kPage) return 0;  // also keeps the page count below in range
    uint64_t n = (size + kPage - 1) / kPage;
    uint32_t p = c.alloc_pages(n);
    if (p == UINT32_MAX) return 0;
    c.d[p].kind = kRunHead;
    c.d[p].pages = uint32_t(n);
    for (uint32_t k = 1; k < n; ++k) c.d[p + k].kind = kRunBody;
    uint64_t off = c.page_off(p);
    std::memset(c.base + off, 0, n * kPage);
    c.s->bytes_in_use += n * kPage;
    return off;
}

void Slab::free(void* zone_base, uint64_t offset) {
    if (offset == 0) return;
    Ctx c(zone_base);
    // Offsets that cannot have come from alloc() are ignored rather than corrupting the zone.
    if (offset < c.s->pages || offset >= c.s->pages + c.s->page_count * kPage) return;
    uint32_t p = uint32_t((offset - c.s->pages) / kPage);
    PageDesc& pd = c.d[p];

    if (pd.kind == kClassPage) {
        uint64_t sz = uint64_t{1} << (pd.cls + kMinShift);
        if ((offset - c.page_off(p)) % sz != 0) return;
        bool was_full = pd.free_slot == 0;
        c.slot_next(offset) = pd.free_slot;
        pd.free_slot = offset;
        --pd.used;
        c.s->bytes_in_use -= sz;
        if (pd.used == 0) {
            // An empty page goes back to the page pool so any class (or a run) can use it.
            // (A page has at least two slots, so an empty page was not full: it is listed.)
            c.unlink(c.s->partial[pd.cls], p);
            c.free_pages(p, 1);
        } else if (was_full) {
            c.push_front(c.s->partial[pd.cls], p);
        }
        return;
    }

    if (pd.kind == kRunHead && offset == c.page_off(p)) {
        uint32_t n = pd.pages;
        c.s->bytes_in_use -= uint64_t(n) * kPage;
        c.free_pages(p, n);
    }
}

Slab::Stats Slab::stats(const void* zone_base) {
    Ctx c(zone_base);
    return Stats{c.s->page_count, c.s->pages_free, c.s->bytes_in_use};
}

}  // namespace gw::shm
