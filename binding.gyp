# The only build description of the addon. node-gyp reads it, for every build: a source build, the
# shipped prebuild (scripts/prebuild.sh runs gyp from it) and the sanitizer build.
#   npx node-gyp rebuild -j 2               release build
#   npm run prebuild                        the shipped binary (scripts/prebuild.sh: old baseline,
#                                           VFIO_STATIC_RUNTIME=1 links the C++ runtime in)
#   npx node-gyp rebuild -j 2 -- -Dvfio_asan=1   AddressSanitizer + UBSan build; VFIO_ASAN=1 in
#                                                the environment does the same. Run node with
#                                                LD_PRELOAD=$(gcc -print-file-name=libasan.so).
# (Not plain "asan": Node's own config.gypi sets that variable to 0 and would win.)
{
  "variables": {
    "vfio_asan%": "<!(node -p \"process.env.VFIO_ASAN || 0\")",
    # 1 for the shipped prebuild (scripts/prebuild.sh): the C++ runtime linked in.
    "vfio_static_runtime%": "<!(node -p \"process.env.VFIO_STATIC_RUNTIME || 0\")"
  },
  "targets": [
    {
      "target_name": "vfio",
      "sources": [
        "native/addon.cc",
        "native/args.cc",
        "native/container.cc",
        "native/device.cc",
        "native/device_cdev.cc",
        "native/dma_buffer.cc",
        "native/errors.cc",
        "native/fail_nth.cc",
        "native/group.cc",
        "native/iommufd_test_access.cc",
        "native/ioas.cc",
        "native/iommufd.cc",
        "native/iommufd_mock.cc",
        "native/irq.cc",
        "native/mapped_memory.cc",
        "native/memlock.cc",
        "native/overhead_irq.cc",
        "native/overhead_space.cc",
        "native/plan.cc",
        "native/plan_job.cc",
        "native/space_calls.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        # Vendored 6.12 uAPI headers (native/uapi/README.md): linux/iommufd.h, linux/vfio.h, iommufd_test.h.
        "native/uapi"
      ],
      "defines": [
        # Pinned: type tags (napi_type_tag_object) need Node-API 8.
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-fvisibility=hidden", "-Wall", "-Wextra"],
      "conditions": [
        # The shipped binary must load on the older distributions a VFIO host
        # still runs (RHEL 8, Debian 11, Ubuntu 20.04), whose libstdc++ is older
        # than any recent GCC's: the prebuild links the C++ runtime in, and
        # scripts/prebuild.sh links it against an old glibc (the C runtime stays
        # shared; test/native/abi-floor.test.ts holds both floors). Hidden
        # visibility and --exclude-libs keep the copied runtime private to the
        # addon. Off by default: a build from source runs on the machine that
        # built it, and RHEL needs an extra package (libstdc++-static) for it.
        ["vfio_static_runtime==1 and vfio_asan==0", {
          "ldflags": ["-static-libstdc++", "-static-libgcc", "-Wl,--exclude-libs,ALL"]
        }],
        ["vfio_asan==1", {
          "cflags": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"],
          "cflags_cc": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"],
          "ldflags": ["-fsanitize=address,undefined"]
        }]
      ]
    }
  ]
}
