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
-- while the other is deleted (SMFIR_DELRCPT) and bounced (a DSN through
-- [forward], the maildir MAILDIR here): from the null sender it is deleted
-- without a DSN, and when the DSN cannot be written (MAILDIR/tmp replaced
-- by a file) the whole message is tempfailed and nobody deleted; a clean
-- message passes;
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
local function send(port, qid, filename, rcpts, from)
  local conn = t.connect(port)
  t.ok(mt.conninfo(conn, "client.example", "192.0.2.1"), "conninfo")
  local headers, body = msg(qid, filename or "x.pdf.exe")
  t.message(conn, qid, headers, body, { rcpts = rcpts, from = from })
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
-- recipient is deleted (SMFIR_DELRCPT), the sender gets a DSN for it, and
-- the message goes on.
local PAIR = { "<bob@example.org>", "<postmaster@example.org>" }
local function deleted(conn, what)
  if not mt.eom_check(conn, MT_RCPTDELETE, "<bob@example.org>") then t.fail(what .. ": bob not deleted") end
  if mt.eom_check(conn, MT_RCPTDELETE, "<postmaster@example.org>") then t.fail(what .. ": postmaster deleted") end
end
conn, line = send(PORT_BAN_REJECT, "BANSPLIT", nil, PAIR)
t.reply_is(conn, SMFIR_CONTINUE, "split")
deleted(conn, "split")
t.field_is(line, "action", "partial", "split")
t.field_is(line, "recipients", "deleted bob@example.org: bounced (banned: " .. WHY .. ")", "split")
local dsn_reply = t.field(line, "dsn") or ""
if not dsn_reply:find("^250 2%.0%.0 delivered to maildir as ") then t.fail("split: dsn=" .. dsn_reply) end
local dsn = t.maildir_message(MAILDIR, "In-Reply-To: <banned-BANSPLIT@e2e.test>")
if not dsn then t.fail("split: no DSN in " .. MAILDIR .. " replying to <banned-BANSPLIT@e2e.test>") end
for _, want in ipairs({ "Return-Path: <>\n", "X-Original-To: alice@example.com\n", "To: <alice@example.com>\n",
  "Content-Type: multipart/report; report-type=delivery-status;",
  "Final-Recipient: rfc822; bob@example.org\nAction: failed\nStatus: 5.7.0\n",
  "Subject: banned BANSPLIT\n" }) do
  t.has(dsn, want, "split: the DSN")
end
if dsn:find("postmaster@example.org", 1, true) then t.fail("split: the DSN names the delivered recipient") end
mt.disconnect(conn)

-- the same pair from the null sender: never bounce a bounce, so bob is
-- deleted without a DSN.
conn, line = send(PORT_BAN_REJECT, "BANSPLITNULL", nil, PAIR, "<>")
t.reply_is(conn, SMFIR_CONTINUE, "split, null sender")
deleted(conn, "split, null sender")
t.field_is(line, "recipients", "deleted bob@example.org: discarded, no bounce: null sender (banned: " .. WHY .. ")",
  "split, null sender")
if t.field(line, "dsn") then t.fail("split, null sender: a DSN was sent: " .. line) end
if t.maildir_message(MAILDIR, "In-Reply-To: <banned-BANSPLITNULL@e2e.test>") then
  t.fail("split, null sender: a DSN is in " .. MAILDIR)
end
mt.disconnect(conn)

-- the DSN cannot be written (the maildir's tmp/ is a file): deleting bob
-- would lose his bounce, so the whole message is tempfailed, nobody deleted.
local TMP = MAILDIR .. "/tmp"
t.ok(select(2, os.rename(TMP, TMP .. ".saved")), "rename " .. TMP)
local f = assert(io.open(TMP, "w"))
f:close()
conn, line = send(PORT_BAN_REJECT, "BANSPLITDEFER", nil, PAIR)
os.remove(TMP)
t.ok(select(2, os.rename(TMP .. ".saved", TMP)), "rename " .. TMP .. ".saved")
dsn_reply = t.field(line, "dsn") or ""
if not dsn_reply:find("^451 4%.3%.0 maildir delivery failed: open ") then t.fail("split, DSN deferred: dsn=" .. dsn_reply) end
t.reply_text(conn, "451", "4.7.1",
  t.field(line, "id") .. " Try again later: the bounce could not be sent (" .. dsn_reply .. ")", "split, DSN deferred")
for _, r in ipairs(PAIR) do
  if mt.eom_check(conn, MT_RCPTDELETE, r) then t.fail("split, DSN deferred: " .. r .. " deleted") end
end
no_edits(conn, "split, DSN deferred")
t.field_is(line, "action", "tempfail", "split, DSN deferred")
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
t.field_is(line, "action", "relayed", "clean")
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
t.field_is(line, "action", "relayed", "store")
category(line, "pass", "store")
mt.disconnect(conn)
print("ok: banned.lua")
