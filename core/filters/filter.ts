// Filters and how they match. Each resource kind supplies an Adaptor that looks
// up a dotted field path (`["labels", "com.example.x"]`) on one object; the
// filter never knows the object's shape.

export interface FieldValue {
  value: string;
  /** Whether the field is set; what "set" means is up to the resource. */
  present: boolean;
}

export type Adaptor = (fieldpath: string[]) => FieldValue;

export interface Filter {
  match(adaptor: Adaptor): boolean;
}

export type Operator = 'present' | '==' | '!=' | '~=';

/** One `<fieldpath>[<operator><value>]` term. */
export class Selector implements Filter {
  constructor(
    readonly fieldpath: readonly string[],
    readonly operator: Operator,
    readonly value: string = '',
    private readonly re?: RegExp,
  ) {}

  match(adaptor: Adaptor): boolean {
    const { value, present } = adaptor([...this.fieldpath]);
    switch (this.operator) {
      case 'present':
        return present;
      case '==':
        return present && value === this.value;
      // Like containerd: an absent field reads as "" and so differs from any
      // non-empty value, and a regexp is tested against "" too.
      case '!=':
        return value !== this.value;
      case '~=':
        return this.re!.test(value);
    }
  }

  toString(): string {
    const path = this.fieldpath.map((f) => (/^[A-Za-z0-9_-]+$/.test(f) ? f : JSON.stringify(f)));
    const op = this.operator === 'present' ? '' : `${this.operator}${JSON.stringify(this.value)}`;
    return `${path.join('.')}${op}`;
  }
}

/** Matches when every member matches (the `,` of one filter string). */
export class All implements Filter {
  constructor(readonly filters: readonly Filter[]) {}
  match(adaptor: Adaptor): boolean {
    return this.filters.every((f) => f.match(adaptor));
  }
}

/** Matches when any member matches (the list of filter strings). */
export class AnyOf implements Filter {
  constructor(readonly filters: readonly Filter[]) {}
  match(adaptor: Adaptor): boolean {
    return this.filters.some((f) => f.match(adaptor));
  }
}

/** Matches everything; what an empty filter list or an empty string means. */
export const always: Filter = Object.freeze({ match: () => true });

/**
 * Looks up a label for the common `labels.<key>` selector. containerd joins the
 * rest of the path with `.`, so `labels.com.example.x` and
 * `labels."com.example.x"` address the same label.
 */
export function lookupLabel(
  labels: Readonly<Record<string, string>> | ReadonlyMap<string, string> | undefined,
  rest: readonly string[],
): FieldValue {
  if (!labels || rest.length === 0) return { value: '', present: false };
  const key = rest.join('.');
  const value =
    labels instanceof Map
      ? labels.get(key)
      : Object.prototype.hasOwnProperty.call(labels, key)
        ? (labels as Record<string, string>)[key]
        : undefined;
  return value === undefined ? { value: '', present: false } : { value, present: true };
}
