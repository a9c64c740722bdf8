// Ioas: one iommufd I/O address space (IOMMU_IOAS_ALLOC). Maps user memory at
// a fixed or a kernel-chosen IOVA, unmaps, copies mappings from another IOAS,
// restricts kernel-chosen IOVAs (ALLOW_IOVAS), and runs plans through the
// shared executor.
//
// Books (books.h, the IOAS rule): one mapping per kernel area (each MAP makes
// one; a COPY makes one per source area it spans), each pinning the
// DmaBuffers it covers.
//
// Closing: detach the devices attached to it, unmap all, IOMMU_DESTROY.
#pragma once

#include <napi.h>

#include <cstdint>

#include "plan.h"
#include "space_object.h"
#include "wrap.h"

namespace vfio {

struct AddonData;
class Iommufd;

class Ioas : public SpaceObject<Ioas> {
 public:
  static constexpr napi_type_tag kTypeTag = {0x6e6f64657666696full, 0x696f617300000001ull};
  static constexpr const char* kClassName = "Ioas";

  static void Init(Napi::Env env, AddonData* data);
  // Takes an allocated IOAS id; destroys it if wrapping fails.
  static Napi::Object Create(Napi::Env env, AddonData* data, Iommufd* owner, uint32_t id);

  explicit Ioas(const Napi::CallbackInfo& info);
  ~Ioas() override;

  uint32_t id() const { return id_; }
  bool closed() const { return owner_ == nullptr; }
  void CloseNow() noexcept;

  // PlanTarget: IOMMU_IOAS_MAP at a fixed IOVA / IOMMU_IOAS_UNMAP.
  int MapEntry(uint64_t vaddr, uint64_t iova, uint64_t size, uint32_t prot, double* ns) override;
  int UnmapEntry(uint64_t iova, uint64_t size, uint64_t* unmapped, double* ns) override;
  int WrapErrno() const override { return 0; }  // the kernel says EOVERFLOW itself
  bool Closed() const override;

 private:
  friend class SpaceObject<Ioas>;  // its runPlanCycles() asks RequireOpen
  void RequireOpen(Napi::Env env, const char* op) const;
  int Fd() const;

  Napi::Value IovaRanges(const Napi::CallbackInfo& info);
  Napi::Value AllowIovas(const Napi::CallbackInfo& info);
  Napi::Value MapAuto(const Napi::CallbackInfo& info);
  Napi::Value UnmapAll(const Napi::CallbackInfo& info);
  Napi::Value CopyFrom(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetId(const Napi::CallbackInfo& info);

  AddonData* data_ = nullptr;
  Iommufd* owner_ = nullptr;  // pinned while we are open
  uint32_t id_ = 0;
};

}  // namespace vfio
