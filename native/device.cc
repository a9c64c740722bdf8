#include "device.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "addon_data.h"
#include "args.h"
#include "errors.h"
#include "group.h"
#include "iommufd.h"
#include "kernel/device.h"
#include "wrap.h"

namespace vfio {
namespace {

// Largest single read/write: regions are small (config space, BARs) and the
// result is one Uint8Array.
constexpr uint32_t kMaxTransfer = 1u << 30;

Napi::Value Big(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

}  // namespace

void Device::Init(Napi::Env env, AddonData* data) {
  Napi::Function ctor = DefineTaggedClass<Device>(env, kClassName, {
      Method<Device, &Device::Info>(env, "info"),
      Method<Device, &Device::RegionInfo>(env, "regionInfo"),
      Method<Device, &Device::Read>(env, "read"),
      Method<Device, &Device::Write>(env, "write"),
      Method<Device, &Device::Mmap>(env, "mmap"),
      Method<Device, &Device::IrqInfo>(env, "irqInfo"),
      Method<Device, &Device::Reset>(env, "reset"),
      Method<Device, &Device::Close>(env, "close"),
      Getter<Device, &Device::GetName>("name"),
      Getter<Device, &Device::GetClosed>("closed"),
      Method<Device, &Device::BindIommufd>(env, "bindIommufd"),
      Method<Device, &Device::AttachPt>(env, "attachPt"),
      Method<Device, &Device::DetachPt>(env, "detachPt"),
      Getter<Device, &Device::GetDevId>("devId"),
  });
  DefineIrqMethods(env, ctor.Get("prototype").As<Napi::Object>());
  data->deviceClass = Napi::Persistent(ctor);
}

Device::Device(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Device>(info) {
  RequireConstructToken(info, kClassName);
  info.This().As<Napi::Object>().TypeTag(&kTypeTag);
}

// GC path: leave any BAR view JS still holds valid (it keeps its own claim on
// the pages); only an explicit close() detaches.
Device::~Device() {
  mmaps_.clear();
  CloseNow();
}

Napi::Object Device::Create(Napi::Env env, AddonData* data, Group* group, int fd, const std::string& name) {
  Napi::Object obj;
  Device* self = Construct<Device>(env, data->deviceClass, &obj, [fd] { close(fd); });
  self->data_ = data;
  self->group_ = group;
  self->fd_ = fd;
  self->name_ = name;
  data->devices.insert(self);
  return obj;
}

void Device::RequireOpen(Napi::Env env, const char* op) const {
  if (closed()) ThrowClosed(env, op, "the device");
}

void Device::CloseNow() noexcept {
  if (closed()) return;
  // Views first: no JS may touch a BAR once the descriptor is gone.
  for (auto& [index, mem] : mmaps_) mem->Close(Env());
  mmaps_.clear();
  // Interrupts next, while SET_IRQS can still reach the kernel; their waiters
  // hear EBADF.
  if (irqs) irqs->CloseAll(fd_, true);
  irqs.reset();
  close(fd_);
  fd_ = -1;
  data_->devices.erase(this);
  // Closing a bound cdev unbinds it (and detaches it) in the kernel.
  if (iommufd_) {
    Iommufd* ctx = iommufd_;
    iommufd_ = nullptr;
    ptId_ = attachedIoas_ = 0;
    ctx->DeviceUnbound(this);
    UnpinQuiet(ctx);
  }
  if (group_) {
    Group* g = group_;
    group_ = nullptr;
    g->DeviceClosed(this);
    UnpinQuiet(g);
  }
}

const vfio_region_info& Device::Region(Napi::Env env, uint32_t index) {
  auto it = regions_.find(index);
  if (it != regions_.end()) return it->second;
  vfio_region_info r;
  if (int err = kernel::DeviceGetRegionInfo(fd_, index, &r)) {
    ThrowErrno(env, err, "VFIO_DEVICE_GET_REGION_INFO",
               ErrorArgs(env, {{"device", Napi::String::New(env, name_)}, {"index", Napi::Number::New(env, index)}}));
  }
  return regions_.emplace(index, r).first->second;
}

// Absolute file offset for [offset, offset + length) inside a region.
uint64_t Device::RegionOffset(Napi::Env env, uint32_t region, uint64_t offset, uint64_t length) {
  const vfio_region_info& r = Region(env, region);
  if (offset > r.size || length > r.size - offset) {
    ThrowRange(env, "offset + length lies outside region " + std::to_string(region) + " (size " +
                        std::to_string(r.size) + ")");
  }
  return r.offset + offset;
}

Napi::Value Device::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "VFIO_DEVICE_GET_INFO");
  vfio_device_info d;
  if (int err = kernel::DeviceGetInfo(fd_, &d)) {
    ThrowErrno(env, err, "VFIO_DEVICE_GET_INFO", ErrorArgs(env, {{"device", Napi::String::New(env, name_)}}));
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("flags", Napi::Number::New(env, d.flags));
  out.Set("numRegions", Napi::Number::New(env, d.num_regions));
  out.Set("numIrqs", Napi::Number::New(env, d.num_irqs));
  return out;
}

Napi::Value Device::RegionInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "VFIO_DEVICE_GET_REGION_INFO");
  uint32_t index = ArgU32(info, 0, "index");
  const vfio_region_info& r = Region(env, index);
  Napi::Object out = Napi::Object::New(env);
  out.Set("index", Napi::Number::New(env, r.index));
  out.Set("flags", Napi::Number::New(env, r.flags));
  out.Set("size", Big(env, r.size));
  out.Set("offset", Big(env, r.offset));
  return out;
}

