// The kernel's calls on one iommufd IOAS (drivers/iommu/iommufd/ioas.c):
// plain values in, 0 or the errno out, nothing kept.
#pragma once

#include <linux/iommufd.h>

#include <cstdint>

#include "call.h"

namespace vfio::kernel {

VFIO_PIN_IOCTL(IOMMU_IOAS_ALLOW_IOVAS, 0x3b82);
VFIO_PIN_IOCTL(IOMMU_IOAS_COPY, 0x3b83);
VFIO_PIN_IOCTL(IOMMU_IOAS_IOVA_RANGES, 0x3b84);
VFIO_PIN_IOCTL(IOMMU_IOAS_MAP, 0x3b85);
VFIO_PIN_IOCTL(IOMMU_IOAS_UNMAP, 0x3b86);
static_assert(sizeof(iommu_ioas_map) == 40 && sizeof(iommu_ioas_unmap) == 24);

// What IOMMU_IOAS_UNMAP takes as "everything" (iova 0, this length).
constexpr uint64_t kIoasUnmapAllLength = UINT64_MAX;

// flags: IOMMU_IOAS_MAP_FIXED_IOVA | _READABLE | _WRITEABLE. *iova: in, the
// IOVA when FIXED_IOVA is set; out, the IOVA mapped. ns: see Call.
inline int IoasMap(int iommufd, uint32_t ioasId, uint32_t flags, uint64_t userVa, uint64_t length, uint64_t* iova,
                   double* ns = nullptr) {
  iommu_ioas_map m{};
  m.size = sizeof m;
  m.flags = flags;
  m.ioas_id = ioasId;
  m.user_va = userVa;
  m.length = length;
  m.iova = *iova;
  int err = Errno(iommufd, IOMMU_IOAS_MAP, &m, ns);
  if (err == 0) *iova = m.iova;
  return err;
}

// *unmapped: the bytes the kernel unmapped (it reports them in length).
inline int IoasUnmap(int iommufd, uint32_t ioasId, uint64_t iova, uint64_t length, uint64_t* unmapped,
                     double* ns = nullptr) {
  iommu_ioas_unmap u{};
  u.size = sizeof u;
  u.ioas_id = ioasId;
  u.iova = iova;
  u.length = length;
  int err = Errno(iommufd, IOMMU_IOAS_UNMAP, &u, ns);
  if (err == 0) *unmapped = u.length;
  return err;
}

// flags as IoasMap; *dstIova as IoasMap's *iova.
inline int IoasCopy(int iommufd, uint32_t dstIoasId, uint32_t srcIoasId, uint32_t flags, uint64_t srcIova,
                    uint64_t length, uint64_t* dstIova) {
  iommu_ioas_copy c{};
  c.size = sizeof c;
  c.flags = flags;
  c.dst_ioas_id = dstIoasId;
  c.src_ioas_id = srcIoasId;
  c.length = length;
  c.dst_iova = *dstIova;
  c.src_iova = srcIova;
  int err = Errno(iommufd, IOMMU_IOAS_COPY, &c);
  if (err == 0) *dstIova = c.dst_iova;
  return err;
}

// ranges[*count]; *count: in, the room; out, how many the IOAS has (EMSGSIZE
// when that is more than the room). *alignment: out_iova_alignment.
inline int IoasIovaRanges(int iommufd, uint32_t ioasId, iommu_iova_range* ranges, uint32_t* count,
                          uint64_t* alignment) {
  iommu_ioas_iova_ranges r{};
  r.size = sizeof r;
  r.ioas_id = ioasId;
  r.num_iovas = *count;
  r.allowed_iovas = reinterpret_cast<uintptr_t>(ranges);
  int err = Errno(iommufd, IOMMU_IOAS_IOVA_RANGES, &r);
  *count = r.num_iovas;
  *alignment = r.out_iova_alignment;
  return err;
}

// count 0: no restriction.
inline int IoasAllowIovas(int iommufd, uint32_t ioasId, const iommu_iova_range* ranges, uint32_t count) {
  iommu_ioas_allow_iovas a{};
  a.size = sizeof a;
  a.ioas_id = ioasId;
  a.num_iovas = count;
  a.allowed_iovas = reinterpret_cast<uintptr_t>(ranges);
  return Errno(iommufd, IOMMU_IOAS_ALLOW_IOVAS, &a);
}

}  // namespace vfio::kernel
