--- :checkhealth codecortex

local M = {}

function M.check()
  local health = vim.health
  health.start('CodeCortex')
  if vim.fn.has('nvim-0.10') == 1 then
    health.ok('Neovim ' .. tostring(vim.version()))
  else
    health.error('Neovim 0.10 or newer is required')
  end
  local cc = require('codecortex')
  local cmd = cc.options.cmd or cc.defaults.cmd
  if vim.fn.executable(cmd[1]) == 1 then
    health.ok(('server command: %s (%s)'):format(table.concat(cmd, ' '), vim.fn.exepath(cmd[1])))
  else
    health.error(
      ('server command not found: %s'):format(cmd[1]),
      {
        'install the codecortex-lsp distribution from a clone: pipx install /path/to/codecortex (pip install codecortex is an unrelated project)',
        'or set cmd = { "/path/to/codecortex", "serve" } in setup()',
      }
    )
  end
  local clients = cc.clients()
  if #clients == 0 then
    health.warn('no CodeCortex client running (open a file; check :lua =vim.lsp.get_log_path())')
  end
  for _, client in ipairs(clients) do
    local status = cc.status[client.id]
    health.info(('client %d, root %s: %s'):format(
      client.id,
      client.root_dir or '(single file)',
      status and ('database %s, %d problems, %d solutions'):format(status.database, status.problems or 0, status.solutions or 0)
        or 'no status yet'
    ))
    if status and status.where then
      health.info(('client %d database: %s'):format(client.id, status.where))
    end
  end
  health.info('forwarding diagnostics: ' .. tostring(cc.options.forward_diagnostics))
end

return M
