-- tests/e2e/milter/negotiate.lua — option negotiation on the signing
-- listener (PORT_SIGN).  miltertest's mt.negotiate takes (conn, version,
-- protocol steps, actions) (its manual page swaps the last two).
--   1. Version 2 (no SMFIP_* flags of version 6): every step is answered,
--      no SMFIP_HDR_LEADSPC (the MTA sends values without the space after
--      the colon, and writes "Name: " before an inserted value itself); the
--      message is signed; written to OUT/sign-v2.eml for dkimpy.
--   2. Version 6 offering every step but actions without SMFIF_ADDHDRS: the
--      signing message gets 451 4.3.5 (SMFIR_REPLYCODE), summary
--      action=tempfail.
--   3. Version 6 offering only SMFIF_ADDHDRS: signed (inserts only need it).
local t = dofile(HERE .. "/lib.lua")

local ALL_ACTIONS = SMFIF_ADDHDRS + SMFIF_CHGBODY + SMFIF_ADDRCPT + SMFIF_DELRCPT + SMFIF_CHGHDRS +
    SMFIF_QUARANTINE + SMFIF_CHGFROM + SMFIF_ADDRCPT_PAR + SMFIF_SETSYMLIST
local ALL_STEPS = 0x1FFFFF

-- ------------------------------------------------------------ 1. version 2
local conn = t.connect(PORT_SIGN)
t.ok(mt.negotiate(conn, 2, ALL_STEPS, ALL_ACTIONS), "negotiate v2")
for _, o in ipairs({ "SMFIP_HDR_LEADSPC", "SMFIP_NR_HDR", "SMFIP_NR_CONN", "SMFIP_NR_BODY",
  "SMFIP_NOUNKNOWN", "SMFIP_NODATA" }) do
  if mt.test_option(conn, _G[o]) then t.fail("v2: got " .. o .. ", want no version 6 flag") end
end
if not mt.test_action(conn, SMFIF_ADDHDRS) then t.fail("v2: got no SMFIF_ADDHDRS") end
-- Without SMFIP_NR_* every step has a reply, which miltertest reads.
t.ok(mt.conninfo(conn, "v2.example", "2001:db8::25"), "conninfo")
t.reply_is(conn, SMFIR_CONTINUE, "v2 CONNECT")
t.ok(mt.helo(conn, "v2.example"), "helo")
t.reply_is(conn, SMFIR_CONTINUE, "v2 HELO")
local headers = {
  { "From", "Alice <alice@example.com>" },
  { "To", "<bob@example.org>" },
  { "Subject", "version 2 MTA" },
  { "Date", "Mon, 1 Jan 2024 00:00:00 +0000" },
  { "Message-ID", "<sign-v2@e2e.test>" },
}
local body = "Hello from a version 2 MTA.\r\n"
t.ok(mt.macro(conn, SMFIC_MAIL, "i", "NEGV2"), "macro")
t.ok(mt.mailfrom(conn, "<alice@example.com>"), "mail")
t.reply_is(conn, SMFIR_CONTINUE, "v2 MAIL")
t.ok(mt.rcptto(conn, "<bob@example.org>"), "rcpt")
t.reply_is(conn, SMFIR_CONTINUE, "v2 RCPT")
for _, h in ipairs(headers) do
  t.ok(mt.header(conn, h[1], h[2]), "header")
  t.reply_is(conn, SMFIR_CONTINUE, "v2 HEADER " .. h[1])
end
t.ok(mt.eoh(conn), "eoh")
t.reply_is(conn, SMFIR_CONTINUE, "v2 EOH")
t.ok(mt.bodystring(conn, body), "body")
t.reply_is(conn, SMFIR_CONTINUE, "v2 BODY")
t.ok(mt.eom(conn), "eom")
t.reply_is(conn, SMFIR_CONTINUE, "v2 EOM")
local ins = t.inserted(conn, "DKIM-Signature")
if #ins ~= 2 then t.fail("v2: got " .. #ins .. " DKIM-Signature fields, want 2") end
local out = {}
for _, e in ipairs(ins) do
  -- Without SMFIP_HDR_LEADSPC the MTA puts "Name: " itself: no leading space.
  if e[2]:sub(1, 3) ~= "v=1" then t.fail("v2: value starts '" .. e[2]:sub(1, 6) .. "', want 'v=1'") end
  out[#out + 1] = { name = "DKIM-Signature", value = e[2] }
end
t.write_delivered(OUT .. "/sign-v2.eml", out, headers, body, false)
local line = t.summary("NEGV2")
t.field_is(line, "action", "relayed", "NEGV2")
t.field_is(line, "client", "[2001:db8::25]:12345", "NEGV2")
t.field_is(line, "size", tostring(t.size_of(headers, body)), "NEGV2")
mt.disconnect(conn)

-- ------------------------------------------------------------ 2. no SMFIF_ADDHDRS
conn = t.connect(PORT_SIGN)
t.ok(mt.negotiate(conn, 6, ALL_STEPS, SMFIF_CHGHDRS + SMFIF_QUARANTINE + SMFIF_DELRCPT), "negotiate")
if mt.test_action(conn, SMFIF_ADDHDRS) then t.fail("got SMFIF_ADDHDRS, which the MTA did not offer") end
if not mt.test_action(conn, SMFIF_CHGHDRS) then t.fail("got no SMFIF_CHGHDRS") end
t.ok(mt.conninfo(conn, "client.example", "192.0.2.1"), "conninfo")
headers = {
  { "From", "Alice <alice@example.com>" },
  { "Subject", "no add-header action" },
  { "Date", "Mon, 1 Jan 2024 00:00:00 +0000" },
}
t.message(conn, "NEGNOADD", headers, "body\r\n")
line = t.summary("NEGNOADD")
t.reply_text(conn, "451", "4.3.5", t.field(line, "id") .. " Try again later: the MTA does not allow header changes",
  "no SMFIF_ADDHDRS")
if mt.eom_check(conn, MT_HDRINSERT) then t.fail("no SMFIF_ADDHDRS, yet a field was inserted") end
t.field_is(line, "action", "tempfail", "NEGNOADD")
t.field_is(line, "backend", "the MTA did not offer the header actions we need", "NEGNOADD")
mt.disconnect(conn)

-- ------------------------------------------------------------ 3. SMFIF_ADDHDRS only
conn = t.connect(PORT_SIGN)
t.ok(mt.negotiate(conn, 6, ALL_STEPS, SMFIF_ADDHDRS), "negotiate")
for _, a in ipairs({ "SMFIF_CHGHDRS", "SMFIF_QUARANTINE", "SMFIF_DELRCPT" }) do
  if mt.test_action(conn, _G[a]) then t.fail("got " .. a .. ", which the MTA did not offer") end
end
t.ok(mt.conninfo(conn, "client.example", "192.0.2.1"), "conninfo")
t.message(conn, "NEGADDONLY", headers, "body\r\n")
t.reply_is(conn, SMFIR_CONTINUE, "ADDHDRS only")
if #t.inserted(conn, "DKIM-Signature") ~= 2 then t.fail("ADDHDRS only: want 2 signatures") end
t.field_is(t.summary("NEGADDONLY"), "action", "relayed", "NEGADDONLY")
mt.disconnect(conn)
print("ok: negotiate.lua")
