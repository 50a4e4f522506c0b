// Creates the suite's mocha and defines describe/it before any test file is evaluated. index.ts
// imports this module first: test files call describe() while they load, and mocha's exported
// describe/it only work after the 'pre-require' event below.
import Mocha from 'mocha';

export const mocha = new Mocha({ ui: 'bdd', reporter: 'spec', timeout: 120_000, color: false });

// Also sets the globals (describe, it, before, ...) for test files that use them without importing.
mocha.suite.emit('pre-require', globalThis, 'meadowrun-vscode-suite', mocha);
