#include "irq.h"

#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string>

#include "addon_data.h"
#include "args.h"
#include "device.h"
#include "errors.h"
#include "kernel/device.h"
#include "wrap.h"

namespace vfio {

// Per environment: the loop the handles live in, how many handles still wait
// for their close callback, and the async cleanup hook that holds Node's
// teardown until that count is zero.
struct IrqRuntime {
  napi_env env = nullptr;
  uv_loop_t* loop = nullptr;
  AddonData* data = nullptr;
  int open = 0;
  bool tearingDown = false;
  std::set<IrqOwner*> owners;  // tables not owned by a device (IrqOwner)
  napi_async_cleanup_hook_handle hook = nullptr;

  void HandleClosed() {
    if (--open == 0 && tearingDown && hook) Finish();
  }
  void Finish() {
    if (hook) napi_remove_async_cleanup_hook(hook);
    delete this;
  }
};

// One vector: its eventfd and the uv_poll watching it. Heap-allocated and
// freed only by uv_close's callback, so libuv never sees freed memory.
struct PollSlot {
  uv_poll_t handle;
  IrqRuntime* rt;
  IrqLine* line;  // its index's callbacks; nullptr once closed: a late callback does nothing
  uint32_t index;
  uint32_t vector;
  int efd;
  bool polling;
};

struct IrqMethods {
  static Napi::Value Enable(const Napi::CallbackInfo& info);
  static Napi::Value Disable(const Napi::CallbackInfo& info);
  static Napi::Value Action(const Napi::CallbackInfo& info);
  static Napi::Value Poll(const Napi::CallbackInfo& info);
  static Napi::Value Ref(const Napi::CallbackInfo& info);
  static void OnReadable(uv_poll_t* handle, int status, int events);
  static void CloseSlot(PollSlot* slot) noexcept;
  static void CloseIndex(IrqLine& index) noexcept;
  static PollSlot* Slot(const Napi::CallbackInfo& info, const IrqHost& host, const char* op);
};

namespace {

constexpr const char* kOp = "VFIO_DEVICE_SET_IRQS";

const char* const kIndexNames[] = {"intx", "msi", "msix", "err", "req"};

std::string IndexName(uint32_t index) {
  return index < 5 ? kIndexNames[index] : "index " + std::to_string(index);
}

// Count 0 with DATA_NONE | ACTION_TRIGGER: the kernel's "disable this index". 0 or the errno.
int DisableIndex(int fd, uint32_t index) {
  return kernel::DeviceSetIrqs(fd, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, index, 0, 0, nullptr);
}

Napi::Object Args(Napi::Env env, Device* d, uint32_t index, uint32_t start, uint32_t count) {
  return IrqArgs(env, d->name(), index, start, count);
}

bool IsExclusive(uint32_t index) {
  return index == VFIO_PCI_INTX_IRQ_INDEX || index == VFIO_PCI_MSI_IRQ_INDEX || index == VFIO_PCI_MSIX_IRQ_INDEX;
}

Device* ThisDevice(const Napi::CallbackInfo& info) {
  Napi::Value self = info.This();
  if (!self.IsObject() || !self.As<Napi::Object>().CheckTypeTag(&Device::kTypeTag)) {
    ThrowType(info.Env(), "receiver is not a Device");
  }
  return Device::Unwrap(self.As<Napi::Object>());
}

void RequireOpen(Napi::Env env, Device* d, const char* op) {
  if (d->closed()) ThrowClosed(env, op, "the device");
}

IrqHost HostOf(Device* d) { return IrqHost{d->irqs.get(), d->closed(), d->name(), "the device"}; }

}  // namespace

Napi::Object IrqArgs(Napi::Env env, const std::string& name, uint32_t index, uint32_t start, uint32_t count) {
  return ErrorArgs(env, {{"device", Napi::String::New(env, name)},
                         {"index", Napi::Number::New(env, index)},
                         {"start", Napi::Number::New(env, start)},
                         {"count", Napi::Number::New(env, count)}});
}

IrqRuntime* IrqTable::RuntimeOf(Napi::Env env) {
  AddonData* data = AddonData::Of(env);
  if (data->irq) return data->irq;
  auto* rt = new IrqRuntime();
  rt->env = env;
  rt->data = data;
  if (napi_get_uv_event_loop(env, &rt->loop) != napi_ok) {
    delete rt;
    ThrowErrno(env, EIO, "napi_get_uv_event_loop", Napi::Object::New(env), "no event loop in this environment");
  }
  // Runs before the sync TearDown hook (hooks run newest first).
  auto hook = [](napi_async_cleanup_hook_handle handle, void* arg) {
    auto* r = static_cast<IrqRuntime*>(arg);
    r->hook = handle;
    IrqTeardown(r->data);
    if (r->open == 0) r->Finish();
  };
  if (napi_add_async_cleanup_hook(env, hook, rt, nullptr) != napi_ok) {
    delete rt;
    ThrowErrno(env, EIO, "napi_add_async_cleanup_hook", Napi::Object::New(env));
  }
  data->irq = rt;
  return rt;
}

void IrqTable::AddOwner(IrqRuntime* rt, IrqOwner* owner) { rt->owners.insert(owner); }

void IrqTable::RemoveOwner(IrqRuntime* rt, IrqOwner* owner) noexcept { rt->owners.erase(owner); }

void IrqMethods::OnReadable(uv_poll_t* handle, int status, int /*events*/) {
  auto* slot = static_cast<PollSlot*>(handle->data);
  // An eventfd never reports an error; a closed slot has nothing to say.
  if (status < 0 || !slot->line) return;
  uint64_t count = 0;
  ssize_t n = read(slot->efd, &count, sizeof count);
  if (n != sizeof count) return;  // EAGAIN: another reader (or a spurious wake) took it
  if (slot->line->onEvent.IsEmpty()) return;
  Napi::Env env(slot->rt->env);
  Napi::HandleScope scope(env);
  // A local handle: the callback may disable the index and free its reference.
  Napi::Function fn = slot->line->onEvent.Value();
  Napi::Value vector = Napi::Number::New(env, slot->vector);
  Napi::Value coalesced = Napi::BigInt::New(env, count);
  try {
    // MakeCallback: runs the microtasks (promise continuations) afterwards.
    fn.MakeCallback(env.Global(), {vector, coalesced});
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());
  }
}

