-- tests/e2e/milter/queue_id.lua — e2e.syslog_rsyslog's milter part: one
-- message on PORT_MILTER with the MTA's queue id QID as macro i with MAIL
-- (Postfix's milter_mail_macros), seven recipients and Message-ID
-- <QID@e2e.test>.  (miltertest sends macros only with CONNECT, HELO, MAIL
-- and RCPT: the test sends i at end of message over a raw socket.)  The summary lines are
-- checked by the shell script (they go to syslog, not to a file of sigild's).
local t = dofile(HERE .. "/lib.lua")
local rcpts = {}
for i = 1, 7 do rcpts[#rcpts + 1] = "<m" .. i .. "@example.org>" end

local function message(conn, qid)
  t.ok(mt.macro(conn, SMFIC_MAIL, "i", qid), "macro MAIL")
  t.ok(mt.mailfrom(conn, "<alice@example.com>"), "mail")
  t.reply_is(conn, SMFIR_CONTINUE, qid .. " MAIL")
  for _, r in ipairs(rcpts) do
    t.ok(mt.rcptto(conn, r), "rcpt " .. r)
    t.reply_is(conn, SMFIR_CONTINUE, qid .. " RCPT " .. r)
  end
  t.ok(mt.header(conn, "From", "<alice@example.com>"), "header")
  t.ok(mt.header(conn, "Message-ID", "<" .. qid .. "@e2e.test>"), "header")
  t.ok(mt.eoh(conn), "eoh")
  t.ok(mt.bodystring(conn, "body of " .. qid .. "\r\n"), "body")
  t.ok(mt.eom(conn), "eom")
  t.reply_is(conn, SMFIR_CONTINUE, qid .. " EOM")
end

local conn = t.connect(PORT_MILTER)
t.ok(mt.conninfo(conn, "client.example", "192.0.2.1"), "conninfo")
t.ok(mt.helo(conn, "client.example"), "helo")
message(conn, QID)
mt.disconnect(conn)
print("ok: queue_id.lua " .. QID)
