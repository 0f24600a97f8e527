--- Markdown views of what the server returns (statistics, past solutions, snippets), shown in a
--- scratch buffer.

local M = {}

--- "2 h 5 min", "3 min 20 s", "45 s".
--- @param seconds number
--- @return string
function M.duration(seconds)
  if type(seconds) ~= 'number' or seconds < 0 then
    return '–'
  end
  local s = math.floor(seconds + 0.5)
  if s < 60 then
    return ('%d s'):format(s)
  elseif s < 3600 then
    local rest = s % 60
    return rest == 0 and ('%d min'):format(s / 60) or ('%d min %d s'):format(s / 60, rest)
  elseif s < 86400 then
    local min = math.floor((s % 3600) / 60)
    return min == 0 and ('%d h'):format(s / 3600) or ('%d h %d min'):format(s / 3600, min)
  end
  local h = math.floor((s % 86400) / 3600)
  return h == 0 and ('%d d'):format(s / 86400) or ('%d d %d h'):format(s / 86400, h)
end

--- "timeSavedSeconds" -> "Time saved".
--- @param key string
--- @return string
function M.humanize(key)
  local words = key:gsub('Seconds$', ''):gsub('_', ' '):gsub('(%l)(%u)', '%1 %2'):lower()
  return (words:gsub('^%l', string.upper))
end

local function scalar(key, value)
  if type(value) == 'number' and key:match('Seconds$') then
    return M.duration(value)
  elseif type(value) == 'number' then
    return value == math.floor(value) and tostring(value) or ('%.2f'):format(value)
  elseif value == vim.NIL or value == nil then
    return ''
  elseif type(value) == 'table' then
    return vim.json.encode(value)
  end
  return (tostring(value):gsub('|', '\\|'):gsub('\n', ' '))
end

local function sorted_keys(t)
  local keys = vim.tbl_keys(t)
  table.sort(keys, function(a, b)
    return tostring(a) < tostring(b)
  end)
  return keys
end

--- The `codecortex.stats` object as Markdown lines.
--- @param stats any
--- @return string[]
function M.stats_lines(stats)
  local lines = { '# CodeCortex statistics', '' }
  if type(stats) ~= 'table' then
    table.insert(lines, 'The server returned no statistics.')
    return lines
  end
  local nested = {}
  for _, key in ipairs(sorted_keys(stats)) do
    local value = stats[key]
    if type(value) == 'table' then
      table.insert(nested, key)
    else
      table.insert(lines, ('- %s: %s'):format(M.humanize(key), scalar(key, value)))
    end
  end
  for _, key in ipairs(nested) do
    local value = stats[key]
    table.insert(lines, '')
    table.insert(lines, '## ' .. M.humanize(key))
    table.insert(lines, '')
    if vim.islist(value) then
      if #value == 0 then
        table.insert(lines, '_none_')
      end
      for _, row in ipairs(value) do
        if type(row) == 'table' and not vim.islist(row) then
          local parts = {}
          for _, k in ipairs(sorted_keys(row)) do
            table.insert(parts, ('%s: %s'):format(M.humanize(k), scalar(k, row[k])))
          end
          table.insert(lines, '- ' .. table.concat(parts, ', '))
        else
          table.insert(lines, '- ' .. scalar(key, row))
        end
      end
    else
      for _, k in ipairs(sorted_keys(value)) do
        table.insert(lines, ('- %s: %s'):format(M.humanize(k), scalar(k, value[k])))
      end
    end
  end
  return lines
end

local function fence(text)
  local f = '```'
  while text:find(f, 1, true) do
    f = f .. '`'
  end
  return f
end

local function append_block(lines, text, lang)
  local f = fence(text)
  table.insert(lines, f .. (lang or ''))
  for _, l in ipairs(vim.split((text:gsub('\n$', '')), '\n', { plain = true })) do
    table.insert(lines, l)
  end
  table.insert(lines, f)
end

