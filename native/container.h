// Container: one /dev/vfio/vfio descriptor (a type1 IOMMU context once a
// group is attached and SET_IOMMU chose the type). Its books (books.h, with
// the type1 v1 or v2 unmap rule) remember every mapping it made, with the
// DmaBuffers each one covers, pinned until the kernel has let go of the
// mapping.
//
// Closing: the kernel does not unmap when the container fd is closed while
// groups are attached (each attached group holds a reference on the
// container); it releases the IOMMU context, and every mapping, when the last
// group detaches (vfio_group_detach_container). close() therefore issues
// UNMAP_DMA with VFIO_DMA_UNMAP_FLAG_ALL, then closes each attached group's
// devices and unsets the group, then closes the fd.
//
// Ranges that wrap 2^64 (iova + size, or vaddr + size) are refused here with
// EINVAL and no system call: the errno the kernel gives, and the simulated
// backend too.
#pragma once

#include <napi.h>

#include <cstdint>
#include <set>

#include "plan.h"
#include "space_object.h"
#include "wrap.h"

namespace vfio {

struct AddonData;
class Group;

class Container : public SpaceObject<Container> {
 public:
  static constexpr napi_type_tag kTypeTag = {0x6e6f64657666696full, 0x636f6e7461690001ull};
  static constexpr const char* kClassName = "Container";

  static void Init(Napi::Env env, AddonData* data);
  // openContainer(path?: string): the path is for tests (default /dev/vfio/vfio).
  static Napi::Value Open(const Napi::CallbackInfo& info);

  explicit Container(const Napi::CallbackInfo& info);
  ~Container() override;

  int fd() const { return fd_; }
  bool closed() const { return fd_ < 0; }

  // Groups report their attachment; detaching the last one makes the kernel
  // release the IOMMU context and every mapping in it.
  void GroupAttached(Group* g);
  void GroupDetached(Group* g) noexcept;

  // Unmap all, detach groups (their devices first), close. Never throws.
  void CloseNow() noexcept;

  // PlanTarget: VFIO_IOMMU_MAP_DMA / UNMAP_DMA. PROT_READ / PROT_WRITE are
  // the MAP_DMA flags themselves.
  int MapEntry(uint64_t vaddr, uint64_t iova, uint64_t size, uint32_t prot, double* ns) override;
  int UnmapEntry(uint64_t iova, uint64_t size, uint64_t* unmapped, double* ns) override;
  // Container.map refuses a wrapping range with EINVAL before the ioctl, as the kernel does.
  int WrapErrno() const override;

 private:
  friend class SpaceObject<Container>;  // its runPlanCycles() asks RequireOpen
  void RequireOpen(Napi::Env env, const char* op) const;
  // The hint for an EINVAL from a map or unmap when the container has lost its IOMMU; nullptr otherwise.
  const char* LostIommuHint(int err) const;

  Napi::Value ApiVersion(const Napi::CallbackInfo& info);
  Napi::Value CheckExtension(const Napi::CallbackInfo& info);
  Napi::Value SetIommu(const Napi::CallbackInfo& info);
  Napi::Value IommuInfo(const Napi::CallbackInfo& info);
  Napi::Value UnmapAll(const Napi::CallbackInfo& info);
  Napi::Value UnmapWithDirty(const Napi::CallbackInfo& info);
  Napi::Value DirtyStart(const Napi::CallbackInfo& info);
  Napi::Value DirtyStop(const Napi::CallbackInfo& info);
  Napi::Value DirtyGet(const Napi::CallbackInfo& info);
  Napi::Value GetLostIommuHint(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetGroups(const Napi::CallbackInfo& info);

  AddonData* data_ = nullptr;
  int fd_ = -1;
  // SET_IOMMU done; the type it chose is the books' rule (TYPE1 v1 until then).
  bool iommuSet_ = false;
  std::set<Group*> groups_;
};

}  // namespace vfio
