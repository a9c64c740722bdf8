#include "ioas.h"

#include <linux/iommufd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "addon_data.h"
#include "args.h"
#include "dma_buffer.h"
#include "errors.h"
#include "iommufd.h"
#include "kernel/ioas.h"
#include "kernel/iommufd.h"
#include "wrap.h"

namespace vfio {
namespace {

constexpr uint32_t kProtRead = 1, kProtWrite = 2;
constexpr uint64_t kAllLength = kernel::kIoasUnmapAllLength;
// Largest IOVA_RANGES reply we ask for at once; the kernel says how many it has.
constexpr uint32_t kRangesFirstTry = 16;

Napi::Value Big(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

// PROT_READ / PROT_WRITE -> IOMMU_IOAS_MAP_READABLE / _WRITEABLE.
uint32_t MapFlags(uint32_t prot, bool fixed) {
  uint32_t f = fixed ? IOMMU_IOAS_MAP_FIXED_IOVA : 0;
  if (prot & kProtRead) f |= IOMMU_IOAS_MAP_READABLE;
  if (prot & kProtWrite) f |= IOMMU_IOAS_MAP_WRITEABLE;
  return f;
}

uint32_t ArgProt(const Napi::CallbackInfo& info, size_t index) {
  uint32_t prot = ArgU32(info, index, "prot");
  if (prot & ~(kProtRead | kProtWrite)) ThrowRange(info.Env(), "prot may only hold PROT_READ | PROT_WRITE");
  return prot;
}

}  // namespace

void Ioas::Init(Napi::Env env, AddonData* data) {
  Napi::Function ctor = DefineTaggedClass<Ioas>(env, kClassName, {
      Method<Ioas, &Ioas::IovaRanges>(env, "iovaRanges"),
      Method<Ioas, &Ioas::AllowIovas>(env, "allowIovas"),
      Method<Ioas, &Ioas::MapAuto>(env, "mapAuto"),
      SpaceCallsMethod(env),
      Method<Ioas, &Ioas::UnmapAll>(env, "unmapAll"),
      Method<Ioas, &Ioas::CopyFrom>(env, "copyFrom"),
      RunPlanCyclesMethod(env),
      Method<Ioas, &Ioas::Close>(env, "close"),
      Getter<Ioas, &Ioas::GetId>("id"),
      ClosedGetter(),
      TrackedMappingsGetter(),
  });
  data->ioasClass = Napi::Persistent(ctor);
}

Ioas::Ioas(const Napi::CallbackInfo& info) : SpaceObject(info, UnmapRule::kIoas) {
  RequireConstructToken(info, kClassName);
  info.This().As<Napi::Object>().TypeTag(&kTypeTag);
}

Ioas::~Ioas() { CloseNow(); }

Napi::Object Ioas::Create(Napi::Env env, AddonData* data, Iommufd* owner, uint32_t id) {
  Napi::Object obj;
  Ioas* self = Construct<Ioas>(env, data->ioasClass, &obj, [&] { kernel::Destroy(owner->fd(), id); });
  self->data_ = data;
  self->owner_ = owner;
  self->id_ = id;
  PinQuiet(owner);
  return obj;
}

void Ioas::RequireOpen(Napi::Env env, const char* op) const {
  if (closed() || owner_->closed()) ThrowClosed(env, op, "the IOAS");
  if (Busy()) ThrowBusy(env, op);
}

int Ioas::Fd() const { return owner_->fd(); }

void Ioas::CloseNow() noexcept {
  if (closed()) return;
  StopJob();  // no system call of an async plan outlives the descriptor
  Iommufd* owner = owner_;
  bool released = true;
  if (!owner->closed()) {
    owner->DetachDevicesFrom(id_);
    uint64_t gone;
    released = kernel::IoasUnmap(owner->fd(), id_, 0, kAllLength, &gone) == 0;
    if (kernel::Destroy(owner->fd(), id_) == 0) released = true;
  }
  // Pins stay when the kernel may still map the memory: DMA into freed memory is worse than a leak.
  if (released) books_.Clear();
  owner_ = nullptr;
  owner->IoasClosed(this);
  UnpinQuiet(owner);
}

// --- PlanTarget -------------------------------------------------------------

int Ioas::MapEntry(uint64_t vaddr, uint64_t iova, uint64_t size, uint32_t prot, double* ns) {
  return kernel::IoasMap(Fd(), id_, MapFlags(prot, true), vaddr, size, &iova, ns);
}

bool Ioas::Closed() const { return closed() || owner_->closed(); }

int Ioas::UnmapEntry(uint64_t iova, uint64_t size, uint64_t* unmapped, double* ns) {
  return kernel::IoasUnmap(Fd(), id_, iova, size, unmapped, ns);
}

// --- methods ----------------------------------------------------------------

// { alignment: bigint, ranges: BigUint64Array [start, last, start, last, ...] }
Napi::Value Ioas::IovaRanges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "IOMMU_IOAS_IOVA_RANGES";
  RequireOpen(env, op);
  std::vector<iommu_iova_range> ranges(kRangesFirstTry);
  uint32_t count = 0;
  uint64_t alignment = 0;
  for (int attempt = 0; attempt < 4; attempt++) {
    count = static_cast<uint32_t>(ranges.size());
    int err = kernel::IoasIovaRanges(Fd(), id_, ranges.data(), &count, &alignment);
    if (err == 0) break;
    // EMSGSIZE: count now says how many there are; ask again with room.
    if (err != EMSGSIZE) ThrowErrno(env, err, op, ErrorArgs(env, {{"ioas", Napi::Number::New(env, id_)}}));
    ranges.resize(count);
  }
  size_t n = std::min<size_t>(count, ranges.size());
  Napi::BigUint64Array out = Napi::BigUint64Array::New(env, n * 2);
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = ranges[i].start;
    out[2 * i + 1] = ranges[i].last;
  }
  Napi::Object res = Napi::Object::New(env);
  res.Set("alignment", Big(env, alignment));
  res.Set("ranges", out);
  return res;
}

