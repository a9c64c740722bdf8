#include "overhead_irq.h"

#include <linux/vfio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sched.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "args.h"
#include "errors.h"
#include "wrap.h"

namespace vfio {
namespace {

// The index the stand-in has: MSI's, which the kernel cannot mask.
constexpr uint32_t kIndex = VFIO_PCI_MSI_IRQ_INDEX;
constexpr uint32_t kMaxVectors = 64;
constexpr uint32_t kMaxEvents = 1u << 22;
constexpr uint32_t kMaxGapNs = 1'000'000'000;
// A waiter gives up when an event is this late (the raiser failed, or the host is stopped).
constexpr int kWaitMs = 5000;
constexpr const char* kOp = "irq stand-in (SET_IRQS)";
constexpr const char* kWriteOp = "irq stand-in (eventfd write)";

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct RaiseSpec {
  uint32_t events;
  uint32_t gapMinNs;
  uint32_t gapMaxNs;
  uint32_t seed;
  int cpu;  // the raiser's CPU, -1: wherever the scheduler puts it
};

// A CPU number, or -1 for undefined / -1.
int ArgCpu(const Napi::CallbackInfo& info, size_t at, const char* name) {
  if (info[at].IsUndefined()) return -1;
  if (info[at].IsNumber() && info[at].As<Napi::Number>().Int32Value() == -1) return -1;
  return static_cast<int>(ArgU32(info, at, name, CPU_SETSIZE - 1));
}

RaiseSpec ArgRaise(const Napi::CallbackInfo& info, size_t at) {
  RaiseSpec r{ArgU32(info, at, "events", kMaxEvents), ArgU32(info, at + 1, "gapMinNs", kMaxGapNs),
              ArgU32(info, at + 2, "gapMaxNs", kMaxGapNs), ArgU32(info, at + 3, "seed"), ArgCpu(info, at + 4, "raiserCpu")};
  if (r.events == 0) ThrowRange(info.Env(), "events must be at least 1");
  if (r.gapMaxNs < r.gapMinNs) ThrowRange(info.Env(), "gapMaxNs must be >= gapMinNs");
  return r;
}

// Pins the calling thread to one CPU (cpu >= 0); 0 or the errno.
int PinSelf(int cpu) {
  if (cpu < 0) return 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : errno;
}

}  // namespace

// Writes 1 to an eventfd `events` times: event i once Ack() was called i
// times, after a gap drawn from [gapMin, gapMax] ns (seeded: every waiter
// sees the same gaps), stamping CLOCK_MONOTONIC just before each write().
class Raiser {
 public:
  Raiser(int efd, const RaiseSpec& spec) : efd_(efd), spec_(spec), t0_(spec.events, 0) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Raiser() { Stop(); }

  void Ack() {
    {
      std::lock_guard<std::mutex> l(m_);
      acked_++;
    }
    cv_.notify_one();
  }

