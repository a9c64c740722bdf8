// Iommufd: one /dev/iommu descriptor (an iommufd_ctx). It owns the IOASes
// allocated through it and knows the cdev devices bound to it.
//
// Lifetime, as the kernel has it: a bound device holds the context's file
// (iommufd_ctx_get), so closing our descriptor does not free the IOASes,
// their mappings or their pins while a device stays bound. close() therefore
// closes the bound devices first (unbind), then each IOAS (detach what is
// attached, unmap all, IOMMU_DESTROY), then the descriptor.
#pragma once

#include <napi.h>

#include <cstdint>
#include <map>
#include <set>
#include <vector>

namespace vfio {

struct AddonData;
class Device;
class Ioas;

class Iommufd : public Napi::ObjectWrap<Iommufd> {
 public:
  static constexpr napi_type_tag kTypeTag = {0x6e6f64657666696full, 0x696f6d6d75666401ull};
  static constexpr const char* kClassName = "Iommufd";

  static void Init(Napi::Env env, AddonData* data);
  // openIommufd(path?: string): the path is for tests (default /dev/iommu).
  static Napi::Value Open(const Napi::CallbackInfo& info);

  explicit Iommufd(const Napi::CallbackInfo& info);
  ~Iommufd() override;

  int fd() const { return fd_; }
  bool closed() const { return fd_ < 0; }

  void IoasClosed(Ioas* ioas) noexcept;
  Ioas* FindIoas(uint32_t id) const;
  void DeviceBound(Device* d);
  void DeviceUnbound(Device* d) noexcept;
  // The IOAS an id names directly, or through the HWPT allocated on it; 0 if neither.
  uint32_t IoasOfPt(uint32_t ptId) const;
  // Detach every bound device attached (directly or through a HWPT) to this IOAS.
  void DetachDevicesFrom(uint32_t ioasId) noexcept;

  void CloseNow() noexcept;

 private:
  void RequireOpen(Napi::Env env, const char* op) const;

  Napi::Value AllocIoas(const Napi::CallbackInfo& info);
  Napi::Value Option(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  Napi::Value HwptAlloc(const Napi::CallbackInfo& info);
  Napi::Value HwptSetDirty(const Napi::CallbackInfo& info);
  Napi::Value HwptGetDirty(const Napi::CallbackInfo& info);
  Napi::Value HwInfo(const Napi::CallbackInfo& info);
  // IOMMUFD_TEST mock domain (iommufd_mock.cc): a device-less way to exercise HWPTs and dirty tracking.
  Napi::Value MockDomain(const Napi::CallbackInfo& info);
  Napi::Value MockDomainReplace(const Napi::CallbackInfo& info);
  Napi::Value MockDirty(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);

  AddonData* data_ = nullptr;
  int fd_ = -1;
  std::set<Ioas*> ioases_;
  std::set<Device*> devices_;
  std::map<uint32_t, uint32_t> hwptIoas_;  // HWPT id -> the IOAS it was allocated on
  std::vector<uint32_t> mockDevices_;      // IOMMUFD_TEST mock devices (they hold their HWPT and IOAS)
};

}  // namespace vfio
