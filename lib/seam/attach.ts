// A container with one group attached and an IOMMU type set: what GET_INFO
// and MAP_DMA need, for any backend. The probe and the benchmark both use it.
import type { Backend, Container, Group } from '../backend.js';

export interface Attached {
  container: Container;
  group: Group;
  iommuType: 'type1v2' | 'type1';
  close(): void;
}

export function attachGroup(backend: Backend, groupId: number): Attached {
  const container = backend.openContainer();
  let group: Group | undefined;
  try {
    group = backend.openGroup(groupId);
    group.setContainer(container);
    const iommuType = container.checkExtension('TYPE1v2') ? 'type1v2' : 'type1';
    container.setIommu(iommuType);
    const g = group;
    return {
      container, group: g, iommuType,
      close() {
        // Children first: the container unmaps everything when it closes.
        try {
          g.close();
        } finally {
          container.close();
        }
      },
    };
  } catch (err) {
    group?.close();
    container.close();
    throw err;
  }
}