  // Joins the thread (at most one gap late). Never throws.
  void Stop() noexcept {
    {
      std::lock_guard<std::mutex> l(m_);
      stop_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

  // After Stop(): the stamps of the writes made, and the errno of a failed one (0 if none).
  const std::vector<int64_t>& Stamps() const { return t0_; }
  uint32_t Raised() const { return raised_; }
  int Error() const { return error_; }

 private:
  void Run() {
    // The default 50 us timer slack would stretch every gap by up to that much.
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    if (int err = PinSelf(spec_.cpu)) {
      error_ = err;
      return;
    }
    std::mt19937 rng(spec_.seed);
    std::uniform_int_distribution<uint32_t> gap(spec_.gapMinNs, spec_.gapMaxNs);
    const uint64_t one = 1;
    for (uint32_t i = 0; i < spec_.events; i++) {
      {
        std::unique_lock<std::mutex> l(m_);
        cv_.wait(l, [&] { return acked_ >= i || stop_; });
        if (stop_) return;
      }
      uint32_t g = gap(rng);
      if (g > 0) {
        timespec ts{static_cast<time_t>(g / 1'000'000'000), static_cast<long>(g % 1'000'000'000)};
        while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {
        }
      }
      int64_t t0 = NowNs();
      if (write(efd_, &one, sizeof one) != sizeof one) {
        error_ = errno;
        return;
      }
      t0_[i] = t0;
      raised_ = i + 1;
    }
  }

  int efd_;
  RaiseSpec spec_;
  std::vector<int64_t> t0_;
  uint32_t raised_ = 0;
  int error_ = 0;
  std::mutex m_;
  std::condition_variable cv_;
  uint32_t acked_ = 0;
  bool stop_ = false;
  std::thread thread_;  // last: starts once everything above is set
};

namespace {

// One native waiter's run: when each event was read (t1), how many reads
// counted more than one write, and the errno that stopped it (0: all read).
struct Waited {
  std::vector<int64_t> t1;
  uint32_t coalesced = 0;
  int error = 0;
  const char* what = nullptr;
};

// epoll_wait + read, as scripts/ref/irq-ref.c waits on edu's eventfd.
void WaitEpoll(int efd, Raiser& raiser, uint32_t events, Waited* out) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = efd;
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) != 0) {
    out->error = errno;
    out->what = "epoll_ctl";
    if (ep >= 0) close(ep);
    return;
  }
  for (uint32_t i = 0; i < events; i++) {
    epoll_event got;
    int n;
    do n = epoll_wait(ep, &got, 1, kWaitMs);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
      out->error = n == 0 ? ETIMEDOUT : errno;
      out->what = "epoll_wait";
      break;
    }
    uint64_t count;
    if (read(efd, &count, sizeof count) != sizeof count) {
      out->error = errno;
      out->what = "read";
      break;
    }
    out->t1[i] = NowNs();
    if (count != 1) out->coalesced++;
    raiser.Ack();
  }
  close(ep);
}

// uv_poll in a private loop: libuv's part of Node's path, with no JS.
struct UvWait {
  uv_loop_t loop;
  uv_poll_t poll;
  uv_timer_t watchdog;
  int efd;
  Raiser* raiser;
  uint32_t events;
  uint32_t next = 0;
  Waited* out;

  void Finish() {
    uv_close(reinterpret_cast<uv_handle_t*>(&poll), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&watchdog), nullptr);
  }
};

void WaitUv(int efd, Raiser& raiser, uint32_t events, Waited* out) {
  UvWait w{};
  w.efd = efd;
  w.raiser = &raiser;
  w.events = events;
  w.out = out;
  int rc = uv_loop_init(&w.loop);
  if (rc == 0) {
    uv_poll_init(&w.loop, &w.poll, efd);
    uv_timer_init(&w.loop, &w.watchdog);
    w.poll.data = &w;
    w.watchdog.data = &w;
    rc = uv_poll_start(&w.poll, UV_READABLE, [](uv_poll_t* h, int status, int) {
      auto* self = static_cast<UvWait*>(h->data);
      uint64_t count;
      if (status < 0 || read(self->efd, &count, sizeof count) != sizeof count) {
        if (status < 0 || errno != EAGAIN) {
          self->out->error = status < 0 ? -status : errno;
          self->out->what = "uv_poll";
          self->Finish();
        }
        return;
      }
      self->out->t1[self->next] = NowNs();
      if (count != 1) self->out->coalesced++;
      self->raiser->Ack();
      if (++self->next == self->events) self->Finish();
    });
    // One timer for the whole run, not one per event: the loop carries nothing else per event.
    uint64_t budgetMs = kWaitMs + static_cast<uint64_t>(events) * 20;
    if (rc == 0) {
      uv_timer_start(&w.watchdog, [](uv_timer_t* t) {
        auto* self = static_cast<UvWait*>(t->data);
        self->out->error = ETIMEDOUT;
        self->out->what = "uv_run";
        self->Finish();
      }, budgetMs, 0);
      uv_run(&w.loop, UV_RUN_DEFAULT);
    } else {
      w.Finish();
      uv_run(&w.loop, UV_RUN_DEFAULT);
      out->error = -rc;
      out->what = "uv_poll_start";
    }
    uv_loop_close(&w.loop);
  } else {
    out->error = -rc;
    out->what = "uv_loop_init";
  }
}