void IrqMethods::CloseSlot(PollSlot* slot) noexcept {
  slot->line = nullptr;
  // uv_close stops the poll at once (epoll forgets the fd), so the eventfd can
  // go now; the handle's memory goes when libuv calls back.
  uv_close(reinterpret_cast<uv_handle_t*>(&slot->handle), [](uv_handle_t* h) {
    auto* s = static_cast<PollSlot*>(h->data);
    IrqRuntime* rt = s->rt;
    delete s;
    rt->HandleClosed();
  });
  close(slot->efd);
  slot->efd = -1;
}

void IrqMethods::CloseIndex(IrqLine& index) noexcept {
  for (PollSlot*& s : index.slots) {
    if (s) CloseSlot(s);
    s = nullptr;
  }
}

IrqTable::~IrqTable() {
  // CloseAll ran first on every path (Device::CloseNow); this is the backstop.
  for (auto& [i, index] : indexes_) IrqMethods::CloseIndex(index);
}

void IrqTable::CloseAll(int deviceFd, bool notify) noexcept {
  std::vector<Napi::FunctionReference> tell;
  for (auto& [i, index] : indexes_) {
    // The kernel drops its eventfd references before we close ours.
    if (deviceFd >= 0) DisableIndex(deviceFd, i);
    IrqMethods::CloseIndex(index);
    if (!index.onClose.IsEmpty()) tell.push_back(std::move(index.onClose));
  }
  indexes_.clear();
  if (tell.empty() || !notify || rt_->tearingDown) return;
  Napi::Env env(rt_->env);
  Napi::HandleScope scope(env);
  for (auto& ref : tell) {
    try {
      ref.Value().Call({Napi::Number::New(env, EBADF)});
    } catch (...) {
      // A close path never throws; the JS side's own handler does not either.
    }
  }
}

