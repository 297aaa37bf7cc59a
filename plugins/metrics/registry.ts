// A small metrics registry: counters and histograms that code updates as
// things happen, and collectors that read current values (gauges) when the
// endpoint is scraped. Families come out in the shape the Prometheus text
// format writes (exposition.ts).

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface Sample {
  /** Appended to the family name: `_bucket`, `_sum`, `_count` for histograms. */
  suffix?: string;
  labels: readonly (readonly [string, string])[];
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

/** Reads current values at scrape time. */
export type Collector = () => MetricFamily[] | Promise<MetricFamily[]>;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function checkNames(name: string, labelNames: readonly string[]): void {
  if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name ${JSON.stringify(name)}`);
  for (const l of labelNames) {
    if (!LABEL_NAME.test(l) || l.startsWith('__') || l === 'le') {
      throw new Error(`invalid label name ${JSON.stringify(l)} for ${name}`);
    }
  }
}

function labelPairs(names: readonly string[], values: readonly string[]) {
  return names.map((n, i) => [n, values[i]!] as const);
}

/** A family from rows of label values and a value each (gauges from collectors). */
export function family(
  name: string,
  help: string,
  type: MetricType,
  labelNames: readonly string[],
  rows: Iterable<readonly [readonly string[], number]>,
): MetricFamily {
  checkNames(name, labelNames);
  const samples: Sample[] = [];
  for (const [values, value] of rows)
    samples.push({ labels: labelPairs(labelNames, values), value });
  return { name, help, type, samples };
}

/** Series of one metric, keyed by their label values. */
class Series<T> {
  private readonly byKey = new Map<string, { values: readonly string[]; data: T }>();

  constructor(
    readonly name: string,
    readonly labelNames: readonly string[],
    private readonly create: () => T,
  ) {
    checkNames(name, labelNames);
  }

  get(values: readonly string[]): T {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name} takes ${this.labelNames.length} label values`);
    }
    const key = values.join('\u0000');
    let s = this.byKey.get(key);
    if (!s) {
      s = { values: [...values], data: this.create() };
      this.byKey.set(key, s);
    }
    return s.data;
  }

  entries() {
    return this.byKey.values();
  }
}

export class Counter {
  private readonly series: Series<{ value: number }>;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[] = [],
  ) {
    this.series = new Series(name, labelNames, () => ({ value: 0 }));
  }

  inc(labelValues: readonly string[] = [], by = 1): void {
    if (!(by >= 0)) throw new Error(`${this.name}: a counter only goes up (got ${by})`);
    this.series.get(labelValues).value += by;
  }

  family(): MetricFamily {
    const samples: Sample[] = [];
    for (const { values, data } of this.series.entries()) {
      samples.push({ labels: labelPairs(this.labelNames, values), value: data.value });
    }
    return { name: this.name, help: this.help, type: 'counter', samples };
  }
}

export class Histogram {
  private readonly series: Series<{ counts: number[]; sum: number; count: number }>;
  readonly buckets: readonly number[];

  /** `buckets`: upper bounds, finite and increasing; `+Inf` is implied. */
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    buckets: readonly number[],
  ) {
    if (
      buckets.length === 0 ||
      buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]!))
    ) {
      throw new Error(`${name}: buckets must be finite and strictly increasing`);
    }
    this.buckets = [...buckets];
    this.series = new Series(name, labelNames, () => ({
      counts: new Array<number>(buckets.length).fill(0),
      sum: 0,
      count: 0,
    }));
  }

  observe(labelValues: readonly string[], value: number): void {
    const s = this.series.get(labelValues);
    // Counted in the first bucket that holds it; the text format's counts are cumulative.
    const i = this.buckets.findIndex((b) => value <= b);
    if (i >= 0) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  family(): MetricFamily {
    const samples: Sample[] = [];
    for (const { values, data } of this.series.entries()) {
      const labels = labelPairs(this.labelNames, values);
      let cumulative = 0;
      this.buckets.forEach((b, i) => {
        cumulative += data.counts[i]!;
        samples.push({
          suffix: '_bucket',
          labels: [...labels, ['le', String(b)]],
          value: cumulative,
        });
      });
      samples.push({ suffix: '_bucket', labels: [...labels, ['le', '+Inf']], value: data.count });
      samples.push({ suffix: '_sum', labels, value: data.sum });
      samples.push({ suffix: '_count', labels, value: data.count });
    }
    return { name: this.name, help: this.help, type: 'histogram', samples };
  }
}

export class Registry {
  private readonly metrics: { family(): MetricFamily }[] = [];
  private readonly collectors: Collector[] = [];

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }

  histogram(
    name: string,
    help: string,
    labelNames: readonly string[],
    buckets: readonly number[],
  ): Histogram {
    return this.add(new Histogram(name, help, labelNames, buckets));
  }

  collect(fn: Collector): void {
    this.collectors.push(fn);
  }

  /**
   * Every family, those of the same name merged (collectors may each return
   * part of one), sorted by name. A failing collector loses its families, not
   * the scrape; `onError` hears of it.
   */
  async gather(onError?: (err: unknown) => void): Promise<MetricFamily[]> {
    const out = new Map<string, MetricFamily>();
    const merge = (f: MetricFamily) => {
      const have = out.get(f.name);
      if (!have) out.set(f.name, { ...f, samples: [...f.samples] });
      else if (have.type !== f.type)
        throw new Error(`${f.name} is both ${have.type} and ${f.type}`);
      else have.samples.push(...f.samples);
    };
    for (const m of this.metrics) merge(m.family());
    const collected = await Promise.allSettled(this.collectors.map(async (c) => c()));
    for (const r of collected) {
      if (r.status === 'fulfilled') r.value.forEach(merge);
      else onError?.(r.reason);
    }
    return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private add<T extends { family(): MetricFamily }>(m: T): T {
    this.metrics.push(m);
    return m;
  }
}
