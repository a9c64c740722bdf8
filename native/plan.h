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

struct AddonData;
class Bond;
class PlanJob;
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
  virtual bool Closed() const = 0;
  // Keep the JS object from collection while a job runs (PlanJob), and let it go.
  virtual void HoldObject() noexcept = 0;
  virtual void ReleaseObject() noexcept = 0;

  Books& books() { return books_; }
  // Whether an async plan is in flight: every other call answers EBUSY.
  bool Busy() const { return job_ != nullptr; }
  void AbortJob() noexcept;

  // spaceCalls(): the hot calls bound to this space (space_calls.h), once.
  Napi::Value TakeSpaceCalls(Napi::Env env);

 protected:
  explicit PlanTarget(UnmapRule rule) : books_(rule) {}
  // Owned and deleted as the ObjectWrap it also is; its calls (space_calls.h)
  // answer "closed" from here on.
  ~PlanTarget();

  // Closing: stops an async plan between entries and waits for the entry
  // under way, so no system call outlives the descriptor. Never throws.
  void StopJob() noexcept;

  Books books_;

 private:
  friend class PlanJob;
  Bond* bond_ = nullptr;
  PlanJob* job_ = nullptr;
};

// How one pass over a plan's entries ended.
struct PlanPass {
  size_t attempted = 0;  // completed, plus the failed one
  size_t completed = 0;
  int64_t failedIndex = -1;
  int err = 0;
  uint64_t unmapped = 0;
};

// One pass over `entries` entries of PLAN_STRIDE (4) words: vaddr, iova,
// size, flags (unmap ignores vaddr and flags). Entry i's ioctl time goes to
// ns[i] (0 for an entry whose range wraps 2^64, refused with the target's
// WrapErrno without a system call when that is non-zero); ns null: untimed.
// Stops at the first failure, without unwinding: the planner above decides
// what to undo. The books follow every entry the kernel acted on. Map flags
// must already be checked (PlanFlagsValid).
PlanPass RunPlanPass(PlanTarget& target, AddonData* data, const uint64_t* words, size_t entries, bool isMap,
                     double* ns);

// The target's refusal of an entry whose range wraps 2^64 (its iova range,
// or for a map its vaddr range too), given without a system call: its
// WrapErrno(), or 0 when the entry does not wrap or the target leaves it to
// the kernel (wrapErrno 0). Every pass over entries asks it first.
int WrapRefusal(int wrapErrno, const uint64_t* entry, bool isMap);

// Whether every entry's flags hold only PROT_READ | PROT_WRITE; *bad is the
// first that does not.
bool PlanFlagsValid(const uint64_t* words, size_t entries, size_t* bad);

// runPlanCycles(plan: BigUint64Array, reps, bare = false) ->
//   { mapNs: Float64Array, unmapNs: Float64Array, completed, failedOp: 'map' | 'unmap' | null,
//     failedIndex, errno }
// reps times: every entry of the map plan mapped, then every one unmapped
// (its iova and size), so the kernel is timed rep after rep with no JS in
// between. mapNs[r] / unmapNs[r]: rep r's ioctl times summed, as runPlan's
// ns would be. Stops at the first failure without unwinding, like runPlan:
// after a failed map, entries before failedIndex stay mapped; after a failed
// unmap, entries from failedIndex on do (the books say so either way). The
// arrays hold the completed reps only.
// bare: the C reference's loop instead of the executor's pass (plan.cc
// BarePass): each rep maps every entry, then unmaps every entry it mapped,
// even after a failure, with nothing but the timed ioctls (no books, no
// buffer lookups): the floor the executor is held to, in this process.
Napi::Value ExecutePlanCycles(const Napi::CallbackInfo& info, PlanTarget& target);

constexpr size_t kPlanStride = 4;

}  // namespace vfio
