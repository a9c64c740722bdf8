// Failed system calls become VfioErrors. lib/native registers a factory (the
// VfioError constructor behind a function) once per environment; native code
// calls it with (errno, op, args, hint), so JS sees the one error class with the
// same message and hint the simulated backend produces. Without a factory (the
// addon loaded bare) an Error with the same fields is thrown instead.
#pragma once

#include <napi.h>

#include <initializer_list>
#include <utility>

namespace vfio {

using ErrorArg = std::pair<const char*, Napi::Value>;

Napi::Object ErrorArgs(Napi::Env env, std::initializer_list<ErrorArg> args);

// Builds the error without throwing it (the plan executor reports errno as data
// instead, but object constructors need the value form).
Napi::Value MakeErrnoError(Napi::Env env, int err, const char* op, Napi::Object args,
                           const char* hint = nullptr);

[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* op, Napi::Object args,
                             const char* hint = nullptr);

// A method called on an object after close(): the kernel would say EBADF for a
// closed descriptor, and so do we, before any system call.
[[noreturn]] void ThrowClosed(Napi::Env env, const char* op, const char* what);
// EBUSY: an async plan is in flight on the space (plan_job.h).
[[noreturn]] void ThrowBusy(Napi::Env env, const char* op);

// setErrorFactory(fn): JS hands over the function that builds a VfioError.
Napi::Value SetErrorFactory(const Napi::CallbackInfo& info);

}  // namespace vfio
