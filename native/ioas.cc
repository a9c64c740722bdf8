#include "ioas.h"

#include <linux/iommufd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "addon_data.h"
#include "args.h"
#include "dma_buffer.h"
#include "errors.h"
#include "iommufd.h"
#include "ioctl.h"
#include "wrap.h"

namespace vfio {
namespace {

constexpr uint32_t kProtRead = 1, kProtWrite = 2;
// What IOMMU_IOAS_UNMAP takes as "everything" (iommufd_ioas_unmap).
constexpr uint64_t kAllLength = UINT64_MAX;
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
      Method<Ioas, &Ioas::Map>(env, "map"),
      Method<Ioas, &Ioas::Unmap>(env, "unmap"),
      Method<Ioas, &Ioas::UnmapAll>(env, "unmapAll"),
      Method<Ioas, &Ioas::CopyFrom>(env, "copyFrom"),
      Method<Ioas, &Ioas::RunPlan>(env, "runPlan"),
      Method<Ioas, &Ioas::Close>(env, "close"),
      Getter<Ioas, &Ioas::GetId>("id"),
      Getter<Ioas, &Ioas::GetClosed>("closed"),
      Getter<Ioas, &Ioas::GetTrackedMappings>("trackedMappings"),
  });
  data->ioasClass = Napi::Persistent(ctor);
}

Ioas::Ioas(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Ioas>(info) {
  RequireConstructToken(info, kClassName);
  info.This().As<Napi::Object>().TypeTag(&kTypeTag);
}

Ioas::~Ioas() { CloseNow(); }

Napi::Object Ioas::Create(Napi::Env env, AddonData* data, Iommufd* owner, uint32_t id) {
  Napi::Object obj;
  try {
    obj = data->ioasClass.New({ConstructToken(env)});
  } catch (...) {
    iommu_destroy d{};
    d.size = sizeof d;
    d.id = id;
    Ioctl(owner->fd(), IOMMU_DESTROY, &d);
    throw;
  }
  Ioas* self = Ioas::Unwrap(obj);
  self->data_ = data;
  self->owner_ = owner;
  self->id_ = id;
  PinQuiet(owner);
  return obj;
}

void Ioas::RequireOpen(Napi::Env env, const char* op) const {
  if (closed() || owner_->closed()) ThrowClosed(env, op, "the IOAS");
}

int Ioas::Fd() const { return owner_->fd(); }

void Ioas::Track(uint64_t iova, uint64_t size, std::vector<DmaBuffer*> buffers) {
  for (DmaBuffer* b : buffers) b->Pin();
  auto it = areas_.find(iova);
  if (it != areas_.end()) {  // the kernel refuses overlaps; stay balanced regardless
    for (DmaBuffer* b : it->second.buffers) b->Unpin();
    areas_.erase(it);
  }
  areas_.emplace(iova, Area{size, std::move(buffers)});
}

void Ioas::Untrack(uint64_t iova, uint64_t last) noexcept {
  auto it = areas_.upper_bound(iova);
  if (it != areas_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + (prev->second.size - 1) >= iova) it = prev;
  }
  while (it != areas_.end() && it->first <= last) {
    uint64_t areaLast = it->first + (it->second.size - 1);
    if (it->first < iova || areaLast > last) break;  // the kernel stops here with ENOENT
    for (DmaBuffer* b : it->second.buffers) b->Unpin();
    it = areas_.erase(it);
  }
}

void Ioas::ForgetAll() noexcept {
  for (auto& [iova, a] : areas_) {
    for (DmaBuffer* b : a.buffers) b->Unpin();
  }
  areas_.clear();
}

void Ioas::CloseNow() noexcept {
  if (closed()) return;
  Iommufd* owner = owner_;
  bool released = true;
  if (!owner->closed()) {
    owner->DetachDevicesFrom(id_);
    iommu_ioas_unmap u{};
    u.size = sizeof u;
    u.ioas_id = id_;
    u.iova = 0;
    u.length = kAllLength;
    released = Ioctl(owner->fd(), IOMMU_IOAS_UNMAP, &u) == 0;
    iommu_destroy d{};
    d.size = sizeof d;
    d.id = id_;
    if (Ioctl(owner->fd(), IOMMU_DESTROY, &d) == 0) released = true;
  }
  // Pins stay when the kernel may still map the memory: DMA into freed memory is worse than a leak.
  if (released) ForgetAll();
  owner_ = nullptr;
  owner->IoasClosed(this);
  UnpinQuiet(owner);
}

