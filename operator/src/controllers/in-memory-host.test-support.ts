/**
 * A ControllerHost for the tests that register a controller: each informer an in-memory Store,
 * made the first time the controller asks for its resource (so a test sees what it watches), and
 * the controllers it adds. Not a test file itself; excluded from the build.
 */
import type { Controller, ControllerHost } from "../runtime/controller.js";
import { Store } from "../runtime/store.js";
import { systemClock, type KubeObject, type ReadStore, type Resource } from "../runtime/types.js";

export function inMemoryHost(logger: ControllerHost["logger"]) {
  const informers = new Map<string, Store<KubeObject>>();
  const added: Controller[] = [];
  const host: ControllerHost = {
    clock: systemClock,
    logger,
    informer: <T extends KubeObject>(res: Resource) => {
      let store = informers.get(res.plural);
      if (!store) informers.set(res.plural, (store = new Store<KubeObject>()));
      return store as unknown as ReadStore<T>;
    },
    add: (c) => added.push(c),
  };
  return { host, informers, added };
}
