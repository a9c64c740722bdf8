// Types for the plain-JavaScript quick start (quick-start.mjs), for the test that runs it.
export function quickStart(): { backend: string; simulated: boolean; iova: bigint; unmapped: bigint };
