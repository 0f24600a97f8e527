/**
 * Reacts to setting and interpreter changes: settings go to the server through
 * workspace/didChangeConfiguration; `server.path`, `databaseUrl` and `dataDir` (and a new Python
 * interpreter, when the server runs from it) restart the server, debounced.
 */
import * as vscode from 'vscode';

import { CONFIG_SECTION, RESTART_DEBOUNCE_MS } from '../core/constants';
import { Debounced } from '../core/debounce';
import { needsRestart } from '../core/settings';
import { errorMessage } from './log';
import { onDidChangeInterpreter } from './python';
import type { ServerManager } from './server';
import { readSection } from './settings';

export function registerConfigWatcher(manager: ServerManager): vscode.Disposable {
  let previous = readSection();
  const restart = new Debounced(RESTART_DEBOUNCE_MS, () => {
    void manager.restart('settings changed');
  });
  const disposables: vscode.Disposable[] = [
    new vscode.Disposable(() => {
      restart.dispose();
    }),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (!event.affectsConfiguration(CONFIG_SECTION)) {
        return;
      }
      const next = readSection();
      const restartNeeded = needsRestart(previous, next);
      manager.logInfo(`Settings changed${restartNeeded ? ': restarting the server' : ''}.`);
      previous = next;
      if (restartNeeded) {
        restart.trigger();
      } else if (!restart.pending) {
        manager.sendSettings().catch((err: unknown) => {
          manager.logWarning(`Sending settings failed: ${errorMessage(err)}`);
        });
      }
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      restart.trigger();
    }),
  ];
  void onDidChangeInterpreter(() => {
    if (manager.serverCommand?.origin !== 'setting') {
      restart.trigger();
    }
  }).then((disposable) => {
    if (disposable !== undefined) {
      disposables.push(disposable);
    }
  });
  return new vscode.Disposable(() => {
    for (const disposable of disposables) {
      disposable.dispose();
    }
  });
}
