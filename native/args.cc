#include "args.h"

#include <cmath>

namespace vfio {

void ThrowType(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

void ThrowRange(Napi::Env env, const std::string& message) {
  throw Napi::RangeError::New(env, message);
}

uint64_t ArgU64(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = info[index];
  if (!v.IsBigInt()) ThrowType(info.Env(), std::string(name) + " must be a bigint");
  bool lossless = false;
  uint64_t out = v.As<Napi::BigInt>().Uint64Value(&lossless);
  // napi reports a negative value or one of 2^64 and above as lossy.
  if (!lossless) ThrowRange(info.Env(), std::string(name) + " must be in [0, 2^64)");
  return out;
}

uint32_t ArgU32(const Napi::CallbackInfo& info, size_t index, const char* name, uint32_t max) {
  Napi::Value v = info[index];
  if (!v.IsNumber()) ThrowType(info.Env(), std::string(name) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < 0 || d > static_cast<double>(max)) {
    ThrowRange(info.Env(), std::string(name) + " must be an integer in [0, " + std::to_string(max) + "]");
  }
  return static_cast<uint32_t>(d);
}

std::string ArgString(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = info[index];
  if (!v.IsString()) ThrowType(info.Env(), std::string(name) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

bool ArgBool(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = info[index];
  if (!v.IsBoolean()) ThrowType(info.Env(), std::string(name) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

}  // namespace vfio
