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
//
// The polling half (IrqTable: eventfds in, onEvent calls out) does not care
// where an eventfd came from: a device's table gets them from SET_IRQS, the
// host stand-in of `vfio bench --suite irq` (native/overhead_irq.h) makes its
// own and a native thread writes them, so both deliver through the same
// OnReadable and the same irqPoll / irqRef code.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vfio {

struct AddonData;
class Device;
struct IrqRuntime;
struct PollSlot;

// An owner of an IrqTable that is not a device (the host stand-in):
// environment teardown closes it as it closes every device's interrupts.
class IrqOwner {
 public:
  // Closes the table without calling JS. Never throws.
  virtual void CloseIrqsAtTeardown() noexcept = 0;

 protected:
  ~IrqOwner() = default;
};

// One enabled index: its vectors' poll slots and the JS side's two callbacks.
// A slot points at its line (std::map nodes stay put), so a delivery finds
// its callback without a lookup; closing a slot clears that pointer first.
struct IrqLine {
  std::vector<PollSlot*> slots;     // by vector; nullptr once that vector is disabled
  Napi::FunctionReference onEvent;  // (vector, count: bigint)
  Napi::FunctionReference onClose;  // (errno): the device closed under it
};

// The vectors enabled on one device (or the stand-in), by VFIO IRQ index.
class IrqTable {
 public:
  explicit IrqTable(IrqRuntime* rt) : rt_(rt) {}
  ~IrqTable();
  IrqTable(const IrqTable&) = delete;
  IrqTable& operator=(const IrqTable&) = delete;

  // The environment's runtime (its loop and teardown hook), made on first use. Throws.
  static IrqRuntime* RuntimeOf(Napi::Env env);
  // Registers a non-device owner for teardown (and forgets it).
  static void AddOwner(IrqRuntime* rt, IrqOwner* owner);
  static void RemoveOwner(IrqRuntime* rt, IrqOwner* owner) noexcept;

  // count fresh eventfds (non-blocking, close-on-exec) into *fds: 0, or the
  // errno of the one that failed (at *failedVector), with none left open.
  static int MakeEventfds(uint32_t count, std::vector<int32_t>* fds, uint32_t* failedVector);

  bool Enabled(uint32_t index) const { return indexes_.count(index) != 0; }
  std::vector<uint32_t> EnabledIndexes() const;

  // Polls fds[v] as vector v of index (not enabled yet), every handle
  // unref'd, delivering to onEvent(vector, count) and, when the table closes
  // under it, onClose(errno). Takes every fd: on failure they are all closed,
  // nothing stays attached, *failedVector says where, and the negative libuv
  // error is returned; 0 on success.
  int Attach(uint32_t index, const std::vector<int32_t>& fds, Napi::Function onEvent, Napi::Function onClose,
             uint32_t* failedVector);

  // What irqDisable(index, vector?) takes away: nothing (not enabled, or that
  // vector is gone already), one vector (others stay live), or the index.
  enum class Drop { kNone, kVector, kIndex };
  Drop DisablePlan(uint32_t index, bool one, uint32_t vector) const;
  // Stops polling and closes the eventfd(s); the caller did the kernel's part first.
  void DropVector(uint32_t index, uint32_t vector) noexcept;
  void DropIndex(uint32_t index) noexcept;

  // The eventfd of index's vector, or -1 when it is not enabled.
  int Eventfd(uint32_t index, uint32_t vector) const;

  // Disables every index in the kernel (deviceFd still open; < 0: there is no
  // kernel side), closes every eventfd and handle; with notify, tells each
  // index's JS side (EBADF) after.
  void CloseAll(int deviceFd, bool notify) noexcept;

 private:
  friend struct IrqMethods;
  IrqRuntime* rt_;
  std::map<uint32_t, IrqLine> indexes_;
};

// The irqPoll / irqRef methods' receiver: a device, or the host stand-in.
struct IrqHost {
  IrqTable* table;  // nullptr while no vector was ever enabled
  bool closed;
  const std::string& name;  // the device (its BDF or cdev path) the error args name
  const char* what;         // "the device": what ThrowClosed says is closed
};
// irqPoll(index, vector, on) and irqRef(index, vector, on) on any receiver.
Napi::Value IrqPollOn(const Napi::CallbackInfo& info, const IrqHost& host);
Napi::Value IrqRefOn(const Napi::CallbackInfo& info, const IrqHost& host);
// The error arguments every irq method names: {device, index, start, count}.
Napi::Object IrqArgs(Napi::Env env, const std::string& name, uint32_t index, uint32_t start, uint32_t count);

// Puts irqEnable / irqDisable / irqAction / irqPoll / irqRef on the Device prototype.
void DefineIrqMethods(Napi::Env env, Napi::Object prototype);

// Environment teardown: closes every device's (and owner's) interrupts without calling JS.
void IrqTeardown(AddonData* data) noexcept;

}  // namespace vfio
