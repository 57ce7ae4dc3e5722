-- tests/e2e/milter/session.lua — several messages on one milter connection
-- (PORT_SIGN), and SMFIC_ABORT in the middle of one:
--   SESS1 signed; SESS2 aborted after its headers and part of its body;
--   SESS3 (other sender, other headers) signed.  SESS3's summary counts
--   exactly its own bytes and sender, no summary is logged for SESS2, and
--   SESS1 and SESS3 are written to OUT for dkimpy: a leaked header of SESS2
--   would be in the signed data and break the signature.
local t = dofile(HERE .. "/lib.lua")

local conn = t.connect(PORT_SIGN)
t.ok(mt.conninfo(conn, "client.example", "192.0.2.1"), "conninfo")
t.ok(mt.helo(conn, "client.example"), "helo")

local function signed(qid, headers, body, opts)
  t.message(conn, qid, headers, body, opts)
  t.reply_is(conn, SMFIR_CONTINUE, qid .. " EOM")
  local ins = t.inserted(conn, "DKIM-Signature")
  if #ins ~= 2 then t.fail(qid .. ": got " .. #ins .. " DKIM-Signature fields, want 2") end
  local out = {}
  for _, e in ipairs(ins) do out[#out + 1] = { name = "DKIM-Signature", value = e[2] } end
  t.write_delivered(OUT .. "/" .. qid .. ".eml", out, headers, body)
  local line = t.summary(qid)
  t.field_is(line, "action", "relayed", qid)
  t.field_is(line, "size", tostring(t.size_of(headers, body)), qid)
  return line
end

-- 1.
local h1 = {
  { "From", "Alice <alice@example.com>" },
  { "To", "<bob@example.org>" },
  { "Subject", "first of three" },
  { "Date", "Mon, 1 Jan 2024 00:00:00 +0000" },
  { "Message-ID", "<sess1@e2e.test>" },
}
signed("SESS1", h1, "first body\r\n")

-- 2. aborted: headers that, leaked, would be signed into SESS3 (From,
-- Subject, Cc are all in the default h= list) and a body chunk.
t.ok(mt.macro(conn, SMFIC_MAIL, "i", "SESS2"), "macro")
t.ok(mt.mailfrom(conn, "<mallory@example.com>"), "mail")
t.reply_is(conn, SMFIR_CONTINUE, "SESS2 MAIL")
t.ok(mt.rcptto(conn, "<bob@example.org>"), "rcpt")
t.ok(mt.header(conn, "From", " Mallory <mallory@example.com>"), "header")
t.ok(mt.header(conn, "Cc", " <leak@example.org>"), "header")
t.ok(mt.header(conn, "Subject", " LEAKED"), "header")
t.ok(mt.eoh(conn), "eoh")
t.ok(mt.bodystring(conn, "LEAKED BODY LINE\r\n"), "body")
t.ok(mt.abort(conn), "abort")

-- 3.
local h3 = {
  { "From", "Carol <carol@example.com>" },
  { "To", "<dave@example.org>" },
  { "Subject", "third, after an abort" },
  { "Date", "Tue, 2 Jan 2024 00:00:00 +0000" },
  { "Message-ID", "<sess3@e2e.test>" },
}
local body3 = "third body\r\n"
local line = signed("SESS3", h3, body3, { from = "<carol@example.com>", rcpts = { "<dave@example.org>" } })
t.field_is(line, "from", "<carol@example.com>", "SESS3")
t.field_is(line, "rcpts", "1", "SESS3")
t.has(line, 'dkim="signed (author rule example.com);', "SESS3")
if t.count_summaries("SESS2") ~= 0 then t.fail("the aborted SESS2 has a summary line") end

-- The connection goes on: a fourth message with two recipients.
local l4 = signed("SESS4", h1, "fourth body\r\n", { rcpts = { "<a@example.org>", "<b@example.org>" } })
t.field_is(l4, "rcpts", "2", "SESS4")
mt.disconnect(conn)
print("ok: session.lua")
