// Opens IOMMU group argv[2] through the library in a process of its own and
// prints how that went, as one JSON line (the error's code and hint, if any).
import { VfioError } from '../../../lib/errors.js';
import { NativeBackend } from '../../../lib/native/index.js';

try {
  new NativeBackend().openGroup(Number(process.argv[2])).close();
  console.log(JSON.stringify({ opened: true }));
} catch (err) {
  if (!(err instanceof VfioError)) throw err;
  console.log(JSON.stringify({ opened: false, code: err.code, op: err.op, hint: err.hint ?? null }));
}
