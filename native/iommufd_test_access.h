// kernelPinProbe / kernelPinRun: timing the kernel's iommufd_access_pin_pages()
// through an IOMMUFD_TEST access object (iommufd_test_access.cc).
#pragma once

#include <napi.h>

namespace vfio {

void InitKernelPin(Napi::Env env, Napi::Object exports);

}  // namespace vfio
