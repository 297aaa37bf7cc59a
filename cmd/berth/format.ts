// `--format table|json|TEMPLATE` for every list verb: one option, one printer.
// Each verb supplies its items' stable JSON fields (what `json` prints and
// templates see) and its default table.

import { type Command, InvalidArgumentError } from 'commander';
import { UsageError } from './exit-codes.js';
import { printJSON } from './output.js';
import { type Template, TemplateError, parseTemplate } from './template.js';

export type OutputFormat =
  { kind: 'table' } | { kind: 'json' } | { kind: 'template'; source: string; template: Template };

/** Parses a `--format` value; anything but table, json or a `{{…}}` template is refused. */
export function parseFormat(value: string): OutputFormat {
  if (value === 'table') return { kind: 'table' };
  if (value === 'json') return { kind: 'json' };
  if (!value.includes('{{')) {
    throw new InvalidArgumentError('Use table, json or a template like "{{.ID}}".');
  }
  try {
    return { kind: 'template', source: value, template: parseTemplate(value) };
  } catch (err) {
    if (err instanceof TemplateError) throw new InvalidArgumentError(err.message);
    throw err;
  }
}

export interface FormatFlags {
  format?: OutputFormat;
  /** The older spelling of `--format json`. */
  json?: boolean;
  quiet?: boolean;
}

/** Adds `--format` and its `--json` shorthand to a verb. */
export function addFormatOption(cmd: Command): Command {
  return cmd
    .option('--format <format>', 'table, json, or a template like "{{.ID}}"', parseFormat)
    .option('--json', 'same as --format json');
}

export function chosenFormat(flags: FormatFlags): OutputFormat {
  return flags.format ?? (flags.json ? { kind: 'json' } : { kind: 'table' });
}

/** Renders one item with a template; a field the item lacks is the user's mistake. */
export function renderTemplate(template: Template, fields: unknown): string {
  try {
    return template.render(fields);
  } catch (err) {
    if (err instanceof TemplateError) throw new UsageError(err.message);
    throw err;
  }
}

export interface ListView<T> {
  /** The item as `json` prints it and templates see it: stable field names. */
  fields(item: T): object;
  /** The default output. */
  table(items: T[]): string | Promise<string>;
  /** What `-q` prints for the item (table format only). */
  id?(item: T): string;
}

/** Prints a list in the chosen format: a JSON array, one template line per item, or the table. */
export async function printList<T>(flags: FormatFlags, items: T[], view: ListView<T>) {
  const format = chosenFormat(flags);
  if (format.kind === 'json') return printJSON(items.map((i) => view.fields(i)));
  if (format.kind === 'template') {
    for (const i of items)
      process.stdout.write(renderTemplate(format.template, view.fields(i)) + '\n');
    return;
  }
  if (flags.quiet && view.id) {
    for (const i of items) process.stdout.write(view.id(i) + '\n');
    return;
  }
  process.stdout.write(await view.table(items));
}
