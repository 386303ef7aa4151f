/**
 * The operator's entry point: configuration, one shared manager (informers, leader election,
 * health and metrics), the three controllers, and graceful shutdown on SIGTERM.
 */
import { DAY_MS } from "./api/common.js";
import { FeatureToggleResource, ReleaseResource, SquadResource } from "./api/kinds.js";
import { OPERATOR_CACHE } from "./cache.js";
import { PrometheusAllowlist } from "./analysis/allowlist.js";
import { HelpRequested, loadConfig } from "./config.js";
import { registerFeatureToggleController } from "./controllers/featuretoggle/controller.js";
import { flagDocumentsFrom } from "./controllers/featuretoggle/documents.js";
import { evaluationInsight } from "./controllers/featuretoggle/insight.js";
import { startPublishing } from "./controllers/featuretoggle/insight-replicas.js";
import { evaluationMetrics } from "./controllers/featuretoggle/metrics.js";
import { gatewayApiInstalled, registerReleaseController } from "./controllers/release/controller.js";
import { OncallWebhook } from "./controllers/release/notify.js";
import { registerSquadController } from "./controllers/squad/controller.js";
import { createOfrepServer } from "./flags/ofrep.js";
import { setUpOfrepAuth } from "./flags/ofrep-auth-setup.js";
import { ofrepToken } from "./flags/ofrep-token.js";
import { createReceiver } from "./controllers/incidents/receiver.js";
import { receiverTlsCredentials } from "./controllers/incidents/receiver-tls.js";
import { createResponder } from "./controllers/incidents/respond.js";
import { createLogger } from "./observability/logger.js";
import { registry, restClientMetrics } from "./observability/metrics.js";
import { createKubeClient } from "./runtime/client.js";
import { EventRecorder } from "./runtime/events.js";
import { loadKubeConfig } from "./runtime/kubeconfig.js";
import { createManager, LeadershipLostError } from "./runtime/manager.js";
import { abortOnSignals, untilApiserverAnswers } from "./runtime/startup.js";
import { ConfigMapResource, NamespaceResource } from "./runtime/resources.js";

const logger = createLogger();

