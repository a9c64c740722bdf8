// Device interrupts: VFIO_DEVICE_SET_IRQS with one eventfd per vector, each
// eventfd watched by a uv_poll handle in the environment's own loop (workers
// included), so no thread waits per vector. The JS policy (wait, mask in
// software where the kernel cannot, ref while waited on) is lib/irq.ts; this
// file only owns the descriptors and handles and tears them down with the
// device:
//   SET_IRQS disable -> uv_close (stops polling at once) -> close(eventfd);
//   the handle's memory goes in uv_close's callback, never before.
// At environment teardown an async cleanup hook keeps Node's loop turning
// until every handle's close callback has run.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <map>
#include <vector>

namespace vfio {

struct AddonData;
class Device;
struct IrqRuntime;
struct PollSlot;

// The vectors enabled on one device, by VFIO IRQ index.
class IrqTable {
 public:
  explicit IrqTable(IrqRuntime* rt) : rt_(rt) {}
  ~IrqTable();
  IrqTable(const IrqTable&) = delete;
  IrqTable& operator=(const IrqTable&) = delete;

  // Disables every index in the kernel (deviceFd still open), closes every
  // eventfd and handle; with notify, tells each index's JS side (EBADF) after.
  void CloseAll(int deviceFd, bool notify) noexcept;

 private:
  friend struct IrqMethods;
  struct Index {
    std::vector<PollSlot*> slots;  // by vector; nullptr once that vector is disabled
    Napi::FunctionReference onEvent;  // (vector, count: bigint)
    Napi::FunctionReference onClose;  // (errno): the device closed under it
  };
  IrqRuntime* rt_;
  std::map<uint32_t, Index> indexes_;
};

// Puts irqEnable / irqDisable / irqAction / irqPoll / irqRef on the Device prototype.
void DefineIrqMethods(Napi::Env env, Napi::Object prototype);

// Environment teardown: closes every device's interrupts without calling JS.
void IrqTeardown(AddonData* data) noexcept;

}  // namespace vfio
