// The plan executor: a whole batch of MAP_DMA or UNMAP_DMA calls in one trip
// into native code, each timed with CLOCK_MONOTONIC around the ioctl alone, so
// the figures hold no JS overhead. It stops at the first failure and does not
// unwind: the planner above decides what to undo.
#pragma once

#include <napi.h>

namespace vfio {

class Container;

// runPlan(op: 'map' | 'unmap', plan: BigUint64Array) ->
//   { ns: Float64Array, completed, failedIndex, errno, unmapped: bigint }
// Entries are PLAN_STRIDE (4) words: vaddr, iova, size, flags (unmap ignores
// vaddr and flags). ns has one slot per entry attempted: completed ones plus
// the failed one. An entry whose range wraps 2^64 fails with EINVAL without a
// system call (ns 0), as Container.map does.
Napi::Value ExecutePlan(const Napi::CallbackInfo& info, Container& container);

constexpr size_t kPlanStride = 4;

}  // namespace vfio
