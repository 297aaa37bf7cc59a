// Shared budget and input generators for the *.fuzz.test.ts property tests.
//
// Each property runs a bounded number of inputs and stops early at a time
// limit, so a fuzz file stays a few seconds long on a loaded CI machine.
// BERTH_FUZZ_RUNS=100000 runs that many inputs per property with no time
// limit, for long local runs; BERTH_FUZZ_SEED replays a reported failure;
// BERTH_FUZZ_REPORT=1 prints how many inputs each property ran.

import fc from 'fast-check';

/** Inputs per property in a normal test run. */
const DEFAULT_RUNS = 400;
/** Wall-clock budget per property in a normal test run. */
const DEFAULT_TIME_LIMIT_MS = 700;

function envInt(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer`);
  return n;
}

function parameters<T>(): fc.Parameters<T> {
  const runs = envInt('BERTH_FUZZ_RUNS');
  const seed = envInt('BERTH_FUZZ_SEED');
  return {
    numRuns: runs ?? DEFAULT_RUNS,
    // A long run asked for by count is not cut short by the clock.
    ...(runs === undefined ? { interruptAfterTimeLimit: DEFAULT_TIME_LIMIT_MS } : {}),
    ...(seed === undefined ? {} : { seed }),
  };
}

const clip = (s: string) => (s.length > 2000 ? `${s.slice(0, 2000)}… (${s.length} chars)` : s);

/**
 * Checks a property within the fuzz budget; fails with fast-check's report
 * (seed and shrunk counterexample) and also when no input ran at all.
 */
export async function fuzz<Ts>(
  name: string,
  property: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>,
): Promise<void> {
  const details = await fc.check(property as fc.IAsyncProperty<Ts>, parameters<Ts>());
  if (details.failed) {
    const cause = details.errorInstance;
    // Counterexamples can be huge (long-input generators); keep the report readable.
    const report = fc.defaultReportMessage(details) ?? '';
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new Error(`${name}: ${clip(report)}\n${clip(why)}`);
  }
  if (details.numRuns === 0) throw new Error(`${name}: the time limit left no input to run`);
  if (process.env.BERTH_FUZZ_REPORT) {
    process.stdout.write(
      `fuzz ${name}: ${details.numRuns} runs${details.interrupted ? ' (time limit)' : ''}\n`,
    );
  }
}

/** Big-endian 32-bit values that stress length prefixes and counts. */
const hostileU32 = fc.constantFrom(
  0,
  1,
  0x7f,
  0x80,
  0xff,
  0xffff,
  0x7fffffff,
  0x80000000,
  0xffffffff,
);

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'length'; at: number; value: number }
  | { kind: 'repeat'; at: number; len: number; times: number };

const position = fc.nat({ max: 0xffff });

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: position }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: position,
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  fc.record({ kind: fc.constant('length' as const), at: position, value: hostileU32 }),
  fc.record({
    kind: fc.constant('repeat' as const),
    at: position,
    len: fc.integer({ min: 1, max: 32 }),
    times: fc.integer({ min: 1, max: 64 }),
  }),
);

function apply(input: Uint8Array, m: Mutation): Buffer {
  const b = Buffer.from(input);
  if (b.length === 0) return m.kind === 'insert' ? Buffer.from(m.bytes) : b;
  const at = m.at % b.length;
  switch (m.kind) {
    case 'flip':
      b[at]! ^= 1 << m.bit;
      return b;
    case 'truncate':
      return b.subarray(0, at);
    case 'insert':
      return Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    case 'length': {
      // Overwrite four bytes with a hostile count, wherever the prefix may sit.
      const o = Math.min(at, Math.max(0, b.length - 4));
      const v = Buffer.alloc(4);
      v.writeUInt32BE(m.value);
      v.copy(b, o, 0, Math.min(4, b.length - o));
      return b;
    }
    case 'repeat': {
      const slice = b.subarray(at, at + m.len);
      return Buffer.concat([b.subarray(0, at), ...Array(m.times).fill(slice), b.subarray(at)]);
    }
  }
}

/** Valid encodings from `valid`, each damaged by up to four mutations. */
export function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Buffer> {
  return fc
    .tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 4 }))
    .map(([input, ms]) => ms.reduce<Buffer>(apply, Buffer.from(input)));
}

/** Bytes that are either noise or damaged valid encodings. */
export function hostileBytes(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Buffer> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
    mutated(valid),
  );
}

/** Splits bytes at arbitrary points, as a socket may deliver them. */
export function chunked(bytes: Uint8Array, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of [...points, bytes.length]) {
    out.push(Buffer.from(bytes.subarray(last, p)));
    last = p;
  }
  return out.filter((c) => c.length > 0);
}

/** Cut points for `chunked`. */
export const cuts = fc.array(fc.nat(), { maxLength: 8 });

/** Strings that often break hand-written parsers: prototype keys, NULs, long runs. */
export const trickyString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', '', '\0', '\uFFFD'),
  fc.string({ maxLength: 2 }).map((s) => s.repeat(2000)),
);

/**
 * Fails unless err is the parser's own error type with a message; anything
 * else (a TypeError from a bad index, a stack overflow) is a parser bug.
 */
export function expectClearError(err: unknown, type: abstract new (...a: never[]) => Error): void {
  if (!(err instanceof type) || err.message.trim() === '') {
    const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    throw new Error(`expected a ${type.name} with a message, got ${what}`);
  }
}

/** Runs fn and returns what it threw (undefined if it returned). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err;
  }
}

/** Awaits fn and returns what it rejected with (undefined if it resolved). */
export async function rejected(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
    return undefined;
  } catch (err) {
    return err;
  }
}
