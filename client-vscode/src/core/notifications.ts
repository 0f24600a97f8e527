/**
 * `codecortex.notifications`: which messages pop up. Everything is logged; what does not pop up
 * is shown for a while in the status bar instead (achievements, "not recording …").
 */

export const NOTIFICATION_LEVELS = ['off', 'errors', 'all'] as const;
export type NotificationLevel = (typeof NOTIFICATION_LEVELS)[number];

export type MessageKind = 'error' | 'warning' | 'info';

export function parseNotificationLevel(value: unknown): NotificationLevel {
  return NOTIFICATION_LEVELS.includes(value as NotificationLevel) ? (value as NotificationLevel) : 'errors';
}

/** Whether a message of `kind` pops up under `level` (`errors` covers warnings too). */
export function popsUp(level: NotificationLevel, kind: MessageKind): boolean {
  switch (level) {
    case 'off':
      return false;
    case 'errors':
      return kind !== 'info';
    case 'all':
      return true;
  }
}

/** LSP MessageType (1 error, 2 warning, 3 info, 4 log, 5 debug) as a kind. */
export function kindOfMessageType(type: number): MessageKind {
  return type === 1 ? 'error' : type === 2 ? 'warning' : 'info';
}