async function main(): Promise<void> {
  const config = loadConfig(process.argv.slice(2), process.env);
  // A malformed entry stops the operator here, naming it, rather than matching nothing.
  const allowlist = PrometheusAllowlist.of(config.allowedPrometheusAddresses);
  const kubeConfig = loadKubeConfig({ path: config.kubeconfig });
  const client = createKubeClient(kubeConfig, {
    qps: config.qps,
    burst: config.burst,
    onRequest: restClientMetrics(),
  });
  const manager = createManager({
    client,
    kubeConfig,
    logger,
    registry,
    leaderElection: config.leaderElection,
    leaseNamespace: config.leaseNamespace,
    leaseName: config.leaseName,
    identity: config.identity,
    healthPort: config.healthPort,
    host: config.host,
    cache: OPERATOR_CACHE,
    syncPeriodMs: config.syncPeriodMs,
    watchTimeoutSeconds: Math.floor(config.watchTimeoutMs / 1000),
  });
  // The probes answer from here on: alive, and not ready (saying why) until the apiserver answers
  // and the informers have listed. An apiserver not up yet is waited for, not a reason to exit.
  await manager.listen();
  const boot = abortOnSignals();
  const gatewayAPI = await untilApiserverAnswers(() => gatewayApiInstalled(client), {
    clock: manager.clock,
    logger,
    signal: boot.signal,
    onWaiting: (why) => manager.setNotReady(why),
  }).finally(() => boot.dispose());
  if (gatewayAPI.stopped) {
    logger.info("stopped before the apiserver answered");
    await manager.closeListeners();
    client.close();
    return;
  }
  // Events get a client and rate limiter of their own, as controller-runtime's recorder does:
  // fire-and-forget, they would otherwise take tokens the reconcilers' writes (a rollback's
  // included) wait for. Their queue never delays a reconcile; a storm only delays Events.
  const eventsClient = createKubeClient(kubeConfig, {
    qps: config.eventsQps,
    burst: config.eventsBurst,
    userAgent: "crescendo-events",
    onRequest: restClientMetrics({ rateLimiter: false }),
  });
  const recorder = new EventRecorder({
    client: eventsClient,
    logger,
    reportingInstance: config.identity,
  });

  const squads = registerSquadController(manager, {
    client,
    recorder,
    logger,
    workers: config.workers,
    secretReader: {
      clusterRole: config.secretReaderClusterRole,
      serviceAccount: config.serviceAccountName
        ? { name: config.serviceAccountName, namespace: config.operatorNamespace }
        : undefined,
      operatorNamespace: config.operatorNamespace,
    },
    declaredTribes: config.tribes,
    revertWindowMs: config.revertWindowMs,
    // Incidents' on-call messages: the Releases' webhook (same Secret, same checks).
    oncall: { webhook: new OncallWebhook({ client }), client },
  });
  const releases = registerReleaseController(manager, {
    client,
    recorder,
    logger,
    workers: config.workers,
    gatewayAPI: gatewayAPI.value,
    allowlist,
  });
  // OFREP is served by every replica, leader or not, from the informer caches; the controller
  // (the leader's) writes the same compiled documents to ConfigMaps.
  const flags = flagDocumentsFrom(manager);
  // Every replica serves OFREP and counts what it served; each publishes its counts for the
  // leader to merge into toggle status (controllers/featuretoggle/insight-replicas.ts).
  const insightReplica = { identity: config.identity, namespace: config.operatorNamespace };
  // --toggle-insight=false: nothing counts, publishes or merges evaluations (the cost is known:
  // docs/performance.md), and toggles say insight is off rather than that they are unused.
  const counting = config.toggleInsight;
  if (!counting)
    logger.info("--toggle-insight=false: OFREP evaluations are not counted; toggles get no insight");
  const stopPublishing = !counting
    ? () => undefined
    : startPublishing({
        client,
        configMaps: manager.informer(ConfigMapResource),
        local: evaluationInsight,
        self: insightReplica,
        intervalMs: config.insightPublishIntervalMs,
        logger: logger.child({ component: "insight" }),
      });
  const toggles = registerFeatureToggleController(manager, {
    client,
    recorder,
    logger,
    workers: config.workers,
    flags,
    allowlist,
    ...(counting ? { insight: evaluationInsight, replica: insightReplica } : { insightOff: true }),
    debt: {
      unusedAfterMs: Math.round(config.toggleUnusedDays * DAY_MS),
      rolledOutAfterMs: Math.round(config.toggleRolledOutDays * DAY_MS),
    },
  });
  // TokenReviews for OFREP callers get a client and rate limit of their own: app traffic must
  // never delay a reconcile's writes (verified tokens are cached, so this is mostly idle).
  const ofrepAuthClient = createKubeClient(kubeConfig, {
    qps: 20,
    burst: 50,
    userAgent: "crescendo-ofrep-auth",
    onRequest: restClientMetrics({ rateLimiter: false }),
  });
  const ofrep = createOfrepServer({
    source: flags,
    port: config.ofrepPort,
    host: config.host,
    authorize: setUpOfrepAuth({
      mode: config.ofrepAuth,
      audience: config.ofrepAudience,
      token: config.ofrepToken,
      tokenFile: config.ofrepTokenFile,
      tokenNamespaces: config.ofrepTokenNamespaces,
      client: ofrepAuthClient,
      namespaces: manager.informer(NamespaceResource),
      squads: manager.informer(SquadResource),
      tribes: config.tribes,
      logger: logger.child({ component: "ofrep" }),
    }),
    metrics: evaluationMetrics,
    ...(counting
      ? {
          onEvaluated: evaluationInsight.record.bind(evaluationInsight),
        }
      : {}),
    logger: logger.child({ component: "ofrep" }),
  });

  // The Alertmanager receiver: only with a token or a client CA, or both (there is no
  // unauthenticated mode; loadConfig refused inconsistent flags), on a port of its own, over TLS
  // when given a pair; every replica answers, only the leader acts (controllers/incidents/receiver.ts).
  const incidentToken = ofrepToken({
    token: config.incidentToken,
    file: config.incidentTokenFile,
    what: "incident token",
    flag: "--incident-token-file",
  });
  const incidentTls =
    config.incidentTlsCertFile && config.incidentTlsKeyFile
      ? {
          credentials: receiverTlsCredentials(
            {
              certFile: config.incidentTlsCertFile,
              keyFile: config.incidentTlsKeyFile,
              ...(config.incidentClientCaFile ? { clientCaFile: config.incidentClientCaFile } : {}),
            },
            logger.child({ component: "incidents" }),
          ),
          clientCert: config.incidentClientCaFile !== undefined,
          clientNames: config.incidentClientNames,
        }
      : undefined;
  const receiver =
    incidentToken || incidentTls?.clientCert
      ? createReceiver({
          port: config.incidentPort,
          host: config.host,
          ...(incidentToken ? { token: incidentToken } : {}),
          ...(incidentTls ? { tls: incidentTls } : {}),
          isLeader: () => manager.isLeader(),
          handle: createResponder({
            client,
            recorder,
            logger: logger.child({ component: "incidents" }),
            squads: manager.informer(SquadResource),
            namespaces: manager.informer(NamespaceResource),
            releases: manager.informer(ReleaseResource),
            toggles: manager.informer(FeatureToggleResource),
            mapping: config.incidentLabels,
          }),
          logger: logger.child({ component: "incidents" }),
        })
      : undefined;

  logger.info({ identity: config.identity, leaderElection: config.leaderElection }, "crescendo starting");
  if (allowlist.entries.length === 0) {
    logger.info(
      "no --allowed-prometheus-addresses: Releases may query only their squad's delivery addresses",
    );
  } else {
    logger.info(
      { allowedPrometheusAddresses: allowlist.entries },
      "analysis may query these Prometheus addresses",
    );
  }
  if (config.tribes.length === 0) {
    logger.info("no --tribes: a Squad may name any tribe in spec.tribe (docs/security.md)");
  } else {
    logger.info({ tribes: config.tribes }, "Squads may join only these tribes");
  }
  const ofrepAddress = await ofrep.listen();
  logger.info({ address: `${ofrepAddress.address}:${ofrepAddress.port}` }, "serving OFREP");
  if (receiver) {
    const a = await receiver.listen();
    logger.info(
      {
        address: `${a.address}:${a.port}`,
        tls: incidentTls !== undefined,
        auth: [incidentToken && "bearer token", incidentTls?.clientCert && "client certificate"]
          .filter(Boolean)
          .join(" and "),
      },
      "serving the Alertmanager receiver (POST /alertmanager)",
    );
  } else {
    logger.info(
      "no --incident-token-file nor --incident-client-ca-file: the Alertmanager receiver is off (docs/incidents.md)",
    );
  }
  try {
    await manager.runUntilSignal();
  } finally {
    stopPublishing();
    await ofrep.close();
    await receiver?.close();
    releases.close(); // drop on-call retries: nothing may outlive the grace period
    toggles.close();
    squads.close();
  }
  client.close();
  eventsClient.close();
  ofrepAuthClient.close();
  logger.info("crescendo stopped");
}

main().catch((err: unknown) => {
  if (err instanceof HelpRequested) {
    // Asked for, not a failure: the usage on stdout, exit 0, no log line.
    process.stdout.write(`${err.message}\n`);
    return;
  }
  if (err instanceof LeadershipLostError)
    logger.error({ err }, "lost leadership; exiting so a new leader takes over");
  else logger.fatal({ err }, "crescendo failed");
  process.exitCode = 1;
  // Give pino a moment to flush before the process ends on its own.
  setTimeout(() => process.exit(1), 100).unref();
});
