// Device: a descriptor from VFIO_GROUP_GET_DEVICE_FD, or a cdev
// (/dev/vfio/devices/vfioN) bound to an iommufd (device_cdev.cc). Regions are read and
// written with pread/pwrite at the region's offset, or mmap()ed; every mmap is
// detached and unmapped when the device closes. Registers in an mmap()ed BAR
// want whole aligned accesses: read them through a Uint32Array (a DataView may
// be split into byte loads, which many devices ignore or answer with zeros).
#pragma once

#include <linux/vfio.h>
#include <napi.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "irq.h"
#include "mapped_memory.h"

namespace vfio {

struct AddonData;
class Group;
class Iommufd;

class Device : public Napi::ObjectWrap<Device> {
 public:
  static constexpr napi_type_tag kTypeTag = {0x6e6f64657666696full, 0x6465766963650001ull};
  static constexpr const char* kClassName = "Device";

  // The class and its prototype: the methods are a table in device.cc (and
  // device_cdev.cc, irq.cc), so a new method adds nothing to this header.
  static void Init(Napi::Env env, AddonData* data);
  // Takes ownership of fd (closes it if wrapping fails).
  static Napi::Object Create(Napi::Env env, AddonData* data, Group* group, int fd, const std::string& name);

  explicit Device(const Napi::CallbackInfo& info);
  ~Device() override;

  bool closed() const { return fd_ < 0; }
  void CloseNow() noexcept;
  // Throws the EBADF of a closed device, naming op.
  void RequireOpen(Napi::Env env, const char* op) const;

  // cdev + iommufd (device_cdev.cc). openDeviceCdev(path) opens an unbound cdev.
  static Napi::Value OpenCdev(const Napi::CallbackInfo& info);
  // The IOAS this device's DMA goes through (attached directly or via a HWPT), 0 if none.
  uint32_t AttachedIoas() const { return attachedIoas_; }
  // VFIO_DEVICE_DETACH_IOMMUFD_PT; never throws.
  void DetachNow() noexcept;

  // Interrupts (native/irq.cc): the descriptor SET_IRQS goes to, and the
  // vectors enabled through it (torn down by CloseNow before the fd closes).
  int fd() const { return fd_; }
  const std::string& name() const { return name_; }
  std::unique_ptr<IrqTable> irqs;

 private:
  // The N-API methods, defined where they are registered.
  friend struct DeviceMethods;  // device.cc
  friend struct CdevMethods;    // device_cdev.cc

  AddonData* data_ = nullptr;
  Group* group_ = nullptr;
  int fd_ = -1;
  std::string name_;
  Iommufd* iommufd_ = nullptr;  // bound to (pinned while bound); cdev only
  uint32_t devId_ = 0;
  uint32_t ptId_ = 0;
  uint32_t attachedIoas_ = 0;
  std::map<uint32_t, vfio_region_info> regions_;  // static per device: fetched once
  std::map<uint32_t, std::unique_ptr<ExposedMemory>> mmaps_;
};

// Puts bindIommufd / attachPt / detachPt / devId on the Device prototype (device_cdev.cc).
void DefineCdevMethods(Napi::Env env, Napi::Object prototype);

}  // namespace vfio
