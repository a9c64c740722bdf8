// Per-environment state (main thread and every worker get their own): the
// error factory, the class constructors, and the open objects, so that
// MAP_DMA can find the DmaBuffers it covers and environment teardown can close
// everything in the kernel's order.
#pragma once

#include <napi.h>

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "buffer_list.h"

namespace vfio {

class Container;
class Device;
class DmaBuffer;
class Group;
class Iommufd;
struct IrqRuntime;
class OverheadSpace;

struct AddonData {
  napi_env env = nullptr;
  Napi::FunctionReference errorFactory;
  Napi::FunctionReference containerClass;
  Napi::FunctionReference groupClass;
  Napi::FunctionReference deviceClass;
  Napi::FunctionReference bufferClass;
  Napi::FunctionReference iommufdClass;
  Napi::FunctionReference ioasClass;
  Napi::FunctionReference overheadClass;

  // Open objects only: each removes itself when it closes.
  std::set<Container*> containers;
  std::set<Iommufd*> iommufds;
  std::set<Group*> groups;
  std::set<Device*> devices;
  std::set<OverheadSpace*> overheadSpaces;
  std::map<uint64_t, DmaBuffer*> buffers;  // keyed by vaddr
  // Interrupt polling in this env's loop (native/irq.cc); created on first use.
  IrqRuntime* irq = nullptr;

  static AddonData* Of(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

  // Open buffers intersecting [vaddr, vaddr + size).
  BufferList<DmaBuffer> BuffersOverlapping(uint64_t vaddr, uint64_t size) const;

  // Environment teardown: containers (unmap, detach groups), then groups,
  // devices and buffers. Never throws.
  void CloseAll() noexcept;
};

}  // namespace vfio
