/**
 * Starting, stopping and restarting the CodeCortex language server.
 *
 * One LanguageClient at a time; every (re)start resolves the server command again, so a changed
 * `codecortex.server.path` or Python interpreter takes effect.
 */
import * as os from 'node:os';

import * as vscode from 'vscode';
import {
  type ConfigurationParams,
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
  RevealOutputChannelOn,
  type ServerOptions,
  ShowMessageNotification,
  type ShowMessageParams,
  State,
  TransportKind,
} from 'vscode-languageclient/node';

import {
  ClientCommands,
  CONFIG_SECTION,
  DIAGNOSTIC_COLLECTION,
  Notifications,
  SERVER_ID,
  SERVER_NAME,
} from '../core/constants';
import { kindOfMessageType } from '../core/notifications';
import { type StatusParams, parseStatus } from '../core/protocol';
import {
  type ServerCommand,
  canImport,
  isExecutableFile,
  resolveServerCommand,
} from '../core/serverCommand';
import type { ClientState } from '../core/status';
import { withApiKey } from '../core/settings';
import type { ManagedServer } from './install';
import { errorMessage } from './log';
import { notify } from './notify';
import { activeInterpreter } from './python';
import { enabledSetting, firstWorkspaceFolder, serverPathSetting, serverSettings } from './settings';

/** Called with the result of a server command run from a code action or a VS Code command. */
export type CommandResultHandler = (command: string, args: unknown[], result: unknown) => void;

