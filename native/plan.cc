#include "plan.h"

#include <cstring>
#include <string>
#include <vector>

#include "addon_data.h"
#include "args.h"
#include "dma_buffer.h"
#include "fail_nth.h"
#include "plan_job.h"
#include "space_calls.h"

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
  size_t bad = 0;
  if (isMap && !PlanFlagsValid(p.words, p.entries, &bad)) {
    ThrowRange(env, "plan entry " + std::to_string(bad) + ": flags may only hold PROT_READ | PROT_WRITE");
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

namespace {

// The buffers a map entry covers, remembering the last buffer that held a
// whole entry: a plan's entries mostly lie in one buffer, one after another,
// and a range inside one buffer overlaps no other (buffers are separate
// mmaps), so the search is skipped. Valid for one pass: no JS runs in it, so
// no buffer opens or closes.
class LastBuffer {
 public:
  BufferList<DmaBuffer> Covering(AddonData* data, uint64_t vaddr, uint64_t size) {
    BufferList<DmaBuffer> out;
    if (last_ && size != 0 && vaddr >= first_ && vaddr - first_ + (size - 1) <= lastOffset_) {
      out.push_back(last_);
      return out;
    }
    out = data->BuffersOverlapping(vaddr, size);
    last_ = nullptr;
    if (out.size() == 1) {
      DmaBuffer* b = *out.begin();
      if (b->vaddr() <= vaddr && vaddr - b->vaddr() + (size - 1) <= b->size() - 1) {
        last_ = b;
        first_ = b->vaddr();
        lastOffset_ = b->size() - 1;
      }
    }
    return out;
  }

 private:
  DmaBuffer* last_ = nullptr;
  uint64_t first_ = 0, lastOffset_ = 0;
};

}  // namespace

int WrapRefusal(int wrapErrno, const uint64_t* e, bool isMap) {
  return wrapErrno != 0 && (RangeWraps(e[1], e[2]) || (isMap && RangeWraps(e[0], e[2]))) ? wrapErrno : 0;
}

bool PlanFlagsValid(const uint64_t* words, size_t entries, size_t* bad) {
  for (size_t i = 0; i < entries; i++) {
    if (words[i * kPlanStride + 3] & ~kProtMask) {
      *bad = i;
      return false;
    }
  }
  return true;
}

PlanPass RunPlanPass(PlanTarget& target, AddonData* data, const uint64_t* words, size_t entries, bool isMap,
                     double* ns) {
  PlanPass p;
  int wrapErrno = target.WrapErrno();
  Books& books = target.books();
  LastBuffer within;
  for (size_t i = 0; i < entries; i++) {
    const uint64_t* e = words + i * kPlanStride;
    uint64_t vaddr = e[0], iova = e[1], size = e[2];
    double* entryNs = ns ? &ns[i] : nullptr;
    p.attempted++;
    if (int refused = WrapRefusal(wrapErrno, e, isMap)) {
      if (entryNs) *entryNs = 0;
      p.failedIndex = static_cast<int64_t>(i);
      p.err = refused;
      break;
    }
    uint64_t gone = 0;
    p.err = isMap ? target.MapEntry(vaddr, iova, size, static_cast<uint32_t>(e[3]), entryNs)
                  : target.UnmapEntry(iova, size, &gone, entryNs);
    if (p.err != 0) {
      p.failedIndex = static_cast<int64_t>(i);
      if (!isMap) books.UnmapFailed(iova, size, p.err);
      break;
    }
    p.completed++;
    p.unmapped += gone;
    // Bookkeeping stays outside the timed window.
    if (isMap) {
      books.Mapped(iova, size, within.Covering(data, vaddr, size));
    } else {
      books.Unmapped(iova, size);
    }
  }
  return p;
}

PlanTarget::~PlanTarget() { ReleaseBond(bond_); }

void PlanTarget::AbortJob() noexcept {
  if (job_) job_->Abort();
}

void PlanTarget::StopJob() noexcept {
  if (job_) job_->AbortAndWait();
}

Napi::Value PlanTarget::TakeSpaceCalls(Napi::Env env) {
  return MakeSpaceCalls(env, this, AddonData::Of(env), &bond_);
}

namespace {

// One repetition of the C reference's loop (scripts/ref/ref.c) in this
// process: every entry mapped, each ioctl timed (an entry whose range wraps
// refused as every pass refuses it: WrapRefusal), then every entry unmapped,
// even after a failure, each timed; nothing else, no books, no buffer
// lookups. No JS runs in it, so no buffer can close while an entry is
// mapped; an entry whose unmap fails stays mapped and goes into the books
// (its buffers pinned, unmapAll() gives it back), so nothing is mapped that
// the books do not know. Returns the pass like RunPlanPass's (attempted is
// the map's); *unmapNs the unmaps' sum.
PlanPass BarePass(PlanTarget& target, AddonData* data, const uint64_t* words, size_t entries, double* mapNs,
                  double* unmapNs, bool* unmapFailed) {
  PlanPass p;
  int wrapErrno = target.WrapErrno();
  *mapNs = *unmapNs = 0;
  *unmapFailed = false;
  for (size_t i = 0; i < entries; i++) {
    const uint64_t* e = words + i * kPlanStride;
    double ns = 0;
    p.attempted++;
    p.err = WrapRefusal(wrapErrno, e, true);
    if (p.err == 0) p.err = target.MapEntry(e[0], e[1], e[2], static_cast<uint32_t>(e[3]), &ns);
    *mapNs += ns;
    if (p.err != 0) {
      p.failedIndex = static_cast<int64_t>(i);
      break;
    }
    p.completed++;
  }
  for (size_t i = 0; i < p.completed; i++) {
    const uint64_t* e = words + i * kPlanStride;
    double ns = 0;
    uint64_t gone = 0;
    int err = target.UnmapEntry(e[1], e[2], &gone, &ns);
    *unmapNs += ns;
    if (err != 0) {
      target.books().Mapped(e[1], e[2], data->BuffersOverlapping(e[0], e[2]));
      if (!*unmapFailed && p.err == 0) {
        p.err = err;
        p.failedIndex = static_cast<int64_t>(i);
      }
      *unmapFailed = true;
    }
  }
  return p;
}

}  // namespace

Napi::Value ExecutePlanCycles(const Napi::CallbackInfo& info, PlanTarget& target) {
  Napi::Env env = info.Env();
  PlanArg plan = ArgPlan(info, 0, true);
  uint32_t reps = ArgU32(info, 1, "reps", kMaxCycles);
  if (reps == 0) ThrowRange(env, "reps must be at least 1");
  bool bare = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  AddonData* data = AddonData::Of(env);

  Napi::Float64Array mapOut = Napi::Float64Array::New(env, reps);
  Napi::Float64Array unmapOut = Napi::Float64Array::New(env, reps);
  double* mapNs = mapOut.Data();
  double* unmapNs = unmapOut.Data();
  uint32_t completed = 0;
  PlanPass p;
  const char* failedOp = nullptr;
  {
    FailNthScope failNth;  // as in ExecutePlan
    if (bare) {
      for (uint32_t r = 0; r < reps; r++) {
        bool unmapFailed = false;
        p = BarePass(target, data, plan.words, plan.entries, &mapNs[r], &unmapNs[r], &unmapFailed);
        if (p.err != 0) {
          failedOp = unmapFailed && p.completed == plan.entries ? "unmap" : "map";
          break;
        }
        completed++;
      }
    } else {
      // Per-entry times of the pass under way, summed into the rep's figure.
      std::vector<double> ns(plan.entries);
      for (uint32_t r = 0; r < reps; r++) {
        p = RunPlanPass(target, data, plan.words, plan.entries, true, ns.data());
        double sum = 0;
        for (size_t i = 0; i < p.attempted; i++) sum += ns[i];
        mapNs[r] = sum;
        if (p.err != 0) {
          failedOp = "map";
          break;
        }
        p = RunPlanPass(target, data, plan.words, plan.entries, false, ns.data());
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
