// An allocator for the books' std::set of runs (books.h) that keeps the nodes it
// frees and hands them out again: mapping and unmapping one page at a time
// would otherwise cost a malloc and a free per record, ~400 instructions of
// a one-page map on the overhead stand-in (callgrind), most of them in glibc
// consolidating the 32 nodes a batch unmap frees at once. Single-threaded by
// construction: one pool per books, and the books belong to one JS thread.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <vector>

namespace vfio {

// The free nodes of one size; memory goes back to the system only with the pool.
class NodeFreeList {
 public:
  NodeFreeList() = default;
  NodeFreeList(const NodeFreeList&) = delete;
  NodeFreeList& operator=(const NodeFreeList&) = delete;
  ~NodeFreeList() {
    for (void* p : free_) ::operator delete(p);
  }

  void* Take(size_t bytes) {
    if (bytes != bytes_ || free_.empty()) return ::operator new(bytes);
    void* p = free_.back();
    free_.pop_back();
    return p;
  }

  void Give(void* p, size_t bytes) {
    // Only the map's node size is kept (the first size given); keep at most
    // what a large batch freed, so a huge unmap does not pin its peak forever.
    if (bytes_ == 0) bytes_ = bytes;
    if (bytes != bytes_ || free_.size() >= kMaxKept) {
      ::operator delete(p);
      return;
    }
    free_.push_back(p);
  }

 private:
  static constexpr size_t kMaxKept = 4096;
  size_t bytes_ = 0;
  std::vector<void*> free_;
};

template <class T>
class NodePoolAllocator {
 public:
  using value_type = T;

  explicit NodePoolAllocator(NodeFreeList* list) noexcept : list_(list) {}
  template <class U>
  NodePoolAllocator(const NodePoolAllocator<U>& other) noexcept : list_(other.list()) {}

  T* allocate(size_t n) {
    if (n != 1) return static_cast<T*>(::operator new(n * sizeof(T)));
    return static_cast<T*>(list_->Take(sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept {
    if (n != 1) {
      ::operator delete(p);
      return;
    }
    list_->Give(p, sizeof(T));
  }

  NodeFreeList* list() const noexcept { return list_; }
  template <class U>
  bool operator==(const NodePoolAllocator<U>& o) const noexcept { return list_ == o.list(); }
  template <class U>
  bool operator!=(const NodePoolAllocator<U>& o) const noexcept { return list_ != o.list(); }

 private:
  NodeFreeList* list_;
};

}  // namespace vfio
