/**
 * The `codecortex` settings: which ones the server receives, their defaults and validation.
 *
 * VS Code hands settings over as a nested object (`{llm: {provider}}` for `codecortex.llm.provider`);
 * the server receives the same nesting, minus the client-only keys (`server.*`, `trace.*`).
 */

export type SettingType = 'string' | 'boolean' | 'integer' | 'number';

export interface SettingSpec {
  /** Key inside the `codecortex` section, dotted (`llm.provider`). */
  key: string;
  type: SettingType;
  default: string | number | boolean;
  enum?: readonly string[];
  minimum?: number;
  maximum?: number;
  /** Only the client uses it; never sent to the server. */
  clientOnly?: boolean;
  /** Changing it restarts the server. */
  restart?: boolean;
  /**
   * Not contributed to package.json: the extension derives the value from VS Code's own state
   * (`logLevel` from the output channel's log level).
   */
  derived?: boolean;
}

/**
 * Every setting of the `codecortex` section. The server's list (`codecortex.config.SPECS`) and
 * this one must name the same server settings; `package.json` contributes exactly these keys.
 */
export const SETTINGS: readonly SettingSpec[] = [
  { key: 'enable', type: 'boolean', default: true, clientOnly: true, restart: true },
  {
    key: 'notifications',
    type: 'string',
    default: 'errors',
    enum: ['off', 'errors', 'all'],
  },
  { key: 'server.path', type: 'string', default: '', clientOnly: true, restart: true },
  { key: 'databaseUrl', type: 'string', default: '', restart: true },
  { key: 'dataDir', type: 'string', default: '', restart: true },
  { key: 'user', type: 'string', default: '' },
  { key: 'embedder', type: 'string', default: 'hash', enum: ['hash', 'openai'] },
  { key: 'embeddingModel', type: 'string', default: 'text-embedding-3-small' },
  { key: 'embeddingBaseUrl', type: 'string', default: '' },
  { key: 'hints', type: 'boolean', default: true },
  { key: 'detectOnSave', type: 'boolean', default: false },
  { key: 'maxFileSize', type: 'integer', default: 2000000, minimum: 1 },
  { key: 'maxDiffLines', type: 'integer', default: 60, minimum: 1 },
  { key: 'replayMinConfidence', type: 'number', default: 0.8, minimum: 0, maximum: 1 },
  { key: 'defaultVisibility', type: 'string', default: 'private', enum: ['private', 'team'] },
  { key: 'shareDocs', type: 'boolean', default: false },
  { key: 'insights', type: 'boolean', default: true },
  { key: 'analysis.maxComplexity', type: 'integer', default: 10, minimum: 1 },
  { key: 'analysis.maxFunctionLines', type: 'integer', default: 80, minimum: 1 },
  { key: 'analysis.maxNesting', type: 'integer', default: 4, minimum: 1 },
  { key: 'analysis.maxParams', type: 'integer', default: 6, minimum: 1 },
  { key: 'llm.provider', type: 'string', default: 'none', enum: ['none', 'openai', 'azure'] },
  { key: 'llm.model', type: 'string', default: '' },
  { key: 'llm.baseUrl', type: 'string', default: '' },
  { key: 'llm.apiVersion', type: 'string', default: '' },
  { key: 'llm.timeout', type: 'number', default: 30, minimum: 1 },
  { key: 'llm.maxTokens', type: 'integer', default: 1024, minimum: 16 },
  { key: 'llm.rpm', type: 'integer', default: 60, minimum: 1 },
  { key: 'github.clientId', type: 'string', default: '' },
  { key: 'github.url', type: 'string', default: 'https://github.com' },
  { key: 'github.apiUrl', type: 'string', default: '' },
  { key: 'github.scopes', type: 'string', default: 'repo read:user' },
  {
    key: 'logLevel',
    type: 'string',
    default: 'info',
    enum: ['debug', 'info', 'warning', 'error'],
    derived: true,
  },
  {
    key: 'trace.server',
    type: 'string',
    default: 'off',
    enum: ['off', 'messages', 'verbose'],
    clientOnly: true,
  },
];

export type SettingValue = string | number | boolean;

/** Settings as the server receives them: nested by dots. */
export interface ServerSettings {
  [key: string]: SettingValue | ServerSettings;
}

export interface ConvertedSettings {
  settings: ServerSettings;
  /** One human-readable line per invalid value that was replaced by its default. */
  problems: string[];
}

