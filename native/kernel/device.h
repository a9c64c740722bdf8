// The kernel's calls on a VFIO device fd, from a group or a cdev
// (drivers/vfio/vfio_main.c, device_cdev.c): plain values in, 0 or the errno
// out, nothing kept.
#pragma once

#include <linux/vfio.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "call.h"

namespace vfio::kernel {

VFIO_PIN_IOCTL(VFIO_DEVICE_GET_INFO, 0x3b6b);
VFIO_PIN_IOCTL(VFIO_DEVICE_GET_REGION_INFO, 0x3b6c);
VFIO_PIN_IOCTL(VFIO_DEVICE_GET_IRQ_INFO, 0x3b6d);
VFIO_PIN_IOCTL(VFIO_DEVICE_SET_IRQS, 0x3b6e);
VFIO_PIN_IOCTL(VFIO_DEVICE_RESET, 0x3b6f);
VFIO_PIN_IOCTL(VFIO_DEVICE_BIND_IOMMUFD, 0x3b76);
VFIO_PIN_IOCTL(VFIO_DEVICE_ATTACH_IOMMUFD_PT, 0x3b77);
VFIO_PIN_IOCTL(VFIO_DEVICE_DETACH_IOMMUFD_PT, 0x3b78);

inline int DeviceGetInfo(int device, vfio_device_info* out) {
  *out = {};
  out->argsz = sizeof *out;
  return Errno(device, VFIO_DEVICE_GET_INFO, out);
}

inline int DeviceGetRegionInfo(int device, uint32_t index, vfio_region_info* out) {
  *out = {};
  out->argsz = sizeof *out;
  out->index = index;
  return Errno(device, VFIO_DEVICE_GET_REGION_INFO, out);
}

inline int DeviceGetIrqInfo(int device, uint32_t index, vfio_irq_info* out) {
  *out = {};
  out->argsz = sizeof *out;
  out->index = index;
  return Errno(device, VFIO_DEVICE_GET_IRQ_INFO, out);
}

// VFIO_DEVICE_SET_IRQS for vectors [start, start + count) of an index; fds
// (count eventfds, -1 to unassign one) only with VFIO_IRQ_SET_DATA_EVENTFD.
inline int DeviceSetIrqs(int device, uint32_t flags, uint32_t index, uint32_t start, uint32_t count, const int32_t* fds) {
  size_t dataBytes = fds ? count * sizeof(int32_t) : 0;
  std::vector<uint8_t> buf(sizeof(vfio_irq_set) + dataBytes);
  auto* set = reinterpret_cast<vfio_irq_set*>(buf.data());
  set->argsz = static_cast<uint32_t>(buf.size());
  set->flags = flags;
  set->index = index;
  set->start = start;
  set->count = count;
  if (fds) std::memcpy(set->data, fds, dataBytes);
  return Errno(device, VFIO_DEVICE_SET_IRQS, set);
}

inline int DeviceReset(int device) { return Errno(device, VFIO_DEVICE_RESET, 0); }

// A cdev fd only; *devId: the device's object id in that iommufd.
inline int DeviceBindIommufd(int device, int iommufd, uint32_t* devId) {
  vfio_device_bind_iommufd b{};
  b.argsz = sizeof b;
  b.iommufd = iommufd;
  int err = Errno(device, VFIO_DEVICE_BIND_IOMMUFD, &b);
  if (err == 0) *devId = b.out_devid;
  return err;
}

// *ptId: in, an IOAS or HWPT id; out, the pt the kernel attached (an IOAS
// makes it pick or make a HWPT).
inline int DeviceAttachIommufdPt(int device, uint32_t* ptId) {
  vfio_device_attach_iommufd_pt a{};
  a.argsz = sizeof a;
  a.pt_id = *ptId;
  int err = Errno(device, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a);
  if (err == 0) *ptId = a.pt_id;
  return err;
}

inline int DeviceDetachIommufdPt(int device) {
  vfio_device_detach_iommufd_pt d{};
  d.argsz = sizeof d;
  return Errno(device, VFIO_DEVICE_DETACH_IOMMUFD_PT, &d);
}

}  // namespace vfio::kernel
