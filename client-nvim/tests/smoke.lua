-- Headless smoke test of the CodeCortex Neovim plugin. Exits non-zero on failure.
--   nvim --headless -u NONE -l client-nvim/tests/smoke.lua

local root = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h:h')
vim.opt.runtimepath:prepend(root)

local failures = {}
local current = '?'

local function check(cond, msg)
  if not cond then
    table.insert(failures, ('%s: %s'):format(current, msg))
  end
end

local function eq(actual, expected, msg)
  if not vim.deep_equal(actual, expected) then
    table.insert(
      failures,
      ('%s: %s\n    expected %s\n    got      %s'):format(current, msg, vim.inspect(expected), vim.inspect(actual))
    )
  end
end

local function test(name, fn)
  current = name
  local ok, err = xpcall(fn, debug.traceback)
  if not ok then
    table.insert(failures, ('%s: error: %s'):format(name, err))
  end
  io.stdout:write((ok and 'ok   ' or 'FAIL ') .. name .. '\n')
end

local codecortex = require('codecortex')
local diagnostics = require('codecortex.diagnostics')
local view = require('codecortex.view')

local function scratch(lines)
  local bufnr = vim.api.nvim_create_buf(true, false)
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  return bufnr
end

test('setup registers the server config and user commands', function()
  codecortex.setup({
    cmd = { 'true' },
    settings = { databaseUrl = 'postgresql://db/cc', hints = false, llm = { provider = 'openai' } },
  })
  local config = vim.lsp.config.codecortex
  check(config ~= nil, 'vim.lsp.config.codecortex is defined')
  eq(config.cmd, { 'true' }, 'cmd')
  eq(config.filetypes, nil, 'all filetypes by default')
  eq(config.init_options, { databaseUrl = 'postgresql://db/cc', hints = false, llm = { provider = 'openai' } }, 'init_options')
  eq(config.settings.codecortex.llm.provider, 'openai', 'settings are the codecortex section')
  check(vim.lsp.is_enabled == nil or vim.lsp.is_enabled('codecortex'), 'the config is enabled')
  check(type(config.handlers['codecortex/status']) == 'function', 'status handler')
  check(type(config.commands['codecortex.showSolutions']) == 'function', 'client-side showSolutions command')

  local commands = vim.api.nvim_get_commands({})
  for _, name in ipairs(codecortex.user_commands) do
    check(commands[name] ~= nil, name .. ' is defined')
  end
  eq(commands.CodeCortexSearch.nargs, '*', 'CodeCortexSearch takes a query')
  eq(commands.CodeCortexSolutions.nargs, '0', 'CodeCortexSolutions takes no argument')
  check(commands.CodeCortexAnalyze.bang, 'CodeCortexAnalyze! analyses the current file')

  local autocmds = vim.api.nvim_get_autocmds({ group = 'codecortex', event = 'DiagnosticChanged' })
  eq(#autocmds, 1, 'one DiagnosticChanged autocmd')
end)

test('settings: empty section is an object, {codecortex = ...} is accepted', function()
  eq(vim.json.encode(codecortex.section({})), '{}', 'empty settings encode as an object')
  eq(codecortex.section({ codecortex = { hints = true } }), { hints = true }, 'nested section')
  local config = codecortex.client_config({ cmd = { 'x' } })
  eq(vim.json.encode(config.settings), '{"codecortex":{}}', 'workspace/configuration answer')
end)

test('legacy (0.10) path starts on FileType', function()
  codecortex.setup({ cmd = { 'true' }, filetypes = { 'python' }, _legacy_start = true })
  local autocmds = vim.api.nvim_get_autocmds({ group = 'codecortex', event = 'FileType' })
  eq(#autocmds, 1, 'one FileType autocmd')
  eq(autocmds[1].pattern, 'python', 'for the configured filetypes')
  codecortex.setup({ cmd = { 'true' } })
  eq(#vim.api.nvim_get_autocmds({ group = 'codecortex', event = 'FileType' }), 0, 'setup again replaces it')
end)

test('start_server = false only defines commands and forwarding', function()
  vim.lsp.enable('codecortex', false)
  vim.lsp.config('codecortex', { cmd = { 'sentinel' } })
  codecortex.setup({ cmd = { 'true' }, start_server = false })
  eq(vim.lsp.config.codecortex.cmd, { 'sentinel' }, 'the server config is left alone')
  check(vim.api.nvim_get_commands({}).CodeCortexStats ~= nil, 'commands defined')
  eq(#vim.api.nvim_get_autocmds({ group = 'codecortex', event = 'DiagnosticChanged' }), 1, 'forwarding on')
  codecortex.setup({ cmd = { 'true' } })
  eq(vim.lsp.config.codecortex.cmd, { 'true' }, 'setup() configures the server again')
end)

test('vim.diagnostic -> LSP Diagnostic', function()
  local d = {
    lnum = 2,
    col = 4,
    end_lnum = 2,
    end_col = 10,
    severity = vim.diagnostic.severity.WARN,
    source = 'ruff',
    code = 'F401',
    message = '`os` imported but unused',
  }
  eq(diagnostics.to_lsp(d), {
    range = { start = { line = 2, character = 4 }, ['end'] = { line = 2, character = 10 } },
    severity = 2,
    source = 'ruff',
    code = 'F401',
    message = '`os` imported but unused',
  }, 'fields and 0-based range')

  local minimal = diagnostics.to_lsp({ lnum = 5, col = 0, message = 'boom' })
  eq(minimal.range['end'], { line = 5, character = 0 }, 'missing end = start')
  eq(minimal.severity, 1, 'missing severity = error')
  eq(minimal.source, nil, 'no source')
  eq(diagnostics.to_lsp({ lnum = 1, col = 3, code = 7, message = 'm' }).code, 7, 'numeric code')

  -- Byte columns become UTF-16 code units: "é" is 2 bytes, 1 unit; "𝔘" is 4 bytes, 2 units.
  local bufnr = scratch({ 'x = "é𝔘" + y' })
  local multibyte = { lnum = 0, col = 11, end_lnum = 0, end_col = 14, message = 'm' }
  eq(diagnostics.to_lsp(multibyte, bufnr).range, {
    start = { line = 0, character = 8 },
    ['end'] = { line = 0, character = 11 },
  }, 'utf-16 columns')
  eq(diagnostics.to_lsp(multibyte, bufnr, 'utf-8').range.start.character, 11, 'utf-8 keeps bytes')
  eq(diagnostics.to_lsp(multibyte, bufnr, 'utf-32').range.start.character, 7, 'utf-32 columns')
  local past_end = { lnum = 0, col = 0, end_lnum = 0, end_col = 999, message = 'm' }
  eq(diagnostics.to_lsp(past_end, bufnr).range['end'].character, 13, 'end clamped to the line (13 UTF-16 units)')
  local lsp_source = {
    lnum = 0, col = 0, message = 'm',
    user_data = { lsp = { codeDescription = { href = 'https://docs.astral.sh/ruff/rules/F401' }, tags = { 1 } } },
  }
  eq(diagnostics.to_lsp(lsp_source).codeDescription, { href = 'https://docs.astral.sh/ruff/rules/F401' }, 'codeDescription kept')
  eq(diagnostics.to_lsp(lsp_source).tags, { 1 }, 'tags kept')
end)

test('collect skips the server\'s own diagnostics', function()
  local bufnr = scratch({ 'import os', 'print(x)' })
  local ruff = vim.api.nvim_create_namespace('smoke.ruff')
  local own = vim.api.nvim_create_namespace('smoke.own')
  local other = vim.api.nvim_create_namespace('smoke.other')
  vim.diagnostic.set(ruff, bufnr, {
    { lnum = 1, col = 6, end_col = 7, message = 'undefined name `x`', source = 'ruff', severity = 1 },
    { lnum = 0, col = 7, end_col = 9, message = '`os` imported but unused', source = 'ruff', code = 'F401', severity = 2 },
  })
  vim.diagnostic.set(own, bufnr, { { lnum = 0, col = 0, message = 'seen 4×', severity = 4 } })
  vim.diagnostic.set(other, bufnr, { { lnum = 1, col = 0, message = 'insight', source = 'CodeCortex' } })
  local got = diagnostics.collect(bufnr, { [own] = true })
  eq(vim.tbl_map(function(d)
    return d.message
  end, got), { '`os` imported but unused', 'undefined name `x`' }, 'only other sources, sorted')
end)

test('forwarder: debounced per buffer, deduplicated, empty list when fixed', function()
  local bufnr = scratch({ 'import os' })
  local other_buf = scratch({ 'y' })
  local ruff = vim.api.nvim_create_namespace('smoke.fwd.ruff')
  local sent = {}
  local client = { id = 42, offset_encoding = 'utf-16' }
  local fwd = diagnostics.new_forwarder({
    delay = 30,
    targets = function(b)
      return b == bufnr and { client } or {}
    end,
    own_namespaces = function()
      return {}
    end,
    send = function(c, params)
      table.insert(sent, { client = c.id, params = params, json = vim.json.encode(params) })
    end,
  })
  local function settle(n)
    vim.wait(1000, function()
      return #sent >= n and not fwd:pending(bufnr)
    end, 5)
  end

  vim.diagnostic.set(ruff, bufnr, { { lnum = 0, col = 7, end_col = 9, message = 'unused', source = 'ruff' } })
  fwd:schedule(bufnr)
  fwd:schedule(bufnr)
  fwd:schedule(bufnr)
  check(fwd:pending(bufnr), 'pending during the debounce')
  eq(#sent, 0, 'nothing sent before the delay')
  settle(1)
  vim.wait(80)
  eq(#sent, 1, 'one send for three changes')
  eq(sent[1].client, 42, 'sent to the attached client')
  eq(sent[1].params.uri, vim.uri_from_bufnr(bufnr), 'uri')
  eq(sent[1].params.version, vim.lsp.util.buf_versions[bufnr], 'version')
  eq(sent[1].params.diagnostics[1].message, 'unused', 'diagnostic')

  fwd:schedule(bufnr)
  vim.wait(80)
  eq(#sent, 1, 'an unchanged list is not sent again')

  vim.diagnostic.reset(ruff, bufnr)
  fwd:schedule(bufnr)
  settle(2)
  eq(#sent, 2, 'sent after the diagnostics went away')
  check(sent[2].json:find('"diagnostics":[]', 1, true) ~= nil, 'empty list encodes as []: ' .. sent[2].json)

  fwd:schedule(other_buf)
  vim.wait(80)
  eq(#sent, 2, 'buffers without a codecortex client are skipped')

  vim.diagnostic.set(ruff, bufnr, { { lnum = 0, col = 0, message = 'again', source = 'ruff' } })
  fwd:schedule(bufnr)
  fwd:forget(bufnr)
  vim.wait(80)
  eq(#sent, 2, 'forget cancels the pending send')
  fwd:stop()
end)

test('DiagnosticChanged reaches the forwarder of a buffer with a codecortex client', function()
  codecortex.setup({ cmd = { 'true' }, debounce_ms = 20 })
  local bufnr = scratch({ 'a' })
  local fwd = codecortex.forwarder()
  local scheduled = {}
  local original = fwd.schedule
  fwd.schedule = function(self, b)
    table.insert(scheduled, b)
    return original(self, b)
  end
  local original_clients = codecortex.clients
  codecortex.clients = function(b)
    return b == bufnr and { { id = 1, name = 'codecortex' } } or {}
  end
  local ns = vim.api.nvim_create_namespace('smoke.autocmd')
  vim.diagnostic.set(ns, bufnr, { { lnum = 0, col = 0, message = 'x' } })
  codecortex.clients = original_clients
  fwd.schedule = original
  eq(scheduled, { bufnr }, 'scheduled on DiagnosticChanged')
  fwd:forget(bufnr)
end)

test('views render server answers', function()
  eq(view.duration(200), '3 min 20 s', 'duration')
  eq(view.duration(7500), '2 h 5 min', 'hours')
  eq(view.humanize('timeSavedSeconds'), 'Time saved', 'humanize')
  local stats = view.stats_lines({ problems = 12, timeSavedSeconds = 90, topSignatures = { { signature = 'F401', count = 3 } } })
  check(vim.tbl_contains(stats, '- Problems: 12'), 'scalar figure: ' .. vim.inspect(stats))
  check(vim.tbl_contains(stats, '- Time saved: 1 min 30 s'), 'duration figure')
  check(vim.tbl_contains(stats, '- Count: 3, Signature: F401'), 'table row')
  local sol = view.solutions_lines({
    problems = { { message = 'undefined name', signature = 'F821 {name}', solutions = {
      { id = 1, title = 'Import it', diff = '+import os\n', reuseCount = 2, timeToSolveSeconds = 60 },
    } } },
  }, 'a.py:3')
  eq(sol[1], '# Past solutions — a.py:3', 'title')
  check(vim.tbl_contains(sol, '```diff') and vim.tbl_contains(sol, '+import os'), 'diff block')
  check(vim.tbl_contains(sol, 'reused 2×, solved in 1 min'), 'facts')
  eq(view.search_item({ kind = 'solution', title = 'Fix', score = 0.5, uri = 'file:///w/a.py', line = 4 }),
    '[solution] Fix (0.50) · a.py:5', 'select item')
  local bufnr = view.show('smoke', { '# hi' })
  eq(vim.bo[bufnr].filetype, 'markdown', 'markdown scratch buffer')
  eq(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), { '# hi' }, 'content')
end)

if #failures > 0 then
  io.stderr:write('\n' .. table.concat(failures, '\n') .. '\n')
  io.stderr:write(('%d failure(s)\n'):format(#failures))
  os.exit(1)
end
io.stdout:write('all smoke tests passed\n')
os.exit(0)
