#include "container.h"

#include <fcntl.h>
#include <linux/vfio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "addon_data.h"
#include "args.h"
#include "dma_buffer.h"
#include "errors.h"
#include "group.h"
#include "ioctl.h"
#include "plan.h"
#include "wrap.h"

namespace vfio {
namespace {

#ifdef VFIO_DMA_UNMAP_FLAG_ALL  // uapi 5.12+
constexpr uint32_t kUnmapAll = VFIO_DMA_UNMAP_FLAG_ALL;
#else
constexpr uint32_t kUnmapAll = 0;
#endif
constexpr uint32_t kProtMask = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
// The kernel's DIRTY_BITMAP_SIZE_MAX: bitmaps for up to 2^31 pages. Past it
// verify_bitmap_size() answers EINVAL; we answer the same before allocating.
constexpr uint64_t kDirtyBitmapBytesMax = 1ull << 28;

Napi::Value Big(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

Napi::Object RangeArgs(Napi::Env env, uint64_t iova, uint64_t size) {
  return ErrorArgs(env, {{"iova", Big(env, iova)}, {"size", Big(env, size)}});
}

// Bytes of bitmap the kernel writes for `size` bytes at `pgsize` granularity
// (whole u64 words, as its DIRTY_BITMAP_BYTES does).
uint64_t DirtyBitmapBytes(Napi::Env env, const char* op, uint64_t iova, uint64_t size, uint64_t pgsize) {
  if (pgsize == 0) ThrowRange(env, "pageSize must be non-zero");
  uint64_t pages = size / pgsize + (size % pgsize ? 1 : 0);
  uint64_t bytes = pages / 64 * 8 + (pages % 64 ? 8 : 0);
  if (bytes > kDirtyBitmapBytesMax) {
    Napi::Object args = RangeArgs(env, iova, size);
    args.Set("pageSize", Big(env, pgsize));
    ThrowErrno(env, EINVAL, op, args, "dirty bitmap past the kernel's maximum (2^31 pages): ask for a smaller range");
  }
  return bytes;
}

Napi::BigUint64Array BitmapView(Napi::Env env, Napi::ArrayBuffer ab) {
  return Napi::BigUint64Array::New(env, ab.ByteLength() / 8, ab, 0);
}

}  // namespace

void Container::Init(Napi::Env env, AddonData* data) {
  Napi::Function ctor = DefineTaggedClass<Container>(env, kClassName, {
      Method<Container, &Container::ApiVersion>(env, "apiVersion"),
      Method<Container, &Container::CheckExtension>(env, "checkExtension"),
      Method<Container, &Container::SetIommu>(env, "setIommu"),
      Method<Container, &Container::IommuInfo>(env, "iommuInfo"),
      Method<Container, &Container::Map>(env, "map"),
      Method<Container, &Container::Unmap>(env, "unmap"),
      Method<Container, &Container::UnmapAll>(env, "unmapAll"),
      Method<Container, &Container::UnmapWithDirty>(env, "unmapWithDirty"),
      Method<Container, &Container::DirtyStart>(env, "dirtyStart"),
      Method<Container, &Container::DirtyStop>(env, "dirtyStop"),
      Method<Container, &Container::DirtyGet>(env, "dirtyGet"),
      Method<Container, &Container::RunPlan>(env, "runPlan"),
      Method<Container, &Container::Close>(env, "close"),
      Getter<Container, &Container::GetClosed>("closed"),
      Getter<Container, &Container::GetTrackedMappings>("trackedMappings"),
      Getter<Container, &Container::GetGroups>("groups"),
  });
  data->containerClass = Napi::Persistent(ctor);
}

Container::Container(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Container>(info) {
  RequireConstructToken(info, kClassName);
  info.This().As<Napi::Object>().TypeTag(&kTypeTag);
}

// Reached by GC only when no group holds us (attached groups pin the
// container), so there is nothing left to detach.
Container::~Container() { CloseNow(); }

Napi::Value Container::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = "/dev/vfio/vfio";
  if (!info[0].IsUndefined()) path = ArgString(info, 0, "path");
  std::string op = "open " + path;
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) ThrowErrno(env, errno, op.c_str(), ErrorArgs(env, {{"path", Napi::String::New(env, path)}}));
  AddonData* data = AddonData::Of(env);
  Napi::Object obj;
  try {
    obj = data->containerClass.New({ConstructToken(env)});
  } catch (...) {
    close(fd);
    throw;
  }
  Container* self = Container::Unwrap(obj);
  self->data_ = data;
  self->fd_ = fd;
  data->containers.insert(self);
  return obj;
}

void Container::RequireOpen(Napi::Env env, const char* op) const {
  if (closed()) ThrowClosed(env, op, "the container");
}

void Container::TrackMapped(uint64_t vaddr, uint64_t iova, uint64_t size) {
  Mapping m{vaddr, size, data_->BuffersOverlapping(vaddr, size)};
  for (DmaBuffer* b : m.buffers) b->Pin();
  auto it = mappings_.find(iova);
  if (it != mappings_.end()) {  // the kernel refuses overlaps; stay balanced regardless
    for (DmaBuffer* b : it->second.buffers) b->Unpin();
    mappings_.erase(it);
  }
  mappings_.emplace(iova, std::move(m));
}

// Mirrors vfio_dma_do_unmap: starting at the first mapping that reaches iova,
// every mapping that begins inside the range goes (v2 forbids bisecting, so
// those lie wholly inside); type1 v1 stops at a mapping that starts below iova.
void Container::TrackUnmapped(uint64_t iova, uint64_t size) noexcept {
  if (size == 0) return;
  uint64_t last = iova + (size - 1);
  auto it = mappings_.upper_bound(iova);
  if (it != mappings_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + (prev->second.size - 1) >= iova) it = prev;
  }
  while (it != mappings_.end() && it->first <= last) {
    if (!v2_ && iova > it->first) break;
    for (DmaBuffer* b : it->second.buffers) b->Unpin();
    it = mappings_.erase(it);
  }
}

