// The CLI's one way to a backend: lib/open.ts's openBackend, behind a function
// type so tests can hand the commands another opener.
import type { Backend, Container, Group } from '../backend.js';
import { Extension } from '../backend.js';
import { openBackend } from '../open.js';

export interface Opened {
  backend: Backend;
  /** Why this backend (e.g. "native: /dev/vfio/vfio present" or "sim: requested"). */
  reason: string;
}

export type BackendOpener = (choice: 'native' | 'sim' | 'auto') => Opened;

export const defaultOpener: BackendOpener = (backend) => openBackend({ backend });

export interface Attached {
  container: Container;
  group: Group;
  iommuType: 'type1v2' | 'type1';
  close(): void;
}

/** A container with one group attached and an IOMMU type set: what GET_INFO and MAP_DMA need. */
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

export const EXTENSION_NAMES = Object.keys(Extension) as Array<keyof typeof Extension>;
