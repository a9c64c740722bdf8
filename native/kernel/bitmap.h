// The dirty bitmaps both interfaces write into user memory: one bit per page,
// in whole u64 words (type1's DIRTY_BITMAP_BYTES; iommufd's iova_bitmap
// writes the same layout). We allocate the whole reply before the call, so
// both are bounded as type1's verify_bitmap_size() bounds its own:
// DIRTY_BITMAP_SIZE_MAX, bitmaps for up to 2^31 pages; past it type1 answers
// EINVAL, and so do we, for both, before allocating.
#pragma once

#include <cstdint>

namespace vfio::kernel {

constexpr uint64_t kDirtyBitmapBytesMax = 1ull << 28;

// Bytes of bitmap for `size` bytes at `pgsize` (non-zero) granularity; no
// intermediate step can wrap, whatever the size.
constexpr uint64_t DirtyBitmapBytes(uint64_t size, uint64_t pgsize) {
  uint64_t pages = size / pgsize + (size % pgsize ? 1 : 0);
  return pages / 64 * 8 + (pages % 64 ? 8 : 0);
}

static_assert(DirtyBitmapBytes(1ull << 43, 4096) == kDirtyBitmapBytesMax, "2^31 pages of 4 KiB fit exactly");
static_assert(DirtyBitmapBytes(UINT64_MAX, 1) == (1ull << 61), "2^64 - 1 pages: no wrap");

}  // namespace vfio::kernel