void Container::ForgetAllMappings() noexcept {
  for (auto& [iova, m] : mappings_) {
    for (DmaBuffer* b : m.buffers) b->Unpin();
  }
  mappings_.clear();
}

void Container::GroupAttached(Group* g) {
  groups_.insert(g);
}

void Container::GroupDetached(Group* g) noexcept {
  groups_.erase(g);
  if (groups_.empty() && iommuSet_) {
    // vfio_group_detach_container released the IOMMU with its mappings.
    ForgetAllMappings();
    iommuSet_ = false;
    v2_ = false;
  }
}

void Container::CloseNow() noexcept {
  if (closed()) return;
  bool released = !iommuSet_;
  if (iommuSet_) {
    vfio_iommu_type1_dma_unmap u{};
    u.argsz = sizeof u;
    u.flags = kUnmapAll;
    if (kUnmapAll != 0 && Ioctl(fd_, VFIO_IOMMU_UNMAP_DMA, &u) == 0) {
      released = true;
    } else {
      // Kernels before 5.12 lack UNMAP_ALL: unmap what we mapped, one by one.
      released = true;
      for (auto& [iova, m] : mappings_) {
        vfio_iommu_type1_dma_unmap one{};
        one.argsz = sizeof one;
        one.iova = iova;
        one.size = m.size;
        if (Ioctl(fd_, VFIO_IOMMU_UNMAP_DMA, &one) != 0) released = false;
      }
    }
  }
  // Kernel order: each group's devices close, then the group is unset.
  std::vector<Group*> attached(groups_.begin(), groups_.end());
  for (Group* g : attached) g->DetachFromContainer();
  if (groups_.empty()) released = true;
  // If the kernel might still map our buffers, keep them pinned (a leak is
  // better than DMA into freed memory); GroupDetached releases them later.
  if (released) ForgetAllMappings();
  close(fd_);
  fd_ = -1;
  data_->containers.erase(this);
}

