// Exit codes of `vfio`, documented in the usage text: scripts and CI branch on them.
export const EXIT_OK = 0;
/** Something the system refused (a VfioError, an I/O error). */
export const EXIT_RUNTIME = 1;
/** Bad command line, or a baseline that cannot be compared. */
export const EXIT_USAGE = 2;
/** bench --compare found cells slower than --max-regression allows. */
export const EXIT_REGRESSION = 3;

/** A mistake on the command line; printed with a pointer to --help, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
