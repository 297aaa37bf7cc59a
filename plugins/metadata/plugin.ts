import path from 'node:path';
import { PluginType, type Registration } from '../daemon/types.js';
import { MetadataDB } from '../../core/metadata/db.js';

/** The metadata database (LevelDB) every record-keeping service builds on. */
export const metadataPlugin: Registration<Record<string, never>, MetadataDB> = {
  type: PluginType.Metadata,
  id: 'leveldb',
  config: {},
  async init(ctx) {
    const db = await MetadataDB.open(path.join(ctx.root, 'meta.db'));
    ctx.meta.exports.path = db.path;
    ctx.onClose(() => db.close());
    return db;
  },
};