Napi::Value Container::ApiVersion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "VFIO_GET_API_VERSION");
  int r = Ioctl(fd_, VFIO_GET_API_VERSION, 0);
  if (r < 0) ThrowErrno(env, errno, "VFIO_GET_API_VERSION", Napi::Object::New(env));
  return Napi::Number::New(env, r);
}

Napi::Value Container::CheckExtension(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "VFIO_CHECK_EXTENSION");
  uint32_t ext = ArgU32(info, 0, "extension");
  int r = Ioctl(fd_, VFIO_CHECK_EXTENSION, static_cast<unsigned long>(ext));
  if (r < 0) ThrowErrno(env, errno, "VFIO_CHECK_EXTENSION", ErrorArgs(env, {{"extension", Napi::Number::New(env, ext)}}));
  return Napi::Number::New(env, r);
}

Napi::Value Container::SetIommu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "VFIO_SET_IOMMU");
  uint32_t type = ArgU32(info, 0, "type");
  if (Ioctl(fd_, VFIO_SET_IOMMU, static_cast<unsigned long>(type)) < 0) {
    ThrowErrno(env, errno, "VFIO_SET_IOMMU", ErrorArgs(env, {{"type", Napi::Number::New(env, type)}}));
  }
  iommuSet_ = true;
  v2_ = type != VFIO_TYPE1_IOMMU;
  return env.Undefined();
}

// The raw reply, capability chain included; lib/native/iommu-info.ts parses it.
// The first call learns the size the chain needs (the kernel raises argsz),
// the next supplies it; a group attached in between can grow it again.
Napi::Value Container::IommuInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "VFIO_IOMMU_GET_INFO");
  std::vector<uint8_t> buf(sizeof(vfio_iommu_type1_info));
  for (int attempt = 0; attempt < 4; attempt++) {
    std::memset(buf.data(), 0, buf.size());
    auto* head = reinterpret_cast<vfio_iommu_type1_info*>(buf.data());
    head->argsz = static_cast<uint32_t>(buf.size());
    if (Ioctl(fd_, VFIO_IOMMU_GET_INFO, head) < 0) {
      ThrowErrno(env, errno, "VFIO_IOMMU_GET_INFO",
                 ErrorArgs(env, {{"argsz", Napi::Number::New(env, static_cast<double>(buf.size()))}}));
    }
    if (head->argsz <= buf.size()) break;
    buf.resize(head->argsz);
  }
  Napi::ArrayBuffer out = Napi::ArrayBuffer::New(env, buf.size());
  std::memcpy(out.Data(), buf.data(), buf.size());
  return out;
}

Napi::Value Container::Map(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "VFIO_IOMMU_MAP_DMA");
  uint64_t vaddr = ArgU64(info, 0, "vaddr");
  uint64_t iova = ArgU64(info, 1, "iova");
  uint64_t size = ArgU64(info, 2, "size");
  uint32_t flags = ArgU32(info, 3, "flags");
  if (flags & ~kProtMask) ThrowRange(env, "flags may only hold PROT_READ | PROT_WRITE");
  auto args = [&] {
    return ErrorArgs(env, {{"vaddr", Big(env, vaddr)}, {"iova", Big(env, iova)}, {"size", Big(env, size)},
                           {"flags", Napi::Number::New(env, flags)}});
  };
  // A range that wraps 2^64 is refused here with the kernel's own errno.
  if (RangeWraps(iova, size) || RangeWraps(vaddr, size)) ThrowErrno(env, EINVAL, "VFIO_IOMMU_MAP_DMA", args());
  vfio_iommu_type1_dma_map m{};
  m.argsz = sizeof m;
  m.flags = flags;
  m.vaddr = vaddr;
  m.iova = iova;
  m.size = size;
  if (Ioctl(fd_, VFIO_IOMMU_MAP_DMA, &m) < 0) ThrowErrno(env, errno, "VFIO_IOMMU_MAP_DMA", args());
  TrackMapped(vaddr, iova, size);
  return env.Undefined();
}