--- The `codecortex.showSolutions` answer as Markdown lines.
--- @param result any
--- @param where string
--- @return string[]
function M.solutions_lines(result, where)
  local lines = { '# Past solutions — ' .. where, '' }
  local problems = type(result) == 'table' and result.problems or nil
  if type(problems) ~= 'table' or #problems == 0 then
    table.insert(lines, 'No recorded problem here.')
    return lines
  end
  for _, problem in ipairs(problems) do
    table.insert(lines, '## ' .. scalar('', problem.message or ''))
    table.insert(lines, '')
    if type(problem.signature) == 'string' and problem.signature ~= '' then
      table.insert(lines, 'Signature: `' .. problem.signature:gsub('`', "'") .. '`')
      table.insert(lines, '')
    end
    local solutions = type(problem.solutions) == 'table' and problem.solutions or {}
    if #solutions == 0 then
      table.insert(lines, '_No past solution yet._')
      table.insert(lines, '')
    end
    for _, s in ipairs(solutions) do
      local title = (type(s.title) == 'string' and s.title ~= '') and s.title
        or ('Solution ' .. tostring(s.id))
      table.insert(lines, '### ' .. title)
      table.insert(lines, '')
      local facts = { ('reused %d×'):format(tonumber(s.reuseCount) or 0) }
      if type(s.timeToSolveSeconds) == 'number' then
        table.insert(facts, 'solved in ' .. M.duration(s.timeToSolveSeconds))
      end
      table.insert(lines, table.concat(facts, ', '))
      table.insert(lines, '')
      if type(s.diff) == 'string' and s.diff ~= '' then
        append_block(lines, s.diff, 'diff')
        table.insert(lines, '')
      end
    end
  end
  return lines
end

--- A search result without a location as Markdown lines.
--- @param r table
--- @return string[]
function M.snippet_lines(r)
  local lines = {
    '# ' .. tostring(r.title or ''),
    '',
    ('_%s_ · score %.2f'):format(tostring(r.kind or ''), tonumber(r.score) or 0),
    '',
  }
  for _, why in ipairs(type(r.why) == 'table' and r.why or {}) do
    table.insert(lines, '- ' .. tostring(why))
  end
  if type(r.why) == 'table' and #r.why > 0 then
    table.insert(lines, '')
  end
  append_block(lines, type(r.snippet) == 'string' and r.snippet or '')
  return lines
end

--- One line for vim.ui.select.
--- @param r table
--- @return string
function M.search_item(r)
  local where = ''
  if type(r.uri) == 'string' and r.uri ~= '' then
    where = vim.fn.fnamemodify(vim.uri_to_fname(r.uri), ':t')
    if type(r.line) == 'number' then
      where = where .. ':' .. (r.line + 1)
    end
    where = ' · ' .. where
  end
  return ('[%s] %s (%.2f)%s'):format(
    tostring(r.kind or '?'),
    tostring(r.title or ''),
    tonumber(r.score) or 0,
    where
  )
end

--- Shows Markdown lines in a scratch buffer named `codecortex://<name>` (reused), `q` closes it.
--- @param name string
--- @param lines string[]
--- @return integer bufnr
function M.show(name, lines)
  local bufname = 'codecortex://' .. name
  local bufnr = vim.fn.bufnr(bufname)
  if bufnr == -1 then
    bufnr = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(bufnr, bufname)
    vim.bo[bufnr].buftype = 'nofile'
    vim.bo[bufnr].bufhidden = 'hide'
    vim.bo[bufnr].swapfile = false
    vim.bo[bufnr].filetype = 'markdown'
    vim.keymap.set('n', 'q', '<cmd>close<cr>', { buffer = bufnr, silent = true })
  end
  vim.bo[bufnr].modifiable = true
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  vim.bo[bufnr].modifiable = false
  local win = vim.fn.bufwinid(bufnr)
  if win == -1 then
    vim.cmd('botright split')
    vim.api.nvim_win_set_buf(0, bufnr)
  else
    vim.api.nvim_set_current_win(win)
  end
  return bufnr
end

return M
