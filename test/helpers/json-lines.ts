/**
 * Issue 14 item 4: a log line is ONE valid JSON object with exactly one `msg`. JSON.parse keeps the
 * last of duplicate keys silently, so duplicates are found here with a small scanner of the line's
 * top-level keys (strings are skipped with their escapes; nesting is tracked).
 */
import assert from 'node:assert/strict';

/** The top-level keys of a JSON object text, in order, duplicates included. */
export function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"') {
      let j = i + 1;
      let s = '';
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\') j++;
        s += text[j];
      }
      if (depth === 1 && expectKey) keys.push(s);
      expectKey = false;
      i = j;
    } else if (ch === '{' || ch === '[') {
      depth++;
      expectKey = ch === '{' && depth === 1;
    } else if (ch === '}' || ch === ']') depth--;
    else if (ch === ',' && depth === 1) expectKey = true;
  }
  return keys;
}

/** Asserts that a log line is one JSON object with a single string msg; returns it parsed. */
export function assertLogLine(line: string, where: string): Record<string, unknown> {
  let j: unknown;
  try {
    j = JSON.parse(line);
  } catch {
    assert.fail(`${where}: not JSON: ${line.slice(0, 200)}`);
  }
  assert.ok(j !== null && typeof j === 'object' && !Array.isArray(j), `${where}: one object per line`);
  const keys = topLevelKeys(line);
  assert.equal(new Set(keys).size, keys.length, `${where}: duplicate keys (${keys.join(',')}) in ${line.slice(0, 200)}`);
  assert.equal(keys.filter((k) => k === 'msg').length, 1, `${where}: exactly one msg in ${line.slice(0, 200)}`);
  assert.equal(typeof (j as { msg: unknown }).msg, 'string', `${where}: msg is a string`);
  assert.equal(typeof (j as { level: unknown }).level, 'number', `${where}: a numeric level`);
  return j as Record<string, unknown>;
}