Napi::Value Container::Unmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "VFIO_IOMMU_UNMAP_DMA");
  uint64_t iova = ArgU64(info, 0, "iova");
  uint64_t size = ArgU64(info, 1, "size");
  if (RangeWraps(iova, size)) ThrowErrno(env, EINVAL, "VFIO_IOMMU_UNMAP_DMA", RangeArgs(env, iova, size));
  vfio_iommu_type1_dma_unmap u{};
  u.argsz = sizeof u;
  u.iova = iova;
  u.size = size;
  if (Ioctl(fd_, VFIO_IOMMU_UNMAP_DMA, &u) < 0) ThrowErrno(env, errno, "VFIO_IOMMU_UNMAP_DMA", RangeArgs(env, iova, size));
  TrackUnmapped(iova, size);
  return Big(env, u.size);
}

Napi::Value Container::UnmapAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "VFIO_IOMMU_UNMAP_DMA");
  if (kUnmapAll == 0) {
    ThrowErrno(env, ENOTTY, "VFIO_IOMMU_UNMAP_DMA", ErrorArgs(env, {{"flags", Napi::String::New(env, "ALL")}}),
               "built against a uapi header without VFIO_DMA_UNMAP_FLAG_ALL");
  }
  vfio_iommu_type1_dma_unmap u{};
  u.argsz = sizeof u;
  u.flags = kUnmapAll;
  if (Ioctl(fd_, VFIO_IOMMU_UNMAP_DMA, &u) < 0) {
    ThrowErrno(env, errno, "VFIO_IOMMU_UNMAP_DMA", ErrorArgs(env, {{"flags", Napi::String::New(env, "ALL")}}));
  }
  ForgetAllMappings();
  return Big(env, u.size);
}

Napi::Value Container::UnmapWithDirty(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "VFIO_IOMMU_UNMAP_DMA";
  RequireOpen(env, op);
  uint64_t iova = ArgU64(info, 0, "iova");
  uint64_t size = ArgU64(info, 1, "size");
  uint64_t pgsize = ArgU64(info, 2, "pageSize");
  auto args = [&] {
    Napi::Object a = RangeArgs(env, iova, size);
    a.Set("pageSize", Big(env, pgsize));
    a.Set("flags", Napi::String::New(env, "GET_DIRTY_BITMAP"));
    return a;
  };
  // An argument error first, as everywhere: a zero page size is a RangeError whatever the range.
  if (pgsize == 0) ThrowRange(env, "pageSize must be non-zero");
  if (RangeWraps(iova, size)) ThrowErrno(env, EINVAL, op, args());
  uint64_t bytes = DirtyBitmapBytes(env, op, iova, size, pgsize);
  Napi::ArrayBuffer bits = Napi::ArrayBuffer::New(env, bytes);  // zero-filled, as the kernel requires

  // vfio_iommu_type1_dma_unmap ends in a flexible array: lay out the
  // vfio_bitmap that follows it by hand.
  alignas(8) uint8_t raw[sizeof(vfio_iommu_type1_dma_unmap) + sizeof(vfio_bitmap)] = {};
  auto* unmap = reinterpret_cast<vfio_iommu_type1_dma_unmap*>(raw);
  auto* bitmap = reinterpret_cast<vfio_bitmap*>(raw + sizeof(vfio_iommu_type1_dma_unmap));
  unmap->argsz = sizeof raw;
  unmap->flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
  unmap->iova = iova;
  unmap->size = size;
  bitmap->pgsize = pgsize;
  bitmap->size = bytes;
  bitmap->data = static_cast<__u64*>(bits.Data());
  if (Ioctl(fd_, VFIO_IOMMU_UNMAP_DMA, unmap) < 0) ThrowErrno(env, errno, op, args());
  TrackUnmapped(iova, size);
  Napi::Object out = Napi::Object::New(env);
  out.Set("unmapped", Big(env, unmap->size));
  out.Set("bitmap", BitmapView(env, bits));
  return out;
}

