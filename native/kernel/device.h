// The kernel's calls on a VFIO device fd, from a group or a cdev
// (drivers/vfio/vfio_main.c, device_cdev.c): plain values in, 0 or the errno
// out, nothing kept.
#pragma once

#include <linux/vfio.h>

#include <cerrno>
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
VFIO_PIN_IOCTL(VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, 0x3b70);
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

// VFIO_DEVICE_GET_PCI_HOT_RESET_INFO (vfio_pci_ioctl_get_pci_hot_reset_info,
// drivers/vfio/pci/vfio_pci_core.c): *reply becomes the kernel's answer, the
// vfio_pci_hot_reset_info header then `count` vfio_pci_dependent_device
// entries. The kernel's two-call protocol: with room for fewer entries than
// the reset would touch it answers ENOSPC and writes the count into the
// header; called again with that room it fills them. The count can change in
// between (a device hot-added behind the bridge): ENOSPC again, or EAGAIN when
// the fill walk finds more devices than it counted; both are asked again with
// the new count, kMaxAttempts calls in all. Any other errno ends it (ENODEV:
// neither a slot nor a bus reset reaches the device, e.g. on a root bus).
inline int DeviceGetPciHotResetInfo(int device, std::vector<uint8_t>* reply) {
  constexpr int kMaxAttempts = 4;
  using Entry = vfio_pci_dependent_device;
  uint32_t room = 0;  // the first call asks for the count
  int err = 0;
  for (int attempt = 0; attempt < kMaxAttempts; attempt++) {
    reply->assign(sizeof(vfio_pci_hot_reset_info) + room * sizeof(Entry), 0);
    auto* info = reinterpret_cast<vfio_pci_hot_reset_info*>(reply->data());
    info->argsz = static_cast<uint32_t>(reply->size());
    err = Errno(device, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, info);
    if (err == ENOSPC && info->count > room) {
      room = info->count;
      continue;
    }
    if (err == EAGAIN) continue;
    if (err) return err;
    reply->resize(sizeof(vfio_pci_hot_reset_info) + info->count * sizeof(Entry));
    return 0;
  }
  return err;
}

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
