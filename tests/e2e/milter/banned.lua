-- tests/e2e/milter/banned.lua — the decode stage's banned rules through
-- milter listeners, one per bank destiny (no external daemon): a message
-- with an attachment named x.pdf.exe (built-in rule 4, double extension).
--   reject   → SMFIR_REPLYCODE "554 5.7.1 <id> Rejected: <reason>"
--   tempfail → SMFIR_REPLYCODE "451 4.7.1 <id> Try again later: <reason>"
--   discard  → SMFIR_DISCARD
--   bounce   → a reject (the client is still on the line: no backscatter)
--   pass + quarantine = ["banned"], listener quarantine = "hold"
--            → SMFIR_QUARANTINE "<id> banned (decode: ...)" then CONTINUE
--   the same with quarantine = "store" → a file in [quarantine] dir, the
--            X-Quarantine-ID field inserted, no SMFIR_QUARANTINE
-- and, on the reject listener, a banned-lover recipient keeps the message
-- while the other is deleted (SMFIR_DELRCPT), and a clean message passes;
-- with an MTA that offers no SMFIF_DELRCPT the pair is rejected for all;
-- on the tempfail listener the same pair tempfails the whole message.
local t = dofile(HERE .. "/lib.lua")

local WHY = "banned name 'x.pdf.exe' (rule 4 of default)"
local CATEGORY = "banned (decode: " .. WHY .. ")"

local function msg(tag, filename)
  local headers = {
    { "From", "Alice <alice@example.com>" },
    { "To", "<bob@example.org>" },
    { "Subject", "banned " .. tag },
    { "Date", "Mon, 1 Jan 2024 00:00:00 +0000" },
    { "Message-ID", "<banned-" .. tag .. "@e2e.test>" },
    { "MIME-Version", "1.0" },
    { "Content-Type", 'multipart/mixed; boundary="=-b"' },
  }
  local body = "--=-b\r\nContent-Type: text/plain\r\n\r\nsee the attachment\r\n" ..
      "--=-b\r\nContent-Type: application/octet-stream\r\n" ..
      'Content-Disposition: attachment; filename="' .. filename .. '"\r\n' ..
      "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQK\r\n--=-b--\r\n"
  return headers, body
end

-- Sends one message to PORT; returns the connection (after EOM) and the
-- summary line.
local function send(port, qid, filename, rcpts)
  local conn = t.connect(port)
  t.ok(mt.conninfo(conn, "client.example", "192.0.2.1"), "conninfo")
  local headers, body = msg(qid, filename or "x.pdf.exe")
  t.message(conn, qid, headers, body, { rcpts = rcpts })
  return conn, t.summary(qid)
end

local function category(line, destiny, what)
  t.field_is(line, "category", CATEGORY .. " destiny=" .. destiny, what)
end

local function no_edits(conn, what)
  if mt.eom_check(conn, MT_HDRINSERT) or mt.eom_check(conn, MT_HDRCHANGE) or
      mt.eom_check(conn, MT_QUARANTINE) then
    t.fail(what .. ": header edits or quarantine sent with a refusal")
  end
end

-- reject
local conn, line = send(PORT_BAN_REJECT, "BANREJ")
t.reply_text(conn, "554", "5.7.1", t.field(line, "id") .. " Rejected: banned: " .. WHY, "reject")
no_edits(conn, "reject")
t.field_is(line, "action", "reject", "reject")
t.field_is(line, "backend", "banned: " .. WHY, "reject")
category(line, "reject", "reject")
mt.disconnect(conn)

-- reject for one recipient, pass for a banned-lover (postmaster@, a
-- [[recipient]] rule): one transaction cannot be split, so the rejected
-- recipient is deleted (SMFIR_DELRCPT) and the message goes on.
conn, line = send(PORT_BAN_REJECT, "BANSPLIT", nil, { "<bob@example.org>", "<postmaster@example.org>" })
t.reply_is(conn, SMFIR_CONTINUE, "split")
if not mt.eom_check(conn, MT_RCPTDELETE, "<bob@example.org>") then t.fail("split: bob not deleted") end
if mt.eom_check(conn, MT_RCPTDELETE, "<postmaster@example.org>") then t.fail("split: postmaster deleted") end
t.field_is(line, "action", "partial", "split")
t.field_is(line, "recipients", "deleted bob@example.org: reject", "split")
mt.disconnect(conn)

-- the same pair from an MTA that does not offer SMFIF_DELRCPT: nothing can
-- be deleted, so the recipient to reject rejects the message for all.
conn = t.connect(PORT_BAN_REJECT)
t.ok(mt.negotiate(conn, 6, 0x1FFFFF, SMFIF_ADDHDRS + SMFIF_CHGHDRS + SMFIF_QUARANTINE), "negotiate without DELRCPT")
t.ok(mt.conninfo(conn, "client.example", "192.0.2.1"), "conninfo")
do
  local headers, body = msg("BANSPLITNODEL", "x.pdf.exe")
  t.message(conn, "BANSPLITNODEL", headers, body, { rcpts = { "<bob@example.org>", "<postmaster@example.org>" } })
