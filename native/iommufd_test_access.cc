// The kernel's own pinning path, timed: an IOMMUFD_TEST access object pins
// pages through iommufd_access_pin_pages(), the call emulated-IOMMU drivers
// (mdev, vfio-ap, ccw) use for DMA, and the successor of the vfio_pin_pages()
// the review thread measured. Only kernels built with CONFIG_IOMMUFD_TEST
// have it (the lane's "built" kernel); elsewhere the probe says why not.
//
// One run: /dev/iommu, an IOAS, the buffer mapped at a fixed IOVA with no
// device attached (so nothing is pinned at map time), an access that needs
// pinned pages, then per repetition: pin N pages (one ACCESS_PAGES call per
// page, or one for the whole run), unpin them (DESTROY_ACCESS_PAGES), each
// phase timed with CLOCK_MONOTONIC around the ioctls alone.
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "addon_data.h"
#include "args.h"
#include "dma_buffer.h"
#include "errors.h"
#include "iommufd_test_access.h"
#include "kernel/ioas.h"
#include "kernel/iommufd.h"
#include "kernel/selftest.h"

namespace vfio {
namespace {

constexpr uint64_t kPage = 4096;
// Any page-aligned IOVA works: with no domain attached, only the IOAS's own
// bookkeeping sees it. 4 GiB keeps it clear of the low addresses.
constexpr uint64_t kIova = 1ull << 32;
// selftest.c refuses a single ACCESS_PAGES call longer than 16 MiB.
constexpr uint32_t kMaxPages = (16u << 20) / kPage;

// What one probe or run opens; closed on every path out, errors included.
// Closing the access releases any pages still pinned through it; closing
// /dev/iommu destroys the IOAS and its mapping.
struct Session {
  int iommufd = -1;
  uint32_t ioasId = 0;
  int access = -1;
  Session() = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() {
    if (access >= 0) ::close(access);
    if (iommufd >= 0) ::close(iommufd);
  }
};

// Steps shared by the probe and the run. Returns 0 or an errno and names the
// step that failed in `step`.
int OpenSession(Session& s, uint64_t vaddr, uint64_t length, std::string& step) {
  step = "open /dev/iommu";
  int fd = ::open("/dev/iommu", O_RDWR | O_CLOEXEC);
  if (fd < 0) return errno;
  s.iommufd = fd;

  step = "IOMMU_IOAS_ALLOC";
  if (int err = kernel::IoasAlloc(fd, &s.ioasId)) return err;

  if (length != 0) {
    step = "IOMMU_IOAS_MAP";
    uint64_t iova = kIova;
    uint32_t flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
    if (int err = kernel::IoasMap(fd, s.ioasId, flags, vaddr, length, &iova)) return err;
  }

  step = "IOMMU_TEST_CMD CREATE_ACCESS";
  return kernel::TestCreateAccess(fd, s.ioasId, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, &s.access);
}

std::string Why(int err, const std::string& step) {
  if (step == "open /dev/iommu" && err == ENOENT) return "no /dev/iommu: the kernel has no CONFIG_IOMMUFD (or its module is not loaded)";
  if (step == "IOMMU_TEST_CMD CREATE_ACCESS" && err == ENOTTY) {
    return "IOMMU_TEST_CMD gives ENOTTY: the kernel has no CONFIG_IOMMUFD_TEST";
  }
  return step + " failed: " + std::to_string(err);
}

// kernelPinProbe() -> { available, errno, step, reason }
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Session s;
  std::string step;
  int err = OpenSession(s, 0, 0, step);
  Napi::Object out = Napi::Object::New(env);
  out.Set("available", Napi::Boolean::New(env, err == 0));
  out.Set("errno", Napi::Number::New(env, err));
  out.Set("step", Napi::String::New(env, err ? step : ""));
  out.Set("reason", Napi::String::New(env, err ? Why(err, step) : ""));
  return out;
}

// Pins [kIova, kIova + pages pages) once; ids receives one access_pages id per call.
int Pin(int iommufd, int access, uint32_t pages, bool perPage, std::vector<uint32_t>& ids) {
  ids.clear();
  uint32_t calls = perPage ? pages : 1;
  uint64_t length = perPage ? kPage : pages * kPage;
  for (uint32_t i = 0; i < calls; i++) {
    // Write access, as for a device that DMAs into the pages. uptr 0 skips
    // the selftest's page-by-page check against a user pointer, which would
    // add a second walk of every page to the figure.
    uint32_t id;
    if (int err = kernel::TestAccessPages(iommufd, access, kIova + i * kPage, length, MOCK_FLAGS_ACCESS_WRITE, 0, &id)) {
      return err;
    }
    ids.push_back(id);
  }
  return 0;
}

int Unpin(int iommufd, int access, const std::vector<uint32_t>& ids) {
  int first = 0;
  for (uint32_t id : ids) {
    // Carry on past a failure: every pin must be released.
    int err = kernel::TestDestroyAccessPages(iommufd, access, id);
    if (err && first == 0) first = err;
  }
  return first;
}

// kernelPinRun(vaddr: bigint, pages: number, perPage: boolean, reps: number, warmup: number)
//   -> { pinNs: Float64Array(reps), unpinNs: Float64Array(reps), calls }
// [vaddr, vaddr + pages * 4 KiB) must lie inside one open DmaBuffer.
Napi::Value Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t vaddr = ArgU64(info, 0, "vaddr");
  uint32_t pages = ArgU32(info, 1, "pages", kMaxPages);
  bool perPage = ArgBool(info, 2, "perPage");
  uint32_t reps = ArgU32(info, 3, "reps", 1000000);
  uint32_t warmup = ArgU32(info, 4, "warmup", 1000000);
  if (pages == 0) ThrowRange(env, "pages must be at least 1");
  if (reps == 0) ThrowRange(env, "reps must be at least 1");
  uint64_t length = static_cast<uint64_t>(pages) * kPage;
  if (vaddr % kPage != 0) ThrowRange(env, "vaddr must be 4 KiB aligned");
  // Pinning arbitrary addresses is not this function's business: only memory
  // the addon owns, and that stays allocated for the whole call.
  bool inside = false;
  if (!RangeWraps(vaddr, length)) {
    for (DmaBuffer* b : AddonData::Of(env)->BuffersOverlapping(vaddr, length)) {
      if (!b->closed() && b->vaddr() <= vaddr && vaddr + length <= b->vaddr() + b->size()) inside = true;
    }
  }
  if (!inside) ThrowRange(env, "the pages must lie inside one open DmaBuffer");

