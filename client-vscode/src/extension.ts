/** Entry point: wires the modules of src/common together. */
import type * as vscode from 'vscode';

import { registerCommands, showCommandResult } from './common/commands';
import { registerConfigWatcher } from './common/configWatcher';
import { registerDiagnosticsForwarding } from './common/diagnostics';
import { ManagedServer } from './common/install';
import { createLog, errorMessage } from './common/log';
import { ServerManager } from './common/server';
import { registerStatusBar } from './common/statusBar';
import { ViewProvider } from './common/views';
import { API_KEY_SECRET } from './core/constants';

let manager: ServerManager | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const log = createLog();
  const views = ViewProvider.register();
  const managed = new ManagedServer(context, log);
  manager = new ServerManager(log, managed, (command, args, result) => {
    showCommandResult(views.provider, command, args, result).catch((err: unknown) => {
      log.warn(`Showing the result of ${command}: ${errorMessage(err)}`);
    });
  });
  context.subscriptions.push(
    log,
    views.disposable,
    manager,
    registerStatusBar(manager),
    registerDiagnosticsForwarding(manager),
    registerConfigWatcher(manager),
    registerCommands(manager, managed, views.provider, log, context.secrets),
  );
  const current = manager;
  context.subscriptions.push(
    // The server's logLevel follows the output channel's level.
    log.onDidChangeLogLevel(() => {
      current.sendSettings().catch((err: unknown) => {
        log.warn(`Sending settings failed: ${errorMessage(err)}`);
      });
    }),
  );
  context.subscriptions.push(
    context.secrets.onDidChange(async (event) => {
      if (event.key === API_KEY_SECRET) {
        await current.setApiKey(await context.secrets.get(API_KEY_SECRET));
      }
    }),
  );
  // Not awaited: starting the server (and its database) must not hold up VS Code.
  (async () => {
    await current.setApiKey(await context.secrets.get(API_KEY_SECRET));
    await current.restart('activation');
  })().catch((err: unknown) => {
    log.error(`Starting the server: ${errorMessage(err)}`);
  });
}

export async function deactivate(): Promise<void> {
  await manager?.stop();
  manager = undefined;
}
