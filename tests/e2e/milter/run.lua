-- tests/e2e/milter/run.lua — runs HERE/SCRIPT under miltertest and turns a
-- Lua error into a message on stderr and exit status 1 (miltertest 1.6
-- prints nothing for an error raised by the script itself).
local ok, err = pcall(dofile, HERE .. "/" .. SCRIPT)
if not ok then
  io.stderr:write("FAIL: " .. SCRIPT .. ": " .. tostring(err) .. "\n")
  io.stderr:flush()
  os.exit(1)
end
