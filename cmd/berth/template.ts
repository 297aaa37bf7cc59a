// A tiny subset of Go's text/template for `--format`: `{{.Field}}`,
// `{{.Field.Sub}}`, `{{.}}` and a few functions (`{{json .}}`,
// `{{index .Labels "app"}}`, ...). Field access and those functions only:
// nothing in a format string can run code.

import { bigintAsString } from './output.js';

export class TemplateError extends Error {
  constructor(message: string) {
    super(`template: ${message}`);
    this.name = 'TemplateError';
  }
}

type Arg = { path: string[] } | { literal: string | number };
type Node = { text: string } | { fn: string; args: Arg[] };

const FUNCTIONS: Record<string, { arity: number; call: (...a: unknown[]) => unknown }> = {
  json: { arity: 1, call: (v) => toJSON(v) },
  join: {
    arity: 2,
    call: (list, sep) => {
      if (!Array.isArray(list)) throw new TemplateError('join needs a list');
      return list.map(show).join(String(sep));
    },
  },
  index: {
    arity: 2,
    call: (map, key) => (isRecord(map) ? map[String(key)] : undefined),
  },
  upper: { arity: 1, call: (v) => show(v).toUpperCase() },
  lower: { arity: 1, call: (v) => show(v).toLowerCase() },
  truncate: { arity: 2, call: (v, n) => show(v).slice(0, Number(n)) },
};

export const TEMPLATE_FUNCTIONS = Object.keys(FUNCTIONS);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function toJSON(v: unknown): string {
  return JSON.stringify(v, bigintAsString) ?? 'null';
}

/**
 * How `{{.X}}` prints a value: nothing for null, strings as they are, lists
 * comma-joined, string maps (labels) as k=v pairs sorted by key, anything else as JSON.
 */
export function show(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return v.map(show).join(',');
  if (isRecord(v) && Object.values(v).every((x) => typeof x === 'string')) {
    return Object.entries(v)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, x]) => `${k}=${x as string}`)
      .join(',');
  }
  return toJSON(v);
}

/** Splits an action's text into words: `.paths`, identifiers, "strings" and numbers. */
function words(src: string): string[] {
  const out: string[] = [];
  const re = /\s*(?:("(?:[^"\\]|\\.)*")|([^\s"]+))\s*/y;
  let pos = 0;
  for (let m = re.exec(src); m && m[0].length > 0; m = re.exec(src)) {
    out.push(m[1] ?? m[2]!);
    pos = re.lastIndex;
  }
  if (pos < src.length) throw new TemplateError(`unterminated string in {{${src}}}`);
  return out;
}

function parseArg(word: string, action: string): Arg {
  if (word.startsWith('"')) return { literal: JSON.parse(word) as string };
  if (/^-?\d+$/.test(word)) return { literal: Number(word) };
  if (word === '.') return { path: [] };
  if (/^(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(word)) return { path: word.slice(1).split('.') };
  throw new TemplateError(
    `unexpected ${JSON.stringify(word)} in {{${action}}}: use .Field, "text" or a number`,
  );
}

function parseAction(action: string): Node {
  const all = words(action);
  if (all.includes('|')) throw new TemplateError(`pipelines are not supported: {{${action}}}`);
  const [head, ...rest] = all;
  if (head === undefined) throw new TemplateError('empty action {{}}');
  const fn = FUNCTIONS[head];
  if (!fn) {
    if (rest.length > 0 || !head.startsWith('.')) {
      throw new TemplateError(
        `unknown function ${JSON.stringify(head)}; functions: ${TEMPLATE_FUNCTIONS.join(', ')}`,
      );
    }
    return { fn: '', args: [parseArg(head, action)] };
  }
  if (rest.length !== fn.arity) {
    throw new TemplateError(`${head} takes ${fn.arity} argument(s), got ${rest.length}`);
  }
  return { fn: head, args: rest.map((w) => parseArg(w, action)) };
}

/** Field lookup; a name missing at the top level is a typo (error), deeper it is an absent key (''). */
function lookup(data: unknown, path: string[]): unknown {
  let v = data;
  for (const [i, name] of path.entries()) {
    if (!isRecord(v)) {
      if (v === undefined || v === null) return undefined;
      throw new TemplateError(`cannot read .${name} of a ${Array.isArray(v) ? 'list' : typeof v}`);
    }
    if (i === 0 && !(name in v)) {
      throw new TemplateError(
        `no field ${JSON.stringify(name)}; fields: ${Object.keys(v).join(', ')}`,
      );
    }
    v = v[name];
  }
  return v;
}

export interface Template {
  render(data: unknown): string;
}

/** Parses a format string; `\t` and `\n` written literally become a tab and a newline. */
export function parseTemplate(src: string): Template {
  const text = src.replaceAll('\\t', '\t').replaceAll('\\n', '\n');
  const nodes: Node[] = [];
  let pos = 0;
  while (pos < text.length) {
    const open = text.indexOf('{{', pos);
    if (open < 0) {
      nodes.push({ text: text.slice(pos) });
      break;
    }
    const close = text.indexOf('}}', open + 2);
    if (close < 0) throw new TemplateError(`unclosed action at offset ${open}`);
    if (open > pos) nodes.push({ text: text.slice(pos, open) });
    nodes.push(parseAction(text.slice(open + 2, close).trim()));
    pos = close + 2;
  }
  return {
    render(data) {
      return nodes
        .map((n) => {
          if ('text' in n) return n.text;
          const args = n.args.map((a) => ('path' in a ? lookup(data, a.path) : a.literal));
          return show(n.fn ? FUNCTIONS[n.fn]!.call(...args) : args[0]);
        })
        .join('');
    },
  };
}
