-- tests/e2e/milter/verify.lua — DKIM verification through the milter
-- listener of bank `in` (PORT_VERIFY, stages = ["dkim-verify"], keys from
-- dnsmasq on loopback).  SIGNED is a message signed by dkimpy (RSA,
-- d=trusted.example) that also carries a foreign Authentication-Results
-- and, below it, a forged one claiming our authserv-id (mx.e2e.test).
--   VERIFY1: Authentication-Results inserted at 0 with dkim=pass; the
--            forged field (the 2nd Authentication-Results) deleted
--            (SMFIR_CHGHEADER, index 2, empty value), the foreign one kept.
--   VERIFY2: the same with one body byte changed: dkim=fail.
local t = dofile(HERE .. "/lib.lua")

local f = assert(io.open(SIGNED, "rb"))
local raw = f:read("a")
f:close()
local head, body = raw:match("^(.-\r\n)\r\n(.*)$")
if not head then t.fail("no header/body separator in " .. SIGNED) end
-- Fields as lib.lua's message() takes them: the name, and the text after
-- "Name: " with folded lines joined by LF (as Postfix passes them on).
local headers = {}
for l in head:gmatch("(.-)\r\n") do
  if l:match("^[ \t]") then
    headers[#headers][2] = headers[#headers][2] .. "\n" .. l
  else
    local n, v = l:match("^([^:]+): (.*)$")
    if not n then t.fail(SIGNED .. ": a field without 'Name: ': " .. l) end
    headers[#headers + 1] = { n, v }
  end
end
local ars = 0
for _, h in ipairs(headers) do
  if h[1]:lower() == "authentication-results" then ars = ars + 1 end
end
if ars ~= 2 then t.fail(SIGNED .. ": got " .. ars .. " Authentication-Results, want 2") end

local function run(qid, b)
  local conn = t.connect(PORT_VERIFY)
  t.ok(mt.conninfo(conn, "mail.trusted.example", "192.0.2.7"), "conninfo")
  t.message(conn, qid, headers, b, { from = "<news@trusted.example>" })
  t.reply_is(conn, SMFIR_CONTINUE, qid .. " EOM")
  local ins = t.inserted(conn, "Authentication-Results")
  if #ins ~= 1 then t.fail(qid .. ": got " .. #ins .. " Authentication-Results inserted, want 1") end
  local ar = ins[1][2]
  if ar:sub(1, 13) ~= " mx.e2e.test;" then t.fail(qid .. ": A-R starts '" .. ar:sub(1, 20) .. "'") end
  if not mt.eom_check(conn, MT_HDRDELETE, "Authentication-Results", 2) then
    t.fail(qid .. ": the forged Authentication-Results (index 2) was not deleted")
  end
  if mt.eom_check(conn, MT_HDRDELETE, "Authentication-Results", 1) then
    t.fail(qid .. ": the foreign Authentication-Results (index 1) was deleted")
  end
  local line = t.summary(qid)
  t.field_is(line, "action", "relayed", qid)
  mt.disconnect(conn)
  return ar, line
end

local ar, line = run("VERIFY1", body)
if not ar:find("dkim=pass", 1, true) or not ar:find("header.d=trusted.example", 1, true) then
  t.fail("VERIFY1: got Authentication-Results '" .. ar .. "', want dkim=pass for trusted.example")
end
t.has(line, "removed 1 Authentication-Results claiming mx.e2e.test", "VERIFY1")
t.has(line, 'dkim_verify="pass d=trusted.example s=rsa1 a=rsa-sha256', "VERIFY1")

local tampered = body:gsub("signed body", "signed bodY", 1)
if tampered == body then t.fail("could not tamper with the body") end
ar = run("VERIFY2", tampered)
if not ar:find("dkim=fail", 1, true) then
  t.fail("VERIFY2: got Authentication-Results '" .. ar .. "', want dkim=fail")
end
print("ok: verify.lua")
