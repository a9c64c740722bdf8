#include "container.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "addon_data.h"
#include "args.h"
#include "dma_buffer.h"
#include "errors.h"
#include "group.h"
#include "kernel/bitmap.h"
#include "kernel/container.h"
#include "wrap.h"

namespace vfio {
namespace {

constexpr uint32_t kProtMask = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;

Napi::Value Big(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

Napi::Object RangeArgs(Napi::Env env, uint64_t iova, uint64_t size) {
  return ErrorArgs(env, {{"iova", Big(env, iova)}, {"size", Big(env, size)}});
}

// Bytes of bitmap the kernel writes for the range (kernel/bitmap.h); past its
// maximum, verify_bitmap_size()'s EINVAL without a system call.
uint64_t DirtyBitmapBytes(Napi::Env env, const char* op, uint64_t iova, uint64_t size, uint64_t pgsize) {
  uint64_t bytes = kernel::DirtyBitmapBytes(size, pgsize);
  if (bytes > kernel::kDirtyBitmapBytesMax) {
    Napi::Object args = RangeArgs(env, iova, size);
    args.Set("pageSize", Big(env, pgsize));
    ThrowErrno(env, EINVAL, op, args, "dirty bitmap past the kernel's maximum (2^31 pages): ask for a smaller range");
  }
  return bytes;
}

// unmapWithDirty's and dirtyGet's (iova, size, pageSize). An argument error
// comes first, as everywhere: a zero page size is a RangeError whatever the range.
struct DirtyRange {
  uint64_t iova, size, pgsize;
};

DirtyRange ArgDirtyRange(const Napi::CallbackInfo& info) {
  DirtyRange r{ArgU64(info, 0, "iova"), ArgU64(info, 1, "size"), ArgU64(info, 2, "pageSize")};
  if (r.pgsize == 0) ThrowRange(info.Env(), "pageSize must be non-zero");
  return r;
}

Napi::Object DirtyArgs(Napi::Env env, const DirtyRange& r, const char* flags) {
  Napi::Object a = RangeArgs(env, r.iova, r.size);
  a.Set("pageSize", Big(env, r.pgsize));
  a.Set("flags", Napi::String::New(env, flags));
  return a;
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
      SpaceCallsMethod(env),
      Method<Container, &Container::GetLostIommuHint>(env, "lostIommuHint"),
      Method<Container, &Container::UnmapAll>(env, "unmapAll"),
      Method<Container, &Container::UnmapWithDirty>(env, "unmapWithDirty"),
      Method<Container, &Container::DirtyStart>(env, "dirtyStart"),
      Method<Container, &Container::DirtyStop>(env, "dirtyStop"),
      Method<Container, &Container::DirtyGet>(env, "dirtyGet"),
      RunPlanCyclesMethod(env),
      Method<Container, &Container::Close>(env, "close"),
      ClosedGetter(),
      TrackedMappingsGetter(),
      Getter<Container, &Container::GetGroups>("groups"),
  });
  data->containerClass = Napi::Persistent(ctor);
}

Container::Container(const Napi::CallbackInfo& info)
    : SpaceObject(info, UnmapRule::kType1v1) {
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
  Container* self = Construct<Container>(env, data->containerClass, &obj, [fd] { close(fd); });
  self->data_ = data;
  self->fd_ = fd;
  data->containers.insert(self);
  return obj;
}

void Container::RequireOpen(Napi::Env env, const char* op) const {
  if (closed()) ThrowClosed(env, op, "the container");
  if (Busy()) ThrowBusy(env, op);
}

// The kernel drops a container's IOMMU, and every mapping with it, when its
// last group is detached, which it also does by itself when the last device of
// that group is removed (vfio_device_remove_group -> vfio_group_detach_container).
// Every IOMMU ioctl then fails with vfio_fops_unl_ioctl's default EINVAL, which
// the map and unmap hints would blame on alignment; GET_INFO failing the same
// way tells the two apart (only on this error path).
const char* Container::LostIommuHint(int err) const {
  if (err != EINVAL || !iommuSet_) return nullptr;
  vfio_iommu_type1_info info{};
  info.argsz = sizeof info;
  if (kernel::IommuGetInfo(fd_, &info) != EINVAL) return nullptr;
  return "the container has no IOMMU any more: its last group was detached (by the kernel when the group's last "
         "device was removed: hot-unplug or unbind), and its mappings went with it";
}

// lostIommuHint(errno) -> string | null: for the errors lib/native/space.ts
// makes from the hot calls' errnos (a map or unmap that failed).
Napi::Value Container::GetLostIommuHint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed()) return env.Null();
  const char* hint = LostIommuHint(static_cast<int>(ArgU32(info, 0, "errno")));
  return hint ? Napi::String::New(env, hint) : env.Null();
}

