// IOMMU_TEST_CMD's mock domain (drivers/iommu/iommufd/selftest.c, needs
// CONFIG_IOMMUFD_TEST; ENOTTY without it): a mock device bound to the context
// whose domain has 2 KiB IO pages and dirty tracking. It lets the HWPT and
// dirty-bitmap ioctls run where no real IOMMU supports them (the emulated
// VT-d has no SSADS). The mock device is an object of the context: it goes
// with IOMMU_DESTROY of its id or with the context.
#include <linux/iommufd.h>
#include <iommufd_test.h>

#include <cerrno>

#include "args.h"
#include "errors.h"
#include "iommufd.h"
#include "ioctl.h"

namespace vfio {
namespace {

Napi::Value Num(Napi::Env env, double v) { return Napi::Number::New(env, v); }

iommu_test_cmd Cmd(uint32_t op, uint32_t id) {
  iommu_test_cmd c{};
  c.size = sizeof c;
  c.op = op;
  c.id = id;
  return c;
}

const char* kNoTest = "IOMMU_TEST_CMD needs a kernel with CONFIG_IOMMUFD_TEST";

}  // namespace

// mockDomain(ioasId, devFlags) -> { stdevId, hwptId, idevId } (IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS).
Napi::Value Iommufd::MockDomain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "IOMMU_TEST_OP_MOCK_DOMAIN";
  RequireOpen(env, op);
  iommu_test_cmd c = Cmd(IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, ArgU32(info, 0, "ioasId"));
  c.mock_domain_flags.dev_flags = ArgU32(info, 1, "devFlags");
  if (Ioctl(fd_, IOMMU_TEST_CMD, &c) < 0) {
    int err = errno;
    ThrowErrno(env, err, op, ErrorArgs(env, {{"ioasId", Num(env, c.id)}}), err == ENOTTY ? kNoTest : nullptr);
  }
  mockDevices_.push_back(c.mock_domain_flags.out_stdev_id);
  Napi::Object out = Napi::Object::New(env);
  out.Set("stdevId", Num(env, c.mock_domain_flags.out_stdev_id));
  out.Set("hwptId", Num(env, c.mock_domain_flags.out_hwpt_id));
  out.Set("idevId", Num(env, c.mock_domain_flags.out_idev_id));
  return out;
}

// mockDomainReplace(stdevId, ptId) -> pt id now attached.
Napi::Value Iommufd::MockDomainReplace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE";
  RequireOpen(env, op);
  iommu_test_cmd c = Cmd(IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, ArgU32(info, 0, "stdevId"));
  c.mock_domain_replace.pt_id = ArgU32(info, 1, "ptId");
  if (Ioctl(fd_, IOMMU_TEST_CMD, &c) < 0) {
    int err = errno;
    ThrowErrno(env, err, op, ErrorArgs(env, {{"stdevId", Num(env, c.id)}, {"ptId", Num(env, c.mock_domain_replace.pt_id)}}),
               err == ENOTTY ? kNoTest : nullptr);
  }
  return Num(env, c.mock_domain_replace.pt_id);
}

// mockDirty(hwptId, iova, length, pageSize, bits: BigUint64Array) -> pages newly marked dirty
// (IOMMU_TEST_OP_DIRTY: what a device's DMA would do to the mock's PTEs).
Napi::Value Iommufd::MockDirty(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "IOMMU_TEST_OP_DIRTY";
  RequireOpen(env, op);
  iommu_test_cmd c = Cmd(IOMMU_TEST_OP_DIRTY, ArgU32(info, 0, "hwptId"));
  c.dirty.iova = ArgU64(info, 1, "iova");
  c.dirty.length = ArgU64(info, 2, "length");
  c.dirty.page_size = ArgU64(info, 3, "pageSize");
  if (!info[4].IsTypedArray() || info[4].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array) {
    ThrowType(env, "bits must be a BigUint64Array");
  }
  Napi::BigUint64Array bits = info[4].As<Napi::BigUint64Array>();
  if (c.dirty.page_size == 0) ThrowRange(env, "pageSize must be non-zero");
  uint64_t pages = c.dirty.length / c.dirty.page_size;
  if (bits.ElementLength() * 64 < pages) ThrowRange(env, "bits holds fewer bits than length / pageSize pages");
  c.dirty.uptr = reinterpret_cast<uintptr_t>(bits.Data());
  if (Ioctl(fd_, IOMMU_TEST_CMD, &c) < 0) {
    int err = errno;
    ThrowErrno(env, err, op, ErrorArgs(env, {{"hwptId", Num(env, c.id)}}), err == ENOTTY ? kNoTest : nullptr);
  }
  return Num(env, static_cast<double>(c.dirty.out_nr_dirty));
}

}  // namespace vfio
