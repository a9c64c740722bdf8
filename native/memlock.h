// The RLIMIT_MEMLOCK soft limit, which vfio_iommu_type1 charges pinned pages
// against (unless the process holds CAP_IPC_LOCK).
#pragma once

#include <napi.h>

namespace vfio {

// memlockLimit(): bigint bytes, or null when unlimited.
Napi::Value MemlockLimit(const Napi::CallbackInfo& info);

}  // namespace vfio
