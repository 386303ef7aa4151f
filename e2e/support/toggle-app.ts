/**
 * A test app as docs/featuretoggle.md ("Guarded rollouts") tells squads to write one: it
 * evaluates its flags with the OpenFeature Node server SDK (the OFREP provider, against the
 * operator), an OpenFeature hook labels each request's metrics with the flag and the variant it
 * got, and prom-client serves them on /metrics, which the harness Prometheus scrapes (a file_sd
 * target). Each route evaluates one flag per request for a random user; a route can be told to
 * fail some requests of one variant, the way a broken feature would.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { writeFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import { OpenFeature, type Client, type Hook } from "@openfeature/server-sdk";
import { Counter, Registry } from "prom-client";

/** What one request evaluated: flag key → variant. */
const evaluated = new AsyncLocalStorage<Map<string, string>>();

/** The hook: remembers, for the request in progress, which variant each flag gave. */
const variantLabels: Hook = {
  after(hookContext, details) {
    evaluated.getStore()?.set(hookContext.flagKey, details.variant ?? "unknown");
  },
};

export interface Route {
  flag: string;
  /** Share of this variant's requests answered 500 (0..1); the others always succeed. */
  failing?: { variant: string; share: number };
}

export class ToggleApp {
  private readonly registry = new Registry();
  private readonly requests = new Counter({
    name: "app_requests_total",
    help: "Requests served, by the flag evaluated, its variant, and the status code.",
    labelNames: ["namespace", "flag", "variant", "code"],
    registers: [this.registry],
  });
  private server?: Server;
  private timer?: NodeJS.Timeout;
  private client?: Client;
  private targetFile?: string;
  private served = 0;
  /** The variant each user got last, per flag: what the test asserts on. */
  readonly lastVariant = new Map<string, Map<string, string>>();

  constructor(
    private readonly namespace: string,
    private readonly routes: Route[],
  ) {}

  /** Connects to OFREP as the namespace's ServiceAccount and starts serving /metrics and requests. */
  async start(ofrepPort: number, token: string, targetsDir: string): Promise<void> {
    const domain = `toggle-app-${this.namespace}`;
    await OpenFeature.setProviderAndWait(
      domain,
      new OFREPProvider({
        baseUrl: `http://127.0.0.1:${ofrepPort}/namespaces/${this.namespace}`,
        headers: { Authorization: `Bearer ${token}` },
      }),
    );
    this.client = OpenFeature.getClient(domain);
    this.client.addHooks(variantLabels);
    this.server = createServer((req, res) => {
      if (req.url !== "/metrics") return void res.writeHead(404).end();
      void this.registry.metrics().then((text) => {
        res.writeHead(200, { "content-type": this.registry.contentType }).end(text);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const address = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.targetFile = join(targetsDir, `${domain}.json`);
    await writeFile(this.targetFile, JSON.stringify([{ targets: [address], labels: { job: domain } }]));
    // About 40 requests a second per route: enough for a 5% share to show in a few seconds.
    this.timer = setInterval(() => void this.serveBatch(10), 250);
  }

  /** The share of users last served `variant` of `flag`, among those seen. */
  share(flag: string, variant: string): { share: number; users: number } {
    const users = [...(this.lastVariant.get(flag)?.values() ?? [])];
    const count = users.filter((v) => v === variant).length;
    return { share: users.length === 0 ? 0 : count / users.length, users: users.length };
  }

  /** Forgets what users got, so `share` reflects only what is served from now on. */
  resetObservations(): void {
    this.lastVariant.clear();
  }

  private async serveBatch(n: number): Promise<void> {
    await Promise.all(
      this.routes.flatMap((route) =>
        Array.from({ length: n }, () => this.serve(route, `user-${Math.floor(Math.random() * 2000)}`)),
      ),
    );
  }

  /** One request: evaluate the route's flag for `user`, maybe fail, count it by flag and variant. */
  private serve(route: Route, user: string): Promise<void> {
    return evaluated.run(new Map(), async () => {
      const client = this.client;
      if (!client) return;
      await client.getBooleanValue(route.flag, false, { targetingKey: user });
      const variant = evaluated.getStore()?.get(route.flag) ?? "unknown";
      let seen = this.lastVariant.get(route.flag);
      if (!seen) this.lastVariant.set(route.flag, (seen = new Map()));
      seen.set(user, variant);
      this.served++;
      const failing = route.failing;
      const fails = failing?.variant === variant && (this.served % 100) / 100 < failing.share;
      this.requests.inc({
        namespace: this.namespace,
        flag: route.flag,
        variant,
        code: fails ? "500" : "200",
      });
    });
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (this.targetFile) await rm(this.targetFile, { force: true });
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
