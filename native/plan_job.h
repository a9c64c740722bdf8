// A plan run off the event loop: runPlanAsync (space_calls.h) hands a plan to
// libuv's thread pool, so that pinning gigabytes does not freeze JS.
//
// Only the system calls run on the pool thread: the words are copied when the
// job starts (a small typed array may move, a big one may be collected), the
// buffers each map entry covers are found and pinned then (so none can be
// closed or collected under the kernel), and the books are written on the JS
// thread when the job completes. While a job is in flight its space answers
// every other call with EBUSY and cannot be collected; closing the space
// (close(), its group or iommufd going, environment teardown) stops the job
// between entries and waits for the entry under way. abort() stops it between
// entries too: the result then says ECANCELED at the first entry not run.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "buffer_list.h"

namespace vfio {

class DmaBuffer;
class PlanTarget;
struct AddonData;
struct CallBlock;

class PlanJob {
 public:
  // Starts the job: 0, or EBUSY when one is already in flight (nothing
  // started). The space is held (not collectable) and its covered buffers
  // pinned until done(errno) is called on the JS thread, after the status,
  // `unmapped` and the times are in the block and in ns.
  static int Start(napi_env env, PlanTarget* target, AddonData* data, CallBlock* block, bool isMap,
                   const uint64_t* words, size_t entries, napi_value ns, napi_value done);

  // Asks the job to stop before its next entry.
  void Abort() noexcept { abort_.store(true); }
  // Abort, and return once no entry is under way (the JS thread; never throws).
  void AbortAndWait() noexcept;

 private:
  PlanJob() = default;
  static void Execute(napi_env env, void* self);
  static void Complete(napi_env env, napi_status status, void* self);
  void ApplyToBooks();
  void Release(napi_env env);

  PlanTarget* target_ = nullptr;
  CallBlock* block_ = nullptr;
  bool isMap_ = false;
  std::vector<uint64_t> words_;
  size_t entries_ = 0;
  std::vector<double> ns_;
  std::vector<BufferList<DmaBuffer>> covered_;  // map: per entry, pinned while in flight
  uint64_t generation_ = 0;                      // the books' at the start

  // Written by the pool thread, read after it is done.
  size_t attempted_ = 0, completed_ = 0;
  int64_t failedIndex_ = -1;
  int err_ = 0;
  uint64_t unmapped_ = 0;

  std::atomic<bool> abort_{false};
  std::atomic<bool> executing_{false};
  napi_ref nsRef_ = nullptr, doneRef_ = nullptr;
  napi_async_work work_ = nullptr;
};

}  // namespace vfio
