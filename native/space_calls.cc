#include "space_calls.h"

#include <cerrno>

#include "addon_data.h"
#include "args.h"
#include "fail_nth.h"
#include "plan.h"
#include "plan_job.h"

namespace vfio {

// What a space's calls share with it: the block, and the space while it lives.
// Held by the space, by each of its functions and by the block's ArrayBuffer;
// the last of them to go deletes it.
class Bond {
 public:
  Bond(PlanTarget* target, AddonData* data) : target_(target), data_(data) {}

  // The space, or null once it closed or went.
  PlanTarget* Open() const { return target_ && !target_->Closed() ? target_ : nullptr; }
  AddonData* data() const { return data_; }
  CallBlock& block() { return block_; }

  void Hold() noexcept { holders_++; }
  void Drop() noexcept {
    if (--holders_ == 0) delete this;
  }
  void Forget() noexcept { target_ = nullptr; }

 private:
  PlanTarget* target_;
  AddonData* data_;
  CallBlock block_{};
  int holders_ = 0;
};

namespace {

void DropBond(napi_env, void*, void* hint) { static_cast<Bond*>(hint)->Drop(); }

Bond* BondOf(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  void* data = nullptr;
  napi_get_cb_info(env, info, argc, argv, nullptr, &data);
  return static_cast<Bond*>(data);
}

napi_value Int(napi_env env, int v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

// The space a call may run on, or null with *refusal set: kClosed, or EBUSY
// while an async plan is in flight (every hot call's first check).
PlanTarget* Ready(napi_env env, Bond* bond, napi_value* refusal) {
  PlanTarget* target = bond->Open();
  if (!target || target->Busy()) *refusal = Int(env, target ? EBUSY : kClosed);
  return target && !target->Busy() ? target : nullptr;
}

// One entry (map) or one range (unmap) from the block, untimed: a direct
// call wants the result, not the figure.
napi_value OneEntry(napi_env env, napi_callback_info info, bool isMap) {
  Bond* bond = BondOf(env, info, nullptr, nullptr);
  napi_value refusal;
  PlanTarget* target = Ready(env, bond, &refusal);
  if (!target) return refusal;
  CallBlock& b = bond->block();
  size_t bad;
  if (isMap && !PlanFlagsValid(b.entry, 1, &bad)) {
    napi_throw_range_error(env, nullptr, "flags may only hold PROT_READ | PROT_WRITE");
    return nullptr;
  }
  PlanPass p = RunPlanPass(*target, bond->data(), b.entry, 1, isMap, nullptr);
  b.unmapped = p.unmapped;
  return Int(env, p.err);
}

napi_value MapCall(napi_env env, napi_callback_info info) { return OneEntry(env, info, true); }
napi_value UnmapCall(napi_env env, napi_callback_info info) { return OneEntry(env, info, false); }

// A typed array argument of one type: false, with a TypeError thrown, if it
// is not one (an empty array's data may be null: that is no failure).
bool Typed(napi_env env, napi_value v, napi_typedarray_type want, void** data, size_t* length, const char* what) {
  napi_typedarray_type type;
  bool typed = false;
  if (napi_is_typedarray(env, v, &typed) != napi_ok || !typed ||
      napi_get_typedarray_info(env, v, &type, length, data, nullptr, nullptr) != napi_ok || type != want) {
    napi_throw_type_error(env, nullptr, what);
    return false;
  }
  return true;
}

// runPlan's arguments (isMap, plan, count, ns), checked for memory safety
// only (shape, room for the entries and their times, the flags' meaning);
// the seam has checked the rest. count says how many of the plan's entries
// to run: JS copies a small plan into a buffer it keeps, so that the addon
// never asks V8 for the data of a fresh small typed array, which V8 keeps on
// its heap and must move out (a malloc, a registry entry, a sweep) the first
// time native code asks: more than mapping the page costs.
struct PlanArgs {
  bool isMap = false;
  const uint64_t* plan = nullptr;
  size_t entries = 0;
  double* ns = nullptr;
};

// The map flags' meaning, checked before any entry runs: false with a RangeError thrown.
bool FlagsChecked(napi_env env, const PlanArgs& a) {
  size_t bad = 0;
  if (!a.isMap || PlanFlagsValid(a.plan, a.entries, &bad)) return true;
  napi_throw_range_error(env, nullptr, "a plan entry's flags may only hold PROT_READ | PROT_WRITE");
  return false;
}

// false: an exception is pending.
bool ArgPlanCall(napi_env env, napi_value* argv, PlanArgs* out) {
  napi_get_value_bool(env, argv[0], &out->isMap);
  size_t words = 0, slots = 0;
  void *planData = nullptr, *nsData = nullptr;
  if (!Typed(env, argv[1], napi_biguint64_array, &planData, &words, "plan must be a BigUint64Array") ||
      !Typed(env, argv[3], napi_float64_array, &nsData, &slots, "ns must be a Float64Array")) {
    return false;
  }
  uint32_t count = 0;
  if (napi_get_value_uint32(env, argv[2], &count) != napi_ok) {
    napi_throw_type_error(env, nullptr, "count must be a number");
    return false;
  }
  out->plan = static_cast<const uint64_t*>(planData);
  out->ns = static_cast<double*>(nsData);
  out->entries = count;
  if (out->entries > words / kPlanStride) {
    napi_throw_range_error(env, nullptr, "count is more entries than the plan holds");
    return false;
  }
  if (slots < out->entries) {
    napi_throw_range_error(env, nullptr, "ns must have a slot per plan entry");
    return false;
  }
  return FlagsChecked(env, *out);
}

// One pass, its outcome in the block's status words.
int RunInto(Bond& bond, PlanTarget& target, const PlanArgs& a) {
  PlanPass p;
  {
    FailNthScope failNth;  // the test hook (fail_nth.h): spans exactly the pass
    p = RunPlanPass(target, bond.data(), a.plan, a.entries, a.isMap, a.ns);
  }
  CallBlock& b = bond.block();
  b.unmapped = p.unmapped;
  b.status[0] = static_cast<double>(p.completed);
  b.status[1] = static_cast<double>(p.failedIndex);
  b.status[2] = p.err;
  b.status[3] = static_cast<double>(p.attempted);
  return p.err;
}

napi_value RunPlanCall(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];  // missing ones read as undefined, and fail the checks
  Bond* bond = BondOf(env, info, &argc, argv);
  napi_value refusal;
  PlanTarget* target = Ready(env, bond, &refusal);
  if (!target) return refusal;
  PlanArgs a;
  if (!ArgPlanCall(env, argv, &a)) return nullptr;
  return Int(env, RunInto(*bond, *target, a));
}

// runSmallPlan(isMap, count): the block's plan, times into the block's ns.
napi_value RunSmallPlanCall(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  Bond* bond = BondOf(env, info, &argc, argv);
  napi_value refusal;
  PlanTarget* target = Ready(env, bond, &refusal);
  if (!target) return refusal;
  CallBlock& b = bond->block();
  PlanArgs a;
  uint32_t count = 0;
  napi_get_value_bool(env, argv[0], &a.isMap);
  if (napi_get_value_uint32(env, argv[1], &count) != napi_ok || count > kBlockPlanEntries) {
    napi_throw_range_error(env, nullptr, "count must be a number of entries the block holds (at most 16)");
    return nullptr;
  }
  a.plan = b.plan;
  a.entries = count;
  a.ns = b.ns;
  if (!FlagsChecked(env, a)) return nullptr;
  return Int(env, RunInto(*bond, *target, a));
}

// runPlanAsync(isMap, plan, count, ns, done(errno)): 0 when started (done is
// called with the entry's errno, or 0, once the results are in the block and
// ns), EBUSY when a plan is already in flight, kClosed. The plan is copied:
// the caller may reuse it at once.
napi_value RunPlanAsyncCall(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  Bond* bond = BondOf(env, info, &argc, argv);
  napi_value refusal;
  PlanTarget* target = Ready(env, bond, &refusal);
  if (!target) return refusal;
  PlanArgs a;
  if (!ArgPlanCall(env, argv, &a)) return nullptr;
  napi_valuetype type;
  if (napi_typeof(env, argv[4], &type) != napi_ok || type != napi_function) {
    napi_throw_type_error(env, nullptr, "done must be a function");
    return nullptr;
  }
  return Int(env, PlanJob::Start(env, target, bond->data(), &bond->block(), a.isMap, a.plan, a.entries, argv[3], argv[4]));
}

// abortPlan(): stops the plan in flight before its next entry (no-op when none).
napi_value AbortPlanCall(napi_env env, napi_callback_info info) {
  Bond* bond = BondOf(env, info, nullptr, nullptr);
  if (PlanTarget* target = bond->Open()) target->AbortJob();
  return nullptr;
}

// A function bound to the bond, which it holds until collected.
Napi::Function Bound(Napi::Env env, const char* name, napi_callback cb, Bond* bond) {
  napi_value fn;
  NAPI_THROW_IF_FAILED(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, bond, &fn), Napi::Function());
  bond->Hold();
  NAPI_THROW_IF_FAILED(env, napi_add_finalizer(env, fn, bond, DropBond, bond, nullptr), Napi::Function());
  return Napi::Function(env, fn);
}

}  // namespace

