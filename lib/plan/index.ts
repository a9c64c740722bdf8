// The IOVA batch planner and allocator: what to map, in how few MAP_DMA calls,
// at which IOVAs, checked against the limits first and undone on failure.
// Everything here takes a DmaSpace (or its IommuInfo), never a backend.
export { buildPlan, STRATEGIES, type Plan, type PlanOptions, type Strategy } from './build.js';
export { buildUnmapPlan } from './unmap-plan.js';
export { NotContiguousError } from './not-contiguous.js';
export { mapBatch, mapBatchAsync, unmapBatch, unmapBatchAsync, BatchError, type AsyncBatchOptions, type BatchOptions, type BatchResult, type UnwindFailure } from './batch.js';
export { checkLimits, checkLimitsAsync, headroom, limitCheckWorthwhile, KERNEL_PIN_BATCH, type Headroom } from './limits.js';
export { MappedSet, type IovaSpan } from './mapped-set.js';
export { IovaAllocator, type AllocOptions } from './iova-allocator.js';
export { adviseAlignment, congruent, type AdviseOptions, type AlignmentAdvice } from './advise.js';
export { REQUEST_STRIDE, type MapRequest } from './requests.js';
export { backingPageSize, minPageSize, pageSizeList, superpageFor } from './page-sizes.js';
export * as dirty from './dirty.js';
