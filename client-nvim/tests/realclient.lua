-- Real-client test: headless Neovim + this plugin + the real `codecortex serve` + ruff's own
-- language server (`ruff server`) as the diagnostics source. Nothing is faked: ruff reports F401
-- through vim.lsp, the plugin's DiagnosticChanged forwarding carries it to CodeCortex.
--
--   1. a.py has an unused import (`import os`), reported by ruff; it is fixed by editing the
--      buffer, ruff clears the diagnostic, the plugin forwards the empty list, CodeCortex learns
--      the fix;
--   2. b.py has the same problem with other names (`import json`); the CodeCortex code action
--      "apply past fix" is requested, its edit applied with the client's position encoding and
--      its command executed through the client;
--   3. the buffer text is printed between BUFFER-BEGIN / BUFFER-END and checked.
--
-- Also checked: every `codecortex/diagnostics` notification the plugin sent (captured at the
-- client) carries ruff's diagnostics and never CodeCortex's own hints (source "codecortex").
--
-- Environment: CODECORTEX_CMD (the codecortex executable), RUFF_CMD (the ruff executable), and
-- the server's database, e.g. CODECORTEX_DATABASE_URL. Exits non-zero on failure.
--   CODECORTEX_CMD=.venv/bin/codecortex RUFF_CMD=.venv/bin/ruff \
--     nvim --headless -u NONE -l client-nvim/tests/realclient.lua

local started = vim.uv.hrtime()
local root = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h:h')
vim.opt.runtimepath:prepend(root)
vim.cmd('filetype on')

local tmp = vim.fn.tempname()

local function log(msg)
  io.stdout:write(('%5.1fs %s\n'):format((vim.uv.hrtime() - started) / 1e9, msg))
end

local function fail(msg)
  io.stderr:write('FAIL ' .. msg .. '\n')
  local lsp_log = vim.lsp.log and vim.lsp.log.get_filename and vim.lsp.log.get_filename() or vim.lsp.get_log_path()
  local ok, lines = pcall(vim.fn.readfile, lsp_log, '', -60)
  io.stderr:write('--- last lines of ' .. lsp_log .. '\n' .. (ok and table.concat(lines, '\n') or '') .. '\n')
  for _, c in ipairs(vim.lsp.get_clients()) do
    c:stop(true)
  end
  vim.fn.delete(tmp, 'rf')
  os.exit(1)
end

local function exe_from_env(var, name)
  local path = os.getenv(var) or vim.fn.exepath(name)
  if path == '' or vim.fn.executable(path) ~= 1 then
    fail(name .. ' not found (set ' .. var .. ')')
  end
  return path
end

local codecortex_exe = exe_from_env('CODECORTEX_CMD', 'codecortex')
local ruff_exe = exe_from_env('RUFF_CMD', 'ruff')

-- Neovim reports a server that exits with an error through vim.notify.
local exited = {}
local notify = vim.notify
vim.notify = function(msg, ...)
  local name, code = tostring(msg):match('^Client (%S+) quit with exit code (%d+)')
  if name and code ~= '0' then
    exited[name] = msg
  end
  return notify(msg, ...)
end

local function wait(what, timeout_ms, cond)
  local result
  local ok = vim.wait(timeout_ms, function()
    local name, msg = next(exited)
    if name then
      fail('the ' .. name .. ' server exited while waiting for ' .. what .. ': ' .. msg)
    end
    result = cond()
    return result ~= nil and result ~= false
  end, 20)
  if not ok then
    fail('timed out waiting for ' .. what)
  end
  return result
end

