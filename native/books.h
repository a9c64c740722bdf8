// MappingBooks: what a DMA space (type1 container or iommufd IOAS) has mapped,
// one record per kernel mapping, each holding the buffers it covers pinned
// (Buffer::Pin / Unpin) so that none is freed while the IOMMU may point at it.
//
// The books follow the kernel, so an unmap removes exactly the records the
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
// No N-API here: Buffer is DmaBuffer in the addon and a counting stand-in in
// test/native/books_test.cc.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <tuple>
#include <utility>

#include "buffer_list.h"
#include "node_pool.h"

namespace vfio {

enum class UnmapRule { kType1v1, kType1v2, kIoas };

template <class Buffer>
class MappingBooks {
 public:
  explicit MappingBooks(UnmapRule rule) : rule_(rule), areas_(std::less<uint64_t>(), AreaAllocator(&nodes_)) {}
  MappingBooks(const MappingBooks&) = delete;
  MappingBooks& operator=(const MappingBooks&) = delete;

  UnmapRule rule() const { return rule_; }
  // A type1 container learns its rule at SET_IOMMU and loses it with the
  // last group.
  void set_rule(UnmapRule rule) { rule_ = rule; }
  size_t size() const { return areas_.size(); }
  // Changes whenever the books are cleared (the kernel dropped everything):
  // an async plan (plan_job.h) that started before does not record its entries.
  uint64_t generation() const { return generation_; }

  // After a successful map of [iova, iova + size): pins buffers. A record
  // already at iova is replaced, its pins released (the kernel refuses
  // overlaps; the pins stay balanced regardless).
  // The list is moved straight into the record's node: a map entry's books
  // were half its instructions outside the ioctl on the overhead stand-in
  // (callgrind), and every copy of a list on the way is a dozen of them.
  void Mapped(uint64_t iova, uint64_t size, BufferList<Buffer>&& buffers) {
    for (Buffer* b : buffers) b->Pin();
    // Batches map upwards: above the highest record, insert at the end
    // without a search (the hint makes it constant time).
    if (areas_.empty() || std::prev(areas_.end())->first < iova) {
      areas_.emplace_hint(areas_.end(), std::piecewise_construct, std::forward_as_tuple(iova),
                          std::forward_as_tuple(size, std::move(buffers)));
      return;
    }
    auto it = areas_.lower_bound(iova);
    if (it != areas_.end() && it->first == iova) {
      Release(it->second);
      it->second = Area(size, std::move(buffers));
      return;
    }
    areas_.emplace_hint(it, std::piecewise_construct, std::forward_as_tuple(iova), std::forward_as_tuple(size, std::move(buffers)));
  }

  // After a successful unmap of [iova, iova + size).
  void Unmapped(uint64_t iova, uint64_t size) noexcept {
    if (rule_ == UnmapRule::kIoas && iova == 0 && size == UINT64_MAX) {
      Clear();
    } else if (size != 0 && iova <= UINT64_MAX - (size - 1)) {
      Walk(iova, iova + (size - 1));
    }
  }

  // Bytes an unmap of [iova, iova + size) would remove from the books, without
  // removing them: what the kernel would report unmapped, for a stand-in
  // target that has no kernel to ask (overhead_space.h).
  uint64_t BytesIn(uint64_t iova, uint64_t size) const noexcept {
    uint64_t bytes = 0;
    if (rule_ == UnmapRule::kIoas && iova == 0 && size == UINT64_MAX) {
      for (const auto& [at, a] : areas_) bytes += a.size;
    } else if (size != 0 && iova <= UINT64_MAX - (size - 1)) {
      auto [first, end] = Span(areas_, rule_, iova, iova + (size - 1));
      for (auto it = first; it != end; ++it) bytes += it->second.size;
    }
    return bytes;
  }

  // After a failed unmap: only an IOAS's ENOENT (a mapping sticking out)
  // leaves anything removed, the mappings before that one.
  void UnmapFailed(uint64_t iova, uint64_t size, int err) noexcept {
    if (rule_ == UnmapRule::kIoas && err == ENOENT && size != 0 && iova <= UINT64_MAX - (size - 1)) {
      Walk(iova, iova + (size - 1));
    }
  }

  // After an unmap of everything, or when the kernel dropped the whole space.
  void Clear() noexcept {
    for (auto& [iova, a] : areas_) Release(a);
    areas_.clear();
    generation_++;
  }

  // After IOMMU_IOAS_COPY of src's [srcIova, srcIova + size) to dstIova: one
  // new record per source mapping the range spans (iopt_get_pages), over the
  // same buffers.
  void Copied(const MappingBooks& src, uint64_t srcIova, uint64_t size, uint64_t dstIova) {
    uint64_t last = srcIova + (size - 1);
    auto it = src.areas_.upper_bound(srcIova);
    if (it != src.areas_.begin()) --it;
    for (; it != src.areas_.end() && it->first <= last; ++it) {
      uint64_t aFirst = it->first, aLast = it->first + (it->second.size - 1);
      if (aLast < srcIova) continue;
      uint64_t from = aFirst > srcIova ? aFirst : srcIova, to = aLast < last ? aLast : last;
      Mapped(dstIova + (from - srcIova), to - from + 1, BufferList<Buffer>(it->second.buffers));
    }
  }

  // f(iova, size) for every record, in IOVA order.
  template <class F>
  void ForEach(F&& f) const {
    for (const auto& [iova, a] : areas_) f(iova, a.size);
  }

 private:
  struct Area {
    Area(uint64_t s, BufferList<Buffer>&& b) : size(s), buffers(std::move(b)) {}
    uint64_t size;
    BufferList<Buffer> buffers;
  };

  static void Release(Area& a) noexcept {
    for (Buffer* b : a.buffers) b->Unpin();
  }

  // The records the kernel's walk over [iova, last] removes (see the top of
  // this file): always a run of neighbours, [first, end).
  template <class Map>
  static auto Span(Map& areas, UnmapRule rule, uint64_t iova, uint64_t last) {
    auto it = areas.upper_bound(iova);
    if (it != areas.begin()) {
      auto prev = std::prev(it);
      if (prev->first + (prev->second.size - 1) >= iova) it = prev;
    }
    auto first = it;
    while (it != areas.end() && it->first <= last) {
      if (rule == UnmapRule::kType1v1 && it->first < iova) break;
      if (rule == UnmapRule::kIoas && (it->first < iova || it->first + (it->second.size - 1) > last)) break;
      ++it;
    }
    return std::make_pair(first, it);
  }

  void Walk(uint64_t iova, uint64_t last) noexcept {
    auto [first, end] = Span(areas_, rule_, iova, last);
    for (auto it = first; it != end; ++it) Release(it->second);
    areas_.erase(first, end);
  }

  using AreaAllocator = NodePoolAllocator<std::pair<const uint64_t, Area>>;

  UnmapRule rule_;
  uint64_t generation_ = 0;
  NodeFreeList nodes_;  // before areas_: it must outlive the map's nodes
  std::map<uint64_t, Area, std::less<uint64_t>, AreaAllocator> areas_;  // keyed by iova
};

}  // namespace vfio
