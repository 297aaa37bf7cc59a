// What the word under the cursor can be, from the words before it: a verb, a
// flag, an option's value, or a positional argument of a kind the daemon can
// list (container IDs, image names, ...). Walks the CLI's own command tree,
// so new verbs and flags complete without being listed here.

import type { Command, Option } from 'commander';

/** Things the daemon lists by name. */
export type Kind =
  'containers' | 'tasks' | 'images' | 'namespaces' | 'snapshots' | 'leases' | 'content';

/** Positional arguments by verb (canonical names): the kind of each, then of any further ones. */
const POSITIONALS: Record<string, { args?: (Kind | undefined)[]; rest?: Kind }> = {
  stats: { rest: 'containers' },
  run: { args: ['images'] },
  'containers create': { args: ['images'] },
  'containers info': { args: ['containers'] },
  'containers label': { args: ['containers'] },
  'containers rm': { rest: 'containers' },
  'tasks start': { args: ['containers'] },
  'tasks attach': { args: ['tasks'] },
  'tasks kill': { args: ['tasks'] },
  'tasks exec': { args: ['tasks'] },
  'tasks ps': { args: ['tasks'] },
  'tasks pause': { rest: 'tasks' },
  'tasks resume': { rest: 'tasks' },
  'tasks rm': { rest: 'tasks' },
  'tasks metrics': { rest: 'tasks' },
  'images rm': { rest: 'images' },
  'images tag': { args: ['images'] },
  'images label': { args: ['images'] },
  'images usage': { args: ['images'] },
  'images push': { args: [undefined, 'images'] },
  'images export': { args: [undefined], rest: 'images' },
  'namespaces rm': { rest: 'namespaces' },
  'namespaces label': { args: ['namespaces'] },
  'snapshots rm': { rest: 'snapshots' },
  'snapshots info': { args: ['snapshots'] },
  'snapshots label': { args: ['snapshots'] },
  'snapshots usage': { rest: 'snapshots' },
  'snapshots mounts': { args: [undefined, 'snapshots'] },
  'snapshots commit': { args: [undefined, 'snapshots'] },
  'snapshots prepare': { args: [undefined, 'snapshots'] },
  'snapshots view': { args: [undefined, 'snapshots'] },
  'leases rm': { rest: 'leases' },
  'leases resources': { args: ['leases'] },
  'content get': { args: ['content'] },
  'content rm': { rest: 'content' },
  'content label': { args: ['content'] },
};

/** Option values by option (attribute name): a kind to list, or the choices. */
const OPTION_VALUES: Record<string, Kind | string[]> = {
  namespace: 'namespaces',
  format: ['table', 'json'],
  snapshotter: ['overlayfs', 'native'],
};

/** What to offer: fixed words, or names of a kind to ask the daemon for; each starts with `prefix`. */
export type Completion = { words: string[] } | { kind: Kind; prefix: string; current: string };

/** Global option values seen on the line, for asking the right daemon and namespace. */
export interface LineOptions {
  address?: string;
  namespace?: string;
  snapshotter?: string;
}

/** Options are the verb's own: a parent's (global) ones go before the verb. */
function findOption(cmd: Command, flag: string): Option | undefined {
  return cmd.options.find((o) => o.long === flag || o.short === flag);
}

function optionValues(o: Option, prefix: string, current: string): Completion {
  const v = OPTION_VALUES[o.attributeName()];
  if (v === undefined) return { words: [] };
  if (typeof v === 'string') return { kind: v, prefix, current };
  return { words: v.map((x) => prefix + x).filter((x) => x.startsWith(prefix + current)) };
}

function flagsOf(cmd: Command): string[] {
  return cmd
    .createHelp()
    .visibleOptions(cmd)
    .flatMap((o) => [o.long, o.short])
    .filter((f): f is string => Boolean(f));
}

const pathOf = (cmd: Command) => {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
};

/**
 * Completes the last of `words` (the command line after the program name,
 * the word being typed last, '' for a new one). Flags are not offered after `--`.
 */
export function completeWords(root: Command, words: string[]): { line: LineOptions } & Completion {
  const line: LineOptions = {};
  const record = (o: Option, value: string) => {
    const name = o.attributeName();
    if (name === 'address' || name === 'namespace' || name === 'snapshotter') line[name] = value;
  };
  const current = words[words.length - 1] ?? '';
  let cmd = root;
  let positional = 0;
  let dashDash = false;
  for (let i = 0; i < words.length - 1; i++) {
    const w = words[i]!;
    if (dashDash) {
      positional++;
    } else if (w === '--') {
      dashDash = true;
    } else if (w.startsWith('-') && w.length > 1) {
      const eq = w.indexOf('=');
      const o = findOption(cmd, eq > 0 ? w.slice(0, eq) : w);
      if (!o?.required) continue;
      if (eq > 0) record(o, w.slice(eq + 1));
      else if (i + 1 === words.length - 1) return { line, ...optionValues(o, '', current) };
      else record(o, words[++i]!);
    } else {
      const sub =
        positional === 0
          ? cmd.commands.find((c) => c.name() === w || c.aliases().includes(w))
          : undefined;
      if (sub) cmd = sub;
      else positional++;
    }
  }
  const match = (list: string[]) => list.filter((x) => x.startsWith(current));

  if (!dashDash && current.startsWith('-')) {
    const eq = current.indexOf('=');
    if (eq > 0) {
      const o = findOption(cmd, current.slice(0, eq));
      if (!o?.required) return { line, words: [] };
      return { line, ...optionValues(o, current.slice(0, eq + 1), current.slice(eq + 1)) };
    }
    return { line, words: match([...new Set(flagsOf(cmd))]) };
  }
  const help = cmd.createHelp();
  const verbs = help.visibleCommands(cmd).map((c) => c.name());
  if (verbs.length > 0 && positional === 0) return { line, words: match(verbs) };
  const spec = POSITIONALS[pathOf(cmd)];
  const kind = spec && (positional < (spec.args?.length ?? 0) ? spec.args![positional] : spec.rest);
  return kind ? { line, kind, prefix: '', current } : { line, words: [] };
}