// irqEnable(index, count, onEvent, onClose). Every check the kernel would make
// before looking at the eventfds is made here first, with its errno, so a
// refused call creates no descriptor at all.
Napi::Value IrqMethods::Enable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Device* d = ThisDevice(info);
  uint32_t index = ArgU32(info, 0, "index");
  uint32_t count = ArgU32(info, 1, "count");
  if (!info[2].IsFunction() || !info[3].IsFunction()) ThrowType(env, "onEvent and onClose must be functions");
  if (count == 0) ThrowRange(env, "count must be at least 1");
  RequireOpen(env, d, kOp);
  int fd = d->fd();

  vfio_device_info di;
  if (int err = kernel::DeviceGetInfo(fd, &di)) ThrowErrno(env, err, "VFIO_DEVICE_GET_INFO", Args(env, d, index, 0, count));
  // vfio_set_irqs_validate_and_prepare(): index >= num_irqs.
  if (index >= di.num_irqs) {
    std::string hint = "the device has " + std::to_string(di.num_irqs) + " IRQ indexes (0-" +
                       std::to_string(di.num_irqs - 1) + ")";
    ThrowErrno(env, EINVAL, kOp, Args(env, d, index, 0, count), hint.c_str());
  }
  // ...then start + count > vfio_pci_get_irq_count(), which GET_IRQ_INFO reports
  // (and refuses, EINVAL, for an index the device lacks, such as ERR off PCIe).
  vfio_irq_info ii;
  uint32_t have = 0;
  if (kernel::DeviceGetIrqInfo(fd, index, &ii) == 0) have = ii.count;
  if (count > have || !(ii.flags & VFIO_IRQ_INFO_EVENTFD)) {
    std::string hint = "the device has " + std::to_string(have) + " " + IndexName(index) +
                       " vector(s) (irqInfo(" + std::to_string(index) + ").count)";
    ThrowErrno(env, EINVAL, kOp, Args(env, d, index, 0, count), hint.c_str());
  }
  if (!d->irqs) d->irqs = std::make_unique<IrqTable>(IrqTable::RuntimeOf(env));
  IrqTable* table = d->irqs.get();
  if (table->Enabled(index)) {
    std::string hint = IndexName(index) + " is already enabled on this device: disable() it first";
    ThrowErrno(env, EBUSY, kOp, Args(env, d, index, 0, count), hint.c_str());
  }
  // vfio_pci_set_intx_trigger / vfio_pci_set_msi_trigger: INTx, MSI and MSI-X
  // exclude each other (!(irq_is(vdev, index) || is_irq_none(vdev)) -> EINVAL).
  if (IsExclusive(index)) {
    for (uint32_t other : table->EnabledIndexes()) {
      if (IsExclusive(other)) {
        std::string hint = "INTx, MSI and MSI-X exclude each other: " + IndexName(other) +
                           " is enabled, disable() it first";
        ThrowErrno(env, EINVAL, kOp, Args(env, d, index, 0, count), hint.c_str());
      }
    }
  }

  std::vector<int32_t> fds;
  uint32_t failed = 0;
  if (int err = IrqTable::MakeEventfds(count, &fds, &failed)) ThrowErrno(env, err, "eventfd", Args(env, d, index, failed, 1));
  if (int err = kernel::DeviceSetIrqs(fd, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, index, 0, count, fds.data())) {
    for (int32_t e : fds) close(e);
    ThrowErrno(env, err, kOp, Args(env, d, index, 0, count));
  }
  if (int rc = table->Attach(index, fds, info[2].As<Napi::Function>(), info[3].As<Napi::Function>(), &failed)) {
    // Attach undid our side (handles, eventfds); now the kernel's.
    DisableIndex(fd, index);
    ThrowErrno(env, -rc, "uv_poll_start", Args(env, d, index, failed, 1), uv_strerror(rc));
  }
  return env.Undefined();
}

int IrqTable::MakeEventfds(uint32_t count, std::vector<int32_t>* fds, uint32_t* failedVector) {
  fds->clear();
  for (uint32_t v = 0; v < count; v++) {
    int e = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (e < 0) {
      int err = errno;
      for (int32_t f : *fds) close(f);
      fds->clear();
      *failedVector = v;
      return err;
    }
    fds->push_back(e);
  }
  return 0;
}

std::vector<uint32_t> IrqTable::EnabledIndexes() const {
  std::vector<uint32_t> out;
  for (auto& [i, line] : indexes_) out.push_back(i);
  return out;
}