// --- PlanTarget -------------------------------------------------------------

int Ioas::MapEntry(uint64_t vaddr, uint64_t iova, uint64_t size, uint32_t prot, double* ns) {
  iommu_ioas_map m{};
  m.size = sizeof m;
  m.flags = MapFlags(prot, true);
  m.ioas_id = id_;
  m.user_va = vaddr;
  m.length = size;
  m.iova = iova;
  return TimedIoctl(Fd(), IOMMU_IOAS_MAP, &m, ns);
}

int Ioas::UnmapEntry(uint64_t iova, uint64_t size, uint64_t* unmapped, double* ns) {
  iommu_ioas_unmap u{};
  u.size = sizeof u;
  u.ioas_id = id_;
  u.iova = iova;
  u.length = size;
  int err = TimedIoctl(Fd(), IOMMU_IOAS_UNMAP, &u, ns);
  if (err == 0) *unmapped = u.length;
  return err;
}

void Ioas::Mapped(uint64_t vaddr, uint64_t iova, uint64_t size) {
  Track(iova, size, data_->BuffersOverlapping(vaddr, size));
}

void Ioas::Unmapped(uint64_t iova, uint64_t size) noexcept {
  if (iova == 0 && size == kAllLength) {
    ForgetAll();
  } else if (size != 0 && !RangeWraps(iova, size)) {
    Untrack(iova, iova + (size - 1));
  }
}

void Ioas::UnmapFailed(uint64_t iova, uint64_t size, int err) noexcept {
  // ENOENT from a range with an area sticking out: the areas before it are gone.
  if (err == ENOENT && size != 0 && !RangeWraps(iova, size)) Untrack(iova, iova + (size - 1));
}

// --- methods ----------------------------------------------------------------

// { alignment: bigint, ranges: BigUint64Array [start, last, start, last, ...] }
Napi::Value Ioas::IovaRanges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "IOMMU_IOAS_IOVA_RANGES";
  RequireOpen(env, op);
  std::vector<iommu_iova_range> ranges(kRangesFirstTry);
  iommu_ioas_iova_ranges r{};
  for (int attempt = 0; attempt < 4; attempt++) {
    r = {};
    r.size = sizeof r;
    r.ioas_id = id_;
    r.num_iovas = static_cast<uint32_t>(ranges.size());
    r.allowed_iovas = reinterpret_cast<uintptr_t>(ranges.data());
    if (Ioctl(Fd(), IOMMU_IOAS_IOVA_RANGES, &r) == 0) break;
    // EMSGSIZE: num_iovas now says how many there are; ask again with room.
    if (errno != EMSGSIZE) ThrowErrno(env, errno, op, ErrorArgs(env, {{"ioas", Napi::Number::New(env, id_)}}));
    ranges.resize(r.num_iovas);
  }
  size_t n = std::min<size_t>(r.num_iovas, ranges.size());
  Napi::BigUint64Array out = Napi::BigUint64Array::New(env, n * 2);
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = ranges[i].start;
    out[2 * i + 1] = ranges[i].last;
  }
  Napi::Object res = Napi::Object::New(env);
  res.Set("alignment", Big(env, r.out_iova_alignment));
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
  iommu_ioas_allow_iovas a{};
  a.size = sizeof a;
  a.ioas_id = id_;
  a.num_iovas = static_cast<uint32_t>(n);
  a.allowed_iovas = reinterpret_cast<uintptr_t>(ranges.data());
  if (Ioctl(Fd(), IOMMU_IOAS_ALLOW_IOVAS, &a) < 0) {
    ThrowErrno(env, errno, op, ErrorArgs(env, {{"ranges", Napi::Number::New(env, static_cast<double>(n))}}));
  }
  return env.Undefined();
}

