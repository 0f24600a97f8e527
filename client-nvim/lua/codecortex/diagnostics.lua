--- Forwarding Neovim's diagnostics to the CodeCortex server (`codecortex/diagnostics`).
---
--- On `DiagnosticChanged`, after a per-buffer debounce, every diagnostic of the buffer except the
--- server's own (its client's namespaces, or source "codecortex") is converted to an LSP Diagnostic
--- and sent with the buffer's URI and version. An unchanged list is not sent twice; when the other
--- diagnostics go to zero an empty list is sent, which is how the server learns fixes.

local M = {}

local uv = vim.uv or vim.loop

M.OWN_SOURCE = 'codecortex'

--- Position encodings Neovim knows, for converting byte columns.
--- @param line string
--- @param col integer byte index (0-based)
--- @param encoding string 'utf-8'|'utf-16'|'utf-32'
--- @return integer
local function utf_index(line, col, encoding)
  col = math.max(0, math.min(col, #line))
  if encoding == 'utf-8' then
    return col
  end
  if vim.fn.has('nvim-0.11') == 1 then
    return vim.str_utfindex(line, encoding, col, false)
  end
  local utf32, utf16 = vim.str_utfindex(line, col)
  return encoding == 'utf-32' and utf32 or utf16
end

--- @param bufnr integer?
--- @param row integer
--- @return string?
local function buf_line(bufnr, row)
  if bufnr == nil or not vim.api.nvim_buf_is_loaded(bufnr) then
    return nil
  end
  return vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1]
end

--- Converts a `vim.diagnostic` item (0-based lnum/col, byte columns) to an LSP Diagnostic.
--- With `bufnr`, columns are converted from bytes to `encoding` (default 'utf-16') using the
--- buffer's text; without it they are kept as they are.
--- @param d vim.Diagnostic
--- @param bufnr integer?
--- @param encoding string?
--- @return table
function M.to_lsp(d, bufnr, encoding)
  encoding = encoding or 'utf-16'
  local lnum = d.lnum or 0
  local col = d.col or 0
  local end_lnum = d.end_lnum or lnum
  local end_col = d.end_col or col
  if end_lnum < lnum or (end_lnum == lnum and end_col < col) then
    end_lnum, end_col = lnum, col
  end
  local start_line = buf_line(bufnr, lnum)
  if start_line ~= nil then
    col = utf_index(start_line, col, encoding)
  end
  local end_line = buf_line(bufnr, end_lnum)
  if end_line ~= nil then
    end_col = utf_index(end_line, end_col, encoding)
  end
  local out = {
    range = {
      start = { line = lnum, character = col },
      ['end'] = { line = end_lnum, character = end_col },
    },
    severity = d.severity or vim.diagnostic.severity.ERROR,
    message = d.message or '',
  }
  if d.source ~= nil and d.source ~= '' then
    out.source = d.source
  end
  if d.code ~= nil and d.code ~= vim.NIL then
    out.code = d.code
  end
  local lsp = vim.tbl_get(d, 'user_data', 'lsp')
  if type(lsp) == 'table' then
    if type(lsp.codeDescription) == 'table' then
      out.codeDescription = lsp.codeDescription
    end
    if type(lsp.tags) == 'table' and #lsp.tags > 0 then
      out.tags = lsp.tags
    end
  end
  return out
end

--- Whether a diagnostic's source is the server's own.
--- @param source any
--- @return boolean
function M.is_own_source(source)
  return type(source) == 'string' and vim.trim(source):lower() == M.OWN_SOURCE
end

--- The diagnostics of `bufnr` that come from other sources, as LSP Diagnostics.
--- @param bufnr integer
--- @param own_namespaces table<integer, boolean> namespaces of the codecortex clients
--- @param encoding string?
--- @return table[]
function M.collect(bufnr, own_namespaces, encoding)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    if not own_namespaces[d.namespace] and not M.is_own_source(d.source) then
      table.insert(out, M.to_lsp(d, bufnr, encoding))
    end
  end
  table.sort(out, function(a, b)
    local sa, sb = a.range.start, b.range.start
    if sa.line ~= sb.line then
      return sa.line < sb.line
    end
    if sa.character ~= sb.character then
      return sa.character < sb.character
    end
    return a.message < b.message
  end)
  return out
end

--- A per-buffer debounced forwarder.
--- @class codecortex.Forwarder
--- @field delay integer milliseconds
--- @field targets fun(bufnr: integer): table[] clients to send to (empty: skip the buffer)
--- @field own_namespaces fun(): table<integer, boolean>
--- @field send fun(client: table, params: table)
--- @field encoding fun(client: table): string
--- @field timers table<integer, uv.uv_timer_t>
--- @field last table<integer, table<integer, string>> bufnr -> client id -> last sent list
local Forwarder = {}
Forwarder.__index = Forwarder

--- @param opts {delay: integer, targets: fun(bufnr: integer): table[], own_namespaces: fun(): table<integer, boolean>, send: fun(client: table, params: table), encoding: (fun(client: table): string)?}
--- @return codecortex.Forwarder
function M.new_forwarder(opts)
  return setmetatable({
    delay = opts.delay,
    targets = opts.targets,
    own_namespaces = opts.own_namespaces,
    send = opts.send,
    encoding = opts.encoding or function(client)
      return client.offset_encoding or 'utf-16'
    end,
    timers = {},
    last = {},
  }, Forwarder)
end

--- Forwards the buffer's diagnostics after the debounce (restarting it if one is pending).
--- @param bufnr integer
function Forwarder:schedule(bufnr)
  local timer = self.timers[bufnr]
  if timer == nil then
    timer = assert(uv.new_timer())
    self.timers[bufnr] = timer
  end
  timer:stop()
  timer:start(
    self.delay,
    0,
    vim.schedule_wrap(function()
      self:cancel(bufnr)
      self:flush(bufnr)
    end)
  )
end

--- @param bufnr integer
--- @return boolean
function Forwarder:pending(bufnr)
  return self.timers[bufnr] ~= nil
end

--- Drops a pending send.
--- @param bufnr integer
function Forwarder:cancel(bufnr)
  local timer = self.timers[bufnr]
  if timer ~= nil then
    self.timers[bufnr] = nil
    timer:stop()
    if not timer:is_closing() then
      timer:close()
    end
  end
end

--- The buffer went away: drop its pending send and what was last sent.
--- @param bufnr integer
function Forwarder:forget(bufnr)
  self:cancel(bufnr)
  self.last[bufnr] = nil
end

--- Sends the buffer's other diagnostics now, unless they are what was last sent.
--- @param bufnr integer
--- @return boolean sent
function Forwarder:flush(bufnr)
  if not vim.api.nvim_buf_is_valid(bufnr) then
    self.last[bufnr] = nil
    return false
  end
  local clients = self.targets(bufnr)
  if #clients == 0 then
    return false
  end
  local own = self.own_namespaces()
  local sent = false
  for _, client in ipairs(clients) do
    local diagnostics = M.collect(bufnr, own, self.encoding(client))
    local key = vim.json.encode(diagnostics)
    local previous = self.last[bufnr] or {}
    if previous[client.id] ~= key then
      local version = vim.lsp.util.buf_versions[bufnr]
      self.send(client, {
        uri = vim.uri_from_bufnr(bufnr),
        version = version ~= nil and version or vim.NIL,
        diagnostics = diagnostics, -- {} encodes as []
      })
      previous[client.id] = key
      self.last[bufnr] = previous
      sent = true
    end
  end
  return sent
end

--- Forgets what was sent (after a server restart) so that the next change is sent again.
function Forwarder:reset()
  self.last = {}
end

function Forwarder:stop()
  for bufnr in pairs(self.timers) do
    self:cancel(bufnr)
  end
  self.last = {}
end

return M
