// MappingBooks: what a DMA space (type1 container or iommufd IOAS) has mapped,
// each kernel mapping holding the buffers it covers pinned (Buffer::Pin /
// Unpin) so that none is freed while the IOMMU may point at it.
//
// The books follow the kernel, so an unmap removes exactly the mappings the
// kernel removed. Which ones depends on the interface (UnmapRule); each
// kernel walks its mappings in IOVA order from the first one that reaches
// the range's start:
//   type1 v1  vfio_dma_do_unmap: every mapping that begins inside the range
//             goes, but a mapping that begins below the start stops the walk
//             (nothing goes).
//   type1 v2  the same, without the stop: the kernel has refused a range that
//             would bisect a mapping before this point.
//   IOAS      iopt_unmap_iova_range: mappings wholly inside go, in order, until
//             one that sticks out stops it with ENOENT, so a failed unmap may
//             still have removed the ones before it. iova 0 with length
//             UINT64_MAX is "everything".
//
// Stored as runs: one record per run of mappings of one size, each beginning
// where the one before ends, over the same buffers. A plan maps its entries
// upwards, page after page, and a record per mapping (a tree node, its
// buffer list, the insert and the erase) was most of the executor's cost
// beyond the ioctl on the overhead stand-in. A run grows by a count (at its
// end, or at its head for a caller mapping downwards) and shrinks from its
// head in place: a 512-entry plan's map and unmap went from
// 560 to 370 user instructions per entry (callgrind). The kernel still sees
// one mapping per entry, and so do size(), ForEach and every unmap rule: a
// run splits wherever an unmap cuts it.
// test/native/children/books.cc holds the books against a model that keeps
// one record per mapping, over random maps, unmaps, copies and clears.
//
// No N-API here: Buffer is DmaBuffer in the addon and a counting stand-in in
// test/native/children/books.cc.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <set>
#include <utility>
#include <vector>

#include "buffer_list.h"
#include "node_pool.h"

namespace vfio {

enum class UnmapRule { kType1v1, kType1v2, kIoas };

template <class Buffer>
class MappingBooks {
 public:
  explicit MappingBooks(UnmapRule rule) : rule_(rule), runs_(ByFirst(), NodePoolAllocator<Run>(&nodes_)) {}
  MappingBooks(const MappingBooks&) = delete;
  MappingBooks& operator=(const MappingBooks&) = delete;

  UnmapRule rule() const { return rule_; }
  // A type1 container learns its rule at SET_IOMMU and loses it with the
  // last group.
  void set_rule(UnmapRule rule) { rule_ = rule; }
  // Kernel mappings held.
  size_t size() const { return mappings_; }
  // Records they take (tests and the model check read it).
  size_t runs() const { return runs_.size(); }
  // Changes whenever the books are cleared (the kernel dropped everything):
  // an async plan (plan_job.h) that started before does not record its entries.
  uint64_t generation() const { return generation_; }

  // After a successful map of [iova, iova + size): pins buffers. Mappings the
  // range overlaps are dropped first, their pins released: the kernel refuses
  // an overlap, so only a stand-in target (overhead_space.h) gets here, and
  // the pins stay balanced. An empty or wrapping range maps nothing (the
  // kernel refuses both) and is not recorded.
  void Mapped(uint64_t iova, uint64_t size, BufferList<Buffer>&& buffers) {
    if (!Walkable(iova, size)) return;
    // Pinned before anything overlapped is released: a buffer in both stays
    // pinned throughout.
    for (Buffer* b : buffers) b->Pin();
    mappings_++;
    // The runs either side of the new mapping. Batches map upwards: above
    // the highest run they are that run and the end, found without a search.
    auto next = runs_.end();
    auto before = runs_.empty() ? runs_.end() : std::prev(next);
    if (before != runs_.end() && Last(*before) >= iova) {
      Walk(UnmapRule::kType1v2, iova, size);
      next = runs_.upper_bound(iova);
      before = next == runs_.begin() ? runs_.end() : std::prev(next);
    }
    if (before != runs_.end() && Extends(*before, iova, size, buffers)) {
      before->count++;
    } else if (next != runs_.end() && Precedes(*next, iova, size, buffers)) {
      // Mapping downwards: the run's start moves down to the new mapping, in
      // place (still above the run before it: nothing overlaps any more).
      next->first = iova;
      next->count++;
    } else {
      runs_.emplace_hint(next, Run{iova, size, 1, std::move(buffers)});
    }
  }

  // After a successful unmap of [iova, iova + size).
  void Unmapped(uint64_t iova, uint64_t size) noexcept {
    if (Everything(iova, size)) {
      Clear();
    } else if (Walkable(iova, size)) {
      Walk(rule_, iova, size);
    }
  }