int IrqTable::Attach(uint32_t index, const std::vector<int32_t>& fds, Napi::Function onEvent, Napi::Function onClose,
                     uint32_t* failedVector) {
  IrqLine& st = indexes_[index];
  st.onEvent = Napi::Persistent(onEvent);
  st.onClose = Napi::Persistent(onClose);
  uint32_t count = static_cast<uint32_t>(fds.size());
  for (uint32_t v = 0; v < count; v++) {
    auto* s = new PollSlot{};
    s->rt = rt_;
    s->line = &st;
    s->index = index;
    s->vector = v;
    s->efd = fds[v];
    int rc = uv_poll_init(rt_->loop, &s->handle, s->efd);
    if (rc == 0) {
      s->handle.data = s;
      rt_->open++;
      st.slots.push_back(s);
      rc = uv_poll_start(&s->handle, UV_READABLE, IrqMethods::OnReadable);
      s->polling = rc == 0;
      // Idle vectors must not keep the process alive; wait() refs its vector.
      uv_unref(reinterpret_cast<uv_handle_t*>(&s->handle));
    } else {
      close(s->efd);
      delete s;
    }
    if (rc != 0) {
      // Undo our side: the descriptors not polled yet, then the handles made so far.
      for (uint32_t rest = v + 1; rest < count; rest++) close(fds[rest]);
      IrqMethods::CloseIndex(st);
      indexes_.erase(index);
      *failedVector = v;
      return rc;
    }
  }
  return 0;
}

IrqTable::Drop IrqTable::DisablePlan(uint32_t index, bool one, uint32_t vector) const {
  auto it = indexes_.find(index);
  if (it == indexes_.end()) return Drop::kNone;
  const IrqLine& st = it->second;
  size_t live = 0;
  for (PollSlot* s : st.slots) live += s != nullptr;
  if (one && vector < st.slots.size() && live > 1) return st.slots[vector] ? Drop::kVector : Drop::kNone;
  if (one && (vector >= st.slots.size() || !st.slots[vector])) return Drop::kNone;
  return Drop::kIndex;
}

void IrqTable::DropVector(uint32_t index, uint32_t vector) noexcept {
  IrqLine& st = indexes_.at(index);
  IrqMethods::CloseSlot(st.slots[vector]);
  st.slots[vector] = nullptr;
}

void IrqTable::DropIndex(uint32_t index) noexcept {
  auto it = indexes_.find(index);
  if (it == indexes_.end()) return;
  IrqMethods::CloseIndex(it->second);
  indexes_.erase(it);
}

int IrqTable::Eventfd(uint32_t index, uint32_t vector) const {
  auto it = indexes_.find(index);
  if (it == indexes_.end() || vector >= it->second.slots.size() || !it->second.slots[vector]) return -1;
  return it->second.slots[vector]->efd;
}

// irqDisable(index, vector?): one vector (its eventfd detached with fd -1) or
// the whole index. Harmless on an index that is not enabled.
Napi::Value IrqMethods::Disable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Device* d = ThisDevice(info);
  uint32_t index = ArgU32(info, 0, "index");
  bool one = !info[1].IsUndefined();
  uint32_t vector = one ? ArgU32(info, 1, "vector") : 0;
  if (!d->irqs) return env.Undefined();
  int err = 0;
  switch (d->irqs->DisablePlan(index, one, vector)) {
    case IrqTable::Drop::kNone:
      return env.Undefined();
    case IrqTable::Drop::kVector: {
      int32_t none = -1;
      err = kernel::DeviceSetIrqs(d->fd(), VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, index, vector, 1, &none);
      d->irqs->DropVector(index, vector);
      break;
    }
    case IrqTable::Drop::kIndex:
      err = DisableIndex(d->fd(), index);
      d->irqs->DropIndex(index);
      break;
  }
  // Our side is gone either way; a kernel refusal is still reported.
  if (err != 0) ThrowErrno(env, err, kOp, Args(env, d, index, one ? vector : 0, 0));
  return env.Undefined();
}

PollSlot* IrqMethods::Slot(const Napi::CallbackInfo& info, const IrqHost& host, const char* op) {
  Napi::Env env = info.Env();
  uint32_t index = ArgU32(info, 0, "index");
  uint32_t vector = ArgU32(info, 1, "vector");
  if (host.closed) ThrowClosed(env, op, host.what);
  if (host.table) {
    auto it = host.table->indexes_.find(index);
    if (it != host.table->indexes_.end() && vector < it->second.slots.size() && it->second.slots[vector]) {
      return it->second.slots[vector];
    }
  }
  ThrowErrno(env, EBADF, op, IrqArgs(env, host.name, index, vector, 1), "the vector is not enabled (disabled, or never enabled)");
}

