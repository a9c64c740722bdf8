// The calls JS makes on every map and unmap: map one entry, unmap one range,
// run a plan, on any DMA space (a type1 container, an iommufd IOAS, the
// overhead stand-in), all through the one executor (plan.h).
//
// Why they are not ordinary methods: an N-API method finds its C++ object by
// unwrapping `this` behind a type-tag check, two private-symbol lookups that
// cost ~330 ns of a ~1.3 us one-page map on the overhead stand-in (perf, bench
// --suite overhead), against ~410 ns for the system call itself; and each
// BigInt argument is another conversion. So each function here is bound to
// its space when it is made (the callback's data, nothing looked up per
// call), and one entry's words travel through a small block of memory that
// JS and C++ share, which JS writes as a BigUint64Array. The words are
// whatever u64s JS wrote; the seam (lib/seam/args.ts) has checked their types
// and ranges, and any u64 is safe to hand to the kernel. Only what would
// change the call's meaning is checked here: flags beyond PROT_READ |
// PROT_WRITE (bit 2 would be VFIO_DMA_MAP_FLAG_VADDR).
//
// Lifetime: the functions and the block can outlive their space (a caller
// keeps them, the space is collected), so they share a reference-counted
// Bond with it. A call after the space closed or went answers kClosed.
#pragma once

#include <napi.h>

#include <cstdint>

namespace vfio {

class PlanTarget;
struct AddonData;

// Entries a plan may have to travel in the block itself (runSmallPlan).
constexpr size_t kBlockPlanEntries = 16;

// What the block holds, in 8-byte words (lib/native/space.ts reads the same layout).
struct CallBlock {
  uint64_t entry[4];  // in: vaddr, iova, size, prot (one plan entry)
  uint64_t unmapped;  // out: bytes the last unmap or unmap plan removed
  uint64_t reserved;
  double status[4];   // out, runPlan: completed, failedIndex, errno, attempted
  // A small plan and its times, so that running one asks V8 for no typed
  // array at all (napi_get_typedarray_info twice was ~6% of planning and
  // mapping one page).
  uint64_t plan[kBlockPlanEntries * 4];
  double ns[kBlockPlanEntries];
};
static_assert(sizeof(CallBlock) == 720, "lib/native/space.ts lays the block out as 90 words");

// Returned by every call instead of an errno when the space is closed or gone.
constexpr int kClosed = -1;

class Bond;

// spaceCalls(): { block: ArrayBuffer, map(): number, unmap(): number,
//   runPlan(isMap: boolean, plan: BigUint64Array, count: number, ns: Float64Array): number,
//   runSmallPlan(isMap: boolean, count: number): number, ... }
// map(): the block's entry; unmap(): its iova and size, the bytes gone in
// `unmapped`; runPlan: the plan's first `count` entries, each one's time in
// ns, the status words; runSmallPlan: the same for the block's own plan and
// times (count <= kBlockPlanEntries). Each returns 0, the errno of the entry that failed, or kClosed. Made
// once per space (a second request throws).
Napi::Value MakeSpaceCalls(Napi::Env env, PlanTarget* target, AddonData* data, Bond** bond);

// Called by the space as it goes: its calls answer kClosed from then on.
void ReleaseBond(Bond* bond) noexcept;

}  // namespace vfio
