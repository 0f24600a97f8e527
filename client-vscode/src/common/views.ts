/** Read-only Markdown documents (statistics, past solutions, snippets) shown as a preview. */
import * as vscode from 'vscode';

import { VIEW_SCHEME } from '../core/constants';
import { errorMessage, log } from './log';

export class ViewProvider implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly contents = new Map<string, string>();
  private readonly changeEmitter = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changeEmitter.event;

  static register(): { provider: ViewProvider; disposable: vscode.Disposable } {
    const provider = new ViewProvider();
    const registration = vscode.workspace.registerTextDocumentContentProvider(VIEW_SCHEME, provider);
    return { provider, disposable: vscode.Disposable.from(registration, provider) };
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.contents.get(uri.path) ?? '';
  }

  /** Shows `markdown` as `name.md` in a Markdown preview (or as text without the preview). */
  async show(name: string, markdown: string): Promise<void> {
    const uri = vscode.Uri.from({ scheme: VIEW_SCHEME, path: `/${name.replace(/[^\w.-]+/g, '-')}.md` });
    this.contents.set(uri.path, markdown);
    this.changeEmitter.fire(uri);
    try {
      await vscode.commands.executeCommand('markdown.showPreview', uri);
    } catch (err) {
      log()?.info(`Markdown preview unavailable (${errorMessage(err)}); showing the text.`);
      const document = await vscode.workspace.openTextDocument(uri);
      await vscode.window.showTextDocument(document, { preview: true });
    }
  }

  dispose(): void {
    this.contents.clear();
    this.changeEmitter.dispose();
  }
}
