import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findTopLevelFunctions } from '../../src/core/pythonFunctions';

const names = (source: string) => findTopLevelFunctions(source).map((f) => ({ name: f.name, line: f.line }));

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
  assert.deepEqual(names(source), [
    { name: 'first', line: 3 },
    { name: 'fetch', line: 7 },
    { name: 'last', line: 15 },
  ]);
});

test("a ''' inside a string or a \"\"\" in a comment does not hide the functions after it", () => {
  const source = [
    'QUOTE = "\'\'\'"',              // 0: a string holding three single quotes
    'def a():',                      // 1
    '    pass',                      // 2
    '# a comment with """ in it',    // 3
    'def b():',                      // 4
    "    s = 'it''s'  # \"\"\"",     // 5
    'def c(x="""),', '"""):',        // 6-7: a default value that is a multi-line string with brackets
    '    pass',                      // 8
    "path = 'C:\\\\'",             // 9: a string ending in an escaped backslash
    'def d(): pass',                 // 10
  ].join('\n');
  assert.deepEqual(names(source), [
    { name: 'a', line: 1 },
    { name: 'b', line: 4 },
    { name: 'c', line: 6 },
    { name: 'd', line: 10 },
  ]);
});

test('the tricky cases: a string continued by a backslash, escaped quotes, prefixes, f-strings, defs inside strings', () => {
  const source = [
    "s = 'abc\\",                    // 0: a one-quote string continued on the next line …
    "def not_a_function(): pass'",   // 1: … so this is still inside it
    'def a(): pass',                 // 2
    't = "say \\"\'\'\'\\" now"',    // 3: an escaped quote and three single quotes, inside one string
    'def b(): pass',                 // 4
    'u = rb"""raw',                  // 5: a raw bytes triple-quoted string …
    'def inside(): pass',            // 6: … holding a def at column 0
    '"""',                           // 7
    "v = f\"{'''x'''}\"",            // 8: an f-string whose replacement holds a triple-quoted string
    'def c(): pass',                 // 9
    'w = (1,  # """ in a comment inside brackets',
    '     2)',                       // 11
    'def d(): pass',                 // 12
  ].join('\n');
  assert.deepEqual(names(source), [
    { name: 'a', line: 2 },
    { name: 'b', line: 4 },
    { name: 'c', line: 9 },
    { name: 'd', line: 12 },
  ]);
});

test('decorators, multi-line signatures, parameters and async are reported for the lens', () => {
  const source = [
    '@app.route(',                   // 0
    '    "/x",',                     // 1
    ')',                             // 2
    '# a comment between',           // 3
    '@cache',                        // 4
    'def handler(',                  // 5
    '    request,  # the request',   // 6
    '    n: int = 3,',               // 7
    ') -> str:',                     // 8
    '    pass',                      // 9
    'def nothing(): pass',           // 10
    'def only_kw(*, n=1): pass',     // 11
    'def only_kwargs(**kw): pass',   // 12
    'async def star(*args): pass',   // 13
    'x = 1',                         // 14
    '@decorated',                    // 15
    'class K: pass',                 // 16
    'def after_class(y): pass',      // 17
  ].join('\n');
  const found = findTopLevelFunctions(source);
  assert.deepEqual(
    found.map((f) => [f.name, f.firstLine, f.line, f.parameters, f.takesPositional, f.async]),
    [
      ['handler', 0, 5, 'request, n: int = 3', true, false],
      ['nothing', 10, 10, '', false, false],
      ['only_kw', 11, 11, '*, n=1', false, false],
      ['only_kwargs', 12, 12, '**kw', false, false],
      ['star', 13, 13, '*args', true, true],
      ['after_class', 17, 17, 'y', true, false],
    ],
  );
});

test('Windows line ends and an empty file', () => {
  assert.deepEqual(names('def a():\r\n    pass\r\ndef b():\r\n    pass\r\n'), [
    { name: 'a', line: 0 },
    { name: 'b', line: 2 },
  ]);
  assert.deepEqual(findTopLevelFunctions(''), []);
});
