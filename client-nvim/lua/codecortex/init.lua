--- CodeCortex for Neovim: starts `codecortex serve` with the built-in LSP client, forwards the
--- diagnostics of every other source to it and adds :CodeCortex* commands.
---
---   require('codecortex').setup({ settings = { databaseUrl = '' } })
---
--- Neovim 0.11+ uses vim.lsp.config/vim.lsp.enable; 0.10 uses vim.lsp.start on FileType.

local diagnostics = require('codecortex.diagnostics')
local view = require('codecortex.view')

local M = {}

M.NAME = 'codecortex'
M.SECTION = 'codecortex'

M.notifications = {
  diagnostics = 'codecortex/diagnostics',
  status = 'codecortex/status',
}

M.server_commands = {
  search = 'codecortex.search',
  show_solutions = 'codecortex.showSolutions',
  add_note = 'codecortex.addNote',
  stats = 'codecortex.stats',
  reindex = 'codecortex.reindex',
  analyze = 'codecortex.analyze',
}

--- User commands defined by setup().
M.user_commands = {
  'CodeCortexSearch',
  'CodeCortexSolutions',
  'CodeCortexStats',
  'CodeCortexAnalyze',
  'CodeCortexNote',
  'CodeCortexReindex',
}

--- @class codecortex.Options
--- @field cmd string[] command that starts the server
--- @field filetypes string[]? filetypes to attach to; nil = every file buffer
--- @field root_markers string[] files/directories that mark a project root
--- @field settings table the `codecortex` section (databaseUrl, hints, llm = {...}, ...)
--- @field forward_diagnostics boolean forward other sources' diagnostics (default true)
--- @field debounce_ms integer per-buffer delay before forwarding
--- @field on_attach fun(client: vim.lsp.Client, bufnr: integer)?
--- @field capabilities table?
--- @field start_server boolean false: only commands and forwarding (you start the server yourself,
---   e.g. with nvim-lspconfig; its client must be named "codecortex")
M.defaults = {
  cmd = { 'codecortex', 'serve' },
  filetypes = nil,
  root_markers = {
    '.git',
    'pyproject.toml',
    'setup.py',
    'package.json',
    'tsconfig.json',
    'go.mod',
    'Cargo.toml',
    'pom.xml',
    'build.gradle',
  },
  settings = {},
  forward_diagnostics = true,
  debounce_ms = 300,
  on_attach = nil,
  capabilities = nil,
  start_server = true,
}

--- @type codecortex.Options
M.options = vim.deepcopy(M.defaults)

--- Last `codecortex/status` per client id.
--- @type table<integer, {database: string, problems: integer, solutions: integer}>
M.status = {}

local augroup = nil
--- @type codecortex.Forwarder?
local forwarder = nil

local function notify(msg, level)
  vim.notify('CodeCortex: ' .. msg, level or vim.log.levels.INFO)
end

local has_011 = vim.fn.has('nvim-0.11') == 1

--- client:request / client.request across 0.10 and 0.11+.
local function client_request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

local function client_notify(client, method, params)
  if has_011 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

--- The `codecortex` section as the server receives it. Accepts `{codecortex = {...}}` too.
--- @param settings table?
--- @return table
function M.section(settings)
  settings = settings or {}
  if type(settings[M.SECTION]) == 'table' then
    settings = settings[M.SECTION]
  end
  if next(settings) == nil then
    return vim.empty_dict()
  end
  return vim.deepcopy(settings)
end

--- Running codecortex clients, attached to `bufnr` when given.
--- @param bufnr integer?
--- @return vim.lsp.Client[]
function M.clients(bufnr)
  return vim.lsp.get_clients({ name = M.NAME, bufnr = bufnr })
end

