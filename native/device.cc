#include "device.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

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

// The N-API methods: each converts its arguments, calls the kernel layer
// (kernel/device.h) and keeps the object's state. A new method is a function
// here and a row of the table in Device::Init; nothing in device.h.
struct DeviceMethods {
  static const vfio_region_info& Region(Device& d, Napi::Env env, uint32_t index) {
    auto it = d.regions_.find(index);
    if (it != d.regions_.end()) return it->second;
    vfio_region_info r;
    if (int err = kernel::DeviceGetRegionInfo(d.fd_, index, &r)) {
      ThrowErrno(env, err, "VFIO_DEVICE_GET_REGION_INFO",
                 ErrorArgs(env, {{"device", Napi::String::New(env, d.name_)}, {"index", Napi::Number::New(env, index)}}));
    }
    return d.regions_.emplace(index, r).first->second;
  }

  // Absolute file offset for [offset, offset + length) inside a region.
  static uint64_t RegionOffset(Device& d, Napi::Env env, uint32_t region, uint64_t offset, uint64_t length) {
    const vfio_region_info& r = Region(d, env, region);
    if (offset > r.size || length > r.size - offset) {
      ThrowRange(env, "offset + length lies outside region " + std::to_string(region) + " (size " +
                          std::to_string(r.size) + ")");
    }
    return r.offset + offset;
  }

