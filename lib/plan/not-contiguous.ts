// The refusal of the 'kernel' strategy for requests that are not one
// contiguous region: a RangeError (bad input for that strategy) of its own
// class, so callers can tell it from other bad input without reading its text.
export class NotContiguousError extends RangeError {
  override readonly name = 'RangeError';
}
