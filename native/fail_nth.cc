// See fail_nth.h. The counter lives in the kernel's task (thread), which is
// why arming, the ioctls and the read-back all happen on the calling thread,
// and why the file is opened at arm time: opening allocates kernel memory,
// which would count against n.
#include "fail_nth.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "args.h"
#include "errors.h"

namespace vfio {
namespace {

struct State {
  int fd = -1;        // /proc/thread-self/fail-nth, open while armed
  uint32_t nth = 0;   // 0: not armed
  bool ran = false;   // a plan consumed the arming
  bool fired = false; // the n-th allocation was reached (and failed)
};

thread_local State state;

void CloseFd() {
  if (state.fd >= 0) ::close(state.fd);
  state.fd = -1;
}

// armFailNth(n: number): the next plan execution on this thread fails its n-th
// fault-injectable allocation (n >= 1). Throws ENOENT without fault injection.
Napi::Value Arm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t n = ArgU32(info, 0, "n");
  if (n == 0) ThrowRange(env, "n must be at least 1");
  CloseFd();
  int fd = ::open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    ThrowErrno(env, err, "armFailNth", ErrorArgs(env, {{"n", Napi::Number::New(env, n)}}),
               err == ENOENT ? "no /proc/thread-self/fail-nth: the kernel has no CONFIG_FAULT_INJECTION" : nullptr);
  }
  state = State{fd, n, false, false};
  return env.Undefined();
}

// failNthResult() -> { ran, fired } for the last arming (ran false: no plan ran since).
Napi::Value Result(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("ran", Napi::Boolean::New(env, state.ran));
  out.Set("fired", Napi::Boolean::New(env, state.fired));
  return out;
}

// disarmFailNth(): forget an arming no plan consumed.
Napi::Value Disarm(const Napi::CallbackInfo& info) {
  CloseFd();
  state.nth = 0;
  return info.Env().Undefined();
}

}  // namespace

FailNthScope::FailNthScope() noexcept {
  if (state.nth == 0 || state.fd < 0) return;
  char buf[16];
  int len = std::snprintf(buf, sizeof buf, "%u", state.nth);
  state.nth = 0;  // one plan per arming; the unwind that follows runs clean
  armed_ = ::pwrite(state.fd, buf, static_cast<size_t>(len), 0) == len;
  state.ran = armed_;
}

FailNthScope::~FailNthScope() {
  if (!armed_) return;
  // What is left of the count: "0" once the n-th allocation was reached.
  // Like the kernel's own iommufd_fail_nth selftest, read EFAULT as fired.
  char buf[16] = {0};
  ssize_t r = ::pread(state.fd, buf, sizeof buf - 1, 0);
  state.fired = (r < 0 && errno == EFAULT) || (r > 0 && std::strtoul(buf, nullptr, 10) == 0);
  // Disarm before anything else allocates; a write can itself be refused once
  // (EFAULT), so try twice.
  if (::pwrite(state.fd, "0", 1, 0) != 1) (void)::pwrite(state.fd, "0", 1, 0);
  CloseFd();
}

void InitFailNth(Napi::Env env, Napi::Object exports) {
  exports.Set("armFailNth", Napi::Function::New<Arm>(env, "armFailNth"));
  exports.Set("failNthResult", Napi::Function::New<Result>(env, "failNthResult"));
  exports.Set("disarmFailNth", Napi::Function::New<Disarm>(env, "disarmFailNth"));
}

}  // namespace vfio
