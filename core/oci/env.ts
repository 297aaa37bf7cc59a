/** containerd's default PATH for Unix containers. */
export const DEFAULT_UNIX_ENV: readonly string[] = [
  'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
];

function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq === -1 ? entry : entry.slice(0, eq);
}

/**
 * Merge `KEY=value` lists: an override replaces the base entry with the same key
 * in place, or is appended; an override without "=" unsets that key. Later
 * overrides win. Same rules as containerd's replaceOrAppendEnvValues.
 */
export function mergeEnv(base: readonly string[], overrides: readonly string[]): string[] {
  const result: (string | undefined)[] = [];
  const index = new Map<string, number>();
  for (const entry of base) {
    index.set(envKey(entry), result.length);
    result.push(entry);
  }
  for (const entry of overrides) {
    const key = envKey(entry);
    const at = index.get(key);
    if (!entry.includes('=')) {
      if (at !== undefined) result[at] = undefined;
      index.delete(key);
      continue;
    }
    if (at !== undefined) {
      result[at] = entry;
    } else {
      index.set(key, result.length);
      result.push(entry);
    }
  }
  return result.filter((e): e is string => e !== undefined);
}
