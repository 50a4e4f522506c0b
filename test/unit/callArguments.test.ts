import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCallArguments } from '../../src/core/callArguments';
import { arityProblem, parseParameters } from '../../src/core/pythonSignature';

const parsed = (text: string) => {
  const a = parseCallArguments(text);
  return [a.args, a.kwargs, a.positional, a.keywords];
};

test('arguments as between the parentheses of a call, or the whole call', () => {
  assert.deepEqual(parsed(''), ['[]', '{}', 0, []]);
  assert.deepEqual(parsed('2, 3'), ['[2, 3]', '{}', 2, []]);
  assert.deepEqual(parsed('2, 3, n=4'), ['[2, 3]', '{"n": 4}', 2, ['n']]);
  assert.deepEqual(parsed('add(2, n = "a, b")'), ['[2]', '{"n": "a, b"}', 1, ['n']]);
  assert.deepEqual(parsed('"x", {"k": [1, 2]}, f=(1, 2)'), ['["x", {"k": [1, 2]}]', '{"f": (1, 2)}', 2, ['f']]);
  assert.deepEqual(parsed('5'), ['[5]', '{}', 1, []]);
  assert.deepEqual(parsed('x == 1'), ['[x == 1]', '{}', 1, []], '== is not a keyword argument (Python rejects the value later)');
});

test('a list of positional arguments, optionally with a dict of keyword ones, as before', () => {
  assert.deepEqual(parsed('[2, 3]'), ['[2, 3]', '{}', 2, []]);
  assert.deepEqual(parsed('(2,)'), ['(2,)', '{}', 1, []]);
  assert.deepEqual(parsed('[2, 3], {"n": 4, \'m\': 5}'), ['[2, 3]', '{"n": 4, \'m\': 5}', 2, ['n', 'm']]);
  assert.deepEqual(parsed('[[1, 2]]'), ['[[1, 2]]', '{}', 1, []]);
  assert.deepEqual(parsed('[1, 2], 3'), ['[[1, 2], 3]', '{}', 2, []], 'a list followed by a non-dict is two arguments');
  assert.deepEqual(parsed('(a=1)'), ['[(a=1)]', '{}', 1, []], 'not a tuple of arguments: Python judges the value');
});

test('malformed arguments are refused with the reason and the accepted forms', () => {
  for (const [text, why] of [
    ['[1, 2', /"\[" is never closed/],
    ['1, 2)', /unbalanced "\)"/],
    ['"abc', /string is never closed/],
    ['n=1, 2', /positional argument follows a keyword argument/],
    ['n=1, n=2', /given twice/],
    ['*xs', /unpacking/],
  ] as const) {
    assert.throws(() => parseCallArguments(text), (e: Error & { code?: string }) => why.test(e.message) && /e\.g\./.test(e.message) && e.code === 'bad-arguments', text);
  }
});

test('signatures as written, and the arity errors Python would raise', () => {
  const sig = parseParameters('a, b: int = 2, /, c=(1, 2), *rest, n, m="x=y", **kw');
  assert.deepEqual(sig.positional, [{ name: 'a', optional: false }, { name: 'b', optional: true }, { name: 'c', optional: true }]);
  assert.equal(sig.positionalOnly, 2);
  assert.equal(sig.varargs, true);
  assert.deepEqual(sig.keywordOnly, [{ name: 'n', optional: false }, { name: 'm', optional: true }]);
  assert.equal(sig.varkw, true);

  const add = parseParameters('a, b');
  assert.equal(arityProblem('add', add, 2, []), undefined);
  assert.equal(arityProblem('add', add, 3, []), 'add() takes 2 positional arguments but 3 were given');
  assert.equal(arityProblem('add', add, 1, []), "add() is missing 1 required argument: 'b'");
  assert.equal(arityProblem('add', add, 1, ['b']), undefined);
  assert.equal(arityProblem('add', add, 1, ['a']), "add() got multiple values for argument 'a'");
  assert.equal(arityProblem('add', add, 2, ['z']), "add() got an unexpected keyword argument 'z'");
  assert.equal(arityProblem('f', parseParameters('a, /'), 0, ['a']), "f() got positional-only argument 'a' passed as a keyword");
  assert.equal(arityProblem('f', parseParameters('*, n'), 0, []), "f() is missing 1 required argument: 'n'");
  assert.equal(arityProblem('f', parseParameters('*args, **kw'), 7, ['anything']), undefined);
  assert.equal(arityProblem('f', parseParameters(''), 1, []), 'f() takes 0 positional arguments but 1 was given');
});

test('script arguments are split into words like a shell quotes them, and nothing more', async () => {
  const { shellWords } = await import('../../src/core/shellWords');
  assert.deepEqual(shellWords(''), []);
  assert.deepEqual(shellWords('  --n 3   data.csv '), ['--n', '3', 'data.csv']);
  assert.deepEqual(shellWords(`'a b' "c \\"d\\" $HOME" e\\ f ''`), ['a b', 'c "d" $HOME', 'e f', '']);
  assert.deepEqual(shellWords('$(rm -rf /) `x` *.py'), ['$(rm', '-rf', '/)', '`x`', '*.py']);
  assert.throws(() => shellWords('"open'), /quote is never closed/);
  assert.throws(() => shellWords("it's"), /quote is never closed/);
});
