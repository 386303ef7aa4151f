-- Argo CD health check for crescendo.dev/Squad.
-- Install as argocd-cm key resource.customizations.health.crescendo.dev_Squad (docs/gitops.md).
-- Runs in Argo CD's Lua sandbox: base and table libraries only (no string, no math).
--
--   operator has not seen the latest spec (observedGeneration < generation)  -> Progressing
--   Stalled=True (namespace conflict, invalid spec)                          -> Degraded
--   Ready=True                                                               -> Healthy
--   otherwise (Reconciling=True: namespaces and policies being created)      -> Progressing
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
  hs.message = "Waiting for the Crescendo operator to reconcile the Squad"
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
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
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
