import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSettings, topology } from '@orders/common';
import type { z } from 'zod';
import { generatorSettings } from '../../../apps/order-generator/src/config';
import { storeSettings } from '../../../apps/order-store/src/config';
import { readSettings, settingsSchema } from '../../../infra/cdk/lib/settings';

// The READMEs' tables of settings against the schemas that read them: a setting added, renamed,
// dropped or given another default in one place and not the other fails here.

const root = join(__dirname, '../../..');

interface Row {
  keys: string[];
  defaultCell: string;
}

/** The rows of the first Markdown table after the line `marker`: each row's `keys` and its default cell. */
function tableAfter(markdown: string, marker: string): Row[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line.trim() === marker);
  if (start < 0) throw new Error(`no line ${JSON.stringify(marker)}`);
  const first = lines.findIndex((line, i) => i > start && line.startsWith('|'));
  const end = lines.findIndex((line, i) => i > first && !line.startsWith('|'));
  return lines
    .slice(first + 2, end < 0 ? undefined : end)
    .map((line) => line.split('|').slice(1, -1).map((cell) => cell.trim()))
    .map(([keys = '', defaultCell = '']) => ({ keys: codeSpans(keys), defaultCell }));
}

function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1]!);
}

/** How a table writes a default value. */
function shown(value: unknown): string | undefined {
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return undefined;
  if (Array.isArray(value)) return value.join(',');
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new Error(`a default a table cell cannot show: ${JSON.stringify(value)}`);
}

/**
 * Each key's default as its row states it: the code spans of the default cell, one per key; a
 * default named after a `topology.json` entry is that entry's value; "none", "unset" and prose
 * (the CLI profile's region, built from the Dockerfile) state that there is no fixed default;
 * "as above" refers to the same key in `above`.
 */
function stated(rows: Row[], above: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const defaults: Record<string, string | undefined> = {};
  for (const { keys, defaultCell } of rows) {
    const values = codeSpans(defaultCell);
    keys.forEach((key, i) => {
      if (defaultCell === 'as above') {
        if (!(key in above)) throw new Error(`${key}: "as above", but no table above has it`);
        defaults[key] = above[key];
      } else if (defaultCell.includes('topology.json')) defaults[key] = shown(topology[values[0] as keyof typeof topology]);
      else defaults[key] = values.length === 0 ? undefined : values.length === keys.length ? values[i] : defaultCell;
    });
  }
  return defaults;
}

/** Every key of a schema with its default as a table shows it (undefined keys included: toStrictEqual counts them). */
function defaultsOf(keys: string[], parsed: Record<string, unknown>): Record<string, string | undefined> {
  return Object.fromEntries(keys.map((key) => [key, shown(parsed[key])]));
}
const appDefaults = <Shape extends z.ZodRawShape>(shape: Shape) => defaultsOf(Object.keys(shape), parseSettings(shape, {}));

describe("README.md's tables of the apps' environment settings", () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const store = stated(tableAfter(readme, '**order-store**'));

  test('order-store: every variable, with its default', () => {
    expect(store).toStrictEqual(appDefaults(storeSettings));
  });

  test('order-generator: every variable, with its default', () => {
    expect(stated(tableAfter(readme, '**order-generator**'), store)).toStrictEqual(appDefaults(generatorSettings));
  });
});

describe("infra/cdk/README.md's table of CDK context settings", () => {
  const readme = readFileSync(join(root, 'infra/cdk/README.md'), 'utf8');

  test('every key of the settings schema, with its default', () => {
    const expected = defaultsOf(Object.keys(settingsSchema.shape), readSettings(() => undefined, {}));
    expect(stated(tableAfter(readme, '## Settings'))).toStrictEqual(expected);
  });
});

describe('reading a table', () => {
  const markdown = ['**t**', '', '| variable | default | meaning |', '| --- | --- | --- |', '| `A`, `B` | `1`, `x` | two |', '| `C` | none | unset |', '| `D` | `d` (warns) | |', '', 'after'].join('\n');

  test('pairs each key with its default and takes "none" for no default', () => {
    expect(stated(tableAfter(markdown, '**t**'))).toStrictEqual({ A: '1', B: 'x', C: undefined, D: 'd' });
  });

  test('a row that drifted from the schema does not compare equal', () => {
    expect(stated(tableAfter(markdown, '**t**'))).not.toStrictEqual({ A: '1', B: 'x', C: undefined, D: 'd', E: undefined });
    expect(stated(tableAfter(markdown.replace('`1`, `x`', '`2`, `x`'), '**t**'))).not.toStrictEqual({ A: '1', B: 'x', C: undefined, D: 'd' });
  });
});
