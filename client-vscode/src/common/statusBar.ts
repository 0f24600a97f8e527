/** Status bar item: database state and what has been learned (`codecortex/status`). */
import * as vscode from 'vscode';

import { ClientCommands, SERVER_NAME } from '../core/constants';
import type { StatusParams } from '../core/protocol';
import { type ClientState, statusView } from '../core/status';
import type { ServerManager } from './server';

export function registerStatusBar(manager: ServerManager): vscode.Disposable {
  const item = vscode.window.createStatusBarItem('codecortex.status', vscode.StatusBarAlignment.Right, 100);
  item.name = SERVER_NAME;
  let state: ClientState = manager.state;
  let status: StatusParams | undefined;

  const update = () => {
    const view = statusView(state, status);
    item.text = view.text;
    item.tooltip = view.tooltip;
    item.backgroundColor =
      view.level === 'normal'
        ? undefined
        : new vscode.ThemeColor(`statusBarItem.${view.level === 'error' ? 'error' : 'warning'}Background`);
    item.command =
      state === 'running' && status?.database === 'connected' ? ClientCommands.stats : ClientCommands.showLog;
    item.show();
  };
  update();

  return vscode.Disposable.from(
    item,
    manager.onDidChangeState((next) => {
      state = next;
      if (next !== 'running') {
        status = undefined;
      }
      update();
    }),
    manager.onDidReceiveStatus((next) => {
      status = next;
      update();
    }),
  );
}
