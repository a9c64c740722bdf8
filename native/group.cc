#include "group.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "addon_data.h"
#include "args.h"
#include "container.h"
#include "device.h"
#include "errors.h"
#include "kernel/group.h"
#include "wrap.h"

namespace vfio {

void Group::Init(Napi::Env env, AddonData* data) {
  Napi::Function ctor = DefineTaggedClass<Group>(env, kClassName, {
      Method<Group, &Group::Status>(env, "status"),
      Method<Group, &Group::SetContainer>(env, "setContainer"),
      Method<Group, &Group::UnsetContainer>(env, "unsetContainer"),
      Method<Group, &Group::OpenDevice>(env, "openDevice"),
      Method<Group, &Group::Close>(env, "close"),
      Getter<Group, &Group::GetId>("id"),
      Getter<Group, &Group::GetClosed>("closed"),
      Getter<Group, &Group::GetAttached>("attached"),
  });
  data->groupClass = Napi::Persistent(ctor);
}

Group::Group(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Group>(info) {
  RequireConstructToken(info, kClassName);
  info.This().As<Napi::Object>().TypeTag(&kTypeTag);
}

// GC reaches a group only when no device pins it.
Group::~Group() { CloseNow(); }

Napi::Value Group::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = ArgU32(info, 0, "id", INT32_MAX);
  std::string path = "/dev/vfio/" + std::to_string(id);
  if (!info[1].IsUndefined()) path = ArgString(info, 1, "path");
  std::string op = "open " + path;
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    ThrowErrno(env, err, op.c_str(),
               ErrorArgs(env, {{"group", Napi::Number::New(env, id)}, {"path", Napi::String::New(env, path)}}),
               err == EBUSY ? "group in use: another process (or another open of it here) holds it" : nullptr);
  }
  AddonData* data = AddonData::Of(env);
  Napi::Object obj;
  Group* self = Construct<Group>(env, data->groupClass, &obj, [fd] { close(fd); });
  self->data_ = data;
  self->fd_ = fd;
  self->id_ = id;
  data->groups.insert(self);
  return obj;
}

void Group::RequireOpen(Napi::Env env, const char* op) const {
  if (closed()) ThrowClosed(env, op, "the group");
}

void Group::CloseDevices() noexcept {
  std::vector<Device*> open(devices_.begin(), devices_.end());
  for (Device* d : open) d->CloseNow();
}

int Group::UnsetNow() noexcept {
  if (!container_) return 0;
  // EINVAL: the group has no container any more (vfio_group_ioctl_unset_container:
  // !vfio_group_has_iommu). The kernel detached it itself: the group's last
  // device was removed (hot-unplug, unbind) and vfio_device_remove_group()
  // called vfio_group_detach_container(), which released the IOMMU with its
  // mappings if this was the container's last group. Our books follow.
  if (int err = kernel::GroupUnsetContainer(fd_); err != 0 && err != EINVAL) return err;
  Container* c = container_;
  container_ = nullptr;
  c->GroupDetached(this);
  UnpinQuiet(c);
  return 0;
}

void Group::DetachFromContainer() noexcept {
  CloseDevices();
  UnsetNow();
}

void Group::DeviceClosed(Device* d) noexcept { devices_.erase(d); }

void Group::CloseNow() noexcept {
  if (closed()) return;
  CloseDevices();
  // If the unset fails (a device file kept open elsewhere), the container
  // keeps its pins: the kernel still holds the mappings until that goes.
  UnsetNow();
  close(fd_);
  fd_ = -1;
  data_->groups.erase(this);
}

Napi::Value Group::Status(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "VFIO_GROUP_GET_STATUS");
  uint32_t flags;
  if (int err = kernel::GroupGetStatus(fd_, &flags)) {
    ThrowErrno(env, err, "VFIO_GROUP_GET_STATUS", ErrorArgs(env, {{"group", Napi::Number::New(env, id_)}}));
  }
  return Napi::Number::New(env, flags);
}

Napi::Value Group::SetContainer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "VFIO_GROUP_SET_CONTAINER";
  RequireOpen(env, op);
  if (!info[0].IsObject() || !info[0].As<Napi::Object>().CheckTypeTag(&Container::kTypeTag)) {
    ThrowType(env, "container must be a Container");
  }
  Container* c = Container::Unwrap(info[0].As<Napi::Object>());
  if (c->closed()) ThrowClosed(env, op, "the container");
  if (int err = kernel::GroupSetContainer(fd_, c->fd())) {
    ThrowErrno(env, err, op, ErrorArgs(env, {{"group", Napi::Number::New(env, id_)}}));
  }
  container_ = c;
  c->GroupAttached(this);
  PinQuiet(c);
  return env.Undefined();
}

Napi::Value Group::UnsetContainer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "VFIO_GROUP_UNSET_CONTAINER";
  RequireOpen(env, op);
  // Not attached (by us): the kernel says EINVAL; ask it, so the errno is its own.
  if (!container_) {
    if (int err = kernel::GroupUnsetContainer(fd_)) {
      ThrowErrno(env, err, op, ErrorArgs(env, {{"group", Napi::Number::New(env, id_)}}));
    }
    return env.Undefined();
  }
  if (int err = UnsetNow()) {
    ThrowErrno(env, err, op, ErrorArgs(env, {{"group", Napi::Number::New(env, id_)}}),
               err == EBUSY ? "close the group's devices before unsetting its container" : nullptr);
  }
  return env.Undefined();
}

Napi::Value Group::OpenDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "VFIO_GROUP_GET_DEVICE_FD";
  RequireOpen(env, op);
  std::string name = ArgString(info, 0, "name");
  if (name.empty() || name.find('\0') != std::string::npos) ThrowRange(env, "name must be a non-empty device name");
  int dfd;
  if (int err = kernel::GroupGetDeviceFd(fd_, name.c_str(), &dfd)) {
    ThrowErrno(env, err, op,
               ErrorArgs(env, {{"group", Napi::Number::New(env, id_)}, {"name", Napi::String::New(env, name)}}));
  }
  Napi::Object obj = Device::Create(env, data_, this, dfd, name);
  devices_.insert(Device::Unwrap(obj));
  PinQuiet(this);
  return obj;
}

Napi::Value Group::Close(const Napi::CallbackInfo& info) {
  CloseNow();
  return info.Env().Undefined();
}

Napi::Value Group::GetId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), id_); }
Napi::Value Group::GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), closed()); }
Napi::Value Group::GetAttached(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), container_ != nullptr);
}

}  // namespace vfio