// irqFloor(mode, events, gapMinNs, gapMaxNs, seed, raiserCpu?, waiterCpu?) -> { ns: Float64Array, coalesced }:
// the raiser against a native waiter on a thread of its own; ns[i] is event
// i's write -> the waiter's read. The JS thread waits in join meanwhile.
Napi::Value IrqFloor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string mode = ArgString(info, 0, "mode");
  if (mode != "epoll" && mode != "uv") ThrowRange(env, "mode must be 'epoll' or 'uv'");
  RaiseSpec spec = ArgRaise(info, 1);
  int waiterCpu = ArgCpu(info, 6, "waiterCpu");
  int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (efd < 0) ThrowErrno(env, errno, "eventfd", Napi::Object::New(env));
  Waited w;
  w.t1.assign(spec.events, 0);
  {
    Raiser raiser(efd, spec);
    std::thread waiter([&] {
      if (int err = PinSelf(waiterCpu)) {
        w.error = err;
        w.what = "sched_setaffinity";
        raiser.Stop();
        return;
      }
      if (mode == "epoll") WaitEpoll(efd, raiser, spec.events, &w);
      else WaitUv(efd, raiser, spec.events, &w);
    });
    waiter.join();
    raiser.Stop();
    if (w.error == 0 && raiser.Error() != 0) {
      w.error = raiser.Error();
      w.what = "write";
    }
    if (w.error == 0) {
      Napi::Float64Array ns = Napi::Float64Array::New(env, spec.events);
      for (uint32_t i = 0; i < spec.events; i++) ns[i] = static_cast<double>(w.t1[i] - raiser.Stamps()[i]);
      close(efd);
      Napi::Object out = Napi::Object::New(env);
      out.Set("ns", ns);
      out.Set("coalesced", Napi::Number::New(env, w.coalesced));
      return out;
    }
  }
  close(efd);
  ThrowErrno(env, w.error, w.what, ErrorArgs(env, {{"mode", Napi::String::New(env, mode)}}));
}

// threadCpus(cpus?) -> number[]: the calling (JS) thread's CPUs; with an array, sets them first and returns the old ones.
Napi::Value ThreadCpus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  cpu_set_t old;
  if (sched_getaffinity(0, sizeof old, &old) != 0) ThrowErrno(env, errno, "sched_getaffinity", Napi::Object::New(env));
  if (!info[0].IsUndefined()) {
    if (!info[0].IsArray()) ThrowType(env, "cpus must be an array of CPU numbers");
    Napi::Array a = info[0].As<Napi::Array>();
    cpu_set_t set;
    CPU_ZERO(&set);
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
      if (!(d >= 0 && d < CPU_SETSIZE) || d != static_cast<int>(d)) ThrowRange(env, "cpus must be CPU numbers");
      CPU_SET(static_cast<int>(d), &set);
    }
    if (sched_setaffinity(0, sizeof set, &set) != 0) ThrowErrno(env, errno, "sched_setaffinity", Napi::Object::New(env));
  }
  Napi::Array out = Napi::Array::New(env);
  for (int c = 0, k = 0; c < CPU_SETSIZE; c++) {
    if (CPU_ISSET(c, &old)) out.Set(k++, Napi::Number::New(env, c));
  }
  return out;
}

}  // namespace

IrqStandIn::IrqStandIn(const Napi::CallbackInfo& info) : Napi::ObjectWrap<IrqStandIn>(info) {
  RequireConstructToken(info, kClassName);
  info.This().As<Napi::Object>().TypeTag(&kTypeTag);
}

IrqStandIn::~IrqStandIn() { CloseNow(false); }

Napi::Value IrqStandIn::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t vectors = info[0].IsUndefined() ? 1 : ArgU32(info, 0, "vectors", kMaxVectors);
  if (vectors == 0) ThrowRange(env, "vectors must be at least 1");
  IrqRuntime* rt = IrqTable::RuntimeOf(env);
  auto* cls = static_cast<Napi::FunctionReference*>(info.Data());
  Napi::Object obj;
  IrqStandIn* self = Construct<IrqStandIn>(env, *cls, &obj, [] {});
  self->rt_ = rt;
  self->vectors_ = vectors;
  self->table_ = std::make_unique<IrqTable>(rt);
  IrqTable::AddOwner(rt, self);
  return obj;
}

IrqHost IrqStandIn::Host() const { return IrqHost{table_.get(), closed_, name_, "the irq stand-in"}; }

