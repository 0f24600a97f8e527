/** The extension's commands; each runs a server command and shows its answer. */
import * as path from 'node:path';

import * as vscode from 'vscode';

import { API_KEY_SECRET, ClientCommands, SEARCH_DEBOUNCE_MS, ServerCommands } from '../core/constants';
import { Debounced } from '../core/debounce';
import {
  type SearchResult,
  parseSearchResponse,
  parseShowSolutionsResponse,
} from '../core/protocol';
import { searchItem, snippetMarkdown, solutionsMarkdown, statsMarkdown } from '../core/render';
import type { ManagedServer } from './install';
import { errorMessage } from './log';
import type { ServerManager } from './server';
import type { ViewProvider } from './views';

interface ResultItem extends vscode.QuickPickItem {
  result: SearchResult;
}

function where(uri: string, line: number | undefined): string {
  let name = uri;
  try {
    name = path.basename(vscode.Uri.parse(uri).fsPath);
  } catch {
    // keep the URI
  }
  return line === undefined ? name : `${name}:${line + 1}`;
}

/** Shows a server command's result where it belongs (also used for code actions' commands). */
export async function showCommandResult(
  views: ViewProvider,
  command: string,
  args: unknown[],
  result: unknown,
): Promise<void> {
  if (command === ServerCommands.showSolutions) {
    const uri = typeof args[0] === 'string' ? args[0] : '';
    const line = typeof args[1] === 'number' ? args[1] : undefined;
    await views.show('past-solutions', solutionsMarkdown(parseShowSolutionsResponse(result), where(uri, line)));
  } else if (command === ServerCommands.stats) {
    await views.show('statistics', statsMarkdown(result));
  }
}

async function openResult(views: ViewProvider, result: SearchResult): Promise<void> {
  if (result.uri !== undefined) {
    const document = await vscode.workspace.openTextDocument(vscode.Uri.parse(result.uri));
    const line = Math.min(Math.max(result.line ?? 0, 0), Math.max(document.lineCount - 1, 0));
    const position = new vscode.Position(line, 0);
    await vscode.window.showTextDocument(document, {
      selection: new vscode.Range(position, position),
    });
    return;
  }
  await views.show(`${result.kind}-${String(result.id)}`, snippetMarkdown(result));
}

function search(manager: ServerManager, views: ViewProvider): Promise<void> {
  const pick = vscode.window.createQuickPick<ResultItem>();
  pick.title = 'CodeCortex: search past solutions and knowledge';
  pick.placeholder = 'Type an error message, a symbol or a topic';
  pick.matchOnDescription = true;
  pick.matchOnDetail = true;
  const editor = vscode.window.activeTextEditor;
  if (editor !== undefined && !editor.selection.isEmpty) {
    pick.value = editor.document.getText(editor.selection).split(/\r?\n/)[0].slice(0, 200);
  }
  let generation = 0;
  const run = async (query: string) => {
    const mine = ++generation;
    if (query.trim() === '') {
      pick.items = [];
      pick.busy = false;
      return;
    }
    pick.busy = true;
    try {
      const results = parseSearchResponse(await manager.execute(ServerCommands.search, [query]));
      if (mine !== generation) {
        return;
      }
      pick.items = results.map((result) => ({ ...searchItem(result), alwaysShow: true, result }));
      pick.placeholder = results.length === 0 ? `Nothing found for "${query}"` : pick.placeholder;
    } catch (err) {
      if (mine === generation) {
        pick.items = [];
        pick.placeholder = `Search failed: ${errorMessage(err)}`;
      }
    } finally {
      if (mine === generation) {
        pick.busy = false;
      }
    }
  };
  const debounced = new Debounced(SEARCH_DEBOUNCE_MS, () => void run(pick.value));
  return new Promise<void>((resolve) => {
    pick.onDidChangeValue(() => {
      debounced.trigger();
    });
    pick.onDidAccept(() => {
      const [selected] = pick.selectedItems;
      pick.hide();
      if (selected !== undefined) {
        openResult(views, selected.result).catch((err: unknown) => {
          void vscode.window.showErrorMessage(`CodeCortex: cannot open the result: ${errorMessage(err)}`);
        });
      }
    });
    pick.onDidHide(() => {
      debounced.dispose();
      pick.dispose();
      resolve();
    });
    pick.show();
    if (pick.value !== '') {
      void run(pick.value);
    }
  });
}

async function showSolutions(manager: ServerManager, views: ViewProvider): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (editor === undefined) {
    void vscode.window.showInformationMessage('CodeCortex: open a file to see its past solutions.');
    return;
  }
  const args = [editor.document.uri.toString(), editor.selection.active.line];
  const result = await manager.execute(ServerCommands.showSolutions, args);
  await showCommandResult(views, ServerCommands.showSolutions, args, result);
}

