/**
 * Every name shared with the CodeCortex language server or contributed to VS Code.
 *
 * The server side of these names is fixed by the client/server protocol; change them together.
 */

/** Server id (used for the output channel, the client id and `codecortex.trace.server`). */
export const SERVER_ID = 'codecortex';
export const SERVER_NAME = 'CodeCortex';

/** Settings section shared with the server (initializationOptions, workspace/configuration). */
export const CONFIG_SECTION = 'codecortex';

/** Diagnostic `source` the server uses for its own diagnostics (hints, insights). */
export const OWN_SOURCE = 'codecortex';

/** Name of the client's own diagnostic collection. */
export const DIAGNOSTIC_COLLECTION = 'codecortex';

/** Custom notifications. */
export const Notifications = {
  /** client -> server: `{uri, version, diagnostics}` — the editor's diagnostics from other sources. */
  diagnostics: 'codecortex/diagnostics',
  /** server -> client: `{database, problems, solutions}`. */
  status: 'codecortex/status',
} as const;

/** Commands the server executes (workspace/executeCommand). */
export const ServerCommands = {
  search: 'codecortex.search',
  showSolutions: 'codecortex.showSolutions',
  addNote: 'codecortex.addNote',
  stats: 'codecortex.stats',
  reindex: 'codecortex.reindex',
  analyze: 'codecortex.analyze',
} as const;

/**
 * Commands the extension contributes. They must not share ids with {@link ServerCommands}:
 * vscode-languageclient registers every server command as a VS Code command of the same id.
 */
export const ClientCommands = {
  search: 'codecortex.searchMemory',
  showSolutions: 'codecortex.showSolutionsAtCursor',
  addNote: 'codecortex.newNote',
  analyze: 'codecortex.analyzeWorkspace',
  reindex: 'codecortex.reindexDocs',
  stats: 'codecortex.showStats',
  restart: 'codecortex.restartServer',
  showLog: 'codecortex.showLog',
  installServer: 'codecortex.installServer',
  setApiKey: 'codecortex.setModelApiKey',
  clearApiKey: 'codecortex.clearModelApiKey',
} as const;

/**
 * SecretStorage key of the model API key. The key is never a setting (settings files are plain
 * text): it is kept in VS Code's secret storage and sent to the server as `llm.apiKey`, which the
 * server keeps in memory only.
 */
export const API_KEY_SECRET = 'codecortex.llm.apiKey';

/** URI scheme of the read-only documents the extension shows (stats, solutions, snippets). */
export const VIEW_SCHEME = 'codecortex-view';

/** Delay before forwarding a document's diagnostics after they last changed. */
export const FORWARD_DEBOUNCE_MS = 300;

/** Delay before restarting the server after a setting that needs a restart changed. */
export const RESTART_DEBOUNCE_MS = 1000;

/** Delay between keystrokes and a search request in the search QuickPick. */
export const SEARCH_DEBOUNCE_MS = 250;

/** Import package of the server (`python -m codecortex serve`). */
export const PYTHON_PACKAGE = 'codecortex';

/** Distribution name on PyPI ("codecortex" there is another project). */
export const PYTHON_DISTRIBUTION = 'codecortex-lsp';

/** Title of the install command as the Command Palette shows it. */
export const INSTALL_SERVER_TITLE = 'CodeCortex: Install Server';