void IrqStandIn::CloseNow(bool notify) noexcept {
  if (closed_) return;
  closed_ = true;
  // The raiser writes the eventfd: it stops before the descriptor closes.
  if (raiser_) raiser_->Stop();
  if (table_) table_->CloseAll(-1, notify);
  table_.reset();
  if (rt_) IrqTable::RemoveOwner(rt_, this);
  rt_ = nullptr;
}

void IrqStandIn::CloseIrqsAtTeardown() noexcept { CloseNow(false); }

// irqInfo(index): one index, MSI's, with `vectors` vectors, as vfio-pci reports MSI.
Napi::Value IrqStandIn::IrqInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t index = ArgU32(info, 0, "index");
  if (index != kIndex) {
    ThrowErrno(env, EINVAL, "irq stand-in (GET_IRQ_INFO)", IrqArgs(env, name_, index, 0, 0), "the stand-in has one IRQ index: msi (1)");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("index", Napi::Number::New(env, index));
  out.Set("flags", Napi::Number::New(env, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE));
  out.Set("count", Napi::Number::New(env, vectors_));
  return out;
}

// irqEnable(index, count, onEvent, onClose): the device's, with eventfds made here instead of handed to SET_IRQS.
Napi::Value IrqStandIn::Enable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t index = ArgU32(info, 0, "index");
  uint32_t count = ArgU32(info, 1, "count");
  if (!info[2].IsFunction() || !info[3].IsFunction()) ThrowType(env, "onEvent and onClose must be functions");
  if (count == 0) ThrowRange(env, "count must be at least 1");
  if (closed_) ThrowClosed(env, kOp, "the irq stand-in");
  if (index != kIndex || count > vectors_) {
    std::string hint = "the stand-in has " + std::to_string(vectors_) + " msi vector(s) at index 1";
    ThrowErrno(env, EINVAL, kOp, IrqArgs(env, name_, index, 0, count), hint.c_str());
  }
  if (table_->Enabled(index)) ThrowErrno(env, EBUSY, kOp, IrqArgs(env, name_, index, 0, count), "msi is already enabled on the stand-in: disable() it first");
  std::vector<int32_t> fds;
  uint32_t failed = 0;
  if (int err = IrqTable::MakeEventfds(count, &fds, &failed)) ThrowErrno(env, err, "eventfd", IrqArgs(env, name_, index, failed, 1));
  if (int rc = table_->Attach(index, fds, info[2].As<Napi::Function>(), info[3].As<Napi::Function>(), &failed)) {
    ThrowErrno(env, -rc, "uv_poll_start", IrqArgs(env, name_, index, failed, 1), uv_strerror(rc));
  }
  return env.Undefined();
}

// irqDisable(index, vector?): the device's, with no kernel side. A raiser on it stops first.
Napi::Value IrqStandIn::Disable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t index = ArgU32(info, 0, "index");
  bool one = !info[1].IsUndefined();
  uint32_t vector = one ? ArgU32(info, 1, "vector") : 0;
  if (!table_) return env.Undefined();
  IrqTable::Drop drop = table_->DisablePlan(index, one, vector);
  if (drop != IrqTable::Drop::kNone && raiser_) raiser_->Stop();
  if (drop == IrqTable::Drop::kVector) table_->DropVector(index, vector);
  if (drop == IrqTable::Drop::kIndex) table_->DropIndex(index);
  return env.Undefined();
}

// irqAction(index, vector, action): trigger writes the eventfd (the kernel's
// loopback signals it); mask and unmask are refused as the kernel refuses them for MSI.
Napi::Value IrqStandIn::Action(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t index = ArgU32(info, 0, "index");
  uint32_t vector = ArgU32(info, 1, "vector");
  uint32_t action = ArgU32(info, 2, "action", 2);
  if (closed_) ThrowClosed(env, kOp, "the irq stand-in");
  int efd = table_->Eventfd(index, vector);
  if (efd < 0) ThrowErrno(env, EBADF, kOp, IrqArgs(env, name_, index, vector, 1), "the vector is not enabled (disabled, or never enabled)");
  if (action < 2) ThrowErrno(env, ENOTTY, kOp, IrqArgs(env, name_, index, vector, 1), "the kernel cannot mask MSI or MSI-X vectors (only INTx)");
  const uint64_t one = 1;
  if (write(efd, &one, sizeof one) != sizeof one) ThrowErrno(env, errno, kWriteOp, IrqArgs(env, name_, index, vector, 1));
  return env.Undefined();
}

