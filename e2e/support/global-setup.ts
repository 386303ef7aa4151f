/**
 * Starts what the e2e suite runs against (hack/local-env.ts) and stops it afterwards. The
 * operator itself is started per test file (e2e/support/operator.ts), so files can kill and
 * restart it.
 */
import type { TestProject } from "vitest/node";
import { startLocalEnvironment } from "../../hack/local-env.js";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const env = await startLocalEnvironment((message) => console.log(`[e2e] ${message}`));
  project.provide("kubeconfig", env.kubeconfig);
  project.provide("kubectl", env.kubectl);
  project.provide("prometheusUrl", env.prometheusUrl);
  project.provide("prometheusTargetsDir", env.prometheusTargetsDir);
  project.provide("prometheusDir", env.prometheusDir);
  project.provide("simulatorAddress", env.simulatorAddress);
  return env.stop;
}