async function addNote(manager: ServerManager): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const selected =
    editor !== undefined && !editor.selection.isEmpty ? editor.document.getText(editor.selection) : '';
  const text = await vscode.window.showInputBox({
    title: 'CodeCortex: add a note',
    prompt: 'What should CodeCortex remember? (searchable, shown with matching problems)',
    value: selected,
    ignoreFocusOut: true,
    validateInput: (value) => (value.trim() === '' ? 'The note is empty.' : undefined),
  });
  if (text === undefined || text.trim() === '') {
    return;
  }
  const title = await vscode.window.showInputBox({
    title: 'CodeCortex: add a note',
    prompt: 'Title (optional, Enter to skip)',
    placeHolder: text.trim().split(/\r?\n/)[0].slice(0, 80),
    ignoreFocusOut: true,
  });
  if (title === undefined) {
    return;
  }
  const note: { text: string; title?: string } = { text };
  if (title.trim() !== '') {
    note.title = title.trim();
  }
  const result = await manager.execute(ServerCommands.addNote, [note]);
  const id =
    typeof result === 'object' && result !== null && 'id' in result ? String(result.id) : undefined;
  void vscode.window.showInformationMessage(
    id !== undefined ? `CodeCortex: note saved (#${id}).` : 'CodeCortex: note saved.',
  );
}

async function analyze(manager: ServerManager): Promise<void> {
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: 'CodeCortex: analysing the workspace' },
    () => manager.execute(ServerCommands.analyze, []),
  );
  const insights =
    typeof result === 'object' && result !== null && 'insights' in result ? Number(result.insights) : NaN;
  void vscode.window.showInformationMessage(
    Number.isFinite(insights)
      ? `CodeCortex: analysis done, ${insights} insight${insights === 1 ? '' : 's'}.`
      : 'CodeCortex: analysis done.',
  );
}

async function reindex(manager: ServerManager): Promise<void> {
  const result = await manager.execute(ServerCommands.reindex, []);
  const queued = typeof result === 'object' && result !== null && 'queued' in result && result.queued === true;
  if (queued) {
    void vscode.window.showInformationMessage('CodeCortex: re-indexing the workspace docs.');
  } else {
    void vscode.window.showWarningMessage('CodeCortex: re-indexing could not start (see CodeCortex: Show Log).');
  }
}

async function stats(manager: ServerManager, views: ViewProvider): Promise<void> {
  const result = await manager.execute(ServerCommands.stats, []);
  await showCommandResult(views, ServerCommands.stats, [], result);
}

function guarded(title: string, fn: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await fn();
    } catch (err) {
      void vscode.window.showErrorMessage(`CodeCortex: ${title} failed: ${errorMessage(err)}`);
    }
  };
}

async function setApiKey(secrets: vscode.SecretStorage): Promise<void> {
  const key = await vscode.window.showInputBox({
    title: 'CodeCortex: model API key',
    prompt:
      "Kept in VS Code's secret storage and handed to the server, which keeps it in memory only. Empty: remove it.",
    password: true,
    ignoreFocusOut: true,
  });
  if (key === undefined) {
    return;
  }
  if (key.trim() === '') {
    await secrets.delete(API_KEY_SECRET);
    void vscode.window.showInformationMessage('CodeCortex: model API key removed.');
    return;
  }
  await secrets.store(API_KEY_SECRET, key.trim());
  void vscode.window.showInformationMessage('CodeCortex: model API key saved.');
}

export function registerCommands(
  manager: ServerManager,
  managed: ManagedServer,
  views: ViewProvider,
  log: vscode.LogOutputChannel,
  secrets: vscode.SecretStorage,
): vscode.Disposable {
  return vscode.Disposable.from(
    vscode.commands.registerCommand(ClientCommands.search, guarded('search', () => search(manager, views))),
    vscode.commands.registerCommand(
      ClientCommands.showSolutions,
      guarded('show past solutions', () => showSolutions(manager, views)),
    ),
    vscode.commands.registerCommand(ClientCommands.addNote, guarded('add note', () => addNote(manager))),
    vscode.commands.registerCommand(ClientCommands.analyze, guarded('analysis', () => analyze(manager))),
    vscode.commands.registerCommand(ClientCommands.reindex, guarded('re-indexing', () => reindex(manager))),
    vscode.commands.registerCommand(ClientCommands.stats, guarded('statistics', () => stats(manager, views))),
    vscode.commands.registerCommand(
      ClientCommands.restart,
      guarded('restart', () => manager.restart('restart command')),
    ),
    vscode.commands.registerCommand(ClientCommands.setApiKey, guarded('API key', () => setApiKey(secrets))),
    vscode.commands.registerCommand(
      ClientCommands.clearApiKey,
      guarded('API key', async () => {
        await secrets.delete(API_KEY_SECRET);
        void vscode.window.showInformationMessage('CodeCortex: model API key removed.');
      }),
    ),
    vscode.commands.registerCommand(
      ClientCommands.installServer,
      guarded('Install Server', async () => {
        if (await managed.install()) {
          await manager.restart('server installed');
        }
      }),
    ),
    vscode.commands.registerCommand(ClientCommands.showLog, () => {
      log.show();
    }),
  );
}
