// The cdev side of Device (drivers/vfio/device_cdev.c): open
// /dev/vfio/devices/vfioN, VFIO_DEVICE_BIND_IOMMUFD, then attach to an IOAS
// or HWPT. Until the bind, the kernel refuses every other ioctl on the fd; a
// bound device's fd is a Device like any other (regions, BARs, reset).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "addon_data.h"
#include "args.h"
#include "device.h"
#include "errors.h"
#include "iommufd.h"
#include "kernel/device.h"
#include "wrap.h"

namespace vfio {

Napi::Value Device::OpenCdev(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  std::string op = "open " + path;
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(env, errno, op.c_str(), ErrorArgs(env, {{"path", Napi::String::New(env, path)}}),
               errno == ENOENT ? "no such cdev: the kernel lacks CONFIG_VFIO_DEVICE_CDEV, or no device is bound to vfio-pci"
                               : nullptr);
  }
  return Create(env, AddonData::Of(env), nullptr, fd, path);
}

void Device::DetachNow() noexcept {
  if (closed() || attachedIoas_ == 0) return;
  if (kernel::DeviceDetachIommufdPt(fd_) == 0) ptId_ = attachedIoas_ = 0;
}

// The cdev's N-API methods (registered by DefineCdevMethods below).
struct CdevMethods {
  // bindIommufd(iommufd) -> devId.
  static Napi::Value BindIommufd(Device& d, const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "VFIO_DEVICE_BIND_IOMMUFD";
    d.RequireOpen(env, op);
    if (!info[0].IsObject() || !info[0].As<Napi::Object>().CheckTypeTag(&Iommufd::kTypeTag)) {
      ThrowType(env, "iommufd must be an Iommufd");
    }
    Iommufd* ctx = Iommufd::Unwrap(info[0].As<Napi::Object>());
    if (ctx->closed()) ThrowClosed(env, op, "the iommufd");
    uint32_t devId;
    if (int err = kernel::DeviceBindIommufd(d.fd_, ctx->fd(), &devId)) {
      ThrowErrno(env, err, op, ErrorArgs(env, {{"device", Napi::String::New(env, d.name_)}}),
                 err == EINVAL && d.group_ ? "only a cdev fd binds to iommufd, not one from a group"
                 : err == EINVAL && d.iommufd_ ? "the device is already bound"
                 : err == EBUSY ? "the device's group is open through /dev/vfio/<group>"
                                : nullptr);
    }
    d.iommufd_ = ctx;
    d.devId_ = devId;
    ctx->DeviceBound(&d);
    PinQuiet(ctx);
    return Napi::Number::New(env, d.devId_);
  }

  // attachPt(ptId) -> the pt id attached (an IOAS id makes the kernel pick or make a HWPT on it).
  static Napi::Value AttachPt(Device& d, const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "VFIO_DEVICE_ATTACH_IOMMUFD_PT";
    d.RequireOpen(env, op);
    uint32_t pt = ArgU32(info, 0, "ptId");
    uint32_t attached = pt;
    if (int err = kernel::DeviceAttachIommufdPt(d.fd_, &attached)) {
      ThrowErrno(env, err, op, ErrorArgs(env, {{"device", Napi::String::New(env, d.name_)}, {"ptId", Napi::Number::New(env, pt)}}));
    }
    d.ptId_ = attached;
    if (d.iommufd_) d.attachedIoas_ = d.iommufd_->IoasOfPt(pt);
    return Napi::Number::New(env, attached);
  }

  static Napi::Value DetachPt(Device& d, const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* op = "VFIO_DEVICE_DETACH_IOMMUFD_PT";
    d.RequireOpen(env, op);
    if (int err = kernel::DeviceDetachIommufdPt(d.fd_)) {
      ThrowErrno(env, err, op, ErrorArgs(env, {{"device", Napi::String::New(env, d.name_)}}));
    }
    d.ptId_ = d.attachedIoas_ = 0;
    return env.Undefined();
  }

  static Napi::Value GetDevId(Device& d, const Napi::CallbackInfo& info) {
    return d.iommufd_ ? Napi::Number::New(info.Env(), d.devId_) : info.Env().Null();
  }
};

void DefineCdevMethods(Napi::Env env, Napi::Object prototype) {
  using M = CdevMethods;
  prototype.DefineProperties({
      Method<Device, &M::BindIommufd>(env, "bindIommufd"),
      Method<Device, &M::AttachPt>(env, "attachPt"),
      Method<Device, &M::DetachPt>(env, "detachPt"),
      Getter<Device, &M::GetDevId>("devId"),
  });
}

}  // namespace vfio
