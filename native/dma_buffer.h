// DmaBuffer: anonymous memory to hand to VFIO_IOMMU_MAP_DMA, backed by 4 KiB
// pages, transparent huge pages or hugetlbfs pages. While any container
// mapping covers it, the container pins it (no GC) and close() refuses with
// EBUSY, so the IOMMU never points at freed memory.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>

#include "mapped_memory.h"

namespace vfio {

struct AddonData;

class DmaBuffer : public Napi::ObjectWrap<DmaBuffer> {
 public:
  static constexpr napi_type_tag kTypeTag = {0x6e6f64657666696full, 0x646d616275660001ull};
  static constexpr const char* kClassName = "DmaBuffer";

  static void Init(Napi::Env env, AddonData* data);
  // allocBuffer(size: bigint, backing: '4k'|'thp'|'hugetlb', hugePageSize: bigint, prefault: boolean)
  static Napi::Value Alloc(const Napi::CallbackInfo& info);

  explicit DmaBuffer(const Napi::CallbackInfo& info);
  ~DmaBuffer() override;

  uint64_t vaddr() const { return vaddr_; }
  uint64_t size() const { return size_; }
  bool closed() const { return !mem_ || mem_->closed(); }

  // A container mapping started / stopped covering this buffer.
  void Pin() noexcept;
  void Unpin() noexcept;

  // Teardown and close(): detach, unmap, leave the registry. Never throws.
  void CloseNow() noexcept;

 private:
  Napi::Value Bytes(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetSize(const Napi::CallbackInfo& info);
  Napi::Value GetVaddr(const Napi::CallbackInfo& info);
  Napi::Value GetPageSize(const Napi::CallbackInfo& info);
  Napi::Value GetBacking(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  Napi::Value GetMappings(const Napi::CallbackInfo& info);

  AddonData* data_ = nullptr;
  std::unique_ptr<ExposedMemory> mem_;
  uint64_t size_ = 0;
  uint64_t vaddr_ = 0;  // kept after close for error messages
  uint64_t pageSize_ = 0;
  std::string backing_;
  uint32_t pins_ = 0;
};

}  // namespace vfio
