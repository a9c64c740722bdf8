// OverheadSpace: a stand-in DMA space for measuring the addon's own cost
// (`vfio bench --suite overhead`) on any Linux host, with no VFIO. It is a
// PlanTarget of the one executor (plan.h) and keeps the same books as a
// container (books.h, type1 v2 rule, buffers pinned), and its map, unmap,
// unmapAll, runPlan and runPlanCycles take the same arguments through the
// same conversion helpers as Container's; only the "ioctl" differs: a real,
// cheap, always-successful system call, ioctl(eventfd, FIONBIO, &0), issued
// through kernel::Call like every other ioctl of the addon.
//
// It checks nothing the kernel would (overlaps, alignment, limits): what it
// measures is everything around the system call. unmap reports the bytes the
// books held in the range, as the kernel reports the bytes it unmapped.
#pragma once

#include <napi.h>

#include <cstdint>

#include "plan.h"
#include "space_object.h"
#include "wrap.h"

namespace vfio {

struct AddonData;

class OverheadSpace : public SpaceObject<OverheadSpace> {
 public:
  static constexpr napi_type_tag kTypeTag = {0x6e6f64657666696full, 0x6f76657268640001ull};
  static constexpr const char* kClassName = "OverheadSpace";

  static void Init(Napi::Env env, AddonData* data);
  // openOverheadSpace(): a new space over its own eventfd.
  static Napi::Value Open(const Napi::CallbackInfo& info);

  explicit OverheadSpace(const Napi::CallbackInfo& info);
  ~OverheadSpace() override;

  bool closed() const { return fd_ < 0; }
  // Releases the books' pins and closes the eventfd. Never throws.
  void CloseNow() noexcept;

  int MapEntry(uint64_t vaddr, uint64_t iova, uint64_t size, uint32_t prot, double* ns) override;
  int UnmapEntry(uint64_t iova, uint64_t size, uint64_t* unmapped, double* ns) override;
  // A wrapping range is refused with EINVAL before the system call, as Container does.
  int WrapErrno() const override;

 private:
  friend class SpaceObject<OverheadSpace>;  // its runPlanCycles() asks RequireOpen
  void RequireOpen(Napi::Env env, const char* op) const;

  Napi::Value UnmapAll(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  AddonData* data_ = nullptr;
  int fd_ = -1;
};

// overheadFloor(calls) -> { bareNs, timedNs, timedWallNs }: the same system
// call made `calls` times in a C loop on a fresh eventfd. bareNs: per call,
// one clock read around the whole loop (the floor any caller pays); timedNs:
// per call with CLOCK_MONOTONIC read around each one, as the executor times an
// entry, the sum of those windows; timedWallNs: that loop's wall time per
// call, clock reads included (the calls the executor makes per entry).
void InitOverheadFloor(Napi::Env env, Napi::Object exports);

}  // namespace vfio