void Container::GroupAttached(Group* g) {
  groups_.insert(g);
}

void Container::GroupDetached(Group* g) noexcept {
  groups_.erase(g);
  if (groups_.empty() && iommuSet_) {
    // vfio_group_detach_container released the IOMMU with its mappings.
    books_.Clear();
    iommuSet_ = false;
    books_.set_rule(UnmapRule::kType1v1);
  }
}

void Container::CloseNow() noexcept {
  if (closed()) return;
  StopJob();  // no system call of an async plan outlives the descriptor
  bool released = !iommuSet_;
  if (iommuSet_) {
    uint64_t gone;
    released = true;
    if (kernel::UnmapDmaAll(fd_, &gone) != 0) {
      // Kernels before 5.12 lack UNMAP_ALL: unmap what we mapped, one by one.
      books_.ForEach([&](uint64_t iova, uint64_t size) {
        if (kernel::UnmapDma(fd_, iova, size, 0, &gone) != 0) released = false;
      });
    }
  }
  // Kernel order: each group's devices close, then the group is unset.
  std::vector<Group*> attached(groups_.begin(), groups_.end());
  for (Group* g : attached) g->DetachFromContainer();
  if (groups_.empty()) released = true;
  // If the kernel might still map our buffers, keep them pinned (a leak is
  // better than DMA into freed memory); GroupDetached releases them later.
  if (released) books_.Clear();
  close(fd_);
  fd_ = -1;
  data_->containers.erase(this);
}

Napi::Value Container::ApiVersion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "VFIO_GET_API_VERSION");
  int version;
  if (int err = kernel::GetApiVersion(fd_, &version)) ThrowErrno(env, err, "VFIO_GET_API_VERSION", Napi::Object::New(env));
  return Napi::Number::New(env, version);
}

Napi::Value Container::CheckExtension(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "VFIO_CHECK_EXTENSION");
  uint32_t ext = ArgU32(info, 0, "extension");
  int answer;
  if (int err = kernel::CheckExtension(fd_, ext, &answer)) {
    ThrowErrno(env, err, "VFIO_CHECK_EXTENSION", ErrorArgs(env, {{"extension", Napi::Number::New(env, ext)}}));
  }
  return Napi::Number::New(env, answer);
}

Napi::Value Container::SetIommu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "VFIO_SET_IOMMU");
  uint32_t type = ArgU32(info, 0, "type");
  if (int err = kernel::SetIommu(fd_, type)) {
    ThrowErrno(env, err, "VFIO_SET_IOMMU", ErrorArgs(env, {{"type", Napi::Number::New(env, type)}}));
  }
  iommuSet_ = true;
  books_.set_rule(type == VFIO_TYPE1_IOMMU ? UnmapRule::kType1v1 : UnmapRule::kType1v2);
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
    if (int err = kernel::IommuGetInfo(fd_, head)) {
      ThrowErrno(env, err, "VFIO_IOMMU_GET_INFO",
                 ErrorArgs(env, {{"argsz", Napi::Number::New(env, static_cast<double>(buf.size()))}}));
    }
    if (head->argsz <= buf.size()) break;
    buf.resize(head->argsz);
  }
  Napi::ArrayBuffer out = Napi::ArrayBuffer::New(env, buf.size());
  std::memcpy(out.Data(), buf.data(), buf.size());
  return out;
}