export class ServerManager implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private server: ServerCommand | undefined;
  private queue: Promise<void> = Promise.resolve();
  private stateValue: ClientState = 'stopped';
  private readonly stateEmitter = new vscode.EventEmitter<ClientState>();
  private readonly statusEmitter = new vscode.EventEmitter<StatusParams>();
  private readonly startEmitter = new vscode.EventEmitter<LanguageClient>();
  private readonly settingsProblemsShown = new Set<string>();
  private apiKey: string | undefined;

  /** The client state changed (starting, running, stopped, failed). */
  readonly onDidChangeState = this.stateEmitter.event;
  /** The server sent `codecortex/status`. */
  readonly onDidReceiveStatus = this.statusEmitter.event;
  /** A new client is running. */
  readonly onDidStart = this.startEmitter.event;

  constructor(
    private readonly log: vscode.LogOutputChannel,
    private readonly managed: ManagedServer,
    private readonly onCommandResult: CommandResultHandler,
  ) {}

  get state(): ClientState {
    return this.stateValue;
  }

  /** The client, when its server is running. */
  get running(): LanguageClient | undefined {
    return this.client?.state === State.Running ? this.client : undefined;
  }

  /** How the current server was started. */
  get serverCommand(): ServerCommand | undefined {
    return this.server;
  }

  logInfo(message: string): void {
    this.log.info(message);
  }

  logWarning(message: string): void {
    this.log.warn(message);
  }

  /**
   * Stops the current server (if any) and starts a new one — unless `codecortex.enable` is off;
   * calls are serialised.
   */
  restart(reason: string): Promise<void> {
    const run = this.queue.then(async () => {
      await this.stopNow();
      if (!enabledSetting()) {
        this.log.info(`Not starting the server (${reason}): codecortex.enable is off.`);
        this.setState('disabled');
        return;
      }
      this.log.info(`Starting the server (${reason}).`);
      await this.startNow();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  stop(): Promise<void> {
    const run = this.queue.then(() => this.stopNow());
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Runs a server command (workspace/executeCommand) and returns its result. */
  async execute(command: string, args: unknown[] = []): Promise<unknown> {
    const client = this.running;
    if (client === undefined) {
      throw new Error('the CodeCortex server is not running');
    }
    return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
  }

  /**
   * The model API key from the secret storage, sent with the settings (`llm.apiKey`). A running
   * server gets it at once.
   */
  async setApiKey(apiKey: string | undefined): Promise<void> {
    const changed = (apiKey ?? '') !== (this.apiKey ?? '');
    this.apiKey = apiKey;
    if (changed) {
      await this.sendSettings();
    }
  }

  /** Sends the current settings (workspace/didChangeConfiguration, section `codecortex`). */
  async sendSettings(): Promise<void> {
    const client = this.running;
    if (client === undefined) {
      return;
    }
    const settings = this.currentSettings();
    await client.sendNotification(DidChangeConfigurationNotification.type, {
      settings: { [CONFIG_SECTION]: settings },
    });
  }

  private setState(state: ClientState): void {
    this.stateValue = state;
    this.stateEmitter.fire(state);
  }

  private currentSettings(scope?: vscode.ConfigurationScope): Record<string, unknown> {
    const { settings, problems } = serverSettings(scope);
    for (const problem of problems) {
      if (!this.settingsProblemsShown.has(problem)) {
        this.settingsProblemsShown.add(problem);
        void notify(this.log, 'warning', `CodeCortex: ${problem}`);
      } else {
        this.log.warn(problem);
      }
    }
    return withApiKey(settings, this.apiKey);
  }

  private async stopNow(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) {
      try {
        await client.dispose(3000);
      } catch (err) {
        this.log.warn(`Stopping the server: ${errorMessage(err)}`);
      }
      this.setState('stopped');
    }
  }

  private async startNow(): Promise<void> {
    this.setState('starting');
    const folder = firstWorkspaceFolder();
    const resolution = await resolveServerCommand({
      serverPath: serverPathSetting(),
      workspaceFolder: folder?.uri.fsPath,
      home: os.homedir(),
      platform: process.platform,
      env: process.env,
      pythonInterpreter: () => activeInterpreter(folder?.uri),
      managedPython: () => this.managed.python(),
      hasServerModule: (python) => canImport(python),
      isExecutable: isExecutableFile,
    });
    for (const note of resolution.notes) {
      this.log.info(note);
    }
    if (!resolution.ok) {
      this.server = undefined;
      this.setState('failed');
      void this.showNotFound(resolution.message, resolution.offerInstall);
      return;
    }
    this.server = resolution.server;
    const { command, args, origin } = resolution.server;
    this.log.info(`Server: ${command} ${args.join(' ')} (from ${origin})`);

    const serverOptions: ServerOptions = {
      command,
      args,
      transport: TransportKind.stdio,
      options: { cwd: folder?.uri.fsPath, env: { ...process.env } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      diagnosticCollectionName: DIAGNOSTIC_COLLECTION,
      outputChannel: this.log,
      traceOutputChannel: this.log,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: this.currentSettings(),
      middleware: {
        workspace: {
          configuration: (params: ConfigurationParams, token, next) =>
            this.answerConfiguration(params, token, next),
        },
        executeCommand: async (cmd, cmdArgs: unknown[], next) => {
          const result: unknown = await next(cmd, cmdArgs);
          this.onCommandResult(cmd, cmdArgs, result);
          return result;
        },
      },
    };
    const client = new LanguageClient(SERVER_ID, SERVER_NAME, serverOptions, clientOptions);
    // Replaces vscode-languageclient's own handler, which pops every message up.
    client.onNotification(ShowMessageNotification.type, (params: ShowMessageParams) => {
      void notify(this.log, kindOfMessageType(params.type), params.message);
    });
    client.onNotification(Notifications.status, (params: unknown) => {
      const status = parseStatus(params);
      if (status === undefined) {
        this.log.warn(`Ignoring malformed ${Notifications.status}: ${JSON.stringify(params)}`);
        return;
      }
      this.statusEmitter.fire(status);
    });
    client.onDidChangeState((event) => {
      if (this.client !== client) {
        return;
      }
      if (event.newState === State.Running) {
        this.setState('running');
      } else if (event.newState === State.Stopped) {
        this.setState('stopped');
      } else {
        this.setState('starting');
      }
    });
    this.client = client;
    try {
      await client.start();
      this.startEmitter.fire(client);
    } catch (err) {
      this.setState('failed');
      void notify(this.log, 'error', `CodeCortex: the server failed to start (${errorMessage(err)}).`, 'Show Log')
        .then((choice) => {
          if (choice !== undefined) {
            this.log.show();
          }
        });
    }
  }

  private async answerConfiguration(
    params: ConfigurationParams,
    token: vscode.CancellationToken,
    next: (params: ConfigurationParams, token: vscode.CancellationToken) => unknown,
  ): Promise<unknown[]> {
    const fallback: unknown = await next(params, token);
    return params.items.map((item, index) => {
      if (item.section !== CONFIG_SECTION) {
        return Array.isArray(fallback) ? (fallback[index] as unknown) : null;
      }
      const scope = item.scopeUri !== undefined ? vscode.Uri.parse(item.scopeUri) : undefined;
      return this.currentSettings(scope);
    });
  }

  private async showNotFound(message: string, offerInstall: boolean): Promise<void> {
    const actions = offerInstall ? ['Install Server', 'Open Settings'] : ['Open Settings'];
    if (vscode.extensions.getExtension('ms-python.python') !== undefined) {
      actions.push('Select Interpreter');
    }
    const choice = await notify(this.log, 'error', message, ...actions);
    if (choice === 'Install Server') {
      await vscode.commands.executeCommand(ClientCommands.installServer);
    } else if (choice === 'Open Settings') {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'codecortex.server.path');
    } else if (choice === 'Select Interpreter') {
      await vscode.commands.executeCommand('python.setInterpreter');
    }
  }

  dispose(): void {
    void this.stop();
    this.stateEmitter.dispose();
    this.statusEmitter.dispose();
    this.startEmitter.dispose();
  }
}
