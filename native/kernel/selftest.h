// IOMMU_TEST_CMD (drivers/iommu/iommufd/selftest.c, CONFIG_IOMMUFD_TEST;
// ENOTTY without it): the mock domain and the access objects, one function
// per op. Plain values in, 0 or the errno out, nothing kept.
#pragma once

#include <linux/iommufd.h>

#include <iommufd_test.h>

#include <cstdint>

#include "call.h"

namespace vfio::kernel {

VFIO_PIN_IOCTL(IOMMU_TEST_CMD, 0x3ba0);

inline iommu_test_cmd TestCmd(uint32_t op, uint32_t id) {
  iommu_test_cmd c{};
  c.size = sizeof c;
  c.op = op;
  c.id = id;
  return c;
}

struct MockDomainIds {
  uint32_t stdevId, hwptId, idevId;
};

// A mock device attached to ioasId through its own HWPT (MOCK_DOMAIN_FLAGS).
inline int TestMockDomain(int iommufd, uint32_t ioasId, uint32_t devFlags, MockDomainIds* out) {
  iommu_test_cmd c = TestCmd(IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, ioasId);
  c.mock_domain_flags.dev_flags = devFlags;
  int err = Errno(iommufd, IOMMU_TEST_CMD, &c);
  if (err == 0) *out = {c.mock_domain_flags.out_stdev_id, c.mock_domain_flags.out_hwpt_id, c.mock_domain_flags.out_idev_id};
  return err;
}

// *ptId: in, the pt to attach the mock device to; out, the pt attached.
inline int TestMockDomainReplace(int iommufd, uint32_t stdevId, uint32_t* ptId) {
  iommu_test_cmd c = TestCmd(IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, stdevId);
  c.mock_domain_replace.pt_id = *ptId;
  int err = Errno(iommufd, IOMMU_TEST_CMD, &c);
  if (err == 0) *ptId = c.mock_domain_replace.pt_id;
  return err;
}

// Marks the mock's PTEs dirty for the bits set in bits (one per pageSize from
// iova), as a device's DMA would; *nrDirty: how many were mapped.
inline int TestDirty(int iommufd, uint32_t hwptId, uint64_t iova, uint64_t length, uint64_t pageSize,
                     const void* bits, uint64_t* nrDirty) {
  iommu_test_cmd c = TestCmd(IOMMU_TEST_OP_DIRTY, hwptId);
  c.dirty.iova = iova;
  c.dirty.length = length;
  c.dirty.page_size = pageSize;
  c.dirty.uptr = reinterpret_cast<uintptr_t>(bits);
  int err = Errno(iommufd, IOMMU_TEST_CMD, &c);
  if (err == 0) *nrDirty = c.dirty.out_nr_dirty;
  return err;
}

// An access object on ioasId (flags: MOCK_FLAGS_ACCESS_CREATE_*); *accessFd: its fd.
inline int TestCreateAccess(int iommufd, uint32_t ioasId, uint32_t flags, int* accessFd) {
  iommu_test_cmd c = TestCmd(IOMMU_TEST_OP_CREATE_ACCESS, ioasId);
  c.create_access.flags = flags;
  int err = Errno(iommufd, IOMMU_TEST_CMD, &c);
  if (err == 0) *accessFd = static_cast<int>(c.create_access.out_access_fd);
  return err;
}

// iommufd_access_pin_pages() on [iova, iova + length); uptr 0 skips the
// selftest's comparison with a user pointer. *pagesId: what unpins them.
inline int TestAccessPages(int iommufd, int accessFd, uint64_t iova, uint64_t length, uint32_t flags, uint64_t uptr,
                           uint32_t* pagesId) {
  iommu_test_cmd c = TestCmd(IOMMU_TEST_OP_ACCESS_PAGES, static_cast<uint32_t>(accessFd));
  c.access_pages.flags = flags;
  c.access_pages.iova = iova;
  c.access_pages.length = length;
  c.access_pages.uptr = uptr;
  int err = Errno(iommufd, IOMMU_TEST_CMD, &c);
  if (err == 0) *pagesId = c.access_pages.out_access_pages_id;
  return err;
}

inline int TestDestroyAccessPages(int iommufd, int accessFd, uint32_t pagesId) {
  iommu_test_cmd c = TestCmd(IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, static_cast<uint32_t>(accessFd));
  c.destroy_access_pages.access_pages_id = pagesId;
  return Errno(iommufd, IOMMU_TEST_CMD, &c);
}

}  // namespace vfio::kernel
