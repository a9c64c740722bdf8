#include "dma_buffer.h"

#include <linux/mman.h>
#include <sys/mman.h>

#include <cerrno>

#include "addon_data.h"
#include "args.h"
#include "errors.h"
#include "wrap.h"

namespace vfio {
namespace {

constexpr uint64_t k4K = 0x1000;
constexpr uint64_t k2M = 0x200000;
constexpr uint64_t k1G = 0x40000000;

struct Allocation {
  void* addr;
  uint64_t pageSize;
};

Napi::Object AllocArgs(Napi::Env env, uint64_t size, const std::string& backing) {
  return ErrorArgs(env, {{"size", Napi::BigInt::New(env, size)},
                         {"backing", Napi::String::New(env, backing)}});
}

// Writing (not reading) each page: a read fault would only map the shared
// zero page, and pinning would then still allocate inside the timed ioctl.
void TouchPages(void* addr, uint64_t size) {
  volatile char* p = static_cast<volatile char*>(addr);
  for (uint64_t off = 0; off < size; off += k4K) p[off] = 0;
}

Allocation MapSmallPages(Napi::Env env, uint64_t size, bool prefault) {
  void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (addr == MAP_FAILED) ThrowErrno(env, errno, "mmap", AllocArgs(env, size, "4k"));
  // EINVAL here means a kernel without THP: the pages are small anyway.
  if (madvise(addr, size, MADV_NOHUGEPAGE) != 0 && errno != EINVAL) {
    int err = errno;
    munmap(addr, size);
    ThrowErrno(env, err, "madvise MADV_NOHUGEPAGE", AllocArgs(env, size, "4k"));
  }
  if (prefault) TouchPages(addr, size);
  return {addr, k4K};
}

// THP needs 2 MiB-aligned virtual ranges: over-allocate, trim both ends.
Allocation MapTransparentHuge(Napi::Env env, uint64_t size, bool prefault) {
  if (size > UINT64_MAX - k2M) ThrowRange(env, "size too large");
  uint64_t span = size + k2M;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) ThrowErrno(env, errno, "mmap", AllocArgs(env, size, "thp"));
  uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  uintptr_t aligned = (start + k2M - 1) & ~(k2M - 1);
  if (aligned > start) munmap(raw, aligned - start);
  uintptr_t tail = aligned + size;
  uintptr_t end = start + span;
  if (end > tail) munmap(reinterpret_cast<void*>(tail), end - tail);
  void* addr = reinterpret_cast<void*>(aligned);
  if (madvise(addr, size, MADV_HUGEPAGE) != 0) {
    int err = errno;
    munmap(addr, size);
    ThrowErrno(env, err, "madvise MADV_HUGEPAGE", AllocArgs(env, size, "thp"),
               "transparent huge pages unavailable (CONFIG_TRANSPARENT_HUGEPAGE off?)");
  }
  if (prefault) TouchPages(addr, size);
  return {addr, k2M};
}

Allocation MapHugetlb(Napi::Env env, uint64_t size, uint64_t pageSize, bool prefault) {
  int sizeFlag = pageSize == k1G ? MAP_HUGE_1GB : MAP_HUGE_2MB;
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | sizeFlag | (prefault ? MAP_POPULATE : 0);
  void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (addr == MAP_FAILED) {
    int err = errno;
    Napi::Object args = AllocArgs(env, size, "hugetlb");
    args.Set("hugePageSize", Napi::BigInt::New(env, pageSize));
    ThrowErrno(env, err, "mmap MAP_HUGETLB", args);
  }
  return {addr, pageSize};
}

}  // namespace

void DmaBuffer::Init(Napi::Env env, AddonData* data) {
  Napi::Function ctor = DefineTaggedClass<DmaBuffer>(env, kClassName, {
      Method<DmaBuffer, &DmaBuffer::Bytes>(env, "bytes"),
      Method<DmaBuffer, &DmaBuffer::Close>(env, "close"),
      Getter<DmaBuffer, &DmaBuffer::GetSize>("size"),
      Getter<DmaBuffer, &DmaBuffer::GetVaddr>("vaddr"),
      Getter<DmaBuffer, &DmaBuffer::GetPageSize>("pageSize"),
      Getter<DmaBuffer, &DmaBuffer::GetBacking>("backing"),
      Getter<DmaBuffer, &DmaBuffer::GetClosed>("closed"),
      Getter<DmaBuffer, &DmaBuffer::GetMappings>("mappings"),
  });
  data->bufferClass = Napi::Persistent(ctor);
}

