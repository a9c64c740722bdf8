// What the three DMA spaces' N-API objects (Container, Ioas, OverheadSpace)
// do alike, once: each is a PlanTarget of the one executor whose JS object a
// running plan job holds, and each prototype has the same spaceCalls(),
// runPlanCycles(), closed and trackedMappings. T is the wrapped class (CRTP):
// it has closed() and a RequireOpen(env, op) that throws its own "closed".
#pragma once

#include <napi.h>

#include "plan.h"
#include "wrap.h"

namespace vfio {

template <class T>
class SpaceObject : public Napi::ObjectWrap<T>, public PlanTarget {
 public:
  bool Closed() const override { return self().closed(); }
  void HoldObject() noexcept override { PinQuiet<T>(this); }
  void ReleaseObject() noexcept override { UnpinQuiet<T>(this); }

 protected:
  SpaceObject(const Napi::CallbackInfo& info, UnmapRule rule) : Napi::ObjectWrap<T>(info), PlanTarget(rule) {}

  // The prototype members every space has (tag-checked like every method).
  static Napi::PropertyDescriptor SpaceCallsMethod(Napi::Env env) {
    return Napi::PropertyDescriptor::Value("spaceCalls", Napi::Function::New<&SpaceCallsOf>(env, "spaceCalls"),
                                           napi_default_method);
  }
  static Napi::PropertyDescriptor RunPlanCyclesMethod(Napi::Env env) {
    return Napi::PropertyDescriptor::Value("runPlanCycles", Napi::Function::New<&RunPlanCyclesOf>(env, "runPlanCycles"),
                                           napi_default_method);
  }
  static Napi::PropertyDescriptor ClosedGetter() {
    return Napi::PropertyDescriptor::Accessor<&ClosedOf>("closed", napi_configurable);
  }
  static Napi::PropertyDescriptor TrackedMappingsGetter() {
    return Napi::PropertyDescriptor::Accessor<&TrackedMappingsOf>("trackedMappings", napi_configurable);
  }

 private:
  const T& self() const { return static_cast<const T&>(*this); }

  // spaceCalls(): the hot calls bound to this space (space_calls.h).
  static Napi::Value SpaceCallsOf(const Napi::CallbackInfo& info) {
    return UnwrapThis<T>(info)->TakeSpaceCalls(info.Env());
  }
  // runPlanCycles(plan, reps): the executor with no JS between repetitions.
  static Napi::Value RunPlanCyclesOf(const Napi::CallbackInfo& info) {
    T* t = UnwrapThis<T>(info);
    t->RequireOpen(info.Env(), "plan");
    return ExecutePlanCycles(info, *t);
  }
  static Napi::Value ClosedOf(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), UnwrapThis<T>(info)->closed());
  }
  // Mappings the books hold (tests read it to see that nothing was left behind).
  static Napi::Value TrackedMappingsOf(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(UnwrapThis<T>(info)->books().size()));
  }
};

}  // namespace vfio
