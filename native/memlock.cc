#include "memlock.h"

#include <sys/resource.h>

#include <cerrno>

#include "errors.h"

namespace vfio {

Napi::Value MemlockLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rlimit r{};
  if (getrlimit(RLIMIT_MEMLOCK, &r) != 0) ThrowErrno(env, errno, "getrlimit RLIMIT_MEMLOCK", Napi::Object::New(env));
  if (r.rlim_cur == RLIM_INFINITY) return env.Null();
  return Napi::BigInt::New(env, static_cast<uint64_t>(r.rlim_cur));
}

}  // namespace vfio
