import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { ClientCommands, ServerCommands } from '../core/constants';
import { serverLogLevel } from '../core/logLevel';
import { NOTIFICATION_LEVELS, kindOfMessageType, parseNotificationLevel, popsUp } from '../core/notifications';
import {
  CONTRIBUTED,
  SETTINGS,
  changedKeys,
  needsRestart,
  sectionFromGetter,
  toServerSettings,
  withApiKey,
} from '../core/settings';

interface ContributedSetting {
  type: string;
  default: unknown;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  scope?: string;
  markdownDescription?: string;
  description?: string;
}

interface PackageJson {
  activationEvents: string[];
  contributes: {
    commands: { command: string; title: string }[];
    configuration: { title: string; properties: Record<string, ContributedSetting> }[];
  };
  capabilities: { untrustedWorkspaces: { restrictedConfigurations: string[] } };
}

const packageJson = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'),
) as PackageJson;

describe('toServerSettings', () => {
  it('fills defaults, nests llm.* and drops client-only settings', () => {
    const { settings, problems } = toServerSettings({});
    assert.deepEqual(problems, []);
    assert.equal(settings.databaseUrl, '');
    assert.equal(settings.hints, true);
    assert.equal(settings.detectOnSave, false);
    assert.equal(settings.maxFileSize, 2000000);
    assert.equal(settings.replayMinConfidence, 0.8);
    assert.deepEqual(settings.llm, {
      provider: 'none',
      model: '',
      baseUrl: '',
      apiVersion: '',
      timeout: 30,
      maxTokens: 1024,
      rpm: 60,
    });
    assert.equal('server' in settings, false);
    assert.equal('trace' in settings, false);
    assert.equal('enable' in settings, false);
    assert.equal(settings.notifications, 'errors'); // the server applies it too (other editors)
  });

  it('keeps valid values and replaces invalid ones with their default, reporting each', () => {
    const { settings, problems } = toServerSettings({
      databaseUrl: '  postgresql://team@db/codecortex ',
      detectOnSave: true,
      maxDiffLines: 0,
      replayMinConfidence: 1.5,
      embedder: 'word2vec',
      maxFileSize: '4096',
      llm: { provider: 'azure', maxTokens: 10.5, timeout: 12.5 },
      server: { path: '/opt/codecortex' },
    });
    assert.equal(settings.databaseUrl, 'postgresql://team@db/codecortex');
    assert.equal(settings.detectOnSave, true);
    assert.equal(settings.maxDiffLines, 60);
    assert.equal(settings.replayMinConfidence, 0.8);
    assert.equal(settings.embedder, 'hash');
    assert.equal(settings.maxFileSize, 4096);
    assert.deepEqual(
      [
        (settings.llm as Record<string, unknown>).provider,
        (settings.llm as Record<string, unknown>).maxTokens,
        (settings.llm as Record<string, unknown>).timeout,
      ],
      ['azure', 1024, 12.5],
    );
    assert.deepEqual(
      problems.map((p) => p.split(':')[0]),
      ['codecortex.embedder', 'codecortex.maxDiffLines', 'codecortex.replayMinConfidence', 'codecortex.llm.maxTokens'],
    );
  });

  it('builds the nested section from dotted getters', () => {
    const values: Record<string, unknown> = { 'llm.model': 'gpt-4o-mini', hints: false, 'server.path': '/x' };
    const section = sectionFromGetter((key) => values[key]);
    assert.deepEqual(section, { llm: { model: 'gpt-4o-mini' }, hints: false, server: { path: '/x' } });
    const { settings } = toServerSettings(section);
    assert.equal((settings.llm as Record<string, unknown>).model, 'gpt-4o-mini');
    assert.equal(settings.hints, false);
  });

  it('ignores a leftover codecortex.logLevel: the level comes from the output channel', () => {
    const values: Record<string, unknown> = { logLevel: 'debug' };
    const section = sectionFromGetter((key) => values[key]);
    assert.deepEqual(section, {});
    assert.equal(toServerSettings(section).settings.logLevel, 'info');
    assert.equal(toServerSettings({ ...section, logLevel: serverLogLevel(2) }).settings.logLevel, 'debug');
  });
});

describe('serverLogLevel', () => {
  it("maps VS Code's log levels to the server's", () => {
    // Off, Trace, Debug, Info, Warning, Error
    assert.deepEqual([0, 1, 2, 3, 4, 5].map(serverLogLevel), ['error', 'debug', 'debug', 'info', 'warning', 'error']);
  });
});

