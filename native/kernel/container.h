// The kernel's calls on a /dev/vfio/vfio container (drivers/vfio/container.c,
// vfio_iommu_type1.c): plain values in, 0 or the errno out, nothing kept.
#pragma once

#include <linux/vfio.h>

#include <cstdint>

#include "call.h"

namespace vfio::kernel {

VFIO_PIN_IOCTL(VFIO_GET_API_VERSION, 0x3b64);
VFIO_PIN_IOCTL(VFIO_CHECK_EXTENSION, 0x3b65);
VFIO_PIN_IOCTL(VFIO_SET_IOMMU, 0x3b66);
VFIO_PIN_IOCTL(VFIO_IOMMU_GET_INFO, 0x3b70);
VFIO_PIN_IOCTL(VFIO_IOMMU_MAP_DMA, 0x3b71);
VFIO_PIN_IOCTL(VFIO_IOMMU_UNMAP_DMA, 0x3b72);
VFIO_PIN_IOCTL(VFIO_IOMMU_DIRTY_PAGES, 0x3b75);
static_assert(sizeof(vfio_iommu_type1_dma_map) == 32 && sizeof(vfio_iommu_type1_dma_unmap) == 24);

// *version: VFIO_API_VERSION.
inline int GetApiVersion(int container, int* version) {
  int r = Call(container, VFIO_GET_API_VERSION, 0);
  if (r < 0) return -r;
  *version = r;
  return 0;
}

// *answer > 0: supported (for some extensions, how many).
inline int CheckExtension(int container, uint32_t extension, int* answer) {
  int r = Call(container, VFIO_CHECK_EXTENSION, static_cast<unsigned long>(extension));
  if (r < 0) return -r;
  *answer = r;
  return 0;
}

inline int SetIommu(int container, uint32_t type) {
  return Errno(container, VFIO_SET_IOMMU, static_cast<unsigned long>(type));
}

// info heads a buffer of info->argsz bytes; the kernel raises argsz when the
// capability chain needs more.
inline int IommuGetInfo(int container, vfio_iommu_type1_info* info) {
  return Errno(container, VFIO_IOMMU_GET_INFO, info);
}

// flags: VFIO_DMA_MAP_FLAG_READ | _WRITE (PROT_READ / PROT_WRITE's values).
// ns: see Call.
inline int MapDma(int container, uint64_t vaddr, uint64_t iova, uint64_t size, uint32_t flags,
                  double* ns = nullptr) {
  vfio_iommu_type1_dma_map m{};
  m.argsz = sizeof m;
  m.flags = flags;
  m.vaddr = vaddr;
  m.iova = iova;
  m.size = size;
  return Errno(container, VFIO_IOMMU_MAP_DMA, &m, ns);
}

// *unmapped: the bytes the kernel unmapped (it reports them in size).
inline int UnmapDma(int container, uint64_t iova, uint64_t size, uint32_t flags, uint64_t* unmapped,
                    double* ns = nullptr) {
  vfio_iommu_type1_dma_unmap u{};
  u.argsz = sizeof u;
  u.flags = flags;
  u.iova = iova;
  u.size = size;
  int err = Errno(container, VFIO_IOMMU_UNMAP_DMA, &u, ns);
  if (err == 0) *unmapped = u.size;
  return err;
}

// Everything, in one call (VFIO_DMA_UNMAP_FLAG_ALL: kernels 5.12 and later).
inline int UnmapDmaAll(int container, uint64_t* unmapped) {
  return UnmapDma(container, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, unmapped);
}

// UNMAP_DMA that also writes the range's dirty bitmap: bits[bitmapBytes] at
// pgsize granularity, zero-filled by the caller as the kernel requires.
inline int UnmapDmaDirty(int container, uint64_t iova, uint64_t size, uint64_t pgsize, void* bits,
                         uint64_t bitmapBytes, uint64_t* unmapped) {
  // vfio_iommu_type1_dma_unmap ends in a flexible array: the vfio_bitmap
  // that follows it is laid out by hand.
  alignas(8) uint8_t raw[sizeof(vfio_iommu_type1_dma_unmap) + sizeof(vfio_bitmap)] = {};
  auto* unmap = reinterpret_cast<vfio_iommu_type1_dma_unmap*>(raw);
  auto* bitmap = reinterpret_cast<vfio_bitmap*>(raw + sizeof(vfio_iommu_type1_dma_unmap));
  unmap->argsz = sizeof raw;
  unmap->flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
  unmap->iova = iova;
  unmap->size = size;
  bitmap->pgsize = pgsize;
  bitmap->size = bitmapBytes;
  bitmap->data = static_cast<__u64*>(bits);
  int err = Errno(container, VFIO_IOMMU_UNMAP_DMA, unmap);
  if (err == 0) *unmapped = unmap->size;
  return err;
}

// flag: VFIO_IOMMU_DIRTY_PAGES_FLAG_START or _STOP.
inline int DirtyPages(int container, uint32_t flag) {
  vfio_iommu_type1_dirty_bitmap d{};
  d.argsz = sizeof d;
  d.flags = flag;
  return Errno(container, VFIO_IOMMU_DIRTY_PAGES, &d);
}

// GET_BITMAP for [iova, iova + size) into bits[bitmapBytes]. bits null asks
// with no range at all: a TYPE1 (v1) container answers EACCES before it
// looks at one.
inline int DirtyPagesGet(int container, uint64_t iova, uint64_t size, uint64_t pgsize, void* bits,
                         uint64_t bitmapBytes) {
  alignas(8) uint8_t raw[sizeof(vfio_iommu_type1_dirty_bitmap) + sizeof(vfio_iommu_type1_dirty_bitmap_get)] = {};
  auto* head = reinterpret_cast<vfio_iommu_type1_dirty_bitmap*>(raw);
  head->argsz = sizeof raw;
  head->flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
  if (bits) {
    auto* get = reinterpret_cast<vfio_iommu_type1_dirty_bitmap_get*>(raw + sizeof(vfio_iommu_type1_dirty_bitmap));
    get->iova = iova;
    get->size = size;
    get->bitmap.pgsize = pgsize;
    get->bitmap.size = bitmapBytes;
    get->bitmap.data = static_cast<__u64*>(bits);
  }
  return Errno(container, VFIO_IOMMU_DIRTY_PAGES, head);
}

}  // namespace vfio::kernel
