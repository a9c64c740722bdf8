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
#include "ioctl.h"
#include "wrap.h"

namespace vfio {
namespace {

Napi::Value Big(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }
Napi::Value Num(Napi::Env env, double v) { return Napi::Number::New(env, v); }

// The kernel's iova_bitmap walks any size; we allocate the whole reply, so bound it as type1 does (2^31 pages).
constexpr uint64_t kDirtyBitmapBytesMax = 1ull << 28;

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
  try {
    obj = data->iommufdClass.New({ConstructToken(env)});
  } catch (...) {
    close(fd);
    throw;
  }
  Iommufd* self = Iommufd::Unwrap(obj);
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
  for (uint32_t id : mockDevices_) {
    iommu_destroy d{};
    d.size = sizeof d;
    d.id = id;
    Ioctl(fd_, IOMMU_DESTROY, &d);
  }
  mockDevices_.clear();
  for (auto& [hwpt, ioas] : hwptIoas_) {
    iommu_destroy d{};
    d.size = sizeof d;
    d.id = hwpt;
    Ioctl(fd_, IOMMU_DESTROY, &d);
  }
  hwptIoas_.clear();
  for (Ioas* i : std::vector<Ioas*>(ioases_.begin(), ioases_.end())) i->CloseNow();
  close(fd_);
  fd_ = -1;
  data_->iommufds.erase(this);
}

Napi::Value Iommufd::AllocIoas(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "IOMMU_IOAS_ALLOC");
  iommu_ioas_alloc a{};
  a.size = sizeof a;
  if (Ioctl(fd_, IOMMU_IOAS_ALLOC, &a) < 0) ThrowErrno(env, errno, "IOMMU_IOAS_ALLOC", Napi::Object::New(env));
  Napi::Object obj = Ioas::Create(env, data_, this, a.out_ioas_id);
  ioases_.insert(Ioas::Unwrap(obj));
  return obj;
}

// option(optionId, op: 0 SET | 1 GET, objectId, value: bigint) -> bigint (val64 after the call).
Napi::Value Iommufd::Option(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "IOMMU_OPTION";
  RequireOpen(env, op);
  iommu_option o{};
  o.size = sizeof o;
  o.option_id = ArgU32(info, 0, "optionId");
  o.op = static_cast<uint16_t>(ArgU32(info, 1, "op", UINT16_MAX));
  o.object_id = ArgU32(info, 2, "objectId");
  o.val64 = ArgU64(info, 3, "value");
  if (Ioctl(fd_, IOMMU_OPTION, &o) < 0) {
    ThrowErrno(env, errno, op, ErrorArgs(env, {{"option", Num(env, o.option_id)}, {"op", Num(env, o.op)},
                                              {"object", Num(env, o.object_id)}}));
  }
  return Big(env, o.val64);
}

Napi::Value Iommufd::Destroy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "IOMMU_DESTROY");
  uint32_t id = ArgU32(info, 0, "id");
  if (FindIoas(id)) ThrowType(env, "IOMMU_DESTROY: close the Ioas object instead of destroying its id");
  iommu_destroy d{};
  d.size = sizeof d;
  d.id = id;
  if (Ioctl(fd_, IOMMU_DESTROY, &d) < 0) ThrowErrno(env, errno, "IOMMU_DESTROY", ErrorArgs(env, {{"id", Num(env, id)}}));
  hwptIoas_.erase(id);
  mockDevices_.erase(std::remove(mockDevices_.begin(), mockDevices_.end(), id), mockDevices_.end());
  return env.Undefined();
}

