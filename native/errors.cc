#include "errors.h"

#include <cerrno>
#include <string>

#include "addon_data.h"
#include "args.h"

namespace vfio {
namespace {

// Only for the bare-addon fallback; lib/errors.ts owns the full table.
const char* CodeOf(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case E2BIG: return "E2BIG";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case ENOTTY: return "ENOTTY";
    case ENOSPC: return "ENOSPC";
    case ERANGE: return "ERANGE";
    case EOVERFLOW: return "EOVERFLOW";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: return nullptr;
  }
}

}  // namespace

Napi::Object ErrorArgs(Napi::Env env, std::initializer_list<ErrorArg> args) {
  Napi::Object out = Napi::Object::New(env);
  for (const auto& [name, value] : args) out.Set(name, value);
  return out;
}

Napi::Value MakeErrnoError(Napi::Env env, int err, const char* op, Napi::Object args,
                           const char* hint) {
  AddonData* data = AddonData::Of(env);
  Napi::Value hintValue = hint ? Napi::String::New(env, hint) : env.Undefined();
  if (data && !data->errorFactory.IsEmpty()) {
    Napi::Value made = data->errorFactory.Call(
        {Napi::Number::New(env, err), Napi::String::New(env, op), args, hintValue});
    if (made.IsObject()) return made;
  }
  const char* code = CodeOf(err);
  std::string codeStr = code ? code : "E" + std::to_string(err);
  Napi::Error e = Napi::Error::New(env, std::string(op) + " failed: " + codeStr + " (errno " +
                                            std::to_string(err) + ")" + (hint ? std::string(": ") + hint : ""));
  Napi::Object obj = e.Value();
  obj.Set("errno", Napi::Number::New(env, err));
  obj.Set("code", Napi::String::New(env, codeStr));
  obj.Set("op", Napi::String::New(env, op));
  obj.Set("args", args);
  obj.Set("hint", hintValue);
  return obj;
}

void ThrowErrno(Napi::Env env, int err, const char* op, Napi::Object args, const char* hint) {
  throw Napi::Error(env, MakeErrnoError(env, err, op, args, hint));
}

void ThrowClosed(Napi::Env env, const char* op, const char* what) {
  std::string hint = std::string(what) + " is closed";
  ThrowErrno(env, EBADF, op, Napi::Object::New(env), hint.c_str());
}

void ThrowBusy(Napi::Env env, const char* op) {
  ThrowErrno(env, EBUSY, op, Napi::Object::New(env), "a plan is running on this space (runPlanAsync): await it, or abort it");
}

Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) ThrowType(info.Env(), "factory must be a function");
  AddonData::Of(info.Env())->errorFactory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

}  // namespace vfio
