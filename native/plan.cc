#include "plan.h"

#include <linux/vfio.h>
#include <time.h>

#include <cerrno>
#include <string>
#include <vector>

#include "args.h"
#include "container.h"
#include "ioctl.h"

namespace vfio {
namespace {

constexpr uint64_t kProtMask = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;

inline double Nanos(const timespec& a, const timespec& b) {
  return static_cast<double>(b.tv_sec - a.tv_sec) * 1e9 + static_cast<double>(b.tv_nsec - a.tv_nsec);
}

}  // namespace

Napi::Value ExecutePlan(const Napi::CallbackInfo& info, Container& container) {
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
  int fd = container.fd();
  for (size_t i = 0; i < entries; i++) {
    const uint64_t* e = w + i * kPlanStride;
    uint64_t vaddr = e[0], iova = e[1], size = e[2];
    if (RangeWraps(iova, size) || (isMap && RangeWraps(vaddr, size))) {
      ns.push_back(0);
      failedIndex = static_cast<int64_t>(i);
      err = EINVAL;
      break;
    }
    timespec t0, t1;
    int r;
    if (isMap) {
      vfio_iommu_type1_dma_map m{};
      m.argsz = sizeof m;
      m.flags = static_cast<uint32_t>(e[3]);
      m.vaddr = vaddr;
      m.iova = iova;
      m.size = size;
      clock_gettime(CLOCK_MONOTONIC, &t0);
      r = Ioctl(fd, VFIO_IOMMU_MAP_DMA, &m);
      err = r < 0 ? errno : 0;
      clock_gettime(CLOCK_MONOTONIC, &t1);
    } else {
      vfio_iommu_type1_dma_unmap u{};
      u.argsz = sizeof u;
      u.iova = iova;
      u.size = size;
      clock_gettime(CLOCK_MONOTONIC, &t0);
      r = Ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &u);
      err = r < 0 ? errno : 0;
      clock_gettime(CLOCK_MONOTONIC, &t1);
      if (r == 0) unmapped += u.size;
    }
    ns.push_back(Nanos(t0, t1));
    if (r < 0) {
      failedIndex = static_cast<int64_t>(i);
      break;
    }
    completed++;
    // Bookkeeping stays outside the timed window.
    if (isMap) {
      container.TrackMapped(vaddr, iova, size);
    } else {
      container.TrackUnmapped(iova, size);
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

}  // namespace vfio
