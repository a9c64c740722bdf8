// Memory this addon mmap()ed (anonymous DMA buffers, device regions) and shows
// to JS as one external ArrayBuffer.
//
// Two owners can keep the pages: the wrapped object and the ArrayBuffer. An
// explicit close() detaches the ArrayBuffer (every view on it drops to length
// 0) and unmaps at once. If the wrapped object is instead garbage-collected
// while JS still holds the ArrayBuffer, the pages stay until the ArrayBuffer
// is collected too: a finalizer never pulls memory out from under a live view.
#pragma once

#include <napi.h>

#include <cstddef>

namespace vfio {

struct SharedPages;

class ExposedMemory {
 public:
  ExposedMemory(void* addr, size_t length);
  // Finalizer path: drops our claim; unmaps now unless an ArrayBuffer lives.
  ~ExposedMemory();
  ExposedMemory(const ExposedMemory&) = delete;
  ExposedMemory& operator=(const ExposedMemory&) = delete;

  void* addr() const { return addr_; }
  size_t length() const { return length_; }
  bool closed() const { return closed_; }

  // The ArrayBuffer over the pages, created once and cached. RangeError when
  // the length exceeds what this Node can put in an ArrayBuffer.
  Napi::ArrayBuffer View(Napi::Env env);

  // Detaches the ArrayBuffer and unmaps. Harmless twice; never throws.
  void Close(napi_env env) noexcept;

 private:
  void* addr_;
  size_t length_;
  SharedPages* pages_;
  napi_env env_ = nullptr;  // where view_ lives
  napi_ref view_ = nullptr;
  bool closed_ = false;
};

}  // namespace vfio
