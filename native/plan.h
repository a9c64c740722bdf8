// The plan executor: a whole batch of map or unmap calls in one trip into
// native code, each timed with CLOCK_MONOTONIC around the ioctl alone, so the
// figures hold no JS overhead. It stops at the first failure and does not
// unwind: the planner above decides what to undo.
//
// One loop serves every kind of DMA space: a type1 container (MAP_DMA /
// UNMAP_DMA) and an iommufd IOAS (IOMMU_IOAS_MAP / IOMMU_IOAS_UNMAP) each
// supply a PlanTarget that issues one entry's ioctl and keeps its own books.
#pragma once

#include <napi.h>
#include <sys/ioctl.h>
#include <time.h>

#include <cerrno>
#include <cstdint>

namespace vfio {

class Container;

class PlanTarget {
 public:
  virtual ~PlanTarget() = default;
  // Issue one entry; return 0 or the errno. *ns is the time around the ioctl
  // alone (use TimedIoctl). prot holds PROT_READ (1) | PROT_WRITE (2).
  virtual int MapEntry(uint64_t vaddr, uint64_t iova, uint64_t size, uint32_t prot, double* ns) = 0;
  virtual int UnmapEntry(uint64_t iova, uint64_t size, uint64_t* unmapped, double* ns) = 0;
  // Bookkeeping after a successful entry (outside the timed window). An
  // unmap that failed may still have removed something (iommufd does), so
  // UnmapFailed lets the target mirror that.
  virtual void Mapped(uint64_t vaddr, uint64_t iova, uint64_t size) = 0;
  virtual void Unmapped(uint64_t iova, uint64_t size) noexcept = 0;
  virtual void UnmapFailed(uint64_t /*iova*/, uint64_t /*size*/, int /*err*/) noexcept {}
  // The errno for an entry whose range wraps 2^64, given without a system
  // call; 0 leaves the judgement to the kernel.
  virtual int WrapErrno() const = 0;
};

inline double Nanos(const timespec& a, const timespec& b) {
  return static_cast<double>(b.tv_sec - a.tv_sec) * 1e9 + static_cast<double>(b.tv_nsec - a.tv_nsec);
}

// ioctl (retried on EINTR, as Ioctl does) with the clock read just around
// it; returns 0 or the errno.
template <class Arg>
int TimedIoctl(int fd, unsigned long request, Arg* arg, double* ns) {
  timespec t0, t1;
  int r;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do {
    r = ::ioctl(fd, request, arg);
  } while (r < 0 && errno == EINTR);
  int err = r < 0 ? errno : 0;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  *ns = Nanos(t0, t1);
  return err;
}

// runPlan(op: 'map' | 'unmap', plan: BigUint64Array) ->
//   { ns: Float64Array, completed, failedIndex, errno, unmapped: bigint }
// Entries are PLAN_STRIDE (4) words: vaddr, iova, size, flags (unmap ignores
// vaddr and flags). ns has one slot per entry attempted: completed ones plus
// the failed one. An entry whose range wraps 2^64 fails with the target's
// WrapErrno without a system call (ns 0) when that is non-zero.
Napi::Value ExecutePlan(const Napi::CallbackInfo& info, PlanTarget& target);
// The type1 container's target (VFIO_IOMMU_MAP_DMA / UNMAP_DMA).
Napi::Value ExecutePlan(const Napi::CallbackInfo& info, Container& container);

constexpr size_t kPlanStride = 4;

}  // namespace vfio
