// Module entry: per-environment data, the classes, the factory functions, and
// the teardown hook that closes whatever JS left open (workers included).
#include <napi.h>
#include <uapi_version.h>

#include <string>

#include "addon_data.h"
#include "container.h"
#include "device.h"
#include "dma_buffer.h"
#include "errors.h"
#include "fail_nth.h"
#include "group.h"
#include "iommufd_test_access.h"
#include "ioas.h"
#include "iommufd.h"
#include "irq.h"
#include "memlock.h"
#include "overhead_irq.h"
#include "overhead_space.h"
#include "plan.h"
#include "wrap.h"

namespace vfio {
namespace {

// Its address is the token; no JS value can forge it.
char constructToken;

void TearDown(AddonData* data) {
  // Cleanup hooks run outside any JS call: closing views needs handles.
  Napi::HandleScope scope(Napi::Env(data->env));
  IrqTeardown(data);  // no JS may run from here on
  data->CloseAll();
  data->errorFactory.Reset();
  data->containerClass.Reset();
  data->groupClass.Reset();
  data->deviceClass.Reset();
  data->bufferClass.Reset();
  data->iommufdClass.Reset();
  data->ioasClass.Reset();
  data->overheadClass.Reset();
}

// linux/vfio.h and linux/iommufd.h come from native/uapi (vendored), not from
// the build host's linux/version.h.
std::string UapiVersion() { return NODE_VFIO_UAPI_VERSION; }

}  // namespace

Napi::Value ConstructToken(Napi::Env env) { return Napi::External<char>::New(env, &constructToken); }

void RequireConstructToken(const Napi::CallbackInfo& info, const char* className) {
  if (!info[0].IsExternal() || info[0].As<Napi::External<char>>().Data() != &constructToken) {
    ThrowType(info.Env(), std::string("Illegal constructor: ") + className + " objects come from the addon's open/alloc functions");
  }
}

BufferList<DmaBuffer> AddonData::BuffersOverlapping(uint64_t vaddr, uint64_t size) const {
  BufferList<DmaBuffer> out;
  if (size == 0) return out;
  uint64_t last = vaddr + (size - 1);
  auto it = buffers.upper_bound(vaddr);
  if (it != buffers.begin()) --it;
  for (; it != buffers.end() && it->first <= last; ++it) {
    DmaBuffer* b = it->second;
    if (b->vaddr() + (b->size() - 1) >= vaddr) out.push_back(b);
  }
  return out;
}

void AddonData::CloseAll() noexcept {
  // Containers first: each unmaps, then closes its groups' devices and
  // unsets the groups, releasing buffer pins; then whatever is left.
  for (Container* c : std::vector<Container*>(containers.begin(), containers.end())) c->CloseNow();
  // Each iommufd closes its bound devices, then its IOASes (detach, unmap all, destroy).
  for (Iommufd* i : std::vector<Iommufd*>(iommufds.begin(), iommufds.end())) i->CloseNow();
  for (Device* d : std::vector<Device*>(devices.begin(), devices.end())) d->CloseNow();
  for (Group* g : std::vector<Group*>(groups.begin(), groups.end())) g->CloseNow();
  // Overhead spaces release their buffer pins before the buffers close.
  for (OverheadSpace* o : std::vector<OverheadSpace*>(overheadSpaces.begin(), overheadSpaces.end())) o->CloseNow();
  std::vector<DmaBuffer*> open;
  for (auto& [vaddr, b] : buffers) open.push_back(b);
  for (DmaBuffer* b : open) b->CloseNow();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->env = env;
  env.SetInstanceData<AddonData>(data);
  env.AddCleanupHook(TearDown, data);

  Container::Init(env, data);
  Group::Init(env, data);
  Device::Init(env, data);
  DmaBuffer::Init(env, data);
  Iommufd::Init(env, data);
  Ioas::Init(env, data);
  OverheadSpace::Init(env, data);

  exports.Set("setErrorFactory", Napi::Function::New<SetErrorFactory>(env, "setErrorFactory"));
  exports.Set("openContainer", Napi::Function::New<Container::Open>(env, "openContainer"));
  exports.Set("openGroup", Napi::Function::New<Group::Open>(env, "openGroup"));
  exports.Set("openIommufd", Napi::Function::New<Iommufd::Open>(env, "openIommufd"));
  exports.Set("openDeviceCdev", Napi::Function::New<Device::OpenCdev>(env, "openDeviceCdev"));
  exports.Set("allocBuffer", Napi::Function::New<DmaBuffer::Alloc>(env, "allocBuffer"));
  exports.Set("memlockLimit", Napi::Function::New<MemlockLimit>(env, "memlockLimit"));
  InitKernelPin(env, exports);
  InitFailNth(env, exports);
  InitOverheadFloor(env, exports);
  InitIrqStandIn(env, exports);
  exports.Set("PLAN_STRIDE", Napi::Number::New(env, kPlanStride));
  // Which linux/vfio.h the constants came from (the vendored native/uapi headers).
  exports.Set("uapiVersion", Napi::String::New(env, UapiVersion()));
  return exports;
}

}  // namespace vfio

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return vfio::Init(env, exports); }

NODE_API_MODULE(vfio, InitModule)
