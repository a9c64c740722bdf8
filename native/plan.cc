#include "plan.h"

#include <linux/vfio.h>

#include <cerrno>
#include <string>
#include <vector>

#include "args.h"
#include "container.h"
#include "fail_nth.h"

namespace vfio {
namespace {

constexpr uint64_t kProtMask = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;

// A type1 container as a plan target. PROT_READ / PROT_WRITE are the MAP_DMA
// flags themselves.
class Type1Target final : public PlanTarget {
 public:
  explicit Type1Target(Container& c) : c_(c) {}

  int MapEntry(uint64_t vaddr, uint64_t iova, uint64_t size, uint32_t prot, double* ns) override {
    vfio_iommu_type1_dma_map m{};
    m.argsz = sizeof m;
    m.flags = prot;
    m.vaddr = vaddr;
    m.iova = iova;
    m.size = size;
    return TimedIoctl(c_.fd(), VFIO_IOMMU_MAP_DMA, &m, ns);
  }

  int UnmapEntry(uint64_t iova, uint64_t size, uint64_t* unmapped, double* ns) override {
    vfio_iommu_type1_dma_unmap u{};
    u.argsz = sizeof u;
    u.iova = iova;
    u.size = size;
    int err = TimedIoctl(c_.fd(), VFIO_IOMMU_UNMAP_DMA, &u, ns);
    if (err == 0) *unmapped = u.size;
    return err;
  }

  void Mapped(uint64_t vaddr, uint64_t iova, uint64_t size) override { c_.TrackMapped(vaddr, iova, size); }
  void Unmapped(uint64_t iova, uint64_t size) noexcept override { c_.TrackUnmapped(iova, size); }
  // Container.map refuses a wrapping range with EINVAL before the ioctl, as the kernel does.
  int WrapErrno() const override { return EINVAL; }

 private:
  Container& c_;
};

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

  std::vector<double> ns;
  ns.reserve(entries);
  size_t completed = 0;
  int64_t failedIndex = -1;
  int err = 0;
  uint64_t unmapped = 0;
  int wrapErrno = target.WrapErrno();
  // Test hook (armFailNth, fail_nth.h): inert unless armed; spans exactly this loop.
  FailNthScope failNth;
  for (size_t i = 0; i < entries; i++) {
    const uint64_t* e = w + i * kPlanStride;
    uint64_t vaddr = e[0], iova = e[1], size = e[2];
    if (wrapErrno != 0 && (RangeWraps(iova, size) || (isMap && RangeWraps(vaddr, size)))) {
      ns.push_back(0);
      failedIndex = static_cast<int64_t>(i);
      err = wrapErrno;
      break;
    }
    double t = 0;
    uint64_t gone = 0;
    err = isMap ? target.MapEntry(vaddr, iova, size, static_cast<uint32_t>(e[3]), &t)
                : target.UnmapEntry(iova, size, &gone, &t);
    ns.push_back(t);
    if (err != 0) {
      failedIndex = static_cast<int64_t>(i);
      if (!isMap) target.UnmapFailed(iova, size, err);
      break;
    }
    completed++;
    unmapped += gone;
    // Bookkeeping stays outside the timed window.
    if (isMap) {
      target.Mapped(vaddr, iova, size);
    } else {
      target.Unmapped(iova, size);
    }
  }

  Napi::Float64Array nsOut = Napi::Float64Array::New(env, ns.size());
  for (size_t i = 0; i < ns.size(); i++) nsOut[i] = ns[i];
  Napi::Object out = Napi::Object::New(env);
  out.Set("ns", nsOut);
  out.Set("completed", Napi::Number::New(env, static_cast<double>(completed)));
  out.Set("failedIndex", Napi::Number::New(env, static_cast<double>(failedIndex)));
  out.Set("errno", Napi::Number::New(env, err));
  out.Set("unmapped", Napi::BigInt::New(env, unmapped));
  return out;
}

Napi::Value ExecutePlan(const Napi::CallbackInfo& info, Container& container) {
  Type1Target target(container);
  return ExecutePlan(info, target);
}

}  // namespace vfio
