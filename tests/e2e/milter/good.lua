-- tests/e2e/milter/good.lua — one ordinary signed message on PORT_SIGN,
-- run after the malformed-input cases: sigild still serves milter clients.
local t = dofile(HERE .. "/lib.lua")
local conn = t.connect(PORT_SIGN)
t.ok(mt.conninfo(conn, "client.example", "192.0.2.1"), "conninfo")
t.ok(mt.helo(conn, "client.example"), "helo")
local headers = {
  { "From", "Alice <alice@example.com>" },
  { "To", "<bob@example.org>" },
  { "Subject", "after the bad input" },
  { "Date", "Mon, 1 Jan 2024 00:00:00 +0000" },
  { "Message-ID", "<good@e2e.test>" },
}
local body = "still here\r\n"
t.message(conn, QID, headers, body)
t.reply_is(conn, SMFIR_CONTINUE, QID .. " EOM")
local ins = t.inserted(conn, "DKIM-Signature")
if #ins ~= 2 then t.fail(QID .. ": got " .. #ins .. " DKIM-Signature fields, want 2") end
local out = {}
for _, e in ipairs(ins) do out[#out + 1] = { name = "DKIM-Signature", value = e[2] } end
t.write_delivered(OUT .. "/" .. QID .. ".eml", out, headers, body)
t.field_is(t.summary(QID), "action", "relayed", QID)
mt.disconnect(conn)
print("ok: good.lua " .. QID)
