// Kernel fault injection for one plan execution: JS arms it with
// armFailNth(n); the next plan executor on this thread writes n to
// /proc/thread-self/fail-nth right before its first ioctl (a FailNthScope),
// and reads back and disarms right after its last, so the n-th fault-injectable
// kernel allocation inside the batch fails and nothing outside it does (no JS,
// no file opening in between). failNthResult() then says whether it fired.
// Kernels without CONFIG_FAULT_INJECTION have no fail-nth file: arming throws.
#pragma once

#include <napi.h>

namespace vfio {

class FailNthScope {
 public:
  FailNthScope() noexcept;
  ~FailNthScope();
  FailNthScope(const FailNthScope&) = delete;
  FailNthScope& operator=(const FailNthScope&) = delete;

 private:
  bool armed_ = false;
};

void InitFailNth(Napi::Env env, Napi::Object exports);

}  // namespace vfio
