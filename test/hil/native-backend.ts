// The backend under test in the lane: the real one (lib/native). Constructing
// it throws, with the reason, when the addon is not built.
import type { Backend } from '../../lib/backend.js';
import { NativeBackend } from '../../lib/native/index.js';

export async function nativeBackend(): Promise<Backend> {
  return new NativeBackend();
}