// allowIovas(pairs: BigUint64Array [start, last, ...]); empty = no restriction.
Napi::Value Ioas::AllowIovas(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "IOMMU_IOAS_ALLOW_IOVAS";
  RequireOpen(env, op);
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array) {
    ThrowType(env, "ranges must be a BigUint64Array of start, last pairs");
  }
  Napi::BigUint64Array pairs = info[0].As<Napi::BigUint64Array>();
  if (pairs.ElementLength() % 2 != 0) ThrowRange(env, "ranges must hold start, last pairs");
  size_t n = pairs.ElementLength() / 2;
  if (n > UINT32_MAX) ThrowRange(env, "too many ranges");
  std::vector<iommu_iova_range> ranges(n);
  for (size_t i = 0; i < n; i++) ranges[i] = {pairs[2 * i], pairs[2 * i + 1]};
  if (int err = kernel::IoasAllowIovas(Fd(), id_, ranges.data(), static_cast<uint32_t>(n))) {
    ThrowErrno(env, err, op, ErrorArgs(env, {{"ranges", Napi::Number::New(env, static_cast<double>(n))}}));
  }
  return env.Undefined();
}

// mapAuto(vaddr, size, prot) -> the IOVA the kernel chose. (A map at a fixed
// IOVA is a plan entry: space_calls.h.)
Napi::Value Ioas::MapAuto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "IOMMU_IOAS_MAP";
  RequireOpen(env, op);
  uint64_t vaddr = ArgU64(info, 0, "vaddr");
  uint64_t size = ArgU64(info, 1, "size");
  uint32_t prot = ArgProt(info, 2);
  uint64_t mapped = 0;
  if (int err = kernel::IoasMap(Fd(), id_, MapFlags(prot, false), vaddr, size, &mapped)) {
    Napi::Object args = ErrorArgs(env, {{"vaddr", Big(env, vaddr)}, {"size", Big(env, size)},
                                        {"prot", Napi::Number::New(env, prot)}});
    args.Set("iova", env.Null());
    ThrowErrno(env, err, op, args);
  }
  books_.Mapped(mapped, size, data_->BuffersOverlapping(vaddr, size));
  return Big(env, mapped);
}

Napi::Value Ioas::UnmapAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "IOMMU_IOAS_UNMAP";
  RequireOpen(env, op);
  uint64_t gone = 0;
  int err = kernel::IoasUnmap(Fd(), id_, 0, kAllLength, &gone);
  if (err != 0) ThrowErrno(env, err, op, ErrorArgs(env, {{"iova", Big(env, 0)}, {"size", Big(env, kAllLength)}}));
  books_.Clear();
  return Big(env, gone);
}

// copyFrom(src: Ioas, srcIova, size, dstIova | null, prot) -> dst iova.
Napi::Value Ioas::CopyFrom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "IOMMU_IOAS_COPY";
  RequireOpen(env, op);
  if (!info[0].IsObject() || !info[0].As<Napi::Object>().CheckTypeTag(&kTypeTag)) ThrowType(env, "src must be an Ioas");
  Ioas* src = Ioas::Unwrap(info[0].As<Napi::Object>());
  src->RequireOpen(env, op);
  if (src->owner_ != owner_) ThrowType(env, "src must belong to the same iommufd");
  uint64_t srcIova = ArgU64(info, 1, "srcIova");
  uint64_t size = ArgU64(info, 2, "size");
  bool fixed = !info[3].IsNull();
  uint64_t dstIova = fixed ? ArgU64(info, 3, "dstIova") : 0;
  uint32_t prot = ArgProt(info, 4);
  uint64_t copied = dstIova;
  if (int err = kernel::IoasCopy(Fd(), id_, src->id_, MapFlags(prot, fixed), srcIova, size, &copied)) {
    Napi::Object args = ErrorArgs(env, {{"srcIoas", Napi::Number::New(env, src->id_)}, {"srcIova", Big(env, srcIova)},
                                        {"size", Big(env, size)}});
    args.Set("dstIova", fixed ? Big(env, dstIova) : env.Null());
    ThrowErrno(env, err, op, args);
  }
  books_.Copied(src->books_, srcIova, size, copied);
  return Big(env, copied);
}

Napi::Value Ioas::Close(const Napi::CallbackInfo& info) {
  CloseNow();
  return info.Env().Undefined();
}

Napi::Value Ioas::GetId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), id_); }
}  // namespace vfio
