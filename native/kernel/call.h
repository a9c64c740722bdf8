// The one way this addon enters the kernel: ioctl retried on EINTR (a signal
// during a long pin must not surface as a spurious failure), with the clock
// read just around it when the caller times the call. Every function in
// native/kernel/ goes through it and returns 0 or the errno, so no caller
// reads errno after something else may have changed it.
#pragma once

#include <sys/ioctl.h>
#include <time.h>

#include <cerrno>

// Pins an ioctl number to its ABI value (include/uapi, Linux 6.12): built
// against any other header (the host's, say), the addon would not compile
// rather than issue the wrong request.
#define VFIO_PIN_IOCTL(request, value) \
  static_assert((request) == (value), #request " is not the kernel's " #value)

namespace vfio::kernel {

inline double Nanos(const timespec& a, const timespec& b) {
  return static_cast<double>(b.tv_sec - a.tv_sec) * 1e9 + static_cast<double>(b.tv_nsec - a.tv_nsec);
}

// Returns the ioctl's result (>= 0: some requests answer a value or a new fd)
// or -errno.
template <class Arg>
inline int Call(int fd, unsigned long request, Arg arg) {
  int r;
  do {
    r = ::ioctl(fd, request, arg);
  } while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

// Call with CLOCK_MONOTONIC read just around it: *ns is the time in the
// ioctl, EINTR retries included, and nothing else (the plan executor's
// figures). ns null: untimed, decided before the clock would start.
template <class Arg>
inline int Call(int fd, unsigned long request, Arg arg, double* ns) {
  if (!ns) return Call(fd, request, arg);
  timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int r = Call(fd, request, arg);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  *ns = Nanos(t0, t1);
  return r;
}

// 0 or the errno, for requests that answer nothing but success.
template <class Arg>
inline int Errno(int fd, unsigned long request, Arg arg, double* ns = nullptr) {
  int r = Call(fd, request, arg, ns);
  return r < 0 ? -r : 0;
}

}  // namespace vfio::kernel
