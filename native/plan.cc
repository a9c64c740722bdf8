#include "plan.h"

#include <cstring>
#include <string>

#include "addon_data.h"
#include "args.h"
#include "dma_buffer.h"
#include "fail_nth.h"

namespace vfio {
namespace {

constexpr uint64_t kProtMask = 1 | 2;  // PROT_READ | PROT_WRITE

}  // namespace

Napi::Value ExecutePlan(const Napi::CallbackInfo& info, PlanTarget& target) {
  Napi::Env env = info.Env();
  std::string op = ArgString(info, 0, "op");
  bool isMap = op == "map";
  if (!isMap && op != "unmap") ThrowType(env, "op must be 'map' or 'unmap'");
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array) {
    ThrowType(env, "plan must be a BigUint64Array");
  }
  Napi::BigUint64Array plan = info[1].As<Napi::BigUint64Array>();
  size_t words = plan.ElementLength();
  if (words % kPlanStride != 0) ThrowRange(env, "plan length must be a multiple of PLAN_STRIDE (4)");
  size_t entries = words / kPlanStride;
  const uint64_t* w = plan.Data();
  if (isMap) {
    for (size_t i = 0; i < entries; i++) {
      if (w[i * kPlanStride + 3] & ~kProtMask) {
        ThrowRange(env, "plan entry " + std::to_string(i) + ": flags may only hold PROT_READ | PROT_WRITE");
      }
    }
  }
  AddonData* data = AddonData::Of(env);

  // The times go straight into the result; it is cut to the entries
  // attempted afterwards, and only when the plan stopped early.
  Napi::Float64Array nsOut = Napi::Float64Array::New(env, entries);
  double* ns = entries ? nsOut.Data() : nullptr;
  size_t attempted = 0;
  size_t completed = 0;
  int64_t failedIndex = -1;
  int err = 0;
  uint64_t unmapped = 0;
  int wrapErrno = target.WrapErrno();
  Books& books = target.books();
  {
    // Test hook (armFailNth, fail_nth.h): inert unless armed; spans exactly this loop.
    FailNthScope failNth;
    for (size_t i = 0; i < entries; i++) {
      const uint64_t* e = w + i * kPlanStride;
      uint64_t vaddr = e[0], iova = e[1], size = e[2];
      attempted++;
      if (wrapErrno != 0 && (RangeWraps(iova, size) || (isMap && RangeWraps(vaddr, size)))) {
        ns[i] = 0;
        failedIndex = static_cast<int64_t>(i);
        err = wrapErrno;
        break;
      }
      uint64_t gone = 0;
      err = isMap ? target.MapEntry(vaddr, iova, size, static_cast<uint32_t>(e[3]), &ns[i])
                  : target.UnmapEntry(iova, size, &gone, &ns[i]);
      if (err != 0) {
        failedIndex = static_cast<int64_t>(i);
        if (!isMap) books.UnmapFailed(iova, size, err);
        break;
      }
      completed++;
      unmapped += gone;
      // Bookkeeping stays outside the timed window.
      if (isMap) {
        books.Mapped(iova, size, data->BuffersOverlapping(vaddr, size));
      } else {
        books.Unmapped(iova, size);
      }
    }
  }

  if (attempted < entries) {
    Napi::Float64Array cut = Napi::Float64Array::New(env, attempted);
    if (attempted) std::memcpy(cut.Data(), ns, attempted * sizeof(double));
    nsOut = cut;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("ns", nsOut);
  out.Set("completed", Napi::Number::New(env, static_cast<double>(completed)));
  out.Set("failedIndex", Napi::Number::New(env, static_cast<double>(failedIndex)));
  out.Set("errno", Napi::Number::New(env, err));
  out.Set("unmapped", Napi::BigInt::New(env, unmapped));
  return out;
}

}  // namespace vfio
