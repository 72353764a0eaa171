/**
 * Counters and histograms for the hot path, exposed through a prom-client
 * registry like its own metrics.
 *
 * prom-client hashes and validates the label set on every update, even
 * through a child bound with labels(); with six updates per Decide that was
 * a tenth of the fast path's throughput (docs/benchmarks.md, P1). Here a
 * label set is bound once and an update is an addition (counter) or a
 * bucket search and three additions (histogram). The unbound forms
 * (`inc(labels)`, `observe(labels, v)`) find the series by its label values.
 *
 * Each metric registers itself on the registry with the shape the registry
 * reads from a metric (name, help, type, aggregator, get, reset), so the
 * text exposition, getMetricsAsJSON and cluster aggregation treat it as one
 * of prom-client's.
 */
import type { Metric, MetricValue, Registry } from "prom-client";

type LabelValues<L extends string> = Record<L, string | number>;

interface Config<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
  registers: Registry[];
}

/** A value as the registry reads it (a histogram names its _bucket, _sum and _count lines). */
type Exposed = MetricValue<string> & { metricName?: string; exemplar?: null };

/** Behaviour shared by both kinds: label sets to series, registration, exposition. */
abstract class HotMetric<L extends string, S extends { labels: LabelValues<L> }> {
  abstract readonly type: "counter" | "histogram";
  readonly name: string;
  readonly help: string;
  readonly aggregator = "sum" as const;
  protected readonly labelNames: readonly L[];
  protected readonly series = new Map<string, S>();

  constructor(config: Config<L>) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames ?? [];
    for (const registry of config.registers) {
      registry.registerMetric(this as unknown as Metric);
    }
  }

  protected abstract create(labels: LabelValues<L>): S;

  /** The series' values as the registry reads them. */
  protected abstract exposed(): Exposed[];

  /** What the registry reads from a metric. */
  get(): Promise<{
    name: string;
    help: string;
    type: "counter" | "histogram";
    values: Exposed[];
    aggregator: "sum";
  }> {
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      values: this.exposed(),
      aggregator: this.aggregator,
    });
  }

  /** The series of a label set, created on first use. */
  protected seriesOf(labels: Partial<LabelValues<L>> = {}): S {
    let key = "";
    for (const name of this.labelNames) key += `${labels[name] ?? ""}\u0000`;
    let series = this.series.get(key);
    if (series === undefined) {
      for (const name of Object.keys(labels)) {
        if (!this.labelNames.includes(name as L)) {
          throw new Error(`label "${name}" is not a label of ${this.name}`);
        }
      }
      // Labels in declaration order, as the exposition writes them.
      const ordered = {} as LabelValues<L>;
      for (const name of this.labelNames) {
        const value = labels[name];
        if (value !== undefined) ordered[name] = value;
      }
      series = this.create(ordered);
      this.series.set(key, series);
    }
    return series;
  }
}

export interface HotCounterChild {
  inc(value?: number): void;
}

interface CounterSeries<L extends string> extends HotCounterChild {
  labels: LabelValues<L>;
  value: number;
}

export class HotCounter<L extends string = never> extends HotMetric<L, CounterSeries<L>> {
  readonly type = "counter" as const;

  protected create(labels: LabelValues<L>): CounterSeries<L> {
    const series: CounterSeries<L> = {
      labels,
      value: 0,
      inc(value = 1) {
        if (!(value >= 0) || !Number.isFinite(value)) {
          throw new TypeError(`a counter only grows by a finite amount, not ${value}`);
        }
        series.value += value;
      },
    };
    return series;
  }

  /** The counter of one label set, for repeated increments. */
  labels(labels: LabelValues<L>): HotCounterChild {
    return this.seriesOf(labels);
  }

  inc(labels?: LabelValues<L>, value = 1): void {
    this.seriesOf(labels).inc(value);
  }

  protected exposed(): Exposed[] {
    return [...this.series.values()].map(({ labels, value }) => ({ labels: { ...labels }, value }));
  }

  reset(): void {
    // Bound children stay valid: their series are zeroed, not dropped.
    for (const series of this.series.values()) series.value = 0;
  }
}

export interface HotHistogramChild {
  observe(value: number): void;
}

interface HistogramSeries<L extends string> extends HotHistogramChild {
  labels: LabelValues<L>;
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  counts: Float64Array;
  sum: number;
  count: number;
}

export class HotHistogram<L extends string = never> extends HotMetric<L, HistogramSeries<L>> {
  readonly type = "histogram" as const;
  private readonly upperBounds: readonly number[];

  constructor(config: Config<L> & { buckets: readonly number[] }) {
    super(config);
    const sorted = [...config.buckets].sort((a, b) => a - b);
    if (sorted.some((b, i) => !Number.isFinite(b) || (i > 0 && b === sorted[i - 1]))) {
      throw new Error(`${config.name}: buckets must be distinct finite numbers`);
    }
    this.upperBounds = sorted;
  }

  protected create(labels: LabelValues<L>): HistogramSeries<L> {
    const bounds = this.upperBounds;
    const series: HistogramSeries<L> = {
      labels,
      counts: new Float64Array(bounds.length + 1),
      sum: 0,
      count: 0,
      observe(value: number) {
        if (!Number.isFinite(value)) throw new TypeError(`not a finite number: ${value}`);
        let i = 0;
        while (i < bounds.length && value > (bounds[i] as number)) i++;
        series.counts[i]! += 1;
        series.sum += value;
        series.count += 1;
      },
    };
    return series;
  }

  /** The histogram of one label set, for repeated observations. */
  labels(labels: LabelValues<L>): HotHistogramChild {
    return this.seriesOf(labels);
  }

  observe(labels: LabelValues<L>, value: number): void;
  observe(value: number): void;
  observe(labelsOrValue: LabelValues<L> | number, value?: number): void {
    if (typeof labelsOrValue === "number") this.seriesOf().observe(labelsOrValue);
    else this.seriesOf(labelsOrValue).observe(value as number);
  }

  protected exposed(): Exposed[] {
    const values: Exposed[] = [];
    for (const { labels, counts, sum, count } of this.series.values()) {
      let cumulative = 0;
      this.upperBounds.forEach((le, i) => {
        cumulative += counts[i] as number;
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { le, ...labels },
          value: cumulative,
          exemplar: null,
        });
      });
      values.push(
        {
          metricName: `${this.name}_bucket`,
          labels: { le: "+Inf", ...labels },
          value: count,
          exemplar: null,
        },
        { metricName: `${this.name}_sum`, labels: { ...labels }, value: sum },
        { metricName: `${this.name}_count`, labels: { ...labels }, value: count },
      );
    }
    return values;
  }

  reset(): void {
    for (const series of this.series.values()) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}
