-- Drives xmpp-extauth exactly as Prosody's mod_auth_external_insecure does, with the real lpty,
-- to watch the start-up race (tests/helpers/pty_module.py forces it; this lets it happen).
--
-- Needs Lua 5.1 and Debian's lua-lpty (which has no Lua 5.4 build, the Lua Prosody 0.12 uses):
--   apt-get install lua5.1 lua-lpty
-- usage: lua5.1 scripts/prosody_real_lpty.lua WRAPPER [QUERY...]
--   WRAPPER: an executable without arguments, as external_auth_command must be, e.g.
--     #!/bin/sh
--     exec dist/xmpp-extauth --protocol prosody --url http://127.0.0.1:8080/xmpp --log-file /tmp/x.log
-- Prints, per query, what the module concludes: 1, 0, nil (timeout) or ?N (N bytes it cannot
-- read, e.g. the echo of the query). Run it several times: each run is a fresh pty and start.
local lpty = require "lpty"
local command = arg[1]
local queries = { select(2, unpack(arg)) }
if #queries == 0 then
  queries = {
    "auth:alice:example.com:secret", "auth:alice:example.com:wrong",
    "auth:alice:example.com:secret", "isuser:nobody:example.com",
  }
end
-- The module's options and its send_query/do_query, with external_auth_timeout = 3.
local pty = lpty.new({ throw_errors = false, no_local_echo = true, use_path = false })
local function ask(text)
  if not pty:hasproc() then
    local status, ret = pty:exitstatus()
    if status and (status ~= "exit" or ret ~= 0) then return "exited:" .. status .. ":" .. ret end
    pty:startproc(command)
  end
  pty:send(text .. "\n")
  local response = pty:read(3)
  if response == nil then return "nil" end
  local line = response:gsub("\r?\n$", "")
  if line == "1" or line == "0" then return line end
  if response:match("^error:") then return response end
  return "?" .. #response
end
local answers = {}
for _, text in ipairs(queries) do answers[#answers + 1] = ask(text) end
print(table.concat(answers, " "))
pty:endproc()