  Session s;
  std::string step;
  int err = OpenSession(s, vaddr, length, step);
  if (err) {
    ThrowErrno(env, err, "kernelPinRun", ErrorArgs(env, {{"step", Napi::String::New(env, step)}}),
               Why(err, step).c_str());
  }

  std::vector<double> pinNs(reps), unpinNs(reps);
  std::vector<uint32_t> ids;
  ids.reserve(perPage ? pages : 1);
  for (uint32_t r = 0; r < warmup + reps; r++) {
    timespec t0, t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    err = Pin(s.iommufd, s.access, pages, perPage, ids);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int unpinErr = Unpin(s.iommufd, s.access, ids);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    if (err || unpinErr) {
      // Closing the access (Session's destructor) releases whatever is left pinned.
      ThrowErrno(env, err ? err : unpinErr, err ? "IOMMU_TEST_OP_ACCESS_PAGES" : "IOMMU_TEST_OP_DESTROY_ACCESS_PAGES",
                 ErrorArgs(env, {{"pages", Napi::Number::New(env, pages)},
                                 {"perPage", Napi::Boolean::New(env, perPage)}}));
    }
    if (r >= warmup) {
      pinNs[r - warmup] = kernel::Nanos(t0, t1);
      unpinNs[r - warmup] = kernel::Nanos(t1, t2);
    }
  }

  Napi::Float64Array pinOut = Napi::Float64Array::New(env, reps);
  Napi::Float64Array unpinOut = Napi::Float64Array::New(env, reps);
  for (uint32_t i = 0; i < reps; i++) {
    pinOut[i] = pinNs[i];
    unpinOut[i] = unpinNs[i];
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pinNs", pinOut);
  out.Set("unpinNs", unpinOut);
  out.Set("calls", Napi::Number::New(env, perPage ? pages : 1));
  return out;
}

}  // namespace

void InitKernelPin(Napi::Env env, Napi::Object exports) {
  exports.Set("kernelPinProbe", Napi::Function::New<Probe>(env, "kernelPinProbe"));
  exports.Set("kernelPinRun", Napi::Function::New<Run>(env, "kernelPinRun"));
}

}  // namespace vfio
