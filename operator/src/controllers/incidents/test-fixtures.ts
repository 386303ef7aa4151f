/** What the receiver's tests POST: an Alertmanager webhook message (version 4), one firing alert. */
export const ALERTMANAGER_MESSAGE = {
  version: "4",
  groupKey: '{}:{alertname="HighErrorRate"}',
  status: "firing",
  receiver: "crescendo",
  alerts: [
    {
      status: "firing",
      labels: { alertname: "HighErrorRate", namespace: "shop" },
      annotations: {},
      startsAt: "2030-01-01T03:00:00Z",
      endsAt: "0001-01-01T00:00:00Z",
      fingerprint: "f1",
    },
  ],
};
