#include "overhead_space.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "addon_data.h"
#include "args.h"
#include "dma_buffer.h"
#include "errors.h"
#include "kernel/call.h"
#include "wrap.h"

namespace vfio {
namespace {

constexpr uint32_t kProtMask = 1 | 2;  // PROT_READ | PROT_WRITE, as Container::Map checks
// overheadFloor: enough calls for a stable median, few enough to return in a second.
constexpr uint32_t kMaxFloorCalls = 1u << 24;
// The ops errors name: what the stand-in stands in for, and what it really calls.
constexpr const char* kMapOp = "overhead map (FIONBIO)";
constexpr const char* kUnmapOp = "overhead unmap (FIONBIO)";

// The stand-in "ioctl": FIONBIO with 0 is handled by the VFS for any fd
// (ioctl_fionbio), so it is a real system call with almost nothing behind it.
inline int Cheap(int fd, double* ns) {
  int zero = 0;
  return kernel::Errno(fd, FIONBIO, &zero, ns);
}

Napi::Value Big(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

int NewEventFd() { return eventfd(0, EFD_CLOEXEC); }

Napi::Value OverheadFloor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t calls = ArgU32(info, 0, "calls", kMaxFloorCalls);
  if (calls == 0) ThrowRange(env, "calls must be at least 1");
  int fd = NewEventFd();
  if (fd < 0) ThrowErrno(env, errno, "eventfd", Napi::Object::New(env));
  int err = 0;
  timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (uint32_t i = 0; i < calls && err == 0; i++) err = Cheap(fd, nullptr);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double bare = kernel::Nanos(t0, t1) / calls;
  double timedSum = 0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (uint32_t i = 0; i < calls && err == 0; i++) {
    double ns = 0;
    err = Cheap(fd, &ns);
    timedSum += ns;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  // The timed loop's figure is the executor's view; its wall time also pays the clock reads.
  double timedWall = kernel::Nanos(t0, t1) / calls;
  close(fd);
  if (err != 0) ThrowErrno(env, err, "FIONBIO", Napi::Object::New(env));
  Napi::Object out = Napi::Object::New(env);
  out.Set("bareNs", Napi::Number::New(env, bare));
  out.Set("timedNs", Napi::Number::New(env, timedSum / calls));
  out.Set("timedWallNs", Napi::Number::New(env, timedWall));
  return out;
}

}  // namespace

void OverheadSpace::Init(Napi::Env env, AddonData* data) {
  Napi::Function ctor = DefineTaggedClass<OverheadSpace>(env, kClassName, {
      SpaceCallsMethod(env),
      Method<OverheadSpace, &OverheadSpace::UnmapAll>(env, "unmapAll"),
      RunPlanCyclesMethod(env),
      Method<OverheadSpace, &OverheadSpace::Close>(env, "close"),
      ClosedGetter(),
      TrackedMappingsGetter(),
  });
  data->overheadClass = Napi::Persistent(ctor);
}

OverheadSpace::OverheadSpace(const Napi::CallbackInfo& info)
    : SpaceObject(info, UnmapRule::kType1v2) {
  RequireConstructToken(info, kClassName);
  info.This().As<Napi::Object>().TypeTag(&kTypeTag);
}

OverheadSpace::~OverheadSpace() { CloseNow(); }

Napi::Value OverheadSpace::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = NewEventFd();
  if (fd < 0) ThrowErrno(env, errno, "eventfd", Napi::Object::New(env));
  AddonData* data = AddonData::Of(env);
  Napi::Object obj;
  OverheadSpace* self = Construct<OverheadSpace>(env, data->overheadClass, &obj, [fd] { close(fd); });
  self->data_ = data;
  self->fd_ = fd;
  data->overheadSpaces.insert(self);
  return obj;
}

void OverheadSpace::CloseNow() noexcept {
  if (closed()) return;
  StopJob();  // no system call of an async plan outlives the descriptor
  // Nothing outside this process ever pointed at the buffers: release them now.
  books_.Clear();
  close(fd_);
  fd_ = -1;
  data_->overheadSpaces.erase(this);
}

void OverheadSpace::RequireOpen(Napi::Env env, const char* op) const {
  if (closed()) ThrowClosed(env, op, "the overhead space");
  if (Busy()) ThrowBusy(env, op);
}

Napi::Value OverheadSpace::UnmapAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, kUnmapOp);
  uint64_t gone = 0;
  books_.ForEach([&](uint64_t, uint64_t size) { gone += size; });
  if (int err = Cheap(fd_, nullptr)) ThrowErrno(env, err, kUnmapOp, ErrorArgs(env, {{"flags", Napi::String::New(env, "ALL")}}));
  books_.Clear();
  return Big(env, gone);
}

int OverheadSpace::MapEntry(uint64_t, uint64_t, uint64_t, uint32_t, double* ns) { return Cheap(fd_, ns); }

int OverheadSpace::UnmapEntry(uint64_t iova, uint64_t size, uint64_t* unmapped, double* ns) {
  // Read before the call, outside the timed window; the books change after it, as for a container.
  *unmapped = books_.BytesIn(iova, size);
  return Cheap(fd_, ns);
}

int OverheadSpace::WrapErrno() const { return EINVAL; }

Napi::Value OverheadSpace::Close(const Napi::CallbackInfo& info) {
  CloseNow();
  return info.Env().Undefined();
}

void InitOverheadFloor(Napi::Env env, Napi::Object exports) {
  exports.Set("overheadFloor", Napi::Function::New<OverheadFloor>(env, "overheadFloor"));
  exports.Set("openOverheadSpace", Napi::Function::New<OverheadSpace::Open>(env, "openOverheadSpace"));
}

}  // namespace vfio
