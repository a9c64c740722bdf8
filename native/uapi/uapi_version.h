// The kernel version of the vendored uAPI headers in this directory (README.md):
// what the addon's VFIO and iommufd constants and structs come from.
#pragma once

#define NODE_VFIO_UAPI_VERSION "6.12.117"