describe('notifications', () => {
  it('pops up errors and warnings by default, everything with all, nothing with off', () => {
    const kinds = ['error', 'warning', 'info'] as const;
    assert.deepEqual(kinds.map((k) => popsUp('errors', k)), [true, true, false]);
    assert.deepEqual(kinds.map((k) => popsUp('all', k)), [true, true, true]);
    assert.deepEqual(kinds.map((k) => popsUp('off', k)), [false, false, false]);
    assert.equal(parseNotificationLevel('loud'), 'errors');
    assert.equal(parseNotificationLevel('off'), 'off');
    assert.deepEqual([1, 2, 3, 4].map(kindOfMessageType), ['error', 'warning', 'info', 'info']);
  });

  it('has the same values in package.json', () => {
    const schema = (packageJson.contributes.configuration.find((s) => 'codecortex.notifications' in s.properties)
      ?.properties['codecortex.notifications']) as ContributedSetting;
    assert.deepEqual(schema.enum, [...NOTIFICATION_LEVELS]);
    assert.equal(schema.default, 'errors');
  });
});

describe('withApiKey', () => {
  it('adds the key as llm.apiKey without touching the settings it was given', () => {
    const { settings } = toServerSettings({ llm: { provider: 'openai' } });
    const sent = withApiKey(settings, '  sk-test-123 ');
    assert.equal((sent.llm as Record<string, unknown>).apiKey, 'sk-test-123');
    assert.equal((sent.llm as Record<string, unknown>).provider, 'openai');
    assert.equal('apiKey' in (settings.llm as Record<string, unknown>), false);
  });

  it('sends no key when there is none', () => {
    const { settings } = toServerSettings({});
    assert.deepEqual(withApiKey(settings, undefined), settings);
    assert.deepEqual(withApiKey(settings, '   '), settings);
  });
});

describe('restart on change', () => {
  it('restarts for server.path, databaseUrl and dataDir only', () => {
    const base = { hints: true, databaseUrl: '', server: { path: '' }, llm: { model: 'a' } };
    assert.equal(needsRestart(base, { ...base, hints: false }), false);
    assert.equal(needsRestart(base, { ...base, llm: { model: 'b' } }), false);
    assert.equal(needsRestart(base, { ...base, databaseUrl: 'postgresql://x/y' }), true);
    assert.equal(needsRestart(base, { ...base, server: { path: '/usr/bin/codecortex' } }), true);
    assert.equal(needsRestart(base, { ...base, dataDir: '/tmp/cc' }), true);
    assert.deepEqual(changedKeys(base, { ...base, hints: false, llm: { model: 'b' } }), ['hints', 'llm.model']);
  });
});

describe('package.json', () => {
  const contributed = Object.assign(
    {},
    ...packageJson.contributes.configuration.map((section) => section.properties),
  ) as Record<string, ContributedSetting>;

  it('contributes exactly the known settings, with the same types, defaults and limits', () => {
    assert.deepEqual(
      Object.keys(contributed).sort(),
      CONTRIBUTED.map((s) => `codecortex.${s.key}`).sort(),
    );
    for (const spec of CONTRIBUTED) {
      const c = contributed[`codecortex.${spec.key}`];
      assert.equal(c.type, spec.type, spec.key);
      assert.deepEqual(c.default, spec.default, spec.key);
      assert.deepEqual(c.enum, spec.enum, spec.key);
      assert.equal(c.minimum, spec.minimum, spec.key);
      assert.equal(c.maximum, spec.maximum, spec.key);
      assert.ok(c.scope !== undefined, `${spec.key} has a scope`);
      assert.ok((c.markdownDescription ?? c.description ?? '') !== '', `${spec.key} is described`);
    }
  });

  it('does not contribute logLevel (the output channel has a level of its own)', () => {
    assert.equal('codecortex.logLevel' in contributed, false);
    assert.ok(SETTINGS.some((s) => s.key === 'logLevel' && s.derived === true));
  });

  it('activates on the languages CodeCortex handles and on workspaces containing them', () => {
    const events = packageJson.activationEvents;
    assert.equal(events.includes('onStartupFinished'), false);
    assert.equal(events.includes('*'), false);
    for (const event of ['onLanguage:python', 'onLanguage:typescript', 'workspaceContains:**/*.py']) {
      assert.ok(events.includes(event), event);
    }
  });

  it('groups settings in titled sections', () => {
    for (const section of packageJson.contributes.configuration) {
      assert.ok(section.title.length > 0);
      assert.ok(Object.keys(section.properties).length > 0);
    }
  });

  it('restricts the executable and endpoints in untrusted workspaces', () => {
    const restricted = packageJson.capabilities.untrustedWorkspaces.restrictedConfigurations;
    for (const key of ['codecortex.server.path', 'codecortex.databaseUrl', 'codecortex.llm.baseUrl']) {
      assert.ok(restricted.includes(key), key);
      assert.ok(key in contributed, key);
    }
  });

  it('contributes every client command, none clashing with a server command', () => {
    const contributedCommands = packageJson.contributes.commands.map((c) => c.command).sort();
    assert.deepEqual(contributedCommands, Object.values(ClientCommands).sort());
    const serverIds = new Set<string>(Object.values(ServerCommands));
    for (const id of contributedCommands) {
      assert.equal(serverIds.has(id), false, id);
    }
  });
});