DmaBuffer::DmaBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DmaBuffer>(info) {
  RequireConstructToken(info, kClassName);
  info.This().As<Napi::Object>().TypeTag(&kTypeTag);
}

DmaBuffer::~DmaBuffer() {
  if (mem_ && !mem_->closed()) data_->buffers.erase(vaddr_);
}

Napi::Value DmaBuffer::Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t size = ArgU64(info, 0, "size");
  std::string backing = ArgString(info, 1, "backing");
  uint64_t hugePageSize = ArgU64(info, 2, "hugePageSize");
  bool prefault = ArgBool(info, 3, "prefault");

  uint64_t granule = k4K;
  if (backing == "hugetlb") {
    if (hugePageSize == 0) hugePageSize = k2M;
    if (hugePageSize != k2M && hugePageSize != k1G) ThrowRange(env, "hugePageSize must be 2 MiB or 1 GiB");
    granule = hugePageSize;
  } else if (backing == "4k" || backing == "thp") {
    if (hugePageSize != 0) ThrowRange(env, "hugePageSize applies to the hugetlb backing only");
  } else {
    ThrowType(env, "backing must be '4k', 'thp' or 'hugetlb'");
  }
  if (size == 0 || size % granule != 0) {
    ThrowRange(env, "size must be a positive multiple of " + std::to_string(granule) + " bytes");
  }
  if (size > SIZE_MAX / 2) ThrowRange(env, "size too large");

  Allocation a = backing == "4k"    ? MapSmallPages(env, size, prefault)
                 : backing == "thp" ? MapTransparentHuge(env, size, prefault)
                                    : MapHugetlb(env, size, hugePageSize, prefault);

  AddonData* data = AddonData::Of(env);
  Napi::Object obj;
  DmaBuffer* self = Construct<DmaBuffer>(env, data->bufferClass, &obj, [&] { munmap(a.addr, size); });
  self->data_ = data;
  self->mem_ = std::make_unique<ExposedMemory>(a.addr, size);
  self->size_ = size;
  self->vaddr_ = reinterpret_cast<uintptr_t>(a.addr);
  self->pageSize_ = a.pageSize;
  self->backing_ = backing;
  data->buffers[self->vaddr_] = self;
  return obj;
}

void DmaBuffer::Pin() noexcept {
  if (pins_++ == 0) PinQuiet(this);
}

void DmaBuffer::Unpin() noexcept {
  if (pins_ > 0 && --pins_ == 0) UnpinQuiet(this);
}

void DmaBuffer::CloseNow() noexcept {
  if (closed()) return;
  data_->buffers.erase(vaddr_);
  mem_->Close(Env());
}

Napi::Value DmaBuffer::Bytes(const Napi::CallbackInfo& info) {
  if (closed()) ThrowClosed(info.Env(), "DmaBuffer.bytes", "the buffer");
  return mem_->View(info.Env());
}

Napi::Value DmaBuffer::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed()) return env.Undefined();
  if (pins_ > 0) {
    ThrowErrno(env, EBUSY, "munmap",
               ErrorArgs(env, {{"vaddr", Napi::BigInt::New(env, vaddr_)},
                               {"size", Napi::BigInt::New(env, size_)},
                               {"mappings", Napi::Number::New(env, pins_)}}),
               "the buffer is still DMA-mapped: unmap it (or close the container) first");
  }
  CloseNow();
  return env.Undefined();
}

Napi::Value DmaBuffer::GetSize(const Napi::CallbackInfo& info) { return Napi::BigInt::New(info.Env(), size_); }
Napi::Value DmaBuffer::GetVaddr(const Napi::CallbackInfo& info) { return Napi::BigInt::New(info.Env(), vaddr_); }
Napi::Value DmaBuffer::GetPageSize(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), pageSize_);
}
Napi::Value DmaBuffer::GetBacking(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), backing_); }
Napi::Value DmaBuffer::GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), closed()); }
Napi::Value DmaBuffer::GetMappings(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), pins_); }

}  // namespace vfio
