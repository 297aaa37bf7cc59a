import { BerthError, errFailedPrecondition, errInvalidArgument } from '../errors/catalogue.js';
import { LAYOUT_PREFIX, SCHEMA_KEY } from './keys.js';
import type { TxRunner, WriteTx } from './transaction.js';

/** The schema version this code reads and writes. */
export const SCHEMA_VERSION = 1;

/**
 * Rewrites a database from one schema version to a later one. Migrations run
 * at open, chained from the stored version up to the code's version, all in
 * one transaction together with the new version stamp: either every step
 * lands or none does.
 */
export interface Migration {
  from: number;
  to: number;
  migrate(tx: WriteTx): Promise<void> | void;
}

/** Migrations shipped with this code, oldest first. */
export const MIGRATIONS: readonly Migration[] = [];

interface SchemaRecord {
  version: number;
}

export interface SchemaResult {
  /** Version found on disk; undefined for a fresh database. */
  previous: number | undefined;
  version: number;
  applied: Migration[];
}

function planMigrations(
  stored: number,
  target: number,
  migrations: readonly Migration[],
): Migration[] {
  const byFrom = new Map<number, Migration>();
  for (const m of migrations) {
    if (!Number.isInteger(m.from) || !Number.isInteger(m.to) || m.to <= m.from) {
      throw errInvalidArgument(
        `metadata migration ${m.from} -> ${m.to} must move to a later version`,
      );
    }
    if (byFrom.has(m.from))
      throw errInvalidArgument(`more than one metadata migration from version ${m.from}`);
    byFrom.set(m.from, m);
  }
  const plan: Migration[] = [];
  for (let v = stored; v < target;) {
    const step = byFrom.get(v);
    if (!step || step.to > target) {
      throw errFailedPrecondition(
        `metadata schema version ${stored} cannot be migrated to ${target}: no migration from version ${v}`,
      );
    }
    plan.push(step);
    v = step.to;
  }
  return plan;
}

/** Stamp a fresh database, or migrate an older one, or refuse a newer one. */
export async function ensureSchema(
  db: TxRunner,
  target: number,
  migrations: readonly Migration[],
): Promise<SchemaResult> {
  return db.update([SCHEMA_KEY], async (tx) => {
    const record = await tx.getJSON<SchemaRecord>(SCHEMA_KEY);
    if (record === undefined) {
      // Data without a version stamp is not something we wrote; don't guess.
      for await (const [key] of tx.entries(LAYOUT_PREFIX, { limit: 1 })) {
        throw new BerthError(
          'DataLoss',
          `metadata database holds ${JSON.stringify(key)} but has no schema version`,
        );
      }
      tx.putJSON(SCHEMA_KEY, { version: target } satisfies SchemaRecord);
      return { previous: undefined, version: target, applied: [] };
    }
    const stored = record.version;
    if (!Number.isInteger(stored) || stored < 1) {
      throw new BerthError(
        'DataLoss',
        `metadata schema record is corrupt: ${JSON.stringify(record)}`,
      );
    }
    if (stored > target) {
      throw errFailedPrecondition(
        `metadata schema version ${stored} is newer than this berthd supports (${target}); upgrade berthd or use a different root`,
      );
    }
    const plan = planMigrations(stored, target, migrations);
    for (const step of plan) await step.migrate(tx);
    if (plan.length > 0) tx.putJSON(SCHEMA_KEY, { version: target } satisfies SchemaRecord);
    return { previous: stored, version: target, applied: plan };
  });
}
