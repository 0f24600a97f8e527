/** What the status bar item shows, from the server's `codecortex/status` and the client state. */
import type { StatusParams } from './protocol';

export type ClientState = 'starting' | 'running' | 'stopped' | 'failed' | 'disabled';

export interface StatusView {
  text: string;
  tooltip: string;
  /** 'warning' and 'error' colour the item's background. */
  level: 'normal' | 'warning' | 'error';
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function statusView(state: ClientState, status: StatusParams | undefined): StatusView {
  if (state === 'failed') {
    return {
      text: '$(error) CodeCortex',
      tooltip: 'CodeCortex: the server could not be started. Click to see the log.',
      level: 'error',
    };
  }
  if (state === 'disabled') {
    return {
      text: '$(circle-slash) CodeCortex',
      tooltip: 'CodeCortex is disabled (`codecortex.enable`).',
      level: 'normal',
    };
  }
  if (state === 'stopped') {
    return {
      text: '$(circle-slash) CodeCortex',
      tooltip: 'CodeCortex: the server is stopped. Click to see the log.',
      level: 'warning',
    };
  }
  if (state === 'starting' || status === undefined) {
    return {
      text: '$(loading~spin) CodeCortex',
      tooltip: 'CodeCortex: starting the server…',
      level: 'normal',
    };
  }
  const counts = `${plural(status.problems, 'problem')} learned, ${plural(status.solutions, 'solution')}`;
  switch (status.database) {
    case 'connected':
      return {
        text: `$(database) ${status.problems} · ${status.solutions}`,
        tooltip: `CodeCortex: database connected — ${counts}. Click for statistics.`,
        level: 'normal',
      };
    case 'migrating':
      return {
        text: '$(sync~spin) CodeCortex',
        tooltip: `CodeCortex: updating the database schema — ${counts}.`,
        level: 'normal',
      };
    case 'down':
      return {
        text: '$(warning) CodeCortex: database down',
        tooltip:
          'CodeCortex: the database is not reachable; nothing is recorded. ' +
          'Check `codecortex.databaseUrl`. Click to see the log.',
        level: 'warning',
      };
  }
}