Napi::Value Container::UnmapAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "VFIO_IOMMU_UNMAP_DMA");
  uint64_t gone = 0;
  if (int err = kernel::UnmapDmaAll(fd_, &gone)) {
    ThrowErrno(env, err, "VFIO_IOMMU_UNMAP_DMA", ErrorArgs(env, {{"flags", Napi::String::New(env, "ALL")}}),
               LostIommuHint(err));
  }
  books_.Clear();
  return Big(env, gone);
}

Napi::Value Container::UnmapWithDirty(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "VFIO_IOMMU_UNMAP_DMA";
  RequireOpen(env, op);
  DirtyRange r = ArgDirtyRange(info);
  auto args = [&] { return DirtyArgs(env, r, "GET_DIRTY_BITMAP"); };
  if (RangeWraps(r.iova, r.size)) ThrowErrno(env, EINVAL, op, args());
  uint64_t bytes = DirtyBitmapBytes(env, op, r.iova, r.size, r.pgsize);
  Napi::ArrayBuffer bits = Napi::ArrayBuffer::New(env, bytes);  // zero-filled, as the kernel requires
  uint64_t gone = 0;
  if (int err = kernel::UnmapDmaDirty(fd_, r.iova, r.size, r.pgsize, bits.Data(), bytes, &gone)) {
    ThrowErrno(env, err, op, args());
  }
  books_.Unmapped(r.iova, r.size);
  Napi::Object out = Napi::Object::New(env);
  out.Set("unmapped", Big(env, gone));
  out.Set("bitmap", BitmapView(env, bits));
  return out;
}

static void DirtyControl(Napi::Env env, int fd, uint32_t flag, const char* what) {
  if (int err = kernel::DirtyPages(fd, flag)) {
    ThrowErrno(env, err, "VFIO_IOMMU_DIRTY_PAGES", ErrorArgs(env, {{"flags", Napi::String::New(env, what)}}));
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
  DirtyRange r = ArgDirtyRange(info);
  auto args = [&] { return DirtyArgs(env, r, "GET_BITMAP"); };
  if (iommuSet_ && books_.rule() == UnmapRule::kType1v1) {
    // vfio_iommu_type1_dirty_pages() answers EACCES on a TYPE1 (v1) container
    // before it looks at the range: ask it, with no bitmap to write, so that a
    // range the checks below would refuse still gets the kernel's errno.
    if (int err = kernel::DirtyPagesGet(fd_, 0, 0, 0, nullptr, 0)) ThrowErrno(env, err, op, args());
    ThrowErrno(env, EINVAL, op, args());  // not reached on 6.x kernels
  }
  if (RangeWraps(r.iova, r.size)) ThrowErrno(env, EINVAL, op, args());
  uint64_t bytes = DirtyBitmapBytes(env, op, r.iova, r.size, r.pgsize);
  Napi::ArrayBuffer bits = Napi::ArrayBuffer::New(env, bytes);
  if (int err = kernel::DirtyPagesGet(fd_, r.iova, r.size, r.pgsize, bits.Data(), bytes)) ThrowErrno(env, err, op, args());
  return BitmapView(env, bits);
}

int Container::MapEntry(uint64_t vaddr, uint64_t iova, uint64_t size, uint32_t prot, double* ns) {
  return kernel::MapDma(fd_, vaddr, iova, size, prot, ns);
}

int Container::UnmapEntry(uint64_t iova, uint64_t size, uint64_t* unmapped, double* ns) {
  return kernel::UnmapDma(fd_, iova, size, 0, unmapped, ns);
}

int Container::WrapErrno() const { return EINVAL; }

Napi::Value Container::Close(const Napi::CallbackInfo& info) {
  CloseNow();
  return info.Env().Undefined();
}

Napi::Value Container::GetGroups(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(groups_.size()));
}

}  // namespace vfio
