// Creates the suite's mocha and defines describe/it before any test file is evaluated. index.ts
// imports this module first: test files call describe() while they load, and mocha's exported
// describe/it only work after the 'pre-require' event below.
import Mocha from 'mocha';
import { format } from 'util';

export const mocha = new Mocha({ ui: 'bdd', reporter: 'spec', timeout: 120_000, color: false });
// MEADOWRUN_VSCODE_GREP=TEXT runs only the tests whose full title contains it (while working on one part).
if (process.env.MEADOWRUN_VSCODE_GREP) mocha.grep(process.env.MEADOWRUN_VSCODE_GREP);

// Also sets the globals (describe, it, before, ...) for test files that use them without importing.
mocha.suite.emit('pre-require', globalThis, 'meadowrun-vscode-suite', mocha);

// The reporter logs printf-style ('%s%s', indent, title); the web workbench forwards console
// arguments without applying the format, so format them here.
Mocha.reporters.Base.consoleLog = (...args: unknown[]) => console.log(format(...args));
