// The plan executor: a whole batch of map or unmap calls in one trip into
// native code, each timed with CLOCK_MONOTONIC around the ioctl alone, so the
// figures hold no JS overhead. It stops at the first failure and does not
// unwind: the planner above decides what to undo.
//
// One loop serves every kind of DMA space: a type1 container (MAP_DMA /
// UNMAP_DMA) and an iommufd IOAS (IOMMU_IOAS_MAP / IOMMU_IOAS_UNMAP) are each
// a PlanTarget, which issues one entry's ioctl; the books (books.h) follow
// with the target's unmap rule.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

#include "books.h"

namespace vfio {

class DmaBuffer;
using Books = MappingBooks<DmaBuffer>;

class PlanTarget {
 public:
  // Issue one entry; return 0 or the errno. prot holds PROT_READ (1) |
  // PROT_WRITE (2). ns non-null: the time around the ioctl alone (kernel::Call).
  virtual int MapEntry(uint64_t vaddr, uint64_t iova, uint64_t size, uint32_t prot, double* ns) = 0;
  virtual int UnmapEntry(uint64_t iova, uint64_t size, uint64_t* unmapped, double* ns) = 0;
  // The errno for an entry whose range wraps 2^64, given without a system
  // call; 0 leaves the judgement to the kernel.
  virtual int WrapErrno() const = 0;

  Books& books() { return books_; }

 protected:
  explicit PlanTarget(UnmapRule rule) : books_(rule) {}
  ~PlanTarget() = default;  // owned and deleted as the ObjectWrap it also is

  Books books_;
};

// runPlan(op: 'map' | 'unmap', plan: BigUint64Array) ->
//   { ns: Float64Array, completed, failedIndex, errno, unmapped: bigint }
// Entries are PLAN_STRIDE (4) words: vaddr, iova, size, flags (unmap ignores
// vaddr and flags). ns has one slot per entry attempted: completed ones plus
// the failed one. An entry whose range wraps 2^64 fails with the target's
// WrapErrno without a system call (ns 0) when that is non-zero.
Napi::Value ExecutePlan(const Napi::CallbackInfo& info, PlanTarget& target);

// runPlanInto(op, plan, ns: Float64Array, status: Float64Array) -> unmapped: bigint
// runPlan with nothing made in native code but the bigint: the times go into
// ns (at least one slot per entry; the first `attempted` are written) and
// status[0..3] = completed, failedIndex, errno, attempted. The JS wrapper
// builds the result object: made here, its five properties cost several times
// the system call of a one-entry plan (lib/bench/overhead.ts measures it).
Napi::Value ExecutePlanInto(const Napi::CallbackInfo& info, PlanTarget& target);

// runPlanCycles(plan: BigUint64Array, reps) ->
//   { mapNs: Float64Array, unmapNs: Float64Array, completed, failedOp: 'map' | 'unmap' | null,
//     failedIndex, errno }
// reps times: every entry of the map plan mapped, then every one unmapped
// (its iova and size), so the kernel is timed rep after rep with no JS in
// between. mapNs[r] / unmapNs[r]: rep r's ioctl times summed, as runPlan's
// ns would be. Stops at the first failure without unwinding, like runPlan:
// after a failed map, entries before failedIndex stay mapped; after a failed
// unmap, entries from failedIndex on do (the books say so either way). The
// arrays hold the completed reps only.
Napi::Value ExecutePlanCycles(const Napi::CallbackInfo& info, PlanTarget& target);

constexpr size_t kPlanStride = 4;

}  // namespace vfio