Napi::Value MakeSpaceCalls(Napi::Env env, PlanTarget* target, AddonData* data, Bond** bond) {
  // One block per space: V8 must not see the same external memory twice.
  if (*bond) ThrowType(env, "spaceCalls() was already taken for this space");
  Bond* b = new Bond(target, data);
  b->Hold();  // the space's hold, dropped by ReleaseBond
  *bond = b;
  b->Hold();  // the ArrayBuffer's, dropped by its finalizer
  Napi::ArrayBuffer block = Napi::ArrayBuffer::New(env, &b->block(), sizeof(CallBlock),
                                                   [](Napi::Env, void*, Bond* held) { held->Drop(); }, b);
  Napi::Object out = Napi::Object::New(env);
  out.Set("block", block);
  out.Set("map", Bound(env, "map", MapCall, b));
  out.Set("unmap", Bound(env, "unmap", UnmapCall, b));
  out.Set("runPlan", Bound(env, "runPlan", RunPlanCall, b));
  out.Set("runSmallPlan", Bound(env, "runSmallPlan", RunSmallPlanCall, b));
  out.Set("runPlanAsync", Bound(env, "runPlanAsync", RunPlanAsyncCall, b));
  out.Set("abortPlan", Bound(env, "abortPlan", AbortPlanCall, b));
  return out;
}

void ReleaseBond(Bond* bond) noexcept {
  if (!bond) return;
  bond->Forget();
  bond->Drop();
}

}  // namespace vfio
