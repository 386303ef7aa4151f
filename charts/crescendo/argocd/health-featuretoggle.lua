-- Argo CD health check for crescendo.dev/FeatureToggle.
-- Install as argocd-cm key resource.customizations.health.crescendo.dev_FeatureToggle
-- (docs/gitops.md). Runs in Argo CD's Lua sandbox: base and table libraries only.
--
--   operator has not seen the latest spec (observedGeneration < generation)  -> Progressing
--   Stalled=True (key conflict, flag flagd refuses, invalid spec)            -> Degraded
--   effectiveState KilledByRollback                                          -> Suspended
--   Ready=True (served, enabled or disabled)                                 -> Healthy
--   otherwise                                                                -> Progressing
--
-- A toggle killed by its guard Release's rollback is Suspended, not Degraded: serving the off
-- variant is the safety mechanism working as intended, and it waits for an outside event (the
-- Release Healthy again and a person's `rearm`). The failure itself shows on the Release, which
-- is Degraded while RolledBack.
hs = {}

-- The condition of this type in status.conditions, or nil.
local function condition(conditions, conditionType)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

-- "Reason: message", or the reason alone when there is no message.
local function explain(c)
  local reason = c.reason or c.type
  if c.message ~= nil and c.message ~= "" then
    return reason .. ": " .. c.message
  end
  return reason
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Crescendo operator to reconcile the FeatureToggle"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the Crescendo operator to observe generation " .. tostring(generation)
  return hs
end

local stalled = condition(status.conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = explain(stalled)
  return hs
end

local ready = condition(status.conditions, "Ready")
if status.effectiveState == "KilledByRollback" then
  hs.status = "Suspended"
  if ready ~= nil and ready.message ~= nil then
    hs.message = ready.message
  else
    hs.message = "Killed by the rollback of its guard Release"
  end
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
  local stale = condition(status.conditions, "Stale")
  if stale ~= nil and stale.status == "True" then
    hs.message = hs.message .. " Stale: " .. (stale.message or stale.reason or "")
  end
  return hs
end

hs.status = "Progressing"
local reconciling = condition(status.conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = explain(reconciling)
elseif ready ~= nil then
  hs.message = explain(ready)
else
  hs.message = "Waiting for the Crescendo operator to report readiness"
end
return hs
