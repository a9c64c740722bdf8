#include "iommufd.h"

#include <fcntl.h>
#include <linux/iommufd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "addon_data.h"
#include "args.h"
#include "device.h"
#include "errors.h"
#include "ioas.h"
#include "kernel/bitmap.h"
#include "kernel/iommufd.h"
#include "wrap.h"

namespace vfio {
namespace {

Napi::Value Big(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }
Napi::Value Num(Napi::Env env, double v) { return Napi::Number::New(env, v); }

}  // namespace

void Iommufd::Init(Napi::Env env, AddonData* data) {
  Napi::Function ctor = DefineTaggedClass<Iommufd>(env, kClassName, {
      Method<Iommufd, &Iommufd::AllocIoas>(env, "allocIoas"),
      Method<Iommufd, &Iommufd::Option>(env, "option"),
      Method<Iommufd, &Iommufd::Destroy>(env, "destroy"),
      Method<Iommufd, &Iommufd::HwptAlloc>(env, "hwptAlloc"),
      Method<Iommufd, &Iommufd::HwptSetDirty>(env, "hwptSetDirty"),
      Method<Iommufd, &Iommufd::HwptGetDirty>(env, "hwptGetDirty"),
      Method<Iommufd, &Iommufd::HwInfo>(env, "hwInfo"),
      Method<Iommufd, &Iommufd::MockDomain>(env, "mockDomain"),
      Method<Iommufd, &Iommufd::MockDomainReplace>(env, "mockDomainReplace"),
      Method<Iommufd, &Iommufd::MockDirty>(env, "mockDirty"),
      Method<Iommufd, &Iommufd::Close>(env, "close"),
      Getter<Iommufd, &Iommufd::GetClosed>("closed"),
  });
  data->iommufdClass = Napi::Persistent(ctor);
}

Iommufd::Iommufd(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Iommufd>(info) {
  RequireConstructToken(info, kClassName);
  info.This().As<Napi::Object>().TypeTag(&kTypeTag);
}

// Reached by GC only when no IOAS or bound device pins us.
Iommufd::~Iommufd() { CloseNow(); }

Napi::Value Iommufd::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = "/dev/iommu";
  if (!info[0].IsUndefined()) path = ArgString(info, 0, "path");
  std::string op = "open " + path;
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(env, errno, op.c_str(), ErrorArgs(env, {{"path", Napi::String::New(env, path)}}),
               errno == ENOENT ? "no /dev/iommu: the kernel lacks CONFIG_IOMMUFD (or the module is not loaded)" : nullptr);
  }
  AddonData* data = AddonData::Of(env);
  Napi::Object obj;
  Iommufd* self = Construct<Iommufd>(env, data->iommufdClass, &obj, [fd] { close(fd); });
  self->data_ = data;
  self->fd_ = fd;
  data->iommufds.insert(self);
  return obj;
}

void Iommufd::RequireOpen(Napi::Env env, const char* op) const {
  if (closed()) ThrowClosed(env, op, "the iommufd");
}

void Iommufd::IoasClosed(Ioas* ioas) noexcept { ioases_.erase(ioas); }

Ioas* Iommufd::FindIoas(uint32_t id) const {
  for (Ioas* i : ioases_) {
    if (i->id() == id) return i;
  }
  return nullptr;
}

void Iommufd::DeviceBound(Device* d) { devices_.insert(d); }
void Iommufd::DeviceUnbound(Device* d) noexcept { devices_.erase(d); }

uint32_t Iommufd::IoasOfPt(uint32_t ptId) const {
  if (FindIoas(ptId)) return ptId;
  auto it = hwptIoas_.find(ptId);
  return it == hwptIoas_.end() ? 0 : it->second;
}

void Iommufd::DetachDevicesFrom(uint32_t ioasId) noexcept {
  for (Device* d : std::vector<Device*>(devices_.begin(), devices_.end())) {
    if (d->AttachedIoas() == ioasId) d->DetachNow();
  }
}

void Iommufd::CloseNow() noexcept {
  if (closed()) return;
  // Bound devices hold the context open in the kernel: unbind them first (closing their fds).
  for (Device* d : std::vector<Device*>(devices_.begin(), devices_.end())) d->CloseNow();
  // Mock devices hold their HWPT, HWPTs hold their IOAS (IOMMU_DESTROY of it would be EBUSY): in that order.
  for (uint32_t id : mockDevices_) kernel::Destroy(fd_, id);
  mockDevices_.clear();
  for (auto& [hwpt, ioas] : hwptIoas_) kernel::Destroy(fd_, hwpt);
  hwptIoas_.clear();
  for (Ioas* i : std::vector<Ioas*>(ioases_.begin(), ioases_.end())) i->CloseNow();
  close(fd_);
  fd_ = -1;
  data_->iommufds.erase(this);
}

Napi::Value Iommufd::AllocIoas(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "IOMMU_IOAS_ALLOC");
  uint32_t id;
  if (int err = kernel::IoasAlloc(fd_, &id)) ThrowErrno(env, err, "IOMMU_IOAS_ALLOC", Napi::Object::New(env));
  Napi::Object obj = Ioas::Create(env, data_, this, id);
  ioases_.insert(Ioas::Unwrap(obj));
  return obj;
}

