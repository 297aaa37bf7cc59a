import path from 'node:path';
import { definePlugin, PluginType, pluginRef } from '../daemon/types.js';
import { MetadataDB } from '../../core/metadata/db.js';

export const MetadataRef = pluginRef<MetadataDB>(PluginType.Metadata, 'leveldb');

/** The metadata database (LevelDB) every record-keeping service builds on. */
export const metadataPlugin = definePlugin(MetadataRef, {
  config: {},
  async init(ctx) {
    const db = await MetadataDB.open(path.join(ctx.root, 'meta.db'));
    ctx.meta.exports.path = db.path;
    ctx.onClose(() => db.close());
    return db;
  },
});
