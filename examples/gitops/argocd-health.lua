-- Argo CD health check for accountdeletion.dev/AccountDeletion.
-- Add to argocd-cm as resource.customizations.health.accountdeletion.dev_AccountDeletion.
-- Healthy once the mode's goal is reached (Plan: plan written; PurgeRam: RAM empty; Delete: account
-- deleted); Degraded when the operator is blocked and says why; Suspended while spec.suspend is set.
local hs = { status = "Progressing", message = "Waiting for the operator" }
if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "spec.suspend is true"
  return hs
end
if obj.status == nil then
  return hs
end
local st = obj.status
if st.observedGeneration ~= nil and obj.metadata ~= nil and obj.metadata.generation ~= nil
    and st.observedGeneration < obj.metadata.generation then
  hs.message = "Waiting for the operator to observe the latest spec"
  return hs
end
local function cond(t)
  if st.conditions == nil then return nil end
  for _, c in ipairs(st.conditions) do
    if c.type == t then return c end
  end
  return nil
end
local stalled = cond("Stalled")
if st.phase == "Failed" or (stalled ~= nil and stalled.status == "True") then
  hs.status = "Degraded"
  hs.message = (stalled ~= nil and stalled.message) or st.message or "Blocked"
  return hs
end
local ready = cond("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = st.message or st.phase or "Ready"
  return hs
end
hs.message = st.message or st.phase or hs.message
return hs