--- Namespaces of the codecortex clients' own diagnostics (push and pull).
--- @return table<integer, boolean>
function M.own_namespaces()
  local set = {}
  for _, client in ipairs(M.clients()) do
    set[vim.lsp.diagnostic.get_namespace(client.id, false)] = true
    set[vim.lsp.diagnostic.get_namespace(client.id, true)] = true
  end
  return set
end

local function pick_client()
  return M.clients(vim.api.nvim_get_current_buf())[1] or M.clients()[1]
end

--- Runs a server command (workspace/executeCommand) and calls `callback(result)`.
--- @param command string
--- @param arguments any[]
--- @param callback fun(result: any)
--- @param client vim.lsp.Client?
function M.execute(command, arguments, callback, client)
  client = client or pick_client()
  if client == nil then
    notify('the server is not running (see :checkhealth codecortex)', vim.log.levels.ERROR)
    return
  end
  local params = { command = command, arguments = arguments }
  client_request(client, 'workspace/executeCommand', params, function(err, result)
    if err then
      notify(('%s failed: %s'):format(command, err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    callback(result)
  end, vim.api.nvim_get_current_buf())
end

local function open_result(r)
  if type(r.uri) == 'string' and r.uri ~= '' then
    vim.cmd.edit(vim.fn.fnameescape(vim.uri_to_fname(r.uri)))
    local line = math.max(1, math.min((tonumber(r.line) or 0) + 1, vim.api.nvim_buf_line_count(0)))
    vim.api.nvim_win_set_cursor(0, { line, 0 })
    vim.cmd('normal! zz')
  else
    view.show('snippet', view.snippet_lines(r))
  end
end

--- Searches past solutions and knowledge and lets the user pick one.
--- @param query string
function M.search(query)
  if query == nil or vim.trim(query) == '' then
    vim.ui.input({ prompt = 'CodeCortex search: ' }, function(input)
      if input and vim.trim(input) ~= '' then
        M.search(input)
      end
    end)
    return
  end
  M.execute(M.server_commands.search, { query }, function(result)
    local results = type(result) == 'table' and result.results or {}
    if type(results) ~= 'table' or #results == 0 then
      notify(('nothing found for "%s"'):format(query))
      return
    end
    vim.ui.select(results, {
      prompt = 'CodeCortex: ' .. query,
      format_item = view.search_item,
      kind = 'codecortex',
    }, function(choice)
      if choice then
        open_result(choice)
      end
    end)
  end)
end

local function show_solutions_result(result, uri, line)
  local where = vim.fn.fnamemodify(vim.uri_to_fname(uri), ':t')
  if type(line) == 'number' then
    where = where .. ':' .. (line + 1)
  end
  view.show('past-solutions', view.solutions_lines(result, where))
end

--- Past solutions of the problems at the cursor line.
function M.solutions()
  local bufnr = vim.api.nvim_get_current_buf()
  local uri = vim.uri_from_bufnr(bufnr)
  local line = vim.api.nvim_win_get_cursor(0)[1] - 1
  M.execute(M.server_commands.show_solutions, { uri, line }, function(result)
    show_solutions_result(result, uri, line)
  end)
end

function M.stats()
  M.execute(M.server_commands.stats, {}, function(result)
    view.show('statistics', view.stats_lines(result))
  end)
end

--- Analyses the workspace (or one file, given its URI).
--- @param uri string?
function M.analyze(uri)
  notify('analysing…')
  M.execute(M.server_commands.analyze, uri and { uri } or {}, function(result)
    local n = type(result) == 'table' and tonumber(result.insights) or nil
    notify(n and ('analysis done, %d insight%s'):format(n, n == 1 and '' or 's') or 'analysis done')
  end)
end

--- Indexes the workspace docs again (the server reports progress with work-done progress).
function M.reindex()
  M.execute(M.server_commands.reindex, {}, function(result)
    if type(result) == 'table' and result.queued == true then
      notify('re-indexing the workspace docs')
    else
      notify('re-indexing could not start (see :LspLog)', vim.log.levels.WARN)
    end
  end)
end

--- Saves a note.
--- @param text string
--- @param title string?
function M.add_note(text, title)
  if text == nil or vim.trim(text) == '' then
    vim.ui.input({ prompt = 'CodeCortex note: ' }, function(input)
      if input and vim.trim(input) ~= '' then
        M.add_note(input, title)
      end
    end)
    return
  end
  local note = { text = text }
  if title and title ~= '' then
    note.title = title
  end
  M.execute(M.server_commands.add_note, { note }, function(result)
    local id = type(result) == 'table' and result.id or nil
    notify(id and ('note saved (#%s)'):format(tostring(id)) or 'note saved')
  end)
end

--- A short status for statusline components, e.g. "CC 12·4" or "CC db down".
--- @return string
function M.statusline()
  local client = pick_client()
  local status = client and M.status[client.id]
  if client == nil then
    return ''
  elseif status == nil then
    return 'CC …'
  elseif status.database == 'connected' then
    return ('CC %d·%d'):format(status.problems or 0, status.solutions or 0)
  elseif status.database == 'migrating' then
    return 'CC migrating'
  end
  return 'CC db down'
end

--- Changes settings at runtime (workspace/didChangeConfiguration).
--- @param settings table the `codecortex` section, merged into the current one
function M.update_settings(settings)
  M.options.settings = vim.tbl_deep_extend('force', M.options.settings or {}, settings or {})
  local section = M.section(M.options.settings)
  for _, client in ipairs(M.clients()) do
    client.settings = { [M.SECTION] = section }
    client_notify(client, 'workspace/didChangeConfiguration', { settings = client.settings })
  end
end

--- Client-side handlers for server commands offered in code actions, so that their results show.
local function command_handlers()
  return {
    [M.server_commands.show_solutions] = function(command, ctx)
      local client = vim.lsp.get_client_by_id(ctx.client_id)
      local args = command.arguments or {}
      M.execute(command.command, args, function(result)
        show_solutions_result(result, args[1] or vim.uri_from_bufnr(ctx.bufnr), args[2])
      end, client)
    end,
    [M.server_commands.stats] = function(command, ctx)
      M.execute(command.command, command.arguments or {}, function(result)
        view.show('statistics', view.stats_lines(result))
      end, vim.lsp.get_client_by_id(ctx.client_id))
    end,
  }
end

--- The client configuration (usable with vim.lsp.config or nvim-lspconfig).
--- @param opts codecortex.Options?
--- @return vim.lsp.ClientConfig
function M.client_config(opts)
  opts = vim.tbl_deep_extend('force', M.defaults, opts or {})
  local section = M.section(opts.settings)
  return {
    name = M.NAME,
    cmd = opts.cmd,
    filetypes = opts.filetypes,
    root_markers = opts.root_markers,
    init_options = section,
    settings = { [M.SECTION] = section },
    capabilities = opts.capabilities,
    commands = command_handlers(),
    handlers = {
      [M.notifications.status] = function(_, result, ctx)
        if type(result) == 'table' then
          M.status[ctx.client_id] = result
          vim.api.nvim_exec_autocmds('User', { pattern = 'CodeCortexStatus', modeline = false })
        end
      end,
    },
    on_attach = opts.on_attach,
    on_init = function(client)
      if forwarder then
        forwarder:reset()
      end
      -- Forward what the buffers already show once the server is up.
      vim.schedule(function()
        for bufnr in pairs(client.attached_buffers or {}) do
          if forwarder then
            forwarder:schedule(bufnr)
          end
        end
      end)
    end,
    on_exit = function(_, _, client_id)
      M.status[client_id] = nil
    end,
  }
end

local function root_dir(bufnr, markers)
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == '' then
    return vim.fn.getcwd()
  end
  return vim.fs.root(bufnr, markers) or vim.fs.dirname(name)
end

local function define_commands()
  vim.api.nvim_create_user_command('CodeCortexSearch', function(a)
    M.search(a.args)
  end, { nargs = '*', desc = 'CodeCortex: search past solutions and knowledge' })
  vim.api.nvim_create_user_command('CodeCortexSolutions', function()
    M.solutions()
  end, { nargs = 0, desc = 'CodeCortex: past solutions for the current line' })
  vim.api.nvim_create_user_command('CodeCortexStats', function()
    M.stats()
  end, { nargs = 0, desc = 'CodeCortex: statistics' })
  vim.api.nvim_create_user_command('CodeCortexAnalyze', function(a)
    M.analyze(a.bang and vim.uri_from_bufnr(0) or nil)
  end, { nargs = 0, bang = true, desc = 'CodeCortex: analyse the workspace (! = current file)' })
  vim.api.nvim_create_user_command('CodeCortexNote', function(a)
    M.add_note(a.args)
  end, { nargs = '*', desc = 'CodeCortex: add a note' })
  vim.api.nvim_create_user_command('CodeCortexReindex', function()
    M.reindex()
  end, { nargs = 0, desc = 'CodeCortex: index the workspace docs again' })
end

local function start_forwarding(opts)
  if forwarder then
    forwarder:stop()
  end
  forwarder = diagnostics.new_forwarder({
    delay = opts.debounce_ms,
    targets = function(bufnr)
      return M.clients(bufnr)
    end,
    own_namespaces = M.own_namespaces,
    send = function(client, params)
      client_notify(client, M.notifications.diagnostics, params)
    end,
  })
  if not opts.forward_diagnostics then
    return
  end
  vim.api.nvim_create_autocmd('DiagnosticChanged', {
    group = augroup,
    callback = function(args)
      if vim.bo[args.buf].buftype == '' and #M.clients(args.buf) > 0 then
        forwarder:schedule(args.buf)
      end
    end,
  })
  vim.api.nvim_create_autocmd('LspAttach', {
    group = augroup,
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if client and client.name == M.NAME then
        forwarder:schedule(args.buf)
      end
    end,
  })
  vim.api.nvim_create_autocmd({ 'BufDelete', 'BufWipeout' }, {
    group = augroup,
    callback = function(args)
      forwarder:forget(args.buf)
    end,
  })
end

--- The forwarder (for tests and statuslines).
--- @return codecortex.Forwarder?
function M.forwarder()
  return forwarder
end

--- Configures and enables the server. Calling it again replaces the previous setup.
--- @param opts codecortex.Options?
function M.setup(opts)
  opts = vim.tbl_deep_extend('force', M.defaults, opts or {})
  vim.validate({
    cmd = { opts.cmd, 'table' },
    filetypes = { opts.filetypes, 'table', true },
    settings = { opts.settings, 'table' },
    debounce_ms = { opts.debounce_ms, 'number' },
  })
  M.options = opts
  augroup = vim.api.nvim_create_augroup('codecortex', { clear = true })
  define_commands()
  start_forwarding(opts)

  if not opts.start_server then
    return
  end
  local config = M.client_config(opts)
  if vim.lsp.config ~= nil and vim.lsp.enable ~= nil and not opts._legacy_start then
    vim.lsp.config(M.NAME, config)
    vim.lsp.enable(M.NAME)
    return
  end

  -- Neovim 0.10: start (or reuse) a client per root on FileType.
  config.root_markers = nil
  config.filetypes = nil
  vim.api.nvim_create_autocmd('FileType', {
    group = augroup,
    pattern = opts.filetypes or '*',
    callback = function(args)
      if vim.bo[args.buf].buftype ~= '' or vim.api.nvim_buf_get_name(args.buf) == '' then
        return
      end
      local start_config = vim.tbl_extend('force', config, {
        root_dir = root_dir(args.buf, opts.root_markers),
      })
      vim.lsp.start(start_config, { bufnr = args.buf })
    end,
  })
end

return M
