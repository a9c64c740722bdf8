// The kernel's calls on a /dev/iommu context that are not about one IOAS
// (drivers/iommu/iommufd/main.c, hw_pagetable.c, device.c): plain values in,
// 0 or the errno out, nothing kept. IOAS calls: ioas.h.
#pragma once

#include <linux/iommufd.h>

#include <cstdint>

#include "call.h"

namespace vfio::kernel {

VFIO_PIN_IOCTL(IOMMU_DESTROY, 0x3b80);
VFIO_PIN_IOCTL(IOMMU_IOAS_ALLOC, 0x3b81);
VFIO_PIN_IOCTL(IOMMU_OPTION, 0x3b87);
VFIO_PIN_IOCTL(IOMMU_HWPT_ALLOC, 0x3b89);
VFIO_PIN_IOCTL(IOMMU_GET_HW_INFO, 0x3b8a);
VFIO_PIN_IOCTL(IOMMU_HWPT_SET_DIRTY_TRACKING, 0x3b8b);
VFIO_PIN_IOCTL(IOMMU_HWPT_GET_DIRTY_BITMAP, 0x3b8c);

// Any object of the context: IOAS, HWPT, selftest mock device.
inline int Destroy(int iommufd, uint32_t id) {
  iommu_destroy d{};
  d.size = sizeof d;
  d.id = id;
  return Errno(iommufd, IOMMU_DESTROY, &d);
}

inline int IoasAlloc(int iommufd, uint32_t* ioasId) {
  iommu_ioas_alloc a{};
  a.size = sizeof a;
  int err = Errno(iommufd, IOMMU_IOAS_ALLOC, &a);
  if (err == 0) *ioasId = a.out_ioas_id;
  return err;
}

// op: IOMMU_OPTION_OP_SET / _GET; *value: in for SET, out for both.
inline int Option(int iommufd, uint32_t optionId, uint16_t op, uint32_t objectId, uint64_t* value) {
  iommu_option o{};
  o.size = sizeof o;
  o.option_id = optionId;
  o.op = op;
  o.object_id = objectId;
  o.val64 = *value;
  int err = Errno(iommufd, IOMMU_OPTION, &o);
  *value = o.val64;
  return err;
}

// flags: IOMMU_HWPT_ALLOC_*; no driver data.
inline int HwptAlloc(int iommufd, uint32_t devId, uint32_t ptId, uint32_t flags, uint32_t* hwptId) {
  iommu_hwpt_alloc h{};
  h.size = sizeof h;
  h.dev_id = devId;
  h.pt_id = ptId;
  h.flags = flags;
  h.data_type = IOMMU_HWPT_DATA_NONE;
  int err = Errno(iommufd, IOMMU_HWPT_ALLOC, &h);
  if (err == 0) *hwptId = h.out_hwpt_id;
  return err;
}

// flags: IOMMU_HWPT_DIRTY_TRACKING_ENABLE or 0.
inline int HwptSetDirtyTracking(int iommufd, uint32_t hwptId, uint32_t flags) {
  iommu_hwpt_set_dirty_tracking s{};
  s.size = sizeof s;
  s.hwpt_id = hwptId;
  s.flags = flags;
  return Errno(iommufd, IOMMU_HWPT_SET_DIRTY_TRACKING, &s);
}

// bits: one bit per pageSize from iova, room for the whole length.
inline int HwptGetDirtyBitmap(int iommufd, uint32_t hwptId, uint64_t iova, uint64_t length, uint64_t pageSize,
                              uint32_t flags, void* bits) {
  iommu_hwpt_get_dirty_bitmap g{};
  g.size = sizeof g;
  g.hwpt_id = hwptId;
  g.flags = flags;
  g.iova = iova;
  g.length = length;
  g.page_size = pageSize;
  g.data = reinterpret_cast<uintptr_t>(bits);
  return Errno(iommufd, IOMMU_HWPT_GET_DIRTY_BITMAP, &g);
}

// No driver data asked for: the type and the generic capabilities only.
inline int GetHwInfo(int iommufd, uint32_t devId, uint32_t* dataType, uint64_t* capabilities) {
  iommu_hw_info h{};
  h.size = sizeof h;
  h.dev_id = devId;
  int err = Errno(iommufd, IOMMU_GET_HW_INFO, &h);
  if (err == 0) {
    *dataType = h.out_data_type;
    *capabilities = h.out_capabilities;
  }
  return err;
}

}  // namespace vfio::kernel
