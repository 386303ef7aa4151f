/**
 * Just enough of the Prometheus text format to read the operator's own /metrics: samples,
 * counter deltas between two scrapes, and histogram quantiles computed the way PromQL's
 * `histogram_quantile` does (linear interpolation inside the bucket).
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One scrape, indexed by metric name. */
export class Scrape {
  private readonly byName = new Map<string, Sample[]>();

  constructor(
    readonly samples: Sample[],
    /** When the scrape was taken (ms since the epoch). */
    readonly at: number,
  ) {
    for (const s of samples) {
      let list = this.byName.get(s.name);
      if (!list) this.byName.set(s.name, (list = []));
      list.push(s);
    }
  }

  /** Every sample of `name` whose labels include `match`. */
  select(name: string, match: Record<string, string> = {}): Sample[] {
    return (this.byName.get(name) ?? []).filter((s) =>
      Object.entries(match).every(([k, v]) => s.labels[k] === v),
    );
  }

  /** The sum of every sample of `name` matching `match` (0 when there is none). */
  sum(name: string, match: Record<string, string> = {}): number {
    return this.select(name, match).reduce((a, s) => a + s.value, 0);
  }

  /** The value of the first sample of `name`, or undefined. */
  value(name: string): number | undefined {
    return this.byName.get(name)?.[0]?.value;
  }
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the text exposition format; comments and malformed lines are skipped. */
export function parseMetrics(text: string, at = Date.now()): Scrape {
  const samples: Sample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(LABEL)) {
      labels[k!] = v!.replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    }
    samples.push({ name: m[1]!, labels, value: parseValue(m[3]!) });
  }
  return new Scrape(samples, at);
}

function parseValue(text: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  return Number(text);
}

/**
 * `after - before` for every series of a counter, keyed by the labels named in `by` (joined
 * with "|"). A series absent before counts from zero; a counter reset is taken as a restart.
 */
export function counterDelta(
  before: Scrape | undefined,
  after: Scrape,
  name: string,
  by: string[],
  match: Record<string, string> = {},
): Map<string, number> {
  const key = (s: Sample): string => by.map((l) => s.labels[l] ?? "").join("|");
  const start = new Map<string, number>();
  for (const s of before?.select(name, match) ?? []) start.set(key(s), (start.get(key(s)) ?? 0) + s.value);
  const out = new Map<string, number>();
  for (const s of after.select(name, match)) out.set(key(s), (out.get(key(s)) ?? 0) + s.value);
  for (const [k, v] of out) {
    const d = v - (start.get(k) ?? 0);
    out.set(k, d >= 0 ? d : v);
  }
  return out;
}

/** Bucket upper bound → cumulative count, summed over every series matching `match`. */
export function histogramBuckets(
  before: Scrape | undefined,
  after: Scrape,
  name: string,
  match: Record<string, string> = {},
): Map<number, number> {
  const delta = counterDelta(before, after, `${name}_bucket`, ["le"], match);
  return new Map(
    [...delta].map(([le, count]) => [parseValue(le), count] as const).sort((a, b) => a[0] - b[0]),
  );
}

/**
 * The q-quantile of a cumulative histogram, as PromQL's `histogram_quantile`: find the bucket
 * the rank falls in and interpolate linearly between its bounds. Undefined when it is empty;
 * a rank in the +Inf bucket returns the highest finite bound.
 */
export function histogramQuantile(q: number, buckets: Map<number, number>): number | undefined {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      if (bound === Infinity) return prevBound;
      if (count === prevCount) return bound;
      return prevBound + ((bound - prevBound) * (rank - prevCount)) / (count - prevCount);
    }
    prevBound = bound;
    prevCount = count;
  }
  return prevBound;
}