// hwptAlloc(devId, ptId, flags) -> hwpt id. flags: IOMMU_HWPT_ALLOC_* (DIRTY_TRACKING = 2).
Napi::Value Iommufd::HwptAlloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "IOMMU_HWPT_ALLOC");
  iommu_hwpt_alloc h{};
  h.size = sizeof h;
  h.dev_id = ArgU32(info, 0, "devId");
  h.pt_id = ArgU32(info, 1, "ptId");
  h.flags = ArgU32(info, 2, "flags");
  h.data_type = IOMMU_HWPT_DATA_NONE;
  if (Ioctl(fd_, IOMMU_HWPT_ALLOC, &h) < 0) {
    ThrowErrno(env, errno, "IOMMU_HWPT_ALLOC",
               ErrorArgs(env, {{"devId", Num(env, h.dev_id)}, {"ptId", Num(env, h.pt_id)}, {"flags", Num(env, h.flags)}}),
               errno == EOPNOTSUPP && (h.flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING)
                   ? "the IOMMU cannot track dirty pages for this device (VT-d needs SSADS)"
                   : nullptr);
  }
  hwptIoas_[h.out_hwpt_id] = IoasOfPt(h.pt_id);
  return Num(env, h.out_hwpt_id);
}

Napi::Value Iommufd::HwptSetDirty(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "IOMMU_HWPT_SET_DIRTY_TRACKING");
  iommu_hwpt_set_dirty_tracking s{};
  s.size = sizeof s;
  s.hwpt_id = ArgU32(info, 0, "hwptId");
  s.flags = ArgBool(info, 1, "enable") ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0;
  if (Ioctl(fd_, IOMMU_HWPT_SET_DIRTY_TRACKING, &s) < 0) {
    ThrowErrno(env, errno, "IOMMU_HWPT_SET_DIRTY_TRACKING",
               ErrorArgs(env, {{"hwptId", Num(env, s.hwpt_id)}, {"flags", Num(env, s.flags)}}));
  }
  return env.Undefined();
}

// hwptGetDirty(hwptId, iova, length, pageSize, flags) -> BigUint64Array (bit i = page iova + i * pageSize).
Napi::Value Iommufd::HwptGetDirty(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "IOMMU_HWPT_GET_DIRTY_BITMAP";
  RequireOpen(env, op);
  iommu_hwpt_get_dirty_bitmap g{};
  g.size = sizeof g;
  g.hwpt_id = ArgU32(info, 0, "hwptId");
  g.iova = ArgU64(info, 1, "iova");
  g.length = ArgU64(info, 2, "length");
  g.page_size = ArgU64(info, 3, "pageSize");
  g.flags = ArgU32(info, 4, "flags");
  if (g.page_size == 0) ThrowRange(env, "pageSize must be non-zero");
  uint64_t pages = g.length / g.page_size + (g.length % g.page_size ? 1 : 0);
  uint64_t bytes = (pages + 63) / 64 * 8;
  auto args = [&] {
    return ErrorArgs(env, {{"hwptId", Num(env, g.hwpt_id)}, {"iova", Big(env, g.iova)}, {"length", Big(env, g.length)},
                           {"pageSize", Big(env, g.page_size)}});
  };
  if (bytes > kDirtyBitmapBytesMax) ThrowErrno(env, EINVAL, op, args(), "dirty bitmap past 2^31 pages: ask for a smaller range");
  Napi::ArrayBuffer bits = Napi::ArrayBuffer::New(env, bytes);
  g.data = reinterpret_cast<uintptr_t>(bits.Data());
  if (Ioctl(fd_, IOMMU_HWPT_GET_DIRTY_BITMAP, &g) < 0) ThrowErrno(env, errno, op, args());
  return Napi::BigUint64Array::New(env, bytes / 8, bits, 0);
}

// hwInfo(devId) -> { type, capabilities: bigint } (IOMMU_GET_HW_INFO, no driver data asked for).
Napi::Value Iommufd::HwInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "IOMMU_GET_HW_INFO");
  iommu_hw_info h{};
  h.size = sizeof h;
  h.dev_id = ArgU32(info, 0, "devId");
  if (Ioctl(fd_, IOMMU_GET_HW_INFO, &h) < 0) {
    ThrowErrno(env, errno, "IOMMU_GET_HW_INFO", ErrorArgs(env, {{"devId", Num(env, h.dev_id)}}));
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("type", Num(env, h.out_data_type));
  out.Set("capabilities", Big(env, h.out_capabilities));
  return out;
}

Napi::Value Iommufd::Close(const Napi::CallbackInfo& info) {
  CloseNow();
  return info.Env().Undefined();
}

Napi::Value Iommufd::GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), closed()); }

}  // namespace vfio
