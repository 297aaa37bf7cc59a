import type {
  VersionResponse,
  VersionService,
} from '../../api/gen/containerd/services/version/v1/version.js';
import type { LocalServiceOf } from '../server/types.js';

/** The daemon's version and revision. */
export class VersionLocal implements LocalServiceOf<VersionService> {
  constructor(private readonly info: { version: string; revision: string }) {}

  async version(): Promise<VersionResponse> {
    return { version: this.info.version, revision: this.info.revision };
  }
}
