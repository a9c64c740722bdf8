#include "plan.h"

#include <cstring>
#include <string>
#include <vector>

#include "addon_data.h"
#include "args.h"
#include "dma_buffer.h"
#include "fail_nth.h"

namespace vfio {
namespace {

constexpr uint64_t kProtMask = 1 | 2;  // PROT_READ | PROT_WRITE
// runPlanCycles: enough for any benchmark, small enough that the result arrays stay modest.
constexpr uint32_t kMaxCycles = 1u << 24;

// The plan argument, checked: a BigUint64Array of whole entries, and for a
// map plan, flags that hold only PROT_READ | PROT_WRITE (all checked before
// any is executed).
struct PlanArg {
  const uint64_t* words;
  size_t entries;
};

// A typed array of one type: its data and length from a single
// napi_get_typedarray_info (Napi::TypedArrayOf asks two or three times, and
// each ask with a data pointer goes through ArrayBufferView::Buffer).
template <class T>
T* ArgTyped(const Napi::CallbackInfo& info, size_t index, napi_typedarray_type want, const std::string& what,
            size_t* length) {
  napi_env env = info.Env();
  napi_value v = info[index];
  bool typed = false;
  napi_typedarray_type type = napi_int8_array;
  void* data = nullptr;
  if (napi_is_typedarray(env, v, &typed) != napi_ok || !typed ||
      napi_get_typedarray_info(env, v, &type, length, &data, nullptr, nullptr) != napi_ok || type != want) {
    ThrowType(info.Env(), what);
  }
  return static_cast<T*>(data);
}

PlanArg ArgPlan(const Napi::CallbackInfo& info, size_t index, bool isMap) {
  Napi::Env env = info.Env();
  size_t words = 0;
  const uint64_t* data = ArgTyped<const uint64_t>(info, index, napi_biguint64_array, "plan must be a BigUint64Array", &words);
  if (words % kPlanStride != 0) ThrowRange(env, "plan length must be a multiple of PLAN_STRIDE (4)");
  PlanArg p{data, words / kPlanStride};
  if (isMap) {
    for (size_t i = 0; i < p.entries; i++) {
      if (p.words[i * kPlanStride + 3] & ~kProtMask) {
        ThrowRange(env, "plan entry " + std::to_string(i) + ": flags may only hold PROT_READ | PROT_WRITE");
      }
    }
  }
  return p;
}

// How one pass over the entries ended.
struct Pass {
  size_t attempted = 0;  // completed, plus the failed one
  size_t completed = 0;
  int64_t failedIndex = -1;
  int err = 0;
  uint64_t unmapped = 0;
};

// One pass: entry i's ioctl time goes to ns[i] (0 for a wrapping entry
// refused without a system call). Stops at the first failure, without
// unwinding; the books follow every entry the kernel acted on.
Pass RunPass(PlanTarget& target, AddonData* data, const PlanArg& plan, bool isMap, double* ns) {
  Pass p;
  int wrapErrno = target.WrapErrno();
  Books& books = target.books();
  for (size_t i = 0; i < plan.entries; i++) {
    const uint64_t* e = plan.words + i * kPlanStride;
    uint64_t vaddr = e[0], iova = e[1], size = e[2];
    p.attempted++;
    if (wrapErrno != 0 && (RangeWraps(iova, size) || (isMap && RangeWraps(vaddr, size)))) {
      ns[i] = 0;
      p.failedIndex = static_cast<int64_t>(i);
      p.err = wrapErrno;
      break;
    }
    uint64_t gone = 0;
    p.err = isMap ? target.MapEntry(vaddr, iova, size, static_cast<uint32_t>(e[3]), &ns[i])
                  : target.UnmapEntry(iova, size, &gone, &ns[i]);
    if (p.err != 0) {
      p.failedIndex = static_cast<int64_t>(i);
      if (!isMap) books.UnmapFailed(iova, size, p.err);
      break;
    }
    p.completed++;
    p.unmapped += gone;
    // Bookkeeping stays outside the timed window.
    if (isMap) {
      books.Mapped(iova, size, data->BuffersOverlapping(vaddr, size));
    } else {
      books.Unmapped(iova, size);
    }
  }
  return p;
}

// arr cut to its first n elements: a new array only when n is shorter.
Napi::Float64Array Cut(Napi::Env env, Napi::Float64Array arr, size_t n) {
  if (n == arr.ElementLength()) return arr;
  Napi::Float64Array cut = Napi::Float64Array::New(env, n);
  if (n) std::memcpy(cut.Data(), arr.Data(), n * sizeof(double));
  return cut;
}

}  // namespace

Napi::Value ExecutePlan(const Napi::CallbackInfo& info, PlanTarget& target) {
  Napi::Env env = info.Env();
  std::string op = ArgString(info, 0, "op");
  bool isMap = op == "map";
  if (!isMap && op != "unmap") ThrowType(env, "op must be 'map' or 'unmap'");
  PlanArg plan = ArgPlan(info, 1, isMap);
  AddonData* data = AddonData::Of(env);

  // The times go straight into the result; it is cut to the entries
  // attempted afterwards, and only when the plan stopped early.
  Napi::Float64Array nsOut = Napi::Float64Array::New(env, plan.entries);
  Pass p;
  {
    // Test hook (armFailNth, fail_nth.h): inert unless armed; spans exactly this loop.
    FailNthScope failNth;
    p = RunPass(target, data, plan, isMap, plan.entries ? nsOut.Data() : nullptr);
  }

  Napi::Object out = Napi::Object::New(env);
  out.Set("ns", Cut(env, nsOut, p.attempted));
  out.Set("completed", Napi::Number::New(env, static_cast<double>(p.completed)));
  out.Set("failedIndex", Napi::Number::New(env, static_cast<double>(p.failedIndex)));
  out.Set("errno", Napi::Number::New(env, p.err));
  out.Set("unmapped", Napi::BigInt::New(env, p.unmapped));
  return out;
}

namespace {

// A Float64Array argument of at least `min` elements, as a pointer to its data.
double* ArgF64Out(const Napi::CallbackInfo& info, size_t index, const char* name, size_t min) {
  size_t length = 0;
  double* data = ArgTyped<double>(info, index, napi_float64_array, std::string(name) + " must be a Float64Array", &length);
  if (length < min) ThrowRange(info.Env(), std::string(name) + " must have at least " + std::to_string(min) + " elements");
  return data;
}

}  // namespace

Napi::Value ExecutePlanInto(const Napi::CallbackInfo& info, PlanTarget& target) {
  Napi::Env env = info.Env();
  std::string op = ArgString(info, 0, "op");
  bool isMap = op == "map";
  if (!isMap && op != "unmap") ThrowType(env, "op must be 'map' or 'unmap'");
  PlanArg plan = ArgPlan(info, 1, isMap);
  double* ns = ArgF64Out(info, 2, "ns", plan.entries);
  double* status = ArgF64Out(info, 3, "status", 4);
  Pass p;
  {
    FailNthScope failNth;  // as in ExecutePlan
    p = RunPass(target, AddonData::Of(env), plan, isMap, ns);
  }
  status[0] = static_cast<double>(p.completed);
  status[1] = static_cast<double>(p.failedIndex);
  status[2] = p.err;
  status[3] = static_cast<double>(p.attempted);
  return Napi::BigInt::New(env, p.unmapped);
}

Napi::Value ExecutePlanCycles(const Napi::CallbackInfo& info, PlanTarget& target) {
  Napi::Env env = info.Env();
  PlanArg plan = ArgPlan(info, 0, true);
  uint32_t reps = ArgU32(info, 1, "reps", kMaxCycles);
  if (reps == 0) ThrowRange(env, "reps must be at least 1");
  AddonData* data = AddonData::Of(env);

  Napi::Float64Array mapOut = Napi::Float64Array::New(env, reps);
  Napi::Float64Array unmapOut = Napi::Float64Array::New(env, reps);
  double* mapNs = mapOut.Data();
  double* unmapNs = unmapOut.Data();
  // Per-entry times of the pass under way, summed into the rep's figure.
  std::vector<double> ns(plan.entries);
  uint32_t completed = 0;
  Pass p;
  const char* failedOp = nullptr;
  {
    FailNthScope failNth;  // as in ExecutePlan
    for (uint32_t r = 0; r < reps; r++) {
      p = RunPass(target, data, plan, true, ns.data());
      double sum = 0;
      for (size_t i = 0; i < p.attempted; i++) sum += ns[i];
      mapNs[r] = sum;
      if (p.err != 0) {
        failedOp = "map";
        break;
      }
      p = RunPass(target, data, plan, false, ns.data());
      sum = 0;
      for (size_t i = 0; i < p.attempted; i++) sum += ns[i];
      unmapNs[r] = sum;
      if (p.err != 0) {
        failedOp = "unmap";
        break;
      }
      completed++;
    }
  }

  Napi::Object out = Napi::Object::New(env);
  out.Set("mapNs", Cut(env, mapOut, completed));
  out.Set("unmapNs", Cut(env, unmapOut, completed));
  out.Set("completed", Napi::Number::New(env, completed));
  out.Set("failedOp", failedOp ? Napi::String::New(env, failedOp) : env.Null());
  out.Set("failedIndex", Napi::Number::New(env, static_cast<double>(failedOp ? p.failedIndex : -1)));
  out.Set("errno", Napi::Number::New(env, failedOp ? p.err : 0));
  return out;
}

}  // namespace vfio
