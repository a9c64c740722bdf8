// The buffers one mapping covers, for the books (books.h): almost always one,
// so the first two live inline and recording a mapping allocates nothing for
// them (a std::vector here cost a malloc and a free per map, ~5% of a one-page
// map on the overhead stand-in). Past two, all of them move to the heap.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace vfio {

template <class T>
class BufferList {
 public:
  BufferList() = default;
  BufferList(const BufferList&) = default;
  BufferList& operator=(const BufferList&) = default;
  // A list moved from is empty (the default move would leave its inline
  // pointers and count behind, and a second Unpin of each).
  BufferList(BufferList&& o) noexcept : n_(o.n_), heap_(std::move(o.heap_)) {
    for (size_t i = 0; i < kInline; i++) inline_[i] = o.inline_[i];
    o.n_ = 0;
    o.heap_.clear();
  }
  BufferList& operator=(BufferList&& o) noexcept {
    if (this != &o) {
      n_ = o.n_;
      heap_ = std::move(o.heap_);
      for (size_t i = 0; i < kInline; i++) inline_[i] = o.inline_[i];
      o.n_ = 0;
      o.heap_.clear();
    }
    return *this;
  }

  void push_back(T* b) {
    if (heap_.empty() && n_ < kInline) {
      inline_[n_++] = b;
      return;
    }
    if (heap_.empty()) heap_.assign(inline_, inline_ + n_);
    heap_.push_back(b);
    n_++;
  }

  T* const* begin() const { return heap_.empty() ? inline_ : heap_.data(); }
  T* const* end() const { return begin() + n_; }
  size_t size() const { return n_; }

  // The same buffers in the same order (a run of mappings shares one list).
  // A loop, not std::equal: that compiles to a memcmp call, a fifth of a
  // run's growth for the one or two pointers a list holds.
  bool operator==(const BufferList& o) const {
    if (n_ != o.n_) return false;
    T* const* theirs = o.begin();
    for (T* mine : *this) {
      if (mine != *theirs++) return false;
    }
    return true;
  }

 private:
  static constexpr size_t kInline = 2;
  T* inline_[kInline] = {};
  size_t n_ = 0;
  std::vector<T*> heap_;
};

}  // namespace vfio