  static Napi::Value Info(Device& d, const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    d.RequireOpen(env, "VFIO_DEVICE_GET_INFO");
    vfio_device_info di;
    if (int err = kernel::DeviceGetInfo(d.fd_, &di)) {
      ThrowErrno(env, err, "VFIO_DEVICE_GET_INFO", ErrorArgs(env, {{"device", Napi::String::New(env, d.name_)}}));
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("flags", Napi::Number::New(env, di.flags));
    out.Set("numRegions", Napi::Number::New(env, di.num_regions));
    out.Set("numIrqs", Napi::Number::New(env, di.num_irqs));
    return out;
  }

  static Napi::Value RegionInfo(Device& d, const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    d.RequireOpen(env, "VFIO_DEVICE_GET_REGION_INFO");
    uint32_t index = ArgU32(info, 0, "index");
    const vfio_region_info& r = Region(d, env, index);
    Napi::Object out = Napi::Object::New(env);
    out.Set("index", Napi::Number::New(env, r.index));
    out.Set("flags", Napi::Number::New(env, r.flags));
    out.Set("size", Big(env, r.size));
    out.Set("offset", Big(env, r.offset));
    return out;
  }

  static Napi::Value Read(Device& d, const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    d.RequireOpen(env, "pread");
    uint32_t region = ArgU32(info, 0, "region");
    uint64_t offset = ArgU64(info, 1, "offset");
    uint32_t length = ArgU32(info, 2, "length", kMaxTransfer);
    uint64_t at = RegionOffset(d, env, region, offset, length);
    Napi::Uint8Array out = Napi::Uint8Array::New(env, length);
    uint8_t* p = out.Data();
    for (uint32_t done = 0; done < length;) {
      ssize_t n = pread(d.fd_, p + done, length - done, static_cast<off_t>(at + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ThrowErrno(env, n < 0 ? errno : EIO, "pread",
                   ErrorArgs(env, {{"device", Napi::String::New(env, d.name_)}, {"region", Napi::Number::New(env, region)},
                                   {"offset", Big(env, offset + done)}, {"length", Napi::Number::New(env, length - done)}}));
      }
      done += static_cast<uint32_t>(n);
    }
    return out;
  }

  static Napi::Value Write(Device& d, const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    d.RequireOpen(env, "pwrite");
    uint32_t region = ArgU32(info, 0, "region");
    uint64_t offset = ArgU64(info, 1, "offset");
    if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      ThrowType(env, "data must be a Uint8Array");
    }
    Napi::Uint8Array data = info[2].As<Napi::Uint8Array>();
    size_t length = data.ElementLength();
    if (length > kMaxTransfer) ThrowRange(env, "data too long");
    uint64_t at = RegionOffset(d, env, region, offset, length);
    const uint8_t* p = data.Data();
    for (size_t done = 0; done < length;) {
      ssize_t n = pwrite(d.fd_, p + done, length - done, static_cast<off_t>(at + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ThrowErrno(env, n < 0 ? errno : EIO, "pwrite",
                   ErrorArgs(env, {{"device", Napi::String::New(env, d.name_)}, {"region", Napi::Number::New(env, region)},
                                   {"offset", Big(env, offset + done)},
                                   {"length", Napi::Number::New(env, static_cast<double>(length - done))}}));
      }
      done += static_cast<size_t>(n);
    }
    return env.Undefined();
  }

  static Napi::Value Mmap(Device& d, const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    d.RequireOpen(env, "mmap");
    uint32_t region = ArgU32(info, 0, "region");
    auto cached = d.mmaps_.find(region);
    if (cached != d.mmaps_.end()) return cached->second->View(env);
    const vfio_region_info& r = Region(d, env, region);
    int prot = ((r.flags & VFIO_REGION_INFO_FLAG_READ) ? PROT_READ : 0) |
               ((r.flags & VFIO_REGION_INFO_FLAG_WRITE) ? PROT_WRITE : 0);
    auto args = [&] {
      return ErrorArgs(env, {{"device", Napi::String::New(env, d.name_)}, {"region", Napi::Number::New(env, region)},
                             {"size", Big(env, r.size)}, {"flags", Napi::Number::New(env, r.flags)}});
    };
    // The kernel refuses (EINVAL) regions without VFIO_REGION_INFO_FLAG_MMAP;
    // let it say so rather than guess.
    void* addr = mmap(nullptr, r.size, prot, MAP_SHARED, d.fd_, static_cast<off_t>(r.offset));
    if (addr == MAP_FAILED) {
      int err = errno;
      ThrowErrno(env, err, "mmap", args(),
                 err == EINVAL && !(r.flags & VFIO_REGION_INFO_FLAG_MMAP) ? "this region is not mmappable: use read/write"
                                                                          : nullptr);
    }
    auto mem = std::make_unique<ExposedMemory>(addr, r.size);
    Napi::ArrayBuffer view = mem->View(env);
    d.mmaps_.emplace(region, std::move(mem));
    return view;
  }

  static Napi::Value IrqInfo(Device& d, const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    d.RequireOpen(env, "VFIO_DEVICE_GET_IRQ_INFO");
    uint32_t index = ArgU32(info, 0, "index");
    vfio_irq_info q;
    if (int err = kernel::DeviceGetIrqInfo(d.fd_, index, &q)) {
      ThrowErrno(env, err, "VFIO_DEVICE_GET_IRQ_INFO",
                 ErrorArgs(env, {{"device", Napi::String::New(env, d.name_)}, {"index", Napi::Number::New(env, index)}}));
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("index", Napi::Number::New(env, q.index));
    out.Set("flags", Napi::Number::New(env, q.flags));
    out.Set("count", Napi::Number::New(env, q.count));
    return out;
  }

  static Napi::Value Reset(Device& d, const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    d.RequireOpen(env, "VFIO_DEVICE_RESET");
    if (int err = kernel::DeviceReset(d.fd_)) {
      ThrowErrno(env, err, "VFIO_DEVICE_RESET", ErrorArgs(env, {{"device", Napi::String::New(env, d.name_)}}));
    }
    return env.Undefined();
  }

  // hotResetInfo() -> the VFIO_DEVICE_GET_PCI_HOT_RESET_INFO reply as it came
  // (header + entries), decoded by lib/native/device.ts.
  static Napi::Value HotResetInfo(Device& d, const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO";
    d.RequireOpen(env, op);
    std::vector<uint8_t> reply;
    if (int err = kernel::DeviceGetPciHotResetInfo(d.fd_, &reply)) {
      ThrowErrno(env, err, op, ErrorArgs(env, {{"device", Napi::String::New(env, d.name_)}}));
    }
    Napi::ArrayBuffer out = Napi::ArrayBuffer::New(env, reply.size());
    std::memcpy(out.Data(), reply.data(), reply.size());
    return out;
  }

  static Napi::Value Close(Device& d, const Napi::CallbackInfo& info) {
    d.CloseNow();
    return info.Env().Undefined();
  }

  static Napi::Value GetName(Device& d, const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), d.name_); }
  static Napi::Value GetClosed(Device& d, const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), d.closed()); }
};

void Device::Init(Napi::Env env, AddonData* data) {
  using M = DeviceMethods;
  Napi::Function ctor = DefineTaggedClass<Device>(env, kClassName, {
      Method<Device, &M::Info>(env, "info"),
      Method<Device, &M::RegionInfo>(env, "regionInfo"),
      Method<Device, &M::Read>(env, "read"),
      Method<Device, &M::Write>(env, "write"),
      Method<Device, &M::Mmap>(env, "mmap"),
      Method<Device, &M::IrqInfo>(env, "irqInfo"),
      Method<Device, &M::Reset>(env, "reset"),
      Method<Device, &M::HotResetInfo>(env, "hotResetInfo"),
      Method<Device, &M::Close>(env, "close"),
      Getter<Device, &M::GetName>("name"),
      Getter<Device, &M::GetClosed>("closed"),
  });
  Napi::Object prototype = ctor.Get("prototype").As<Napi::Object>();
  DefineCdevMethods(env, prototype);
  DefineIrqMethods(env, prototype);
  data->deviceClass = Napi::Persistent(ctor);
}


}  // namespace vfio