static void DirtyControl(Napi::Env env, int fd, uint32_t flag, const char* what) {
  vfio_iommu_type1_dirty_bitmap d{};
  d.argsz = sizeof d;
  d.flags = flag;
  if (Ioctl(fd, VFIO_IOMMU_DIRTY_PAGES, &d) < 0) {
    ThrowErrno(env, errno, "VFIO_IOMMU_DIRTY_PAGES", ErrorArgs(env, {{"flags", Napi::String::New(env, what)}}));
  }
}

Napi::Value Container::DirtyStart(const Napi::CallbackInfo& info) {
  RequireOpen(info.Env(), "VFIO_IOMMU_DIRTY_PAGES");
  DirtyControl(info.Env(), fd_, VFIO_IOMMU_DIRTY_PAGES_FLAG_START, "START");
  return info.Env().Undefined();
}

Napi::Value Container::DirtyStop(const Napi::CallbackInfo& info) {
  RequireOpen(info.Env(), "VFIO_IOMMU_DIRTY_PAGES");
  DirtyControl(info.Env(), fd_, VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP, "STOP");
  return info.Env().Undefined();
}

Napi::Value Container::DirtyGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "VFIO_IOMMU_DIRTY_PAGES";
  RequireOpen(env, op);
  uint64_t iova = ArgU64(info, 0, "iova");
  uint64_t size = ArgU64(info, 1, "size");
  uint64_t pgsize = ArgU64(info, 2, "pageSize");
  auto args = [&] {
    Napi::Object a = RangeArgs(env, iova, size);
    a.Set("pageSize", Big(env, pgsize));
    a.Set("flags", Napi::String::New(env, "GET_BITMAP"));
    return a;
  };
  if (pgsize == 0) ThrowRange(env, "pageSize must be non-zero");
  alignas(8) uint8_t raw[sizeof(vfio_iommu_type1_dirty_bitmap) + sizeof(vfio_iommu_type1_dirty_bitmap_get)] = {};
  if (iommuSet_ && !v2_) {
    // vfio_iommu_type1_dirty_pages() answers EACCES on a TYPE1 (v1) container
    // before it looks at the range: ask it, with no bitmap to write, so that a
    // range the checks below would refuse still gets the kernel's errno.
    auto* h = reinterpret_cast<vfio_iommu_type1_dirty_bitmap*>(raw);
    h->argsz = sizeof raw;
    h->flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
    if (Ioctl(fd_, VFIO_IOMMU_DIRTY_PAGES, h) < 0) ThrowErrno(env, errno, op, args());
    ThrowErrno(env, EINVAL, op, args());  // not reached on 6.x kernels
  }
  if (RangeWraps(iova, size)) ThrowErrno(env, EINVAL, op, args());
  uint64_t bytes = DirtyBitmapBytes(env, op, iova, size, pgsize);
  Napi::ArrayBuffer bits = Napi::ArrayBuffer::New(env, bytes);

  auto* head = reinterpret_cast<vfio_iommu_type1_dirty_bitmap*>(raw);
  auto* get = reinterpret_cast<vfio_iommu_type1_dirty_bitmap_get*>(raw + sizeof(vfio_iommu_type1_dirty_bitmap));
  head->argsz = sizeof raw;
  head->flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
  get->iova = iova;
  get->size = size;
  get->bitmap.pgsize = pgsize;
  get->bitmap.size = bytes;
  get->bitmap.data = static_cast<__u64*>(bits.Data());
  if (Ioctl(fd_, VFIO_IOMMU_DIRTY_PAGES, head) < 0) ThrowErrno(env, errno, op, args());
  return BitmapView(env, bits);
}

Napi::Value Container::RunPlan(const Napi::CallbackInfo& info) {
  RequireOpen(info.Env(), "plan");
  return ExecutePlan(info, *this);
}

Napi::Value Container::Close(const Napi::CallbackInfo& info) {
  CloseNow();
  return info.Env().Undefined();
}

Napi::Value Container::GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), closed()); }

Napi::Value Container::GetTrackedMappings(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(mappings_.size()));
}

Napi::Value Container::GetGroups(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(groups_.size()));
}

}  // namespace vfio