// irqAction(index, vector, action): 0 mask, 1 unmask, 2 trigger, each with
// DATA_NONE; the kernel decides (MSI and MSI-X cannot be masked: ENOTTY).
Napi::Value IrqMethods::Action(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Device* d = ThisDevice(info);
  uint32_t action = ArgU32(info, 2, "action", 2);
  PollSlot* s = Slot(info, HostOf(d), kOp);
  static constexpr uint32_t kActions[] = {VFIO_IRQ_SET_ACTION_MASK, VFIO_IRQ_SET_ACTION_UNMASK,
                                          VFIO_IRQ_SET_ACTION_TRIGGER};
  if (int err = kernel::DeviceSetIrqs(d->fd(), VFIO_IRQ_SET_DATA_NONE | kActions[action], s->index, s->vector, 1, nullptr)) {
    const char* hint = err == ENOTTY && action < 2 ? "the kernel cannot mask MSI or MSI-X vectors (only INTx)" : nullptr;
    ThrowErrno(env, err, kOp, Args(env, d, s->index, s->vector, 1), hint);
  }
  return env.Undefined();
}

// irqPoll(index, vector, on): stop or resume reading the eventfd. While
// stopped the eventfd keeps counting, so resuming delivers what came in
// between as one coalesced event: a mask where the kernel has none.
Napi::Value IrqPollOn(const Napi::CallbackInfo& info, const IrqHost& host) {
  Napi::Env env = info.Env();
  bool on = ArgBool(info, 2, "on");
  PollSlot* s = IrqMethods::Slot(info, host, "uv_poll");
  if (on == s->polling) return env.Undefined();
  int rc = on ? uv_poll_start(&s->handle, UV_READABLE, IrqMethods::OnReadable) : uv_poll_stop(&s->handle);
  if (rc != 0) ThrowErrno(env, -rc, on ? "uv_poll_start" : "uv_poll_stop", IrqArgs(env, host.name, s->index, s->vector, 1), uv_strerror(rc));
  s->polling = on;
  return env.Undefined();
}

// irqRef(index, vector, on): whether this vector keeps the loop alive.
Napi::Value IrqRefOn(const Napi::CallbackInfo& info, const IrqHost& host) {
  bool on = ArgBool(info, 2, "on");
  PollSlot* s = IrqMethods::Slot(info, host, "uv_ref");
  auto* h = reinterpret_cast<uv_handle_t*>(&s->handle);
  if (on) uv_ref(h);
  else uv_unref(h);
  return info.Env().Undefined();
}

Napi::Value IrqMethods::Poll(const Napi::CallbackInfo& info) { return IrqPollOn(info, HostOf(ThisDevice(info))); }

Napi::Value IrqMethods::Ref(const Napi::CallbackInfo& info) { return IrqRefOn(info, HostOf(ThisDevice(info))); }

void DefineIrqMethods(Napi::Env env, Napi::Object prototype) {
  prototype.DefineProperties({
      Napi::PropertyDescriptor::Value("irqEnable", Napi::Function::New<IrqMethods::Enable>(env, "irqEnable"), napi_default_method),
      Napi::PropertyDescriptor::Value("irqDisable", Napi::Function::New<IrqMethods::Disable>(env, "irqDisable"), napi_default_method),
      Napi::PropertyDescriptor::Value("irqAction", Napi::Function::New<IrqMethods::Action>(env, "irqAction"), napi_default_method),
      Napi::PropertyDescriptor::Value("irqPoll", Napi::Function::New<IrqMethods::Poll>(env, "irqPoll"), napi_default_method),
      Napi::PropertyDescriptor::Value("irqRef", Napi::Function::New<IrqMethods::Ref>(env, "irqRef"), napi_default_method),
  });
}

void IrqTeardown(AddonData* data) noexcept {
  IrqRuntime* rt = data->irq;
  if (!rt) return;
  rt->tearingDown = true;
  for (Device* d : data->devices) {
    if (!d->irqs) continue;
    d->irqs->CloseAll(d->fd(), false);
    // The table points at the runtime, which frees itself once the handles
    // are closed: the device, closed later by TearDown, must not reach it.
    d->irqs.reset();
  }
  // The stand-ins (each removes itself from the set as it closes).
  for (IrqOwner* o : std::vector<IrqOwner*>(rt->owners.begin(), rt->owners.end())) o->CloseIrqsAtTeardown();
  rt->owners.clear();
  // The runtime frees itself once the last close callback has run.
  data->irq = nullptr;
}

}  // namespace vfio