// map(vaddr, iova | null, size, prot) -> iova (null: the kernel chooses).
Napi::Value Ioas::Map(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "IOMMU_IOAS_MAP";
  RequireOpen(env, op);
  uint64_t vaddr = ArgU64(info, 0, "vaddr");
  bool fixed = !info[1].IsNull();
  uint64_t iova = fixed ? ArgU64(info, 1, "iova") : 0;
  uint64_t size = ArgU64(info, 2, "size");
  uint32_t prot = ArgProt(info, 3);
  iommu_ioas_map m{};
  m.size = sizeof m;
  m.flags = MapFlags(prot, fixed);
  m.ioas_id = id_;
  m.user_va = vaddr;
  m.length = size;
  m.iova = iova;
  if (Ioctl(Fd(), IOMMU_IOAS_MAP, &m) < 0) {
    Napi::Object args = ErrorArgs(env, {{"vaddr", Big(env, vaddr)}, {"size", Big(env, size)},
                                        {"prot", Napi::Number::New(env, prot)}});
    args.Set("iova", fixed ? Big(env, iova) : env.Null());
    ThrowErrno(env, errno, op, args);
  }
  Mapped(vaddr, m.iova, size);
  return Big(env, m.iova);
}

Napi::Value Ioas::Unmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "IOMMU_IOAS_UNMAP";
  RequireOpen(env, op);
  uint64_t iova = ArgU64(info, 0, "iova");
  uint64_t size = ArgU64(info, 1, "size");
  double ns;
  uint64_t gone = 0;
  int err = UnmapEntry(iova, size, &gone, &ns);
  if (err != 0) {
    UnmapFailed(iova, size, err);
    ThrowErrno(env, err, op, ErrorArgs(env, {{"iova", Big(env, iova)}, {"size", Big(env, size)}}),
               err == ENOENT ? "nothing mapped there, or the range cuts a mapping (iommufd never splits one)" : nullptr);
  }
  Unmapped(iova, size);
  return Big(env, gone);
}

Napi::Value Ioas::UnmapAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "IOMMU_IOAS_UNMAP";
  RequireOpen(env, op);
  double ns;
  uint64_t gone = 0;
  int err = UnmapEntry(0, kAllLength, &gone, &ns);
  if (err != 0) ThrowErrno(env, err, op, ErrorArgs(env, {{"iova", Big(env, 0)}, {"size", Big(env, kAllLength)}}));
  ForgetAll();
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
  iommu_ioas_copy c{};
  c.size = sizeof c;
  c.flags = MapFlags(prot, fixed);
  c.dst_ioas_id = id_;
  c.src_ioas_id = src->id_;
  c.length = size;
  c.dst_iova = dstIova;
  c.src_iova = srcIova;
  if (Ioctl(Fd(), IOMMU_IOAS_COPY, &c) < 0) {
    Napi::Object args = ErrorArgs(env, {{"srcIoas", Napi::Number::New(env, src->id_)}, {"srcIova", Big(env, srcIova)},
                                        {"size", Big(env, size)}});
    args.Set("dstIova", fixed ? Big(env, dstIova) : env.Null());
    ThrowErrno(env, errno, op, args);
  }
  // One new area per source area the range spans (iopt_get_pages), each over the same pages.
  uint64_t last = srcIova + (size - 1);
  auto it = src->areas_.upper_bound(srcIova);
  if (it != src->areas_.begin()) --it;
  for (; it != src->areas_.end() && it->first <= last; ++it) {
    uint64_t aFirst = it->first, aLast = it->first + (it->second.size - 1);
    if (aLast < srcIova) continue;
    uint64_t from = std::max(aFirst, srcIova), to = std::min(aLast, last);
    Track(c.dst_iova + (from - srcIova), to - from + 1, it->second.buffers);
  }
  return Big(env, c.dst_iova);
}

Napi::Value Ioas::RunPlan(const Napi::CallbackInfo& info) {
  RequireOpen(info.Env(), "plan");
  return ExecutePlan(info, *this);
}

Napi::Value Ioas::Close(const Napi::CallbackInfo& info) {
  CloseNow();
  return info.Env().Undefined();
}

Napi::Value Ioas::GetId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), id_); }
Napi::Value Ioas::GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), closed()); }
Napi::Value Ioas::GetTrackedMappings(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(areas_.size()));
}

}  // namespace vfio