/** Reads a dotted key from a nested object (`get(o, "llm.model")` -> `o.llm.model`). */
export function getDotted(source: unknown, key: string): unknown {
  let value: unknown = source;
  for (const part of key.split('.')) {
    if (typeof value !== 'object' || value === null) {
      return undefined;
    }
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function setDotted(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const child = node[part];
    if (typeof child === 'object' && child !== null) {
      node = child as Record<string, unknown>;
    } else {
      const created: Record<string, unknown> = {};
      node[part] = created;
      node = created;
    }
  }
  node[parts[parts.length - 1]] = value;
}

/** Returns the valid form of `value` for `spec`, or undefined when it cannot be used. */
export function coerce(spec: SettingSpec, value: unknown): SettingValue | undefined {
  switch (spec.type) {
    case 'boolean':
      return typeof value === 'boolean' ? value : undefined;
    case 'string':
      if (typeof value !== 'string') {
        return undefined;
      }
      if (spec.enum !== undefined && !spec.enum.includes(value)) {
        return undefined;
      }
      return /(Url|\.path)$/.test(spec.key) ? value.trim() : value;
    case 'integer':
    case 'number': {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n)) {
        return undefined;
      }
      if (spec.type === 'integer' && !Number.isInteger(n)) {
        return undefined;
      }
      if (spec.minimum !== undefined && n < spec.minimum) {
        return undefined;
      }
      if (spec.maximum !== undefined && n > spec.maximum) {
        return undefined;
      }
      return n;
    }
  }
}

/**
 * Maps the `codecortex` section (as VS Code returns it) to what the server receives: every
 * server setting present, invalid values replaced by their defaults, client-only keys dropped.
 */
export function toServerSettings(section: unknown): ConvertedSettings {
  const settings: ServerSettings = {};
  const problems: string[] = [];
  for (const spec of SETTINGS) {
    if (spec.clientOnly === true) {
      continue;
    }
    const raw = getDotted(section, spec.key);
    let value = raw === undefined || raw === null ? spec.default : coerce(spec, raw);
    if (value === undefined) {
      problems.push(
        `codecortex.${spec.key}: ${JSON.stringify(raw)} is not valid, using ${JSON.stringify(spec.default)}`,
      );
      value = spec.default;
    }
    setDotted(settings, spec.key, value);
  }
  return { settings, problems };
}

/** Where the model API key goes in the server settings (not in SETTINGS: it is no setting). */
export const API_KEY_SETTING = 'llm.apiKey';

/** The server settings with the model API key added (unchanged when there is no key). */
export function withApiKey(settings: ServerSettings, apiKey: string | undefined): ServerSettings {
  const key = apiKey?.trim() ?? '';
  if (key === '') {
    return settings;
  }
  const copy = JSON.parse(JSON.stringify(settings)) as ServerSettings;
  setDotted(copy, API_KEY_SETTING, key);
  return copy;
}

/** The settings package.json contributes (all but the derived ones). */
export const CONTRIBUTED: readonly SettingSpec[] = SETTINGS.filter((s) => s.derived !== true);

/** Keys whose change requires a server restart. */
export const RESTART_KEYS: readonly string[] = SETTINGS.filter((s) => s.restart === true).map(
  (s) => s.key,
);

/** The dotted keys of SETTINGS whose values differ between two sections. */
export function changedKeys(before: unknown, after: unknown): string[] {
  return SETTINGS.filter(
    (s) => JSON.stringify(getDotted(before, s.key)) !== JSON.stringify(getDotted(after, s.key)),
  ).map((s) => s.key);
}

/** True when going from `before` to `after` needs a server restart. */
export function needsRestart(before: unknown, after: unknown): boolean {
  return changedKeys(before, after).some((k) => RESTART_KEYS.includes(k));
}

/** Builds the nested section from a getter of dotted keys (VS Code's `WorkspaceConfiguration.get`). */
export function sectionFromGetter(get: (key: string) => unknown): Record<string, unknown> {
  const section: Record<string, unknown> = {};
  for (const spec of SETTINGS) {
    if (spec.derived === true) {
      continue; // a leftover `codecortex.logLevel` in settings.json has no effect
    }
    const value = get(spec.key);
    if (value !== undefined) {
      setDotted(section, spec.key, value);
    }
  }
  return section;
}
