/**
 * Stands in for a Release's application pods, which KWOK does not run: an HTTP server that
 * exposes Prometheus metrics per revision — a request counter by status code and a latency
 * histogram — whose error rate and latency a test changes at run time. Prometheus scrapes it
 * like it would scrape real pods, so analysis is tested end to end against real PromQL.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface RevisionBehaviour {
  /** Requests per second the simulated pods serve. */
  rps: number;
  /** Share of requests answered with HTTP 500, 0..1. */
  errorRate: number;
  /** Latency every request takes, in seconds. */
  latencySeconds: number;
}

interface Series {
  labels: { namespace: string; release: string; revision: string };
  behaviour: RevisionBehaviour;
  ok: number;
  errors: number;
  /** Cumulative histogram bucket counts, aligned with BUCKETS. */
  buckets: number[];
  sum: number;
  count: number;
}

export type SetRevisionRequest = Series["labels"] & Partial<RevisionBehaviour>;

/** Changes a revision's behaviour on a simulator started by the e2e harness. */
export async function setRevisionBehaviour(
  simulatorAddress: string,
  request: SetRevisionRequest,
): Promise<void> {
  const res = await fetch(`http://${simulatorAddress}/revisions`, {
    method: "PUT",
    body: JSON.stringify(request),
  });
  if (res.status !== 204)
    throw new Error(`metrics simulator refused ${JSON.stringify(request)}: ${await res.text()}`);
}

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const TICK_MS = 250;

export class MetricsSimulator {
  private readonly series = new Map<string, Series>();
  private server?: Server;
  private timer?: NodeJS.Timeout;
  private lastTick = Date.now();

  /** Sets (or changes) how a revision behaves from now on; counters keep accumulating. */
  set(labels: Series["labels"], behaviour: Partial<RevisionBehaviour>): void {
    const key = `${labels.namespace}/${labels.release}/${labels.revision}`;
    const existing = this.series.get(key);
    const base: RevisionBehaviour = existing?.behaviour ?? { rps: 50, errorRate: 0, latencySeconds: 0.02 };
    const next = { ...base, ...behaviour };
    if (existing) existing.behaviour = next;
    else
      this.series.set(key, {
        labels,
        behaviour: next,
        ok: 0,
        errors: 0,
        buckets: BUCKETS.map(() => 0),
        sum: 0,
        count: 0,
      });
  }

  /** Advances every series by the requests served since the last tick (fractional carry kept). */
  private tick(): void {
    const now = Date.now();
    const seconds = (now - this.lastTick) / 1000;
    this.lastTick = now;
    for (const s of this.series.values()) {
      const requests = s.behaviour.rps * seconds;
      const errors = requests * s.behaviour.errorRate;
      s.errors += errors;
      s.ok += requests - errors;
      s.count += requests;
      s.sum += requests * s.behaviour.latencySeconds;
      BUCKETS.forEach((le, i) => {
        if (s.behaviour.latencySeconds <= le) s.buckets[i] = (s.buckets[i] ?? 0) + requests;
      });
    }
  }

  /** Prometheus text exposition of every series. */
  render(): string {
    const lines: string[] = [
      "# HELP http_requests_total Requests served, by status code.",
      "# TYPE http_requests_total counter",
    ];
    const label = (s: Series, extra = "") =>
      `{namespace="${s.labels.namespace}",release="${s.labels.release}",revision="${s.labels.revision}"${extra}}`;
    for (const s of this.series.values()) {
      lines.push(`http_requests_total${label(s, ',code="200"')} ${s.ok.toFixed(3)}`);
      lines.push(`http_requests_total${label(s, ',code="500"')} ${s.errors.toFixed(3)}`);
    }
    lines.push(
      "# HELP http_request_duration_seconds Request latency.",
      "# TYPE http_request_duration_seconds histogram",
    );
    for (const s of this.series.values()) {
      BUCKETS.forEach((le, i) =>
        lines.push(
          `http_request_duration_seconds_bucket${label(s, `,le="${le}"`)} ${(s.buckets[i] ?? 0).toFixed(3)}`,
        ),
      );
      lines.push(`http_request_duration_seconds_bucket${label(s, ',le="+Inf"')} ${s.count.toFixed(3)}`);
      lines.push(`http_request_duration_seconds_sum${label(s)} ${s.sum.toFixed(3)}`);
      lines.push(`http_request_duration_seconds_count${label(s)} ${s.count.toFixed(3)}`);
    }
    return lines.join("\n") + "\n";
  }

  /** Starts serving /metrics on 127.0.0.1 and returns the `host:port` Prometheus should scrape. */
  async start(port = 0): Promise<string> {
    this.lastTick = Date.now();
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.server = createServer((req, res) => {
      if (req.url === "/metrics") {
        this.tick();
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(this.render());
      } else if (req.url === "/revisions" && req.method === "PUT") {
        // Tests run in other processes than the harness, so behaviour is set over HTTP.
        let body = "";
        req.on("data", (chunk: Buffer) => (body += chunk.toString()));
        req.on("end", () => {
          try {
            const { namespace, release, revision, ...behaviour } = JSON.parse(body) as SetRevisionRequest;
            this.set({ namespace, release, revision }, behaviour);
            res.writeHead(204).end();
          } catch (err) {
            res.writeHead(400).end(String(err));
          }
        });
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(port, "127.0.0.1", resolve));
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
