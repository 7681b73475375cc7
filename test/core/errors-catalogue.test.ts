import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/utils/errors.js';
import { ROOT } from '../support/proxy.js';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The text under "## Error codes", up to the next "## " heading. */
function section(markdown: string, heading: string): string {
  const lines = markdown.split('\n');
  const start = lines.indexOf(heading);
  if (start === -1) throw new Error(`README.md has no "${heading}" heading`);
  const end = lines.findIndex((line, i) => i > start && line.startsWith('## '));
  return lines.slice(start + 1, end === -1 ? undefined : end).join('\n');
}

/** Codes in the first column of the section's table: | `TC_…` | status | meaning |. */
function documentedCodes(): string[] {
  const codes: string[] = [];
  for (const line of section(README, '## Error codes').split('\n')) {
    const m = /^\|\s*`(TC_[A-Z0-9_]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (!m) continue;
    const cells = (m[2] as string).split('|').map((c) => c.trim());
    expect(cells, `row of ${m[1]}: HTTP status and meaning`).toHaveLength(2);
    expect(cells[1], `meaning of ${m[1]}`).not.toBe('');
    codes.push(m[1] as string);
  }
  return codes;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

describe('the error catalogue and the README agree', () => {
  const catalogue = Object.keys(ERROR_CODES);

  it('README.md has an "## Error codes" section before the changelog', () => {
    const codes = README.indexOf('\n## Error codes\n');
    expect(codes).toBeGreaterThan(-1);
    expect(codes).toBeLessThan(README.indexOf('\n## Changelog'));
  });

  it('every code in ERROR_CODES is listed in the README', () => {
    const documented = new Set(documentedCodes());
    expect(catalogue.filter((code) => !documented.has(code))).toEqual([]);
  });

  it('every code listed in the README is in ERROR_CODES', () => {
    expect(documentedCodes().filter((code) => !Object.hasOwn(ERROR_CODES, code))).toEqual([]);
  });

  it('lists each code once', () => {
    const codes = documentedCodes();
    expect(codes.filter((code, i) => codes.indexOf(code) !== i)).toEqual([]);
  });

  it('every TC_ code the source spells out is in the catalogue', () => {
    // Codes written as plain strings (JSON error answers) escape the ErrorCode type; this catches them.
    const used = new Set<string>();
    for (const file of sourceFiles(join(ROOT, 'src'))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/['"`](TC_[A-Z0-9_]*[A-Z0-9])['"`]/g))
        used.add(m[1] as string);
    }
    expect(used.size).toBeGreaterThan(0);
    expect([...used].filter((code) => !Object.hasOwn(ERROR_CODES, code))).toEqual([]);
  });
});