  // Bytes an unmap of [iova, iova + size) would remove from the books, without
  // removing them: what the kernel would report unmapped, for a stand-in
  // target that has no kernel to ask (overhead_space.h).
  uint64_t BytesIn(uint64_t iova, uint64_t size) const noexcept {
    uint64_t bytes = 0;
    if (Everything(iova, size)) {
      for (const Run& r : runs_) bytes += r.count * r.size;
    } else if (Walkable(iova, size)) {
      auto [from, to] = Span(runs_, rule_, iova, iova + (size - 1));
      if (from.run == to.run) return from.run == runs_.end() ? 0 : (to.k - from.k) * from.run->size;
      for (auto it = from.run; it != to.run; ++it) {
        bytes += (it->count - (it == from.run ? from.k : 0)) * it->size;
      }
      if (to.run != runs_.end()) bytes += to.k * to.run->size;
    }
    return bytes;
  }

  // After a failed unmap: only an IOAS's ENOENT (a mapping sticking out)
  // leaves anything removed, the mappings before that one.
  void UnmapFailed(uint64_t iova, uint64_t size, int err) noexcept {
    if (rule_ == UnmapRule::kIoas && err == ENOENT && Walkable(iova, size)) Walk(rule_, iova, size);
  }

  // After an unmap of everything, or when the kernel dropped the whole space.
  void Clear() noexcept {
    for (const Run& r : runs_) Unpin(r.buffers, r.count);
    runs_.clear();
    mappings_ = 0;
    generation_++;
  }

  // After IOMMU_IOAS_COPY of src's [srcIova, srcIova + size) to dstIova: one
  // new mapping per source mapping the range spans (iopt_get_pages), over the
  // same buffers.
  void Copied(const MappingBooks& src, uint64_t srcIova, uint64_t size, uint64_t dstIova) {
    // Gathered first: src may be these books (a copy within one IOAS), and
    // recording changes them.
    struct Piece {
      uint64_t iova, size;
      BufferList<Buffer> buffers;
    };
    std::vector<Piece> pieces;
    uint64_t last = srcIova + (size - 1);
    src.ForEachFrom(srcIova, [&](uint64_t first, uint64_t mapSize, const BufferList<Buffer>& buffers) {
      if (first > last) return false;
      uint64_t mapLast = first + (mapSize - 1);
      uint64_t from = first > srcIova ? first : srcIova, to = mapLast < last ? mapLast : last;
      pieces.push_back({dstIova + (from - srcIova), to - from + 1, buffers});
      return true;
    });
    for (Piece& p : pieces) Mapped(p.iova, p.size, std::move(p.buffers));
  }

  // f(iova, size) for every mapping, in IOVA order.
  template <class F>
  void ForEach(F&& f) const {
    for (const Run& r : runs_) {
      for (uint64_t k = 0; k < r.count; k++) f(r.first + k * r.size, r.size);
    }
  }

 private:
  // A set ordered by each run's first IOVA rather than a map keyed by it:
  // an unmap that takes a run's head moves its start up in place (Behead),
  // which keeps its place among its neighbours, where a map's const key
  // would cost an extract and a reinsert per entry of a plan's unmap.
  struct Run {
    mutable uint64_t first;  // iova of the first mapping
    mutable uint64_t size;   // of each mapping
    mutable uint64_t count;  // mappings
    mutable BufferList<Buffer> buffers;
  };
  struct ByFirst {
    using is_transparent = void;
    bool operator()(const Run& a, const Run& b) const { return a.first < b.first; }
    bool operator()(const Run& a, uint64_t iova) const { return a.first < iova; }
    bool operator()(uint64_t iova, const Run& b) const { return iova < b.first; }
  };
  using Runs = std::set<Run, ByFirst, NodePoolAllocator<Run>>;

  // A mapping's place: mapping k of a run; {end, 0} is past the last. A
  // range of them is [from, to), both in one walk of the runs.
  template <class It>
  struct Place {
    It run;
    uint64_t k;
  };

  static uint64_t Last(const Run& r) { return r.first + (r.count * r.size - 1); }

  // A range an unmap walks: not empty, not wrapping 2^64.
  static bool Walkable(uint64_t iova, uint64_t size) { return size != 0 && iova <= UINT64_MAX - (size - 1); }
  // IOAS: iova 0, length UINT64_MAX is every mapping.
  bool Everything(uint64_t iova, uint64_t size) const {
    return rule_ == UnmapRule::kIoas && iova == 0 && size == UINT64_MAX;
  }

  // Whether a mapping of [iova, iova + size) over buffers continues run r,
  // which ends below iova (so Last(r) + 1 cannot wrap).
  static bool Extends(const Run& r, uint64_t iova, uint64_t size,
                      const BufferList<Buffer>& buffers) {
    return r.size == size && Last(r) + 1 == iova && r.buffers == buffers;
  }

  // Whether a mapping of [iova, iova + size) over buffers ends where run r
  // begins, and may join it at its head.
  static bool Precedes(const Run& r, uint64_t iova, uint64_t size, const BufferList<Buffer>& buffers) {
    return r.size == size && iova + size == r.first && r.buffers == buffers;
  }

