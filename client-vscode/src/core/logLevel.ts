/**
 * The server's `logLevel` follows the CodeCortex output channel's level (VS Code's
 * "Developer: Set Log Level…"), instead of a setting of its own.
 */

export type ServerLogLevel = 'debug' | 'info' | 'warning' | 'error';

/** vscode.LogLevel: Off 0, Trace 1, Debug 2, Info 3, Warning 4, Error 5. */
export function serverLogLevel(channelLevel: number): ServerLogLevel {
  if (channelLevel === 1 || channelLevel === 2) {
    return 'debug';
  }
  if (channelLevel === 4) {
    return 'warning';
  }
  if (channelLevel === 5 || channelLevel === 0) {
    return 'error';
  }
  return 'info';
}
