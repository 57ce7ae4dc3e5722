-- tests/e2e/milter/lib.lua — helpers for the miltertest scripts of
-- e2e.milter_miltertest (loaded with dofile(HERE .. "/lib.lua")).
--
-- Globals given with miltertest -D (see mtrun in milter_miltertest.sh):
-- HERE (this directory), SCRIPT (run.lua's script), LOG (sigild's log
-- file), OUT (a directory the scripts write rebuilt messages into), QDIR
-- (the [quarantine] dir), MAILDIR ([forward]'s maildir) and the listeners'
-- ports PORT_*.  Each summary
-- line is found by the MTA queue id the script sent (macro i).
--
-- Every function fails the script (error()) with a "got X, want Y" message;
-- every wait is bounded.
local M = {}

function M.fail(msg) error(msg, 2) end

-- mt.* calls return nil on success, an error string otherwise.
function M.ok(r, what)
  if r ~= nil then error(what .. ": " .. tostring(r), 2) end
end

function M.connect(port)
  local c = mt.connect("inet:" .. port .. "@127.0.0.1", 20, 0.1)
  if c == nil then error("cannot connect to 127.0.0.1:" .. port, 2) end
  return c
end

local names = {}
for _, k in ipairs({ "SMFIR_CONTINUE", "SMFIR_ACCEPT", "SMFIR_REJECT", "SMFIR_TEMPFAIL",
  "SMFIR_DISCARD", "SMFIR_REPLYCODE" }) do
  names[_G[k]] = k
end
local function rname(r)
  return names[r] or ("'" .. string.char(math.floor(r)) .. "'")
end

function M.reply_is(conn, want, what)
  local got = mt.getreply(conn)
  if got ~= want then
    error(what .. ": got reply " .. rname(got) .. ", want " .. rname(want), 2)
  end
end

-- The summary line ("... msg: id=XXXXXXXXXXXX ...") whose notes carry
-- queue_id=QID (the MTA's queue id, macro i); waits up to 5 s.
function M.summary(qid)
  local pat = " queue_id=" .. qid .. " "
  for _ = 1, 50 do
    local f = io.open(LOG, "r")
    if f then
      for line in f:lines() do
        if line:find(" msg: id=", 1, true) and line:find(pat, 1, true) then
          f:close()
          return line
        end
      end
      f:close()
    end
    mt.sleep(0.1)
  end
  error("no summary line with queue_id=" .. qid .. " in " .. LOG, 2)
end

-- The text of the first message file in maildir DIR (new/) that contains
-- the plain string NEEDLE, or nil.
function M.maildir_message(dir, needle)
  local ls = io.popen("ls -1 '" .. dir .. "/new' 2>/dev/null")
  if not ls then return nil end
  for name in ls:lines() do
    local f = io.open(dir .. "/new/" .. name, "r")
    if f then
      local text = f:read("a")
      f:close()
      if text and text:find(needle, 1, true) then
        ls:close()
        return text
      end
    end
  end
  ls:close()
  return nil
end

-- The summary lines carrying queue_id=QID (0 when none).
function M.count_summaries(qid)
  local pat, n = " queue_id=" .. qid .. " ", 0
  local f = io.open(LOG, "r")
  if not f then return 0 end
  for line in f:lines() do
    if line:find(" msg: id=", 1, true) and line:find(pat, 1, true) then n = n + 1 end
  end
  f:close()
  return n
end

-- A field of a summary line: key=value or key="quoted \"value\"".
function M.field(line, key)
  local _, e = line:find(" " .. key .. "=", 1, true)
  if not e then return nil end
  local rest = line:sub(e + 1)
  if rest:sub(1, 1) ~= '"' then return rest:match("^(%S*)") end
  local out, i = {}, 2
  while i <= #rest do
    local ch = rest:sub(i, i)
    if ch == "\\" then
      out[#out + 1] = rest:sub(i + 1, i + 1)
      i = i + 2
    elseif ch == '"' then
      break
    else
      out[#out + 1] = ch
      i = i + 1
    end
  end
  return table.concat(out)
end

-- Asserts field KEY of LINE equals WANT (a plain string).
function M.field_is(line, key, want, what)
  local got = M.field(line, key)
  if got ~= want then
    error(what .. ": got " .. key .. "=" .. tostring(got) .. ", want " .. want .. "\n" .. line, 2)
  end
end

-- Asserts LINE contains the plain string WANT.
function M.has(line, want, what)
  if not line:find(want, 1, true) then
    error(what .. ": no '" .. want .. "' in\n" .. line, 2)
  end
end

-- The SMFIR_REPLYCODE of the last EOM is exactly "CODE ESC TEXT".
function M.reply_text(conn, code, esc, text, what)
  M.reply_is(conn, SMFIR_REPLYCODE, what)
  if not mt.eom_check(conn, MT_SMTPREPLY, code, esc, text) then
    error(what .. ": the reply is not '" .. code .. " " .. esc .. " " .. text .. "'", 2)
  end
end

-- One message on CONN (already connected): MACRO i=QID, MAIL, RCPTs, the
-- headers (a list of {name, value}), EOH, the body in chunks, EOM.
-- A value is the field's text after "Name: ": miltertest (1.6) itself puts
-- the space back in front of it when SMFIP_HDR_LEADSPC was negotiated, as
-- an MTA does, so sigild sees " " .. value either way.  opts.macros adds MAIL macros (name, value, ...); opts.rcpts the
-- recipients (default one).
function M.message(conn, qid, headers, body, opts)
  opts = opts or {}
  local macros = { "i", qid }
  for _, v in ipairs(opts.macros or {}) do macros[#macros + 1] = v end
  M.ok(mt.macro(conn, SMFIC_MAIL, table.unpack(macros)), "macro")
  M.ok(mt.mailfrom(conn, opts.from or "<alice@example.com>"), "mail")
  M.reply_is(conn, SMFIR_CONTINUE, qid .. " MAIL")
  for _, r in ipairs(opts.rcpts or { "<bob@example.org>" }) do
    M.ok(mt.rcptto(conn, r), "rcpt " .. r)
    M.reply_is(conn, SMFIR_CONTINUE, qid .. " RCPT " .. r)
  end
  for _, h in ipairs(headers) do M.ok(mt.header(conn, h[1], h[2]), "header " .. h[1]) end
  M.ok(mt.eoh(conn), "eoh")
  local chunk = opts.chunk or 4000
  for i = 1, #body, chunk do
    M.ok(mt.bodystring(conn, body:sub(i, i + chunk - 1)), "body")
  end
  M.ok(mt.eom(conn), "eom")
end

-- The bytes sigild stores for these headers and body (its size= field):
-- "Name: " value CRLF per field (a bare LF in a value becomes CRLF), CRLF,
-- the body.
function M.size_of(headers, body)
  local n = 2 + #body
  for _, h in ipairs(headers) do
    local v = h[2]:gsub("\r\n", "\n"):gsub("\n", "\r\n")
    n = n + #h[1] + 2 + #v + 2
  end
  return n
end

-- The fields NAME inserted at EOM (SMFIR_INSHEADER), in their final order:
-- a list of {index, value}, sorted by index.  Fails unless they are exactly
-- at 0..n-1.
function M.inserted(conn, name)
  local vals = {}
  for i = 0, 9 do
    local v = mt.getheader(conn, name, i)
    if v == nil then break end
    vals[#vals + 1] = v
  end
  local out = {}
  for _, v in ipairs(vals) do
    local at = nil
    for idx = 0, 9 do
      if mt.eom_check(conn, MT_HDRINSERT, name, v, idx) then
        at = idx
        break
      end
    end
    if at == nil then error(name .. " was added, but not by SMFIR_INSHEADER at 0..9", 2) end
    out[#out + 1] = { at, v }
  end
  table.sort(out, function(a, b) return a[1] < b[1] end)
  for i, e in ipairs(out) do
    if e[1] ~= i - 1 then
      error(name .. ": got insert index " .. e[1] .. ", want " .. (i - 1), 2)
    end
  end
  return out
end

-- Writes the message as the MTA delivers it after these edits: the inserted
-- fields on top (Postfix writes "Name:" .. value with SMFIP_HDR_LEADSPC,
-- "Name: " .. value without), then the headers as received ("Name: "
-- .. value), then the body.  Line ends are LF or CRLF here; the verifier
-- makes them all CRLF.
function M.write_delivered(path, inserted, headers, body, leadspc)
  local sep = leadspc == false and ": " or ":"
  local f = assert(io.open(path, "wb"))
  for _, e in ipairs(inserted) do f:write(e.name, sep, e.value, "\n") end
  for _, h in ipairs(headers) do f:write(h[1], ": ", h[2], "\n") end
  f:write("\n", body)
  f:close()
end

return M