-- The workspace: a git root with a ruff configuration (F rules: F401 is reported by default too;
-- the explicit config keeps the result independent of the user's own ruff settings).
local project = tmp .. '/ws'
vim.fn.mkdir(project .. '/.git', 'p')
vim.fn.writefile({ '[lint]', 'select = ["F"]' }, project .. '/ruff.toml')
local a_path, b_path = project .. '/a.py', project .. '/b.py'
vim.fn.writefile({ 'import os', 'import sys', '', 'print(sys.argv)' }, a_path)
vim.fn.writefile({ 'import json', 'import re', '', "print(re.compile('x'))" }, b_path)

-- ruff's language server for Python buffers.
vim.api.nvim_create_autocmd('FileType', {
  pattern = 'python',
  callback = function(args)
    vim.lsp.start({ name = 'ruff', cmd = { ruff_exe, 'server' }, root_dir = project }, { bufnr = args.buf })
  end,
})

local cc = require('codecortex')
cc.setup({ cmd = { codecortex_exe, 'serve' } })

-- Capture what the plugin forwards, at the client (the real send path).
local forwarded = {}
local patched = {}
local function capture(client)
  if patched[client.id] then
    return
  end
  patched[client.id] = true
  local notify = client.notify
  client.notify = function(self, method, params)
    if method == cc.notifications.diagnostics then
      table.insert(forwarded, vim.deepcopy(params))
    end
    return notify(self, method, params)
  end
end

--- The initialized client `name` attached to `bufnr`; fails at once when its server exited.
local function client_named(name, bufnr)
  local c = vim.lsp.get_clients({ name = name, bufnr = bufnr })[1]
  return c ~= nil and c.initialized and c or nil
end

local function diags(bufnr, client)
  return vim.diagnostic.get(bufnr, { namespace = vim.lsp.diagnostic.get_namespace(client.id, false) })
end

local function pull_or_push_diags(bufnr, client)
  local out = diags(bufnr, client)
  vim.list_extend(out, vim.diagnostic.get(bufnr, { namespace = vim.lsp.diagnostic.get_namespace(client.id, true) }))
  return out
end

--- The codes of the diagnostics ruff shows in `bufnr` (nil while there are none).
local function ruff_codes(bufnr, ruff)
  local codes = {}
  for _, d in ipairs(pull_or_push_diags(bufnr, ruff)) do
    table.insert(codes, tostring(d.code))
  end
  table.sort(codes)
  return codes
end

local function run_command(client, command, args)
  local done, result, err = false, nil, nil
  client:request('workspace/executeCommand', { command = command, arguments = args }, function(e, r)
    done, result, err = true, r, e
  end)
  wait(command, 20000, function()
    return done
  end)
  if err then
    fail(command .. ': ' .. vim.inspect(err))
  end
  return result
end

local function last_forwarded(uri)
  for i = #forwarded, 1, -1 do
    if forwarded[i].uri == uri then
      return forwarded[i]
    end
  end
end

-- :CodeCortexReindex reaches the server's codecortex.reindex (the plugin reports it queued).
local messages = {}
local notify_before = vim.notify
vim.notify = function(msg, ...)
  table.insert(messages, tostring(msg))
  return notify_before(msg, ...)
end
local function reindex_reported()
  vim.cmd('CodeCortexReindex')
  return wait(':CodeCortexReindex', 20000, function()
    return vim.tbl_contains(messages, 'CodeCortex: re-indexing the workspace docs')
  end)
end

-- 1. File A: the problem, reported by ruff and forwarded.
vim.cmd.edit(vim.fn.fnameescape(a_path))
local a_buf = vim.api.nvim_get_current_buf()
local codecortex = wait('the codecortex client', 30000, function()
  return client_named('codecortex', a_buf)
end)
capture(codecortex)
local ruff = wait('the ruff client', 30000, function()
  return client_named('ruff', a_buf)
end)
log(('clients up: codecortex (%s), ruff (%s)'):format(codecortex.offset_encoding, ruff.offset_encoding))
wait('database connected', 30000, function()
  local st = cc.status[codecortex.id]
  return st ~= nil and st.database == 'connected'
end)
log('status: database connected')

-- :checkhealth says which database the server uses (CODECORTEX_DATABASE_URL, password masked).
vim.cmd('checkhealth codecortex')
local report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
local expected_where = os.getenv('EXPECTED_WHERE')
if expected_where == nil or not report:find('database: ' .. expected_where, 1, true) then
  fail(('checkhealth does not name the database %s:\n%s'):format(tostring(expected_where), report))
end
vim.cmd('tabclose')
if vim.api.nvim_get_current_buf() ~= a_buf then
  fail('closing :checkhealth did not return to a.py')
end
log(':checkhealth names the database')
reindex_reported()
log(':CodeCortexReindex queued')

-- The commands the plugin and the code actions use are the server's.
local advertised = vim.tbl_get(codecortex.server_capabilities, 'executeCommandProvider', 'commands') or {}
for _, command in pairs(cc.server_commands) do
  if not vim.tbl_contains(advertised, command) then
    fail(command .. ' is not among the server\'s commands: ' .. vim.inspect(advertised))
  end
end

local a_uri = vim.uri_from_bufnr(a_buf)
wait('ruff F401 on a.py', 20000, function()
  return vim.deep_equal(ruff_codes(a_buf, ruff), { 'F401' })
end)
local sent = wait('F401 forwarded for a.py', 20000, function()
  local p = last_forwarded(a_uri)
  return p and #p.diagnostics == 1 and p.diagnostics[1].code == 'F401' and p
end)
if sent.diagnostics[1].source ~= 'Ruff' or not sent.diagnostics[1].message:find('`os`', 1, true) then
  fail('forwarded diagnostic: ' .. vim.inspect(sent.diagnostics[1]))
end
if sent.version ~= vim.lsp.util.buf_versions[a_buf] then
  fail(('forwarded version %s, buffer version %s'):format(sent.version, vim.lsp.util.buf_versions[a_buf]))
end
wait('the problem recorded', 20000, function()
  local st = cc.status[codecortex.id]
  return st and (st.problems or 0) >= 1
end)
log('a.py: ruff F401 forwarded and recorded')

-- Fixed by editing: ruff clears its diagnostic, the plugin forwards [], the server learns.
vim.api.nvim_buf_set_lines(a_buf, 0, 1, false, {})
wait('ruff clears a.py', 20000, function()
  return #ruff_codes(a_buf, ruff) == 0
end)
wait('empty list forwarded for a.py', 20000, function()
  local p = last_forwarded(a_uri)
  return p and #p.diagnostics == 0 and p.version == vim.lsp.util.buf_versions[a_buf]
end)
wait('the fix learned', 20000, function()
  local st = cc.status[codecortex.id]
  return st and (st.solutions or 0) >= 1
end)
log('a.py: fixed by editing, fix learned')

-- 2. File B: same problem, other names.
vim.cmd.edit(vim.fn.fnameescape(b_path))
local b_buf = vim.api.nvim_get_current_buf()
local b_uri = vim.uri_from_bufnr(b_buf)
wait('codecortex and ruff attached to b.py', 20000, function()
  return client_named('codecortex', b_buf) and client_named('ruff', b_buf)
end)
local f401 = wait('ruff F401 on b.py', 20000, function()
  local all = pull_or_push_diags(b_buf, ruff)
  return #all == 1 and tostring(all[1].code) == 'F401' and all[1]
end)
if not f401.message:find('`json`', 1, true) then
  fail('ruff on b.py: ' .. f401.message)
end
wait('F401 forwarded for b.py', 20000, function()
  local p = last_forwarded(b_uri)
  return p and #p.diagnostics == 1 and p.diagnostics[1].code == 'F401'
end)

-- The hint diagnostic CodeCortex publishes for b.py (its own source) must stay out of what the
-- plugin forwards, although it changes the buffer's diagnostics (DiagnosticChanged fires).
local hint = wait('the codecortex hint on b.py', 20000, function()
  return diags(b_buf, codecortex)[1]
end)
if hint.source ~= 'codecortex' or hint.severity ~= vim.diagnostic.severity.HINT then
  fail('hint: ' .. vim.inspect(hint))
end
log('b.py: F401 forwarded, hint shown: ' .. hint.message)

local lsp_diag = require('codecortex.diagnostics').to_lsp(f401, b_buf, codecortex.offset_encoding)
--- The codecortex code action on b.py whose title contains `title`.
local function code_action(title)
  local params = {
    textDocument = { uri = b_uri },
    range = lsp_diag.range,
    context = { diagnostics = { lsp_diag }, only = { 'quickfix' } },
  }
  local responses = vim.lsp.buf_request_sync(b_buf, 'textDocument/codeAction', params, 10000) or {}
  local response = responses[codecortex.id]
  for _, action in ipairs(response and response.result or {}) do
    if action.title:find(title, 1, true) then
      return action
    end
  end
end

-- "show past solutions": its command runs through the plugin's client-side handler, which asks
-- the server and shows the answer in a Markdown scratch buffer.
local show = wait('the "show past solutions" code action', 20000, function()
  return code_action('show past solutions')
end)
codecortex:exec_cmd(show.command, { bufnr = b_buf })
local shown = wait('the past solutions view', 20000, function()
  local view_buf = vim.fn.bufnr('codecortex://past-solutions')
  return view_buf ~= -1 and vim.api.nvim_buf_get_lines(view_buf, 0, -1, false) or nil
end)
if shown[1] ~= '# Past solutions — b.py:1' or not vim.tbl_contains(shown, '-import os') then
  fail('past solutions view:\n' .. table.concat(shown, '\n'))
end
vim.cmd.close()
if vim.api.nvim_get_current_buf() ~= b_buf then
  fail('closing the view did not return to b.py')
end
log('b.py: past solutions shown (' .. #shown .. ' lines)')

local action = wait('the "apply past fix" code action', 20000, function()
  return code_action('apply past fix')
end)
if action.kind ~= 'quickfix' or action.edit == nil or action.command == nil then
  fail('action: ' .. vim.inspect(action))
end
if action.command.command ~= 'codecortex.recordFix' then
  fail('action command: ' .. vim.inspect(action.command))
end
log('b.py: code action "' .. action.title .. '"')

vim.lsp.util.apply_workspace_edit(action.edit, codecortex.offset_encoding)
codecortex:exec_cmd(action.command, { bufnr = b_buf })
local stats = wait('the reuse recorded', 20000, function()
  local s = run_command(codecortex, 'codecortex.stats', {})
  return type(s) == 'table' and (tonumber(s.reused) or 0) >= 1 and s
end)
log(('stats: %s problems, %s solutions, %s reused'):format(stats.problems, stats.solutions, stats.reused))

-- :CodeCortexAnalyze! analyses the current file through codecortex.analyze ({insights = n}).
vim.cmd('CodeCortexAnalyze!')
local analysed = wait(':CodeCortexAnalyze!', 30000, function()
  for _, msg in ipairs(messages) do
    if msg:match('^CodeCortex: analysis done, %d+ insights?$') then
      return msg
    end
  end
end)
log(analysed)

-- After the fix, ruff has nothing left to say about b.py and the plugin forwards [].
wait('ruff clears b.py', 20000, function()
  return #ruff_codes(b_buf, ruff) == 0
end)
wait('empty list forwarded for b.py', 20000, function()
  local p = last_forwarded(b_uri)
  return p and #p.diagnostics == 0
end)

for _, params in ipairs(forwarded) do
  for _, d in ipairs(params.diagnostics) do
    if d.source == nil or d.source:lower() ~= 'ruff' then
      fail('forwarded a diagnostic that is not ruff\'s: ' .. vim.inspect(d))
    end
  end
end
log(('%d codecortex/diagnostics notifications, only ruff\'s diagnostics'):format(#forwarded))

io.stdout:write('BUFFER-BEGIN\n')
io.stdout:write(table.concat(vim.api.nvim_buf_get_lines(b_buf, 0, -1, false), '\n') .. '\n')
io.stdout:write('BUFFER-END\n')

for _, c in ipairs(vim.lsp.get_clients()) do
  c:stop()
end
vim.wait(5000, function()
  return #vim.lsp.get_clients() == 0
end, 20)
vim.fn.delete(tmp, 'rf')
log('real-client test passed')
os.exit(0)
