-- Argo CD health check for crescendo.dev/Release.
-- Install as argocd-cm key resource.customizations.health.crescendo.dev_Release (docs/gitops.md).
-- Runs in Argo CD's Lua sandbox: base and table libraries only (no string, no math).
--
--   operator has not seen the latest spec (observedGeneration < generation)  -> Progressing
--   Stalled=True (a hold a person must resolve, or an invalid spec)          -> Degraded
--   phase Healthy -> Healthy, Progressing -> Progressing, Paused -> Suspended,
--   Degraded -> Degraded, RolledBack -> Degraded ("<cause>: rolled back <version> ...: <why>")
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
  hs.message = "Waiting for the Crescendo operator to reconcile the Release"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the Crescendo operator to observe generation " .. tostring(generation)
  return hs
end

-- A rollback also sets Stalled; its own condition names the cause (AnalysisFailed, Aborted, ...).
local stalled = condition(status.conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" and status.phase ~= "RolledBack" then
  hs.status = "Degraded"
  hs.message = explain(stalled)
  return hs
end

local message = status.message
if message == nil then
  message = ""
end
local phase = status.phase

if phase == "Healthy" then
  hs.status = "Healthy"
  hs.message = message
elseif phase == "Progressing" then
  hs.status = "Progressing"
  hs.message = message
elseif phase == "Paused" then
  hs.status = "Suspended"
  hs.message = message
elseif phase == "Degraded" then
  hs.status = "Degraded"
  hs.message = message
elseif phase == "RolledBack" then
  hs.status = "Degraded"
  local rolledBack = condition(status.conditions, "RolledBack")
  if rolledBack ~= nil and rolledBack.status == "True" then
    hs.message = explain(rolledBack)
  else
    hs.message = "RolledBack: " .. message
  end
else
  hs.status = "Progressing"
  hs.message = "Waiting for the Crescendo operator to set a phase"
end
return hs