// option(optionId, op: 0 SET | 1 GET, objectId, value: bigint) -> bigint (val64 after the call).
Napi::Value Iommufd::Option(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "IOMMU_OPTION";
  RequireOpen(env, op);
  uint32_t optionId = ArgU32(info, 0, "optionId");
  uint16_t optionOp = static_cast<uint16_t>(ArgU32(info, 1, "op", UINT16_MAX));
  uint32_t objectId = ArgU32(info, 2, "objectId");
  uint64_t value = ArgU64(info, 3, "value");
  if (int err = kernel::Option(fd_, optionId, optionOp, objectId, &value)) {
    ThrowErrno(env, err, op, ErrorArgs(env, {{"option", Num(env, optionId)}, {"op", Num(env, optionOp)},
                                            {"object", Num(env, objectId)}}));
  }
  return Big(env, value);
}

Napi::Value Iommufd::Destroy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "IOMMU_DESTROY");
  uint32_t id = ArgU32(info, 0, "id");
  if (FindIoas(id)) ThrowType(env, "IOMMU_DESTROY: close the Ioas object instead of destroying its id");
  if (int err = kernel::Destroy(fd_, id)) ThrowErrno(env, err, "IOMMU_DESTROY", ErrorArgs(env, {{"id", Num(env, id)}}));
  hwptIoas_.erase(id);
  mockDevices_.erase(std::remove(mockDevices_.begin(), mockDevices_.end(), id), mockDevices_.end());
  return env.Undefined();
}

// hwptAlloc(devId, ptId, flags) -> hwpt id. flags: IOMMU_HWPT_ALLOC_* (DIRTY_TRACKING = 2).
Napi::Value Iommufd::HwptAlloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "IOMMU_HWPT_ALLOC");
  uint32_t devId = ArgU32(info, 0, "devId");
  uint32_t ptId = ArgU32(info, 1, "ptId");
  uint32_t flags = ArgU32(info, 2, "flags");
  uint32_t hwptId;
  if (int err = kernel::HwptAlloc(fd_, devId, ptId, flags, &hwptId)) {
    ThrowErrno(env, err, "IOMMU_HWPT_ALLOC",
               ErrorArgs(env, {{"devId", Num(env, devId)}, {"ptId", Num(env, ptId)}, {"flags", Num(env, flags)}}),
               err == EOPNOTSUPP && (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING)
                   ? "the IOMMU cannot track dirty pages for this device (VT-d needs SSADS)"
                   : nullptr);
  }
  hwptIoas_[hwptId] = IoasOfPt(ptId);
  return Num(env, hwptId);
}

Napi::Value Iommufd::HwptSetDirty(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "IOMMU_HWPT_SET_DIRTY_TRACKING");
  uint32_t hwptId = ArgU32(info, 0, "hwptId");
  uint32_t flags = ArgBool(info, 1, "enable") ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0;
  if (int err = kernel::HwptSetDirtyTracking(fd_, hwptId, flags)) {
    ThrowErrno(env, err, "IOMMU_HWPT_SET_DIRTY_TRACKING",
               ErrorArgs(env, {{"hwptId", Num(env, hwptId)}, {"flags", Num(env, flags)}}));
  }
  return env.Undefined();
}

// hwptGetDirty(hwptId, iova, length, pageSize, flags) -> BigUint64Array (bit i = page iova + i * pageSize).
Napi::Value Iommufd::HwptGetDirty(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "IOMMU_HWPT_GET_DIRTY_BITMAP";
  RequireOpen(env, op);
  uint32_t hwptId = ArgU32(info, 0, "hwptId");
  uint64_t iova = ArgU64(info, 1, "iova");
  uint64_t length = ArgU64(info, 2, "length");
  uint64_t pageSize = ArgU64(info, 3, "pageSize");
  uint32_t flags = ArgU32(info, 4, "flags");
  if (pageSize == 0) ThrowRange(env, "pageSize must be non-zero");
  // The kernel's iova_bitmap walks any size; we allocate the whole reply, so bound it as type1 does.
  uint64_t bytes = kernel::DirtyBitmapBytes(length, pageSize);
  auto args = [&] {
    return ErrorArgs(env, {{"hwptId", Num(env, hwptId)}, {"iova", Big(env, iova)}, {"length", Big(env, length)},
                           {"pageSize", Big(env, pageSize)}});
  };
  if (bytes > kernel::kDirtyBitmapBytesMax) ThrowErrno(env, EINVAL, op, args(), "dirty bitmap past 2^31 pages: ask for a smaller range");
  Napi::ArrayBuffer bits = Napi::ArrayBuffer::New(env, bytes);
  if (int err = kernel::HwptGetDirtyBitmap(fd_, hwptId, iova, length, pageSize, flags, bits.Data())) {
    ThrowErrno(env, err, op, args());
  }
  return Napi::BigUint64Array::New(env, bytes / 8, bits, 0);
}

// hwInfo(devId) -> { type, capabilities: bigint } (IOMMU_GET_HW_INFO, no driver data asked for).
Napi::Value Iommufd::HwInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "IOMMU_GET_HW_INFO");
  uint32_t devId = ArgU32(info, 0, "devId");
  uint32_t type;
  uint64_t capabilities;
  if (int err = kernel::GetHwInfo(fd_, devId, &type, &capabilities)) {
    ThrowErrno(env, err, "IOMMU_GET_HW_INFO", ErrorArgs(env, {{"devId", Num(env, devId)}}));
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("type", Num(env, type));
  out.Set("capabilities", Big(env, capabilities));
  return out;
}

Napi::Value Iommufd::Close(const Napi::CallbackInfo& info) {
  CloseNow();
  return info.Env().Undefined();
}

Napi::Value Iommufd::GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), closed()); }

}  // namespace vfio
