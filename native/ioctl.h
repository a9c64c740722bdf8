// ioctl and friends, retried on EINTR (a signal during a long pin must not
// surface as a spurious failure).
#pragma once

#include <sys/ioctl.h>

#include <cerrno>

namespace vfio {

template <class Arg>
int Ioctl(int fd, unsigned long request, Arg arg) {
  int r;
  do {
    r = ::ioctl(fd, request, arg);
  } while (r < 0 && errno == EINTR);
  return r;
}

}  // namespace vfio
