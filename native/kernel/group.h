// The kernel's calls on a /dev/vfio/<N> group (drivers/vfio/group.c): plain
// values in, 0 or the errno out, nothing kept.
#pragma once

#include <linux/vfio.h>

#include <cstdint>

#include "call.h"

namespace vfio::kernel {

VFIO_PIN_IOCTL(VFIO_GROUP_GET_STATUS, 0x3b67);
VFIO_PIN_IOCTL(VFIO_GROUP_SET_CONTAINER, 0x3b68);
VFIO_PIN_IOCTL(VFIO_GROUP_UNSET_CONTAINER, 0x3b69);
VFIO_PIN_IOCTL(VFIO_GROUP_GET_DEVICE_FD, 0x3b6a);

// *flags: VFIO_GROUP_FLAGS_VIABLE | _CONTAINER_SET.
inline int GroupGetStatus(int group, uint32_t* flags) {
  vfio_group_status s{};
  s.argsz = sizeof s;
  int err = Errno(group, VFIO_GROUP_GET_STATUS, &s);
  if (err == 0) *flags = s.flags;
  return err;
}

inline int GroupSetContainer(int group, int container) {
  return Errno(group, VFIO_GROUP_SET_CONTAINER, &container);
}

inline int GroupUnsetContainer(int group) { return Errno(group, VFIO_GROUP_UNSET_CONTAINER, 0); }

// name: NUL-terminated device name (a PCI address); *device: the new fd.
inline int GroupGetDeviceFd(int group, const char* name, int* device) {
  int r = Call(group, VFIO_GROUP_GET_DEVICE_FD, name);
  if (r < 0) return -r;
  *device = r;
  return 0;
}

}  // namespace vfio::kernel
