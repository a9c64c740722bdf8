// IOMMU_TEST_CMD's mock domain (drivers/iommu/iommufd/selftest.c, needs
// CONFIG_IOMMUFD_TEST; ENOTTY without it): a mock device bound to the context
// whose domain has 2 KiB IO pages and dirty tracking. It lets the HWPT and
// dirty-bitmap ioctls run where no real IOMMU supports them (the emulated
// VT-d has no SSADS). The mock device is an object of the context: it goes
// with IOMMU_DESTROY of its id or with the context.
#include <cerrno>

#include "args.h"
#include "errors.h"
#include "iommufd.h"
#include "kernel/selftest.h"

namespace vfio {
namespace {

Napi::Value Num(Napi::Env env, double v) { return Napi::Number::New(env, v); }

const char* kNoTest = "IOMMU_TEST_CMD needs a kernel with CONFIG_IOMMUFD_TEST";

}  // namespace

// mockDomain(ioasId, devFlags) -> { stdevId, hwptId, idevId } (IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS).
Napi::Value Iommufd::MockDomain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "IOMMU_TEST_OP_MOCK_DOMAIN";
  RequireOpen(env, op);
  uint32_t ioasId = ArgU32(info, 0, "ioasId");
  uint32_t devFlags = ArgU32(info, 1, "devFlags");
  kernel::MockDomainIds ids;
  if (int err = kernel::TestMockDomain(fd_, ioasId, devFlags, &ids)) {
    ThrowErrno(env, err, op, ErrorArgs(env, {{"ioasId", Num(env, ioasId)}}), err == ENOTTY ? kNoTest : nullptr);
  }
  mockDevices_.push_back(ids.stdevId);
  Napi::Object out = Napi::Object::New(env);
  out.Set("stdevId", Num(env, ids.stdevId));
  out.Set("hwptId", Num(env, ids.hwptId));
  out.Set("idevId", Num(env, ids.idevId));
  return out;
}

// mockDomainReplace(stdevId, ptId) -> pt id now attached.
Napi::Value Iommufd::MockDomainReplace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE";
  RequireOpen(env, op);
  uint32_t stdevId = ArgU32(info, 0, "stdevId");
  uint32_t ptId = ArgU32(info, 1, "ptId");
  uint32_t attached = ptId;
  if (int err = kernel::TestMockDomainReplace(fd_, stdevId, &attached)) {
    ThrowErrno(env, err, op, ErrorArgs(env, {{"stdevId", Num(env, stdevId)}, {"ptId", Num(env, ptId)}}),
               err == ENOTTY ? kNoTest : nullptr);
  }
  return Num(env, attached);
}

// mockDirty(hwptId, iova, length, pageSize, bits: BigUint64Array) -> pages newly marked dirty
// (IOMMU_TEST_OP_DIRTY: what a device's DMA would do to the mock's PTEs).
Napi::Value Iommufd::MockDirty(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "IOMMU_TEST_OP_DIRTY";
  RequireOpen(env, op);
  uint32_t hwptId = ArgU32(info, 0, "hwptId");
  uint64_t iova = ArgU64(info, 1, "iova");
  uint64_t length = ArgU64(info, 2, "length");
  uint64_t pageSize = ArgU64(info, 3, "pageSize");
  if (!info[4].IsTypedArray() || info[4].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array) {
    ThrowType(env, "bits must be a BigUint64Array");
  }
  Napi::BigUint64Array bits = info[4].As<Napi::BigUint64Array>();
  if (pageSize == 0) ThrowRange(env, "pageSize must be non-zero");
  uint64_t pages = length / pageSize;
  if (bits.ElementLength() * 64 < pages) ThrowRange(env, "bits holds fewer bits than length / pageSize pages");
  uint64_t nrDirty = 0;
  if (int err = kernel::TestDirty(fd_, hwptId, iova, length, pageSize, bits.Data(), &nrDirty)) {
    ThrowErrno(env, err, op, ErrorArgs(env, {{"hwptId", Num(env, hwptId)}}), err == ENOTTY ? kNoTest : nullptr);
  }
  return Num(env, static_cast<double>(nrDirty));
}

}  // namespace vfio
