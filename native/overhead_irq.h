// The interrupt twin of the overhead stand-in (overhead_space.h): what
// delivering an eventfd to JS costs on this host, with no VFIO and no device,
// for `vfio bench --suite irq` where no real edu is measured.
//
// IrqStandIn is a receiver of the same irq* methods a Device has, over the
// same IrqTable (irq.h): its eventfds are polled by the same uv_poll handles
// and delivered by the same OnReadable to the same onEvent callback; irqPoll
// and irqRef are the device's own code. Only where the eventfd comes from
// differs: irqEnable makes it (no SET_IRQS), irqAction's trigger writes it
// (the kernel's loopback does eventfd_signal), mask / unmask are refused
// ENOTTY as the kernel refuses them for MSI. So lib/irq.ts's IrqSet / IrqVector
// run over it exactly as over a device.
//
// A raiser thread writes the eventfd: event i after the waiter acknowledged
// event i - 1, after a seeded random gap, with CLOCK_MONOTONIC read just
// before the write(). irqFloor() runs the same raiser against native waiters
// on a thread of their own: 'epoll' (epoll_wait + read, as
// scripts/ref/irq-ref.c waits) and 'uv' (uv_poll in a private uv_loop_t).
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>

#include "irq.h"

namespace vfio {

class Raiser;

class IrqStandIn : public Napi::ObjectWrap<IrqStandIn>, public IrqOwner {
 public:
  static constexpr napi_type_tag kTypeTag = {0x6e6f64657666696full, 0x6972717374640001ull};
  static constexpr const char* kClassName = "IrqStandIn";

  explicit IrqStandIn(const Napi::CallbackInfo& info);
  ~IrqStandIn() override;

  // Stops the raiser, closes every eventfd and handle; with notify, tells the JS side (EBADF).
  void CloseNow(bool notify) noexcept;
  void CloseIrqsAtTeardown() noexcept override;

 private:
  friend void InitIrqStandIn(Napi::Env env, Napi::Object exports);
  static Napi::Value Open(const Napi::CallbackInfo& info);
  IrqHost Host() const;

  Napi::Value IrqInfo(const Napi::CallbackInfo& info);
  Napi::Value Enable(const Napi::CallbackInfo& info);
  Napi::Value Disable(const Napi::CallbackInfo& info);
  Napi::Value Action(const Napi::CallbackInfo& info);
  Napi::Value Poll(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value StartRaiser(const Napi::CallbackInfo& info);
  Napi::Value Ack(const Napi::CallbackInfo& info);
  Napi::Value StopRaiser(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);

  IrqRuntime* rt_ = nullptr;  // nullptr once closed (the runtime may be gone after teardown)
  std::unique_ptr<IrqTable> table_;
  std::unique_ptr<Raiser> raiser_;
  uint32_t vectors_ = 1;
  bool closed_ = false;
  std::string name_ = "irq stand-in";
};

// exports.openIrqStandIn(vectors) and exports.irqFloor(mode, events, gapMinNs, gapMaxNs, seed).
void InitIrqStandIn(Napi::Env env, Napi::Object exports);

}  // namespace vfio
