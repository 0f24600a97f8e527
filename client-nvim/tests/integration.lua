-- End-to-end: Neovim + this plugin + the real `codecortex serve` (embedded PostgreSQL in a
-- temporary data directory). A diagnostic from another source is forwarded and recorded; when it
-- goes away the fix is learned and found by search. Exits non-zero on failure.
--   CODECORTEX_CMD=/path/to/codecortex nvim --headless -u NONE -l client-nvim/tests/integration.lua

local root = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h:h')
vim.opt.runtimepath:prepend(root)
vim.cmd('filetype on')

local function fail(msg)
  io.stderr:write('FAIL ' .. msg .. '\n')
  os.exit(1)
end

local exe = os.getenv('CODECORTEX_CMD') or vim.fn.exepath('codecortex')
if exe == '' or vim.fn.executable(exe) ~= 1 then
  fail('codecortex not found (set CODECORTEX_CMD)')
end

local tmp = vim.fn.tempname()
local project = tmp .. '/project'
vim.fn.mkdir(project .. '/.git', 'p')
vim.fn.writefile({ 'import os', 'print(x)' }, project .. '/a.py')

local cc = require('codecortex')
cc.setup({
  cmd = { exe, 'serve' },
  settings = { dataDir = tmp .. '/data', insights = false },
  debounce_ms = 50,
})
vim.cmd.edit(vim.fn.fnameescape(project .. '/a.py'))

if not vim.wait(60000, function()
  local c = cc.clients(0)[1]
  return c ~= nil and c.initialized
end, 50) then
  fail('the server did not start (see ' .. vim.lsp.get_log_path() .. ')')
end
local client = cc.clients(0)[1]
if client.root_dir ~= project then
  fail('root_dir ' .. tostring(client.root_dir) .. ', expected ' .. project)
end
io.stdout:write('ok   attached, root ' .. client.root_dir .. '\n')

local function connected()
  local st = cc.status[client.id]
  return st ~= nil and st.database == 'connected'
end
if not vim.wait(90000, connected, 50) then
  fail('no "connected" status: ' .. vim.inspect(cc.status[client.id]))
end
io.stdout:write('ok   status: database connected\n')

local function run(command, args)
  local done, result = false, nil
  cc.execute(command, args, function(r)
    done, result = true, r
  end, client)
  if not vim.wait(30000, function()
    return done
  end, 50) then
    fail(command .. ' timed out')
  end
  return result
end

local ns = vim.api.nvim_create_namespace('integration.ruff')
vim.diagnostic.set(ns, 0, {
  { lnum = 1, col = 6, end_col = 7, message = 'Undefined name `x`', source = 'ruff', code = 'F821', severity = 1 },
})
if not vim.wait(20000, function()
  local st = cc.status[client.id]
  return st and (st.problems or 0) >= 1
end, 50) then
  fail('the forwarded problem was not recorded: ' .. vim.inspect(cc.status[client.id]))
end
io.stdout:write('ok   forwarded diagnostic recorded as a problem\n')

local stats = run('codecortex.stats', {})
if type(stats) ~= 'table' or (tonumber(stats.problems) or 0) < 1 then
  fail('stats: ' .. vim.inspect(stats))
end
io.stdout:write('ok   stats: ' .. tostring(stats.problems) .. ' problem(s)\n')

-- Fix it: the diagnostic disappears, the plugin sends an empty list, the server learns the fix.
vim.api.nvim_buf_set_lines(0, 1, 2, false, { 'print(1)' })
vim.diagnostic.reset(ns, 0)
if not vim.wait(20000, function()
  local st = cc.status[client.id]
  return st and (st.solutions or 0) >= 1
end, 50) then
  fail('the fix was not learned: ' .. vim.inspect(cc.status[client.id]))
end
io.stdout:write('ok   fix learned as a past solution\n')

local found = run('codecortex.search', { 'undefined name x' })
local results = type(found) == 'table' and found.results or {}
if #results == 0 or results[1].kind ~= 'solution' or not tostring(results[1].snippet):find('+print(1)', 1, true) then
  fail('search: ' .. vim.inspect(found))
end
io.stdout:write('ok   search finds the learned fix: ' .. results[1].title .. '\n')

vim.lsp.stop_client(client.id)
vim.wait(10000, function()
  return client:is_stopped()
end, 50)
vim.fn.delete(tmp, 'rf')
io.stdout:write('all integration tests passed\n')
os.exit(0)
