// Argument conversion shared by every wrapped class. Wrong JS types are a
// TypeError, values that do not fit are a RangeError; neither reaches a
// system call.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace vfio {

// A BigInt that fits an unsigned 64-bit value exactly (negative or >= 2^64
// is a RangeError; a Number is a TypeError, so no address is silently rounded).
uint64_t ArgU64(const Napi::CallbackInfo& info, size_t index, const char* name);

// A Number that is an integer in [0, max].
uint32_t ArgU32(const Napi::CallbackInfo& info, size_t index, const char* name,
                uint32_t max = UINT32_MAX);

std::string ArgString(const Napi::CallbackInfo& info, size_t index, const char* name);

bool ArgBool(const Napi::CallbackInfo& info, size_t index, const char* name);

// True when [start, start + size) does not fit in 64 bits. A zero size never
// wraps (the kernel refuses it on its own terms).
inline bool RangeWraps(uint64_t start, uint64_t size) {
  return size != 0 && start > UINT64_MAX - (size - 1);
}

[[noreturn]] void ThrowType(Napi::Env env, const std::string& message);
[[noreturn]] void ThrowRange(Napi::Env env, const std::string& message);

}  // namespace vfio
