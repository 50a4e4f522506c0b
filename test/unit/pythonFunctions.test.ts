import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findTopLevelFunctions } from '../../src/core/pythonFunctions';

test('top-level defs, including async and decorated ones, but not methods, nested defs or docstrings', () => {
  const source = [
    'import functools',            // 0
    '',                            // 1
    '@functools.cache',            // 2
    'def first(a, b):',            // 3
    '    def inner():',            // 4
    '        pass',                // 5
    '    return a',                // 6
    'async def fetch(url):',       // 7
    '    pass',                    // 8
    'class Thing:',                // 9
    '    def method(self):',       // 10
    '        pass',                // 11
    '"""',                         // 12
    'def not_code():',             // 13
    '"""',                         // 14
    'def last():',                 // 15
    '    return """text',          // 16
    'def still_a_string():',       // 17
    '"""',                         // 18
    'define = 1',                  // 19
  ].join('\n');
  assert.deepEqual(findTopLevelFunctions(source), [
    { name: 'first', line: 3 },
    { name: 'fetch', line: 7 },
    { name: 'last', line: 15 },
  ]);
});

test('Windows line ends and an empty file', () => {
  assert.deepEqual(findTopLevelFunctions('def a():\r\n    pass\r\ndef b():\r\n    pass\r\n'), [
    { name: 'a', line: 0 },
    { name: 'b', line: 2 },
  ]);
  assert.deepEqual(findTopLevelFunctions(''), []);
});