  static void Unpin(const BufferList<Buffer>& buffers, uint64_t times) noexcept {
    for (Buffer* b : buffers) {
      for (uint64_t i = 0; i < times; i++) b->Unpin();
    }
  }

  // How many of run r's mappings, from its first, the walk over [.., last]
  // takes: those that begin at or before last (type1), or end there (IOAS).
  static uint64_t Taken(const Run& r, UnmapRule rule, uint64_t last) {
    uint64_t reach = rule == UnmapRule::kIoas ? r.size - 1 : 0;  // from a mapping's start to the point judged
    if (last < r.first || last - r.first < reach) return 0;
    uint64_t n = (last - r.first - reach) / r.size + 1;
    return n < r.count ? n : r.count;
  }

  // The mappings the kernel's walk over [iova, last] removes (see the top of
  // this file): always a run of neighbours, [from, to).
  template <class Map>
  static auto Span(Map& runs, UnmapRule rule, uint64_t iova, uint64_t last) {
    auto from = Reaching(runs, iova);
    // The first mapping the walk meets begins below the range: type1 v1
    // stops there, an IOAS too (it sticks out), v2 takes it.
    if (from.run != runs.end() && rule != UnmapRule::kType1v2 &&
        from.run->first + from.k * from.run->size < iova) {
      return std::make_pair(from, from);
    }
    auto to = from;
    for (; to.run != runs.end(); to = {std::next(to.run), 0}) {
      // Never fewer than from.k in the first run: the mappings before the
      // one that reaches iova end below it.
      uint64_t n = Taken(*to.run, rule, last);
      if (n < to.run->count) {
        to.k = n;
        break;
      }
    }
    return std::make_pair(from, to);
  }

  // The first mapping that reaches at: the one holding it, else the first
  // above it ({end, 0} when none is).
  template <class Map>
  static auto Reaching(Map& runs, uint64_t at) {
    using It = decltype(runs.begin());
    It it = runs.upper_bound(at);
    if (it != runs.begin() && Last(*std::prev(it)) >= at) {
      --it;
      return Place<It>{it, (at - it->first) / it->size};
    }
    return Place<It>{it, 0};
  }

  // Removes what the kernel's walk under rule over [iova, iova + size) removes.
  void Walk(UnmapRule rule, uint64_t iova, uint64_t size) noexcept {
    auto [from, to] = Span(runs_, rule, iova, iova + (size - 1));
    Remove(from, to);
  }

  // Drops the mappings [from, to), releasing their pins. A run cut in two
  // takes a new record for its tail: the one allocation an unmap can make,
  // and it cannot be put off: the tail's buffers must stay pinned. Out of
  // memory there ends the process (noexcept) rather than leave DMA able to
  // reach a buffer the books let go.
  template <class It>
  void Remove(Place<It> from, Place<It> to) noexcept {
    if (from.run == to.run) {
      if (from.k == to.k) return;
      const Run& r = *from.run;
      Drop(r.buffers, to.k - from.k);
      if (to.k == r.count) {
        if (from.k == 0) runs_.erase(from.run);
        else r.count = from.k;
      } else if (from.k == 0) {
        Behead(from.run, to.k);
      } else {
        runs_.emplace_hint(std::next(from.run), Run{r.first + to.k * r.size, r.size, r.count - to.k, r.buffers});
        r.count = from.k;
      }
      return;
    }
    auto it = from.run;
    if (from.k > 0) {
      Drop(it->buffers, it->count - from.k);
      it->count = from.k;
      ++it;
    }
    while (it != to.run) {
      Drop(it->buffers, it->count);
      it = runs_.erase(it);
    }
    if (to.run != runs_.end() && to.k > 0) {
      Drop(to.run->buffers, to.k);
      Behead(to.run, to.k);
    }
  }

  void Drop(const BufferList<Buffer>& buffers, uint64_t mappings) noexcept {
    Unpin(buffers, mappings);
    mappings_ -= mappings;
  }

  // Run it loses its first n mappings: its start moves up to what was its
  // mapping n, still above the run before it and below the run after.
  static void Behead(typename Runs::iterator it, uint64_t n) noexcept {
    it->first += n * it->size;
    it->count -= n;
  }

  // f(first, size, buffers) for every mapping from the one that reaches at,
  // in IOVA order, while f returns true.
  template <class F>
  void ForEachFrom(uint64_t at, F&& f) const {
    auto [it, k] = Reaching(runs_, at);
    for (; it != runs_.end(); ++it, k = 0) {
      for (; k < it->count; k++) {
        if (!f(it->first + k * it->size, it->size, it->buffers)) return;
      }
    }
  }

  UnmapRule rule_;
  uint64_t generation_ = 0;
  size_t mappings_ = 0;
  NodeFreeList nodes_;  // before runs_: it must outlive the set's nodes
  Runs runs_;           // ordered by the iova of each run's first mapping
};

}  // namespace vfio
