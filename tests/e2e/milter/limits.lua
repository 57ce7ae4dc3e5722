-- tests/e2e/milter/limits.lua — limits and SASL on milter listeners
-- (smtp.max_message_size = 20000, smtp.max_recipients = 3 in the test's
-- configuration).
--   LIMBIG:  25 KB of body → "552 5.3.4 <id> Message size exceeds fixed limit"
--            at EOM, summary action=refused;
--   LIMRCPT: a 4th RCPT gets SMFIR_REPLYCODE (e2e's raw client checks its
--            text, 452 4.5.3); the message goes on with 3 recipients;
--   AUTH:    on PORT_AUTH (bank plain, not originating; auth_bank authed,
--            originating) a MAIL macro {auth_authen} loads bank authed:
--            bank=plain+authed and signed; without it bank=plain, unsigned.
local t = dofile(HERE .. "/lib.lua")

local headers = {
  { "From", "Alice <alice@example.com>" },
  { "To", "<bob@example.org>" },
  { "Subject", "limits" },
  { "Date", "Mon, 1 Jan 2024 00:00:00 +0000" },
}

-- ------------------------------------------------------------ size
local conn = t.connect(PORT_AUTH)
t.ok(mt.conninfo(conn, "client.example", "192.0.2.1"), "conninfo")
local line_ = string.rep("x", 98) .. "\r\n"
t.message(conn, "LIMBIG", headers, string.rep(line_, 250))
local line = t.summary("LIMBIG")
t.reply_text(conn, "552", "5.3.4", t.field(line, "id") .. " Message size exceeds fixed limit", "LIMBIG")
t.field_is(line, "action", "refused", "LIMBIG")
t.field_is(line, "backend", "message larger than smtp.max_message_size", "LIMBIG")

-- The connection is still good: a small message passes.
t.message(conn, "LIMSMALL", headers, "small\r\n")
t.reply_is(conn, SMFIR_CONTINUE, "LIMSMALL")
t.field_is(t.summary("LIMSMALL"), "action", "relayed", "LIMSMALL")

-- ------------------------------------------------------------ recipients
t.ok(mt.macro(conn, SMFIC_MAIL, "i", "LIMRCPT"), "macro")
t.ok(mt.mailfrom(conn, "<alice@example.com>"), "mail")
for i = 1, 4 do
  t.ok(mt.rcptto(conn, "<r" .. i .. "@example.org>"), "rcpt")
  t.reply_is(conn, i <= 3 and SMFIR_CONTINUE or SMFIR_REPLYCODE, "RCPT " .. i)
end
for _, h in ipairs(headers) do t.ok(mt.header(conn, h[1], h[2]), "header") end
t.ok(mt.eoh(conn), "eoh")
t.ok(mt.bodystring(conn, "four recipients, one too many\r\n"), "body")
t.ok(mt.eom(conn), "eom")
t.reply_is(conn, SMFIR_CONTINUE, "LIMRCPT EOM")
line = t.summary("LIMRCPT")
t.field_is(line, "rcpts", "3", "LIMRCPT")
t.field_is(line, "action", "relayed", "LIMRCPT")
mt.disconnect(conn)

-- ------------------------------------------------------------ SASL
conn = t.connect(PORT_AUTH)
t.ok(mt.conninfo(conn, "mua.example", "192.0.2.9"), "conninfo")
t.message(conn, "AUTH1", headers, "authenticated\r\n",
  { macros = { "{auth_type}", "PLAIN", "{auth_authen}", "alice" } })
t.reply_is(conn, SMFIR_CONTINUE, "AUTH1")
line = t.summary("AUTH1")
t.field_is(line, "bank", "plain+authed", "AUTH1")
if #t.inserted(conn, "DKIM-Signature") ~= 2 then t.fail("AUTH1: want 2 DKIM-Signatures (originating)") end
mt.disconnect(conn)

conn = t.connect(PORT_AUTH)
t.ok(mt.conninfo(conn, "mta.example", "192.0.2.10"), "conninfo")
t.message(conn, "AUTH0", headers, "not authenticated\r\n", { macros = { "{auth_authen}", "" } })
t.reply_is(conn, SMFIR_CONTINUE, "AUTH0")
line = t.summary("AUTH0")
t.field_is(line, "bank", "plain", "AUTH0")
t.has(line, 'dkim="unsigned: not originating"', "AUTH0")
if mt.eom_check(conn, MT_HDRINSERT) then t.fail("AUTH0: a field was inserted") end
mt.disconnect(conn)
print("ok: limits.lua")
