// Method plumbing shared by the wrapped classes. Every method and getter goes
// through Invoke, which checks the receiver's type tag before unwrapping, so a
// method borrowed onto a foreign object (or another of our classes) is a
// TypeError instead of a misread pointer. Constructors demand a private token:
// only native code creates Containers, Groups, Devices and DmaBuffers.
#pragma once

#include <napi.h>

#include <string>

#include "args.h"

namespace vfio {

// The token native code passes as the first constructor argument.
Napi::Value ConstructToken(Napi::Env env);
void RequireConstructToken(const Napi::CallbackInfo& info, const char* className);

// A new T from its class constructor (cls). What the caller acquired for it
// (a descriptor, a kernel object) is not the T's until this returns, so undo()
// releases it if construction throws.
template <class T, class Undo>
T* Construct(Napi::Env env, const Napi::FunctionReference& cls, Napi::Object* obj, Undo&& undo) {
  try {
    *obj = cls.New({ConstructToken(env)});
  } catch (...) {
    undo();
    throw;
  }
  return T::Unwrap(*obj);
}

template <class T>
T* UnwrapThis(const Napi::CallbackInfo& info) {
  Napi::Value self = info.This();
  if (!self.IsObject() || !self.As<Napi::Object>().CheckTypeTag(&T::kTypeTag)) {
    ThrowType(info.Env(), std::string("receiver is not a ") + T::kClassName);
  }
  return T::Unwrap(self.As<Napi::Object>());
}

template <class T, Napi::Value (T::*M)(const Napi::CallbackInfo&)>
Napi::Value Invoke(const Napi::CallbackInfo& info) {
  return (UnwrapThis<T>(info)->*M)(info);
}

template <class T, Napi::Value (T::*M)(const Napi::CallbackInfo&)>
Napi::PropertyDescriptor Method(Napi::Env env, const char* name) {
  return Napi::PropertyDescriptor::Value(name, Napi::Function::New<Invoke<T, M>>(env, name),
                                         napi_default_method);
}

template <class T, Napi::Value (T::*M)(const Napi::CallbackInfo&)>
Napi::PropertyDescriptor Getter(const char* name) {
  return Napi::PropertyDescriptor::Accessor<Invoke<T, M>>(name, napi_configurable);
}

// The same for a method written as a function of the object, F(self, info):
// a class whose methods are a table in its .cc (Device) declares none of them
// in its header. The receiver is checked exactly as above.
template <class T, Napi::Value (*F)(T&, const Napi::CallbackInfo&)>
Napi::Value InvokeFn(const Napi::CallbackInfo& info) {
  return F(*UnwrapThis<T>(info), info);
}

template <class T, Napi::Value (*F)(T&, const Napi::CallbackInfo&)>
Napi::PropertyDescriptor Method(Napi::Env env, const char* name) {
  return Napi::PropertyDescriptor::Value(name, Napi::Function::New<InvokeFn<T, F>>(env, name),
                                         napi_default_method);
}

template <class T, Napi::Value (*F)(T&, const Napi::CallbackInfo&)>
Napi::PropertyDescriptor Getter(const char* name) {
  return Napi::PropertyDescriptor::Accessor<InvokeFn<T, F>>(name, napi_configurable);
}

// Defines the class with no ObjectWrap-dispatched members, then puts the
// tag-checked methods and getters on its prototype.
template <class T>
Napi::Function DefineTaggedClass(Napi::Env env, const char* name,
                                 std::initializer_list<Napi::PropertyDescriptor> members) {
  Napi::Function ctor =
      T::DefineClass(env, name, std::initializer_list<Napi::ClassPropertyDescriptor<T>>{});
  ctor.Get("prototype").As<Napi::Object>().DefineProperties(members);
  return ctor;
}

// Pins / unpins a wrapped object against GC without throwing (used from close
// paths that also run in finalizers and at environment teardown).
template <class T>
void PinQuiet(Napi::ObjectWrap<T>* w) noexcept {
  uint32_t n;
  napi_reference_ref(w->Env(), static_cast<napi_ref>(*w), &n);
}
template <class T>
void UnpinQuiet(Napi::ObjectWrap<T>* w) noexcept {
  uint32_t n;
  napi_reference_unref(w->Env(), static_cast<napi_ref>(*w), &n);
}

}  // namespace vfio
