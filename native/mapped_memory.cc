#include "mapped_memory.h"

#include <sys/mman.h>

#include <atomic>
#include <string>

#include "args.h"

namespace vfio {

// Reference-counted pages. The count is atomic because Node may release an
// external ArrayBuffer's backing store off the JS thread.
struct SharedPages {
  std::atomic<void*> addr;
  size_t length;
  std::atomic<int> refs{1};

  SharedPages(void* a, size_t len) : addr(a), length(len) {}

  void UnmapNow() noexcept {
    void* a = addr.exchange(nullptr);
    if (a) munmap(a, length);
  }
  void Retain() noexcept { refs.fetch_add(1); }
  void Release() noexcept {
    if (refs.fetch_sub(1) == 1) {
      UnmapNow();
      delete this;
    }
  }
};

namespace {

void ViewCollected(napi_env /*env*/, void* /*data*/, void* hint) {
  static_cast<SharedPages*>(hint)->Release();
}

}  // namespace

ExposedMemory::ExposedMemory(void* addr, size_t length)
    : addr_(addr), length_(length), pages_(new SharedPages(addr, length)) {}

ExposedMemory::~ExposedMemory() {
  if (closed_) return;
  // Garbage-collected without close(): the view, if JS still holds it, keeps
  // its own reference on the pages; we only let go of ours.
  if (view_) napi_delete_reference(env_, view_);
  pages_->Release();
}

Napi::ArrayBuffer ExposedMemory::View(Napi::Env env) {
  if (view_) {
    napi_value v;
    if (napi_get_reference_value(env, view_, &v) == napi_ok && v != nullptr) {
      return Napi::ArrayBuffer(env, v);
    }
  }
  napi_value ab;
  pages_->Retain();
  napi_status s = napi_create_external_arraybuffer(env, addr_, length_, ViewCollected, pages_, &ab);
  if (s != napi_ok) {
    pages_->Release();
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    ThrowRange(env, "cannot expose " + std::to_string(length_) +
                        " bytes as an ArrayBuffer in this Node (limit is buffer.constants.MAX_LENGTH)");
  }
  napi_create_reference(env, ab, 1, &view_);
  env_ = env;
  return Napi::ArrayBuffer(env, ab);
}

void ExposedMemory::Close(napi_env env) noexcept {
  if (closed_) return;
  closed_ = true;
  if (view_) {
    napi_value v = nullptr;
    if (napi_get_reference_value(env, view_, &v) == napi_ok && v != nullptr) {
      napi_detach_arraybuffer(env, v);
    }
    napi_delete_reference(env, view_);
    view_ = nullptr;
  }
  // Detached: no view can reach the pages any more, so unmap without waiting
  // for the ArrayBuffer's own release.
  pages_->UnmapNow();
  pages_->Release();
}

}  // namespace vfio