end
line = t.summary("BANSPLITNODEL")
t.reply_text(conn, "554", "5.7.1", t.field(line, "id") .. " Rejected: banned: " .. WHY, "split without DELRCPT")
no_edits(conn, "split without DELRCPT")
t.field_is(line, "action", "reject", "split without DELRCPT")
mt.disconnect(conn)

-- a clean message on the same listener
conn, line = send(PORT_BAN_REJECT, "BANCLEAN", "report.pdf")
t.reply_is(conn, SMFIR_CONTINUE, "clean")
t.field_is(line, "action", "accept", "clean")
if t.field(line, "category") then t.fail("clean: got a category: " .. line) end
mt.disconnect(conn)

-- tempfail
conn, line = send(PORT_BAN_TEMPFAIL, "BANTEMP")
t.reply_text(conn, "451", "4.7.1", t.field(line, "id") .. " Try again later: banned: " .. WHY, "tempfail")
no_edits(conn, "tempfail")
t.field_is(line, "action", "tempfail", "tempfail")
category(line, "tempfail", "tempfail")
mt.disconnect(conn)

-- tempfail for one recipient, pass for a banned-lover: the recipient to
-- retry cannot be deleted (it would be lost), so the whole message is
-- tempfailed and no recipient is deleted.
conn, line = send(PORT_BAN_TEMPFAIL, "BANTEMPSPLIT", nil, { "<bob@example.org>", "<postmaster@example.org>" })
t.reply_text(conn, "451", "4.7.1", t.field(line, "id") .. " Try again later: banned: " .. WHY, "tempfail split")
for _, r in ipairs({ "<bob@example.org>", "<postmaster@example.org>" }) do
  if mt.eom_check(conn, MT_RCPTDELETE, r) then t.fail("tempfail split: " .. r .. " deleted") end
end
no_edits(conn, "tempfail split")
t.field_is(line, "action", "tempfail", "tempfail split")
mt.disconnect(conn)

-- discard
conn, line = send(PORT_BAN_DISCARD, "BANDISC")
t.reply_is(conn, SMFIR_DISCARD, "discard")
no_edits(conn, "discard")
t.field_is(line, "action", "discard", "discard")
category(line, "discard", "discard")
mt.disconnect(conn)

-- bounce → reject
conn, line = send(PORT_BAN_BOUNCE, "BANBOUNCE")
t.reply_text(conn, "554", "5.7.1", t.field(line, "id") .. " Rejected: banned: " .. WHY, "bounce")
t.field_is(line, "action", "reject", "bounce")
category(line, "reject", "bounce")
mt.disconnect(conn)

-- pass + quarantine, hold in the MTA
conn, line = send(PORT_BAN_HOLD, "BANHOLD")
t.reply_is(conn, SMFIR_CONTINUE, "hold")
if not mt.eom_check(conn, MT_QUARANTINE, t.field(line, "id") .. " " .. CATEGORY) then
  t.fail("hold: no SMFIR_QUARANTINE '" .. t.field(line, "id") .. " " .. CATEGORY .. "'")
end
if mt.eom_check(conn, MT_HDRINSERT, "X-Quarantine-ID") then t.fail("hold: X-Quarantine-ID inserted") end
t.field_is(line, "action", "hold", "hold")
t.field_is(line, "quarantine", "hold: " .. CATEGORY, "hold")
category(line, "pass", "hold")
mt.disconnect(conn)

-- pass + quarantine, Sigil's store
conn, line = send(PORT_BAN_STORE, "BANSTORE")
t.reply_is(conn, SMFIR_CONTINUE, "store")
if mt.eom_check(conn, MT_QUARANTINE) then t.fail("store: got SMFIR_QUARANTINE, want none") end
local qid = t.field(line, "quarantine")
if not qid or not qid:match("^[a-z2-7]+$") or #qid ~= 16 then t.fail("store: quarantine=" .. tostring(qid)) end
if not mt.eom_check(conn, MT_HDRINSERT, "X-Quarantine-ID", " <" .. qid .. ">", 0) then
  t.fail("store: no X-Quarantine-ID: <" .. qid .. "> inserted at 0")
end
local f = io.open(QDIR .. "/" .. qid, "rb")
if not f then t.fail("store: no file " .. QDIR .. "/" .. qid) end
local stored = f:read("a")
f:close()
if not stored:find("Subject: banned BANSTORE\r\n", 1, true) then t.fail("store: the stored file lacks the message") end
t.field_is(line, "action", "accept", "store")
category(line, "pass", "store")
mt.disconnect(conn)
print("ok: banned.lua")