Napi::Value IrqStandIn::Poll(const Napi::CallbackInfo& info) { return IrqPollOn(info, Host()); }

Napi::Value IrqStandIn::Ref(const Napi::CallbackInfo& info) { return IrqRefOn(info, Host()); }

// startRaiser(index, vector, events, gapMinNs, gapMaxNs, seed, raiserCpu?): the raiser on that vector's eventfd.
Napi::Value IrqStandIn::StartRaiser(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t index = ArgU32(info, 0, "index");
  uint32_t vector = ArgU32(info, 1, "vector");
  RaiseSpec spec = ArgRaise(info, 2);
  if (closed_) ThrowClosed(env, "startRaiser", "the irq stand-in");
  int efd = table_->Eventfd(index, vector);
  if (efd < 0) ThrowErrno(env, EBADF, "startRaiser", IrqArgs(env, name_, index, vector, 1), "the vector is not enabled");
  if (raiser_) ThrowErrno(env, EBUSY, "startRaiser", IrqArgs(env, name_, index, vector, 1), "a raiser already ran on this stand-in: stopRaiser() first");
  raiser_ = std::make_unique<Raiser>(efd, spec);
  return env.Undefined();
}

// ack(): the waiter has event i; the raiser may write event i + 1.
Napi::Value IrqStandIn::Ack(const Napi::CallbackInfo& info) {
  if (raiser_) raiser_->Ack();
  return info.Env().Undefined();
}

// stopRaiser() -> BigInt64Array: joins the raiser; CLOCK_MONOTONIC ns before each write it made.
Napi::Value IrqStandIn::StopRaiser(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!raiser_) ThrowErrno(env, ESRCH, "stopRaiser", Napi::Object::New(env), "no raiser was started");
  std::unique_ptr<Raiser> r = std::move(raiser_);
  r->Stop();
  if (r->Error() != 0) ThrowErrno(env, r->Error(), kWriteOp, Napi::Object::New(env));
  uint32_t n = r->Raised();
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, n * sizeof(int64_t));
  auto* p = static_cast<int64_t*>(ab.Data());
  for (uint32_t i = 0; i < n; i++) p[i] = r->Stamps()[i];
  return Napi::BigInt64Array::New(env, n, ab, 0);
}

Napi::Value IrqStandIn::Close(const Napi::CallbackInfo& info) {
  CloseNow(true);
  return info.Env().Undefined();
}

Napi::Value IrqStandIn::GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), closed_); }

void InitIrqStandIn(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineTaggedClass<IrqStandIn>(env, IrqStandIn::kClassName, {
      Method<IrqStandIn, &IrqStandIn::IrqInfo>(env, "irqInfo"),
      Method<IrqStandIn, &IrqStandIn::Enable>(env, "irqEnable"),
      Method<IrqStandIn, &IrqStandIn::Disable>(env, "irqDisable"),
      Method<IrqStandIn, &IrqStandIn::Action>(env, "irqAction"),
      Method<IrqStandIn, &IrqStandIn::Poll>(env, "irqPoll"),
      Method<IrqStandIn, &IrqStandIn::Ref>(env, "irqRef"),
      Method<IrqStandIn, &IrqStandIn::StartRaiser>(env, "startRaiser"),
      Method<IrqStandIn, &IrqStandIn::Ack>(env, "ack"),
      Method<IrqStandIn, &IrqStandIn::StopRaiser>(env, "stopRaiser"),
      Method<IrqStandIn, &IrqStandIn::Close>(env, "close"),
      Getter<IrqStandIn, &IrqStandIn::GetClosed>("closed"),
  });
  // The class lives as long as the environment (the reference goes in its cleanup hook).
  auto* cls = new Napi::FunctionReference(Napi::Persistent(ctor));
  env.AddCleanupHook([](Napi::FunctionReference* r) { delete r; }, cls);
  exports.Set("openIrqStandIn", Napi::Function::New(env, IrqStandIn::Open, "openIrqStandIn", cls));
  exports.Set("irqFloor", Napi::Function::New<IrqFloor>(env, "irqFloor"));
  exports.Set("threadCpus", Napi::Function::New<ThreadCpus>(env, "threadCpus"));
}

}  // namespace vfio
