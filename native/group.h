// Group: one /dev/vfio/<N> descriptor. Attached to a container it pins that
// container; its open devices pin it. Closing a group closes its devices
// first, then unsets the container, as the kernel requires.
#pragma once

#include <napi.h>

#include <cstdint>
#include <set>

namespace vfio {

struct AddonData;
class Container;
class Device;

class Group : public Napi::ObjectWrap<Group> {
 public:
  static constexpr napi_type_tag kTypeTag = {0x6e6f64657666696full, 0x67726f7570000001ull};
  static constexpr const char* kClassName = "Group";

  static void Init(Napi::Env env, AddonData* data);
  // openGroup(id: number, path?: string): the path is for tests.
  static Napi::Value Open(const Napi::CallbackInfo& info);

  explicit Group(const Napi::CallbackInfo& info);
  ~Group() override;

  bool closed() const { return fd_ < 0; }

  // Container close: close our devices, unset. Never throws.
  void DetachFromContainer() noexcept;
  void DeviceClosed(Device* d) noexcept;
  void CloseNow() noexcept;

 private:
  void RequireOpen(Napi::Env env, const char* op) const;
  void CloseDevices() noexcept;
  // VFIO_GROUP_UNSET_CONTAINER if attached: 0 or the errno.
  int UnsetNow() noexcept;

  Napi::Value Status(const Napi::CallbackInfo& info);
  Napi::Value SetContainer(const Napi::CallbackInfo& info);
  Napi::Value UnsetContainer(const Napi::CallbackInfo& info);
  Napi::Value OpenDevice(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetId(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  Napi::Value GetAttached(const Napi::CallbackInfo& info);

  AddonData* data_ = nullptr;
  int fd_ = -1;
  uint32_t id_ = 0;
  Container* container_ = nullptr;
  std::set<Device*> devices_;
};

}  // namespace vfio