Napi::Value Device::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "pread");
  uint32_t region = ArgU32(info, 0, "region");
  uint64_t offset = ArgU64(info, 1, "offset");
  uint32_t length = ArgU32(info, 2, "length", kMaxTransfer);
  uint64_t at = RegionOffset(env, region, offset, length);
  Napi::Uint8Array out = Napi::Uint8Array::New(env, length);
  uint8_t* p = out.Data();
  for (uint32_t done = 0; done < length;) {
    ssize_t n = pread(fd_, p + done, length - done, static_cast<off_t>(at + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ThrowErrno(env, n < 0 ? errno : EIO, "pread",
                 ErrorArgs(env, {{"device", Napi::String::New(env, name_)}, {"region", Napi::Number::New(env, region)},
                                 {"offset", Big(env, offset + done)}, {"length", Napi::Number::New(env, length - done)}}));
    }
    done += static_cast<uint32_t>(n);
  }
  return out;
}

Napi::Value Device::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "pwrite");
  uint32_t region = ArgU32(info, 0, "region");
  uint64_t offset = ArgU64(info, 1, "offset");
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowType(env, "data must be a Uint8Array");
  }
  Napi::Uint8Array data = info[2].As<Napi::Uint8Array>();
  size_t length = data.ElementLength();
  if (length > kMaxTransfer) ThrowRange(env, "data too long");
  uint64_t at = RegionOffset(env, region, offset, length);
  const uint8_t* p = data.Data();
  for (size_t done = 0; done < length;) {
    ssize_t n = pwrite(fd_, p + done, length - done, static_cast<off_t>(at + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ThrowErrno(env, n < 0 ? errno : EIO, "pwrite",
                 ErrorArgs(env, {{"device", Napi::String::New(env, name_)}, {"region", Napi::Number::New(env, region)},
                                 {"offset", Big(env, offset + done)},
                                 {"length", Napi::Number::New(env, static_cast<double>(length - done))}}));
    }
    done += static_cast<size_t>(n);
  }
  return env.Undefined();
}

Napi::Value Device::Mmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "mmap");
  uint32_t region = ArgU32(info, 0, "region");
  auto cached = mmaps_.find(region);
  if (cached != mmaps_.end()) return cached->second->View(env);
  const vfio_region_info& r = Region(env, region);
  int prot = ((r.flags & VFIO_REGION_INFO_FLAG_READ) ? PROT_READ : 0) |
             ((r.flags & VFIO_REGION_INFO_FLAG_WRITE) ? PROT_WRITE : 0);
  auto args = [&] {
    return ErrorArgs(env, {{"device", Napi::String::New(env, name_)}, {"region", Napi::Number::New(env, region)},
                           {"size", Big(env, r.size)}, {"flags", Napi::Number::New(env, r.flags)}});
  };
  // The kernel refuses (EINVAL) regions without VFIO_REGION_INFO_FLAG_MMAP;
  // let it say so rather than guess.
  void* addr = mmap(nullptr, r.size, prot, MAP_SHARED, fd_, static_cast<off_t>(r.offset));
  if (addr == MAP_FAILED) {
    int err = errno;
    ThrowErrno(env, err, "mmap", args(),
               err == EINVAL && !(r.flags & VFIO_REGION_INFO_FLAG_MMAP) ? "this region is not mmappable: use read/write"
                                                                        : nullptr);
  }
  auto mem = std::make_unique<ExposedMemory>(addr, r.size);
  Napi::ArrayBuffer view = mem->View(env);
  mmaps_.emplace(region, std::move(mem));
  return view;
}

Napi::Value Device::IrqInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "VFIO_DEVICE_GET_IRQ_INFO");
  uint32_t index = ArgU32(info, 0, "index");
  vfio_irq_info q;
  if (int err = kernel::DeviceGetIrqInfo(fd_, index, &q)) {
    ThrowErrno(env, err, "VFIO_DEVICE_GET_IRQ_INFO",
               ErrorArgs(env, {{"device", Napi::String::New(env, name_)}, {"index", Napi::Number::New(env, index)}}));
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("index", Napi::Number::New(env, q.index));
  out.Set("flags", Napi::Number::New(env, q.flags));
  out.Set("count", Napi::Number::New(env, q.count));
  return out;
}

Napi::Value Device::Reset(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "VFIO_DEVICE_RESET");
  if (int err = kernel::DeviceReset(fd_)) {
    ThrowErrno(env, err, "VFIO_DEVICE_RESET", ErrorArgs(env, {{"device", Napi::String::New(env, name_)}}));
  }
  return env.Undefined();
}

Napi::Value Device::Close(const Napi::CallbackInfo& info) {
  CloseNow();
  return info.Env().Undefined();
}

Napi::Value Device::GetName(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), name_); }
Napi::Value Device::GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), closed()); }

}  // namespace vfio
