-- tests/e2e/milter/sign.lua — signing through the milter listener of bank
-- `out` (PORT_SIGN): miltertest's default negotiation (version 6, every
-- action and step flag offered), header values with leading tabs, extra
-- leading and trailing spaces, and folded with LF and with CRLF.
-- Asserts the negotiated options, SMFIR_CONTINUE at EOM, two DKIM-Signature
-- fields inserted at 0 and 1 and the summary line; writes the message as the
-- MTA delivers it to OUT/sign-v6.eml for dkimpy.
local t = dofile(HERE .. "/lib.lua")

local conn = t.connect(PORT_SIGN)
t.ok(mt.conninfo(conn, "client.example", "192.0.2.1"), "conninfo")
-- Header values must arrive byte for byte, and no step but MAIL, RCPT and
-- EOM needs a round trip.
for _, o in ipairs({ "SMFIP_HDR_LEADSPC", "SMFIP_NR_HDR", "SMFIP_NR_CONN", "SMFIP_NR_HELO",
  "SMFIP_NR_EOH", "SMFIP_NR_BODY", "SMFIP_NOUNKNOWN", "SMFIP_NODATA" }) do
  if not mt.test_option(conn, _G[o]) then t.fail("negotiation: got no " .. o .. ", want it") end
end
for _, o in ipairs({ "SMFIP_NR_MAIL", "SMFIP_NR_RCPT", "SMFIP_NOHDRS", "SMFIP_NOBODY" }) do
  if mt.test_option(conn, _G[o]) then t.fail("negotiation: got " .. o .. ", want it off") end
end
for _, a in ipairs({ "SMFIF_ADDHDRS", "SMFIF_CHGHDRS", "SMFIF_QUARANTINE", "SMFIF_DELRCPT" }) do
  if not mt.test_action(conn, _G[a]) then t.fail("negotiation: got no " .. a .. ", want it") end
end
for _, a in ipairs({ "SMFIF_CHGBODY", "SMFIF_ADDRCPT", "SMFIF_CHGFROM" }) do
  if mt.test_action(conn, _G[a]) then t.fail("negotiation: got " .. a .. ", want it off") end
end
t.ok(mt.helo(conn, "client.example"), "helo")

-- Values are the text after "Name: " (see lib.lua: miltertest sends
-- " " .. value under SMFIP_HDR_LEADSPC, like an MTA).
local headers = {
  { "From", "Alice <alice@example.com>" },
  { "To", "<bob@example.org>,\r\n   <carol@example.org>" },        -- folded, CRLF
  { "Cc", "   <dave@example.org>" },                                -- extra leading spaces
  { "Subject", "\t  leading tab,  double  spaces and trailing  " },
  { "Date", "Mon, 1 Jan 2024 00:00:00 +0000" },
  { "Message-ID", "<sign-v6@e2e.test>" },
  { "MIME-Version", "1.0" },
  { "Content-Type", "text/plain;\n\tcharset=us-ascii" },               -- folded, LF (Postfix)
  { "References", "<r1@e2e.test>\n <r2@e2e.test>\n\t<r3@e2e.test>" },
  { "X-Unsigned", "\t x" },
}
local body = "Hello,\r\n  indented, trailing spaces   \r\n\tand a tab\r\n\r\n-- \r\nsig\r\n"
t.message(conn, "SIGNV6", headers, body,
  { rcpts = { "<bob@example.org>", "<carol@example.org>", "<dave@example.org>" } })
t.reply_is(conn, SMFIR_CONTINUE, "signed message at EOM")
local ins = t.inserted(conn, "DKIM-Signature")
if #ins ~= 2 then t.fail("got " .. #ins .. " DKIM-Signature fields inserted, want 2") end
if mt.eom_check(conn, MT_HDRADD) then t.fail("got SMFIR_ADDHEADER, want inserts only") end
if mt.eom_check(conn, MT_HDRCHANGE) then t.fail("got SMFIR_CHGHEADER, want none") end
if mt.eom_check(conn, MT_QUARANTINE) then t.fail("got SMFIR_QUARANTINE, want none") end
-- With SMFIP_HDR_LEADSPC the value keeps the space after the colon.
for _, e in ipairs(ins) do
  if e[2]:sub(1, 4) ~= " v=1" then t.fail("DKIM-Signature value starts '" .. e[2]:sub(1, 8) .. "', want ' v=1'") end
  if e[2]:find("\r", 1, true) then t.fail("a CR in the inserted value: line ends must be LF") end
end
local out = {}
for _, e in ipairs(ins) do out[#out + 1] = { name = "DKIM-Signature", value = e[2] } end
t.write_delivered(OUT .. "/sign-v6.eml", out, headers, body)

local line = t.summary("SIGNV6")
t.field_is(line, "action", "relayed", "SIGNV6")
t.field_is(line, "backend", "milter", "SIGNV6")
t.field_is(line, "bank", "out", "SIGNV6")
t.field_is(line, "rcpts", "3", "SIGNV6")
t.field_is(line, "from", "<alice@example.com>", "SIGNV6")
t.field_is(line, "client", "[192.0.2.1]:12345", "SIGNV6")
t.field_is(line, "helo", "client.example", "SIGNV6")
t.field_is(line, "size", tostring(t.size_of(headers, body)), "SIGNV6")
t.has(line, "s=rsa2026 a=rsa-sha256", "SIGNV6")
t.has(line, "s=ed2026 a=ed25519-sha256", "SIGNV6")
mt.disconnect(conn)
print("ok: sign.lua")
