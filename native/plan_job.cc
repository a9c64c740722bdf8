#include "plan_job.h"

#include <time.h>

#include <cerrno>

#include "addon_data.h"
#include "args.h"
#include "dma_buffer.h"
#include "plan.h"
#include "space_calls.h"

namespace vfio {

int PlanJob::Start(napi_env env, PlanTarget* target, AddonData* data, CallBlock* block, bool isMap,
                   const uint64_t* words, size_t entries, napi_value ns, napi_value done) {
  if (target->job_) return EBUSY;
  auto* job = new PlanJob();
  job->target_ = target;
  job->block_ = block;
  job->isMap_ = isMap;
  job->words_.assign(words, words + entries * kPlanStride);
  job->entries_ = entries;
  job->ns_.assign(entries, 0.0);
  job->generation_ = target->books().generation();
  if (isMap) {
    // Found and pinned now, on this thread: the buffer map is JS-thread state,
    // and a pinned buffer refuses close() (EBUSY) until the job is done.
    job->covered_.reserve(entries);
    for (size_t i = 0; i < entries; i++) {
      const uint64_t* e = &job->words_[i * kPlanStride];
      job->covered_.push_back(RangeWraps(e[0], e[2]) ? BufferList<DmaBuffer>() : data->BuffersOverlapping(e[0], e[2]));
      for (DmaBuffer* b : job->covered_.back()) b->Pin();
    }
  }
  napi_value name;
  napi_create_string_utf8(env, "node-vfio:runPlanAsync", NAPI_AUTO_LENGTH, &name);
  napi_create_reference(env, ns, 1, &job->nsRef_);
  napi_create_reference(env, done, 1, &job->doneRef_);
  if (napi_create_async_work(env, nullptr, name, Execute, Complete, job, &job->work_) != napi_ok) {
    job->Release(env);
    delete job;
    return ENOMEM;
  }
  target->HoldObject();
  target->job_ = job;
  job->executing_.store(true);
  napi_queue_async_work(env, job->work_);
  return 0;
}

// The pool thread: the system calls, nothing else (no books, no JS).
void PlanJob::Execute(napi_env, void* self) {
  auto* job = static_cast<PlanJob*>(self);
  PlanTarget& target = *job->target_;
  int wrapErrno = target.WrapErrno();
  for (size_t i = 0; i < job->entries_; i++) {
    if (job->abort_.load()) {
      job->failedIndex_ = static_cast<int64_t>(i);
      job->err_ = ECANCELED;
      break;
    }
    const uint64_t* e = &job->words_[i * kPlanStride];
    job->attempted_++;
    if (int refused = WrapRefusal(wrapErrno, e, job->isMap_)) {
      job->failedIndex_ = static_cast<int64_t>(i);
      job->err_ = refused;
      break;
    }
    uint64_t gone = 0;
    int err = job->isMap_ ? target.MapEntry(e[0], e[1], e[2], static_cast<uint32_t>(e[3]), &job->ns_[i])
                          : target.UnmapEntry(e[1], e[2], &gone, &job->ns_[i]);
    if (err != 0) {
      job->failedIndex_ = static_cast<int64_t>(i);
      job->err_ = err;
      break;
    }
    job->completed_++;
    job->unmapped_ += gone;
  }
  job->executing_.store(false);
}

void PlanJob::AbortAndWait() noexcept {
  Abort();
  // At most the one entry under way (a pin of its pages); the bound is a guard
  // against a job whose Execute never runs, not an expected wait.
  timespec pause{0, 100 * 1000};
  for (int i = 0; i < 600000 && executing_.load(); i++) nanosleep(&pause, nullptr);
}

// What the kernel did, in the books, as RunPlanPass records it. Not when the
// books were cleared in flight (the space closed, or its IOMMU went with the
// last group): the kernel dropped those mappings with everything else.
void PlanJob::ApplyToBooks() {
  Books& books = target_->books();
  if (target_->Closed() || books.generation() != generation_) return;
  for (size_t i = 0; i < completed_; i++) {
    const uint64_t* e = &words_[i * kPlanStride];
    if (isMap_) {
      books.Mapped(e[1], e[2], BufferList<DmaBuffer>(covered_[i]));  // a copy: Release() unpins covered_ after
    } else {
      books.Unmapped(e[1], e[2]);
    }
  }
  if (!isMap_ && failedIndex_ >= 0 && err_ != ECANCELED) {
    const uint64_t* e = &words_[static_cast<size_t>(failedIndex_) * kPlanStride];
    books.UnmapFailed(e[1], e[2], err_);
  }
}

// The JS thread, after Execute (or instead of it, at teardown).
void PlanJob::Complete(napi_env env, napi_status status, void* self) {
  auto* job = static_cast<PlanJob*>(self);
  PlanTarget* target = job->target_;
  target->job_ = nullptr;
  job->ApplyToBooks();
  CallBlock& b = *job->block_;
  b.unmapped = job->unmapped_;
  b.status[0] = static_cast<double>(job->completed_);
  b.status[1] = static_cast<double>(job->failedIndex_);
  b.status[2] = job->err_;
  b.status[3] = static_cast<double>(job->attempted_);
  napi_value ns = nullptr, done = nullptr;
  if (status == napi_ok) {
    napi_get_reference_value(env, job->nsRef_, &ns);
    napi_get_reference_value(env, job->doneRef_, &done);
    void* data = nullptr;
    size_t length = 0;
    napi_typedarray_type type;
    if (ns && napi_get_typedarray_info(env, ns, &type, &length, &data, nullptr, nullptr) == napi_ok &&
        type == napi_float64_array && data) {
      auto* out = static_cast<double*>(data);
      for (size_t i = 0; i < job->attempted_ && i < length; i++) out[i] = job->ns_[i];
    }
  }
  job->Release(env);
  target->ReleaseObject();
  delete job;
  if (done) {
    napi_value err, global;
    napi_create_int32(env, static_cast<int32_t>(b.status[2]), &err);
    napi_get_global(env, &global);
    // An exception thrown by the callback surfaces as an uncaught one, as for any callback.
    napi_call_function(env, global, done, 1, &err, nullptr);
  }
}

void PlanJob::Release(napi_env env) {
  for (auto& list : covered_) {
    for (DmaBuffer* b : list) b->Unpin();
  }
  covered_.clear();
  if (nsRef_) napi_delete_reference(env, nsRef_);
  if (doneRef_) napi_delete_reference(env, doneRef_);
  if (work_) napi_delete_async_work(env, work_);
  nsRef_ = doneRef_ = nullptr;
  work_ = nullptr;
}

}  // namespace vfio
