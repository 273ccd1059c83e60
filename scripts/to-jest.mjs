#!/usr/bin/env node
/**
 * Codemod: a node:test file → a Jest file (Jest globals imported from
 * '@jest/globals'). Re-runnable: a file that no longer imports node:test is
 * left alone, so running it over the whole tree converts only what is left.
 *
 *   node scripts/to-jest.mjs [--dry-run] [--out-dir DIR] FILE_OR_DIR...
 *   node scripts/to-jest.mjs --list [FILE_OR_DIR...]   # files still on node:test
 *
 * Directories are searched for *.ts / *.mts / *.js / *.mjs files (node_modules
 * skipped). --dry-run prints what would change; --out-dir writes the converted
 * files under DIR (same relative paths) instead of in place. Exit code 1 if a
 * file uses something the codemod cannot convert faithfully: that file is left
 * untouched and the reason is printed with its line, to convert by hand.
 *
 * What it converts (what occurs in this repository, plus the obvious relatives):
 *   - `import { … } from 'node:test'` → `import { … } from '@jest/globals'`
 *     (`type TestContext`/`SuiteContext` dropped); default import `test` too.
 *   - before → beforeAll, after → afterAll, suite → describe (references
 *     renamed); beforeEach/afterEach/describe/it/test unchanged.
 *   - options objects: `it(name, { timeout }, fn)` → `it(name, fn, timeout)`;
 *     `before(fn, { timeout })` → `beforeAll(fn, timeout)`; a describe's
 *     `{ timeout }` becomes the timeout of every test and hook inside it that
 *     has none; `{ skip }` / `{ only }` / `{ todo }` → `.skip` / `.only` /
 *     `.todo` (a todo with a body becomes `.skip`, Jest's todo takes no body);
 *     `{ concurrency }` is dropped (Jest runs a file's tests in order, and
 *     files in parallel workers).
 *   - the test context parameter `t`:
 *       t.after(fn)        → registered in a local `cleanup` list that the test
 *                            runs in a `finally` (node:test order: first
 *                            registered runs first; runs even when the test fails)
 *       t.diagnostic(msg)  → console.info(msg)
 *       t.skip(msg)        → console.warn('skipped at run time:', msg) — Jest has
 *                            no run-time skip, the test then counts as passed;
 *                            the codemod prints a NOTE for each
 *       t.name             → expect.getState().currentTestName (Jest's is the
 *                            full name, describe titles included)
 *       t.mock.fn(…)       → jest.fn(…)
 *       t.mock.method(o, m[, impl]) → jest.spyOn(o, m)[.mockImplementation(impl)],
 *                            restored after the test (cleanup list)
 *     anything else on `t` (subtests, t.plan, t.mock.timers, t.signal, passing
 *     `t` along) is reported and the file left for a hand conversion.
 *   - node:assert stays: Jest fails a test on any thrown error.
 */
import { readFileSync, writeFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const ts = require('typescript');

const HOOK_RENAMES = { before: 'beforeAll', after: 'afterAll', beforeEach: 'beforeEach', afterEach: 'afterEach' };
const CALL_RENAMES = { describe: 'describe', suite: 'describe', it: 'it', test: 'test' };
const TYPE_ONLY = new Set(['TestContext', 'SuiteContext']);
const MODIFIERS = new Set(['skip', 'only', 'todo']);

class Unsupported extends Error {
  constructor(node, sf, message) {
    const { line, character } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
    super(`${sf.fileName}:${line + 1}:${character + 1}: ${message}`);
    this.name = 'Unsupported';
  }
}

/* ------------------------------------------------------------------ edits */

/**
 * An edit replaces [start, end) with `text`, or with `wrap(inner)` where inner
 * is the original range with the edits inside it applied. Edits nest by
 * containment; overlapping edits are a bug in the codemod.
 */
function render(src, start, end, edits) {
  // by start; at one position an insertion (zero width) first, then the widest edit
  const sorted = [...edits].sort((a, b) => a.start - b.start || (a.end === a.start ? -1 : b.end === b.start ? 1 : b.end - a.end));
  let out = '';
  let at = start;
  for (let i = 0; i < sorted.length; ) {
    const e = sorted[i];
    const inner = [];
    let j = i + 1;
    const isBoundaryInsert = (x) => x.start === x.end && e.end > e.start && (x.start === e.start || x.start === e.end);
    while (j < sorted.length && sorted[j].start >= e.start && sorted[j].end <= e.end && !isBoundaryInsert(sorted[j])) {
      inner.push(sorted[j]);
      j++;
    }
    if (e.start < at) throw new Error(`overlapping edits at ${e.start}`);
    out += src.slice(at, e.start);
    if (e.wrap) out += e.wrap(render(src, e.start, e.end, inner));
    else {
      if (inner.length) throw new Error(`edit at ${e.start} contains other edits`);
      out += e.text;
    }
    at = e.end;
    i = j;
  }
  return out + src.slice(at, end);
}

/* --------------------------------------------------------------- helpers */

function bindingNames(name, out = []) {
  if (ts.isIdentifier(name)) out.push(name.text);
  else for (const el of name.elements ?? []) if (!ts.isOmittedExpression(el)) bindingNames(el.name, out);
  return out;
}

/** Is this identifier a value/type reference (not a property name or declaration)? */
function isReference(id) {
  const p = id.parent;
  if (!p) return false;
  if ((ts.isPropertyAccessExpression(p) || ts.isQualifiedName(p)) && p.name === id) return false;
  if ((ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p) || ts.isPropertySignature(p) || ts.isMethodDeclaration(p) || ts.isMethodSignature(p) || ts.isGetAccessor(p) || ts.isSetAccessor(p) || ts.isEnumMember(p)) && p.name === id) return false;
  if ((ts.isVariableDeclaration(p) || ts.isParameter(p) || ts.isFunctionDeclaration(p) || ts.isFunctionExpression(p) || ts.isClassDeclaration(p) || ts.isClassExpression(p) || ts.isBindingElement(p) || ts.isTypeAliasDeclaration(p) || ts.isInterfaceDeclaration(p) || ts.isEnumDeclaration(p)) && p.name === id) return false;
  if (ts.isBindingElement(p) && p.propertyName === id) return false;
  if (ts.isImportSpecifier(p) || ts.isImportClause(p) || ts.isNamespaceImport(p) || ts.isExportSpecifier(p)) return false;
  if (ts.isLabeledStatement(p) || ts.isBreakOrContinueStatement(p)) return false;
  return true;
}

/** Names declared anywhere in the file (to refuse renames that a local declaration would shadow). */
function declaredNames(sf) {
  const names = new Set();
  const visit = (n) => {
    if ((ts.isVariableDeclaration(n) || ts.isParameter(n) || ts.isBindingElement(n)) && n.name) bindingNames(n.name, []).forEach((x) => names.add(x));
    if ((ts.isFunctionDeclaration(n) || ts.isClassDeclaration(n) || ts.isFunctionExpression(n)) && n.name) names.add(n.name.text);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return names;
}

const lineIndentAt = (src, pos) => {
  const lineStart = src.lastIndexOf('\n', pos - 1) + 1;
  return /^[ \t]*/.exec(src.slice(lineStart))[0];
};

/* -------------------------------------------------------------- convert */

/**
 * @returns {{ text: string, notes: string[] } | null} null when the file does not use node:test
 */
export function convert(src, fileName = 'file.ts') {
  const sf = ts.createSourceFile(fileName, src, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  // A one-file program, only to resolve which declaration an identifier refers to (scopes, shadowing).
  const host = {
    getSourceFile: (f) => (f === fileName ? sf : undefined),
    getDefaultLibFileName: () => 'lib.d.ts',
    writeFile: () => {},
    getCurrentDirectory: () => '/',
    getCanonicalFileName: (f) => f,
    useCaseSensitiveFileNames: () => true,
    getNewLine: () => '\n',
    fileExists: (f) => f === fileName,
    readFile: (f) => (f === fileName ? src : undefined),
  };
  const checker = ts.createProgram([fileName], { noLib: true, noResolve: true, allowJs: true, types: [] }, host).getTypeChecker();
  const symbolOf = (id) => checker.getSymbolAtLocation(id);
  const imports = sf.statements.filter(
    (s) => ts.isImportDeclaration(s) && ts.isStringLiteral(s.moduleSpecifier) && (s.moduleSpecifier.text === 'node:test' || s.moduleSpecifier.text === 'test'),
  );
  if (imports.length === 0) return null;

  const edits = [];
  const notes = [];
  const fail = (node, msg) => {
    throw new Unsupported(node, sf, msg);
  };
  const declared = declaredNames(sf);

  /** local name → { kind: 'call' | 'hook', jest: jest name, renameTo: local name in the output } */
  const bindings = new Map();
  const jestImports = new Map(); // jest name → local alias (or itself)
  const needGlobals = new Set();

  for (const imp of imports) {
    const clause = imp.importClause;
    if (!clause) fail(imp, "side-effect import of node:test");
    if (clause.name) {
      // import test from 'node:test'
      bindings.set(clause.name.text, { kind: 'call', jest: 'test', renameTo: clause.name.text, symbol: symbolOf(clause.name) });
      jestImports.set('test', clause.name.text);
    }
    const nb = clause.namedBindings;
    if (nb && ts.isNamespaceImport(nb)) fail(nb, 'namespace import of node:test');
    for (const spec of nb?.elements ?? []) {
      const imported = (spec.propertyName ?? spec.name).text;
      const local = spec.name.text;
      if (TYPE_ONLY.has(imported)) {
        bindings.set(local, { kind: 'type', symbol: symbolOf(spec.name) });
        continue;
      }
      if (spec.isTypeOnly || clause.isTypeOnly) fail(spec, `type import ${imported} from node:test`);
      const jest = HOOK_RENAMES[imported] ?? CALL_RENAMES[imported];
      if (!jest) fail(spec, `node:test export "${imported}" has no automatic Jest equivalent`);
      const aliased = spec.propertyName !== undefined && local !== imported;
      const renameTo = aliased ? local : jest;
      if (!aliased && renameTo !== local && declared.has(renameTo)) fail(spec, `cannot rename ${local} → ${renameTo}: the file declares ${renameTo}`);
      bindings.set(local, { kind: HOOK_RENAMES[imported] ? 'hook' : 'call', jest, renameTo, symbol: symbolOf(spec.name) });
      jestImports.set(jest, renameTo);
    }
  }

  // Timeout inherited from an enclosing describe({ timeout }): node → text.
  const inheritedTimeout = new Map();

  /** The node:test binding this identifier refers to (scope-aware), if any. */
  const bindingOf = (id) => {
    const b = bindings.get(id.text);
    return b && b.symbol && symbolOf(id) === b.symbol ? b : undefined;
  };
  const calleeInfo = (callee) => {
    if (ts.isIdentifier(callee) && bindingOf(callee)) return { base: callee, modifier: undefined };
    if (ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression) && bindingOf(callee.expression)) {
      const m = callee.name.text;
      if (!MODIFIERS.has(m)) fail(callee, `${callee.getText(sf)} is not supported`);
      return { base: callee.expression, modifier: m };
    }
    return undefined;
  };

  const removedParams = new Set();
  const cleanupName = (() => {
    const used = new Set();
    const visit = (n) => {
      if (ts.isIdentifier(n)) used.add(n.text);
      ts.forEachChild(n, visit);
    };
    visit(sf);
    let name = 'cleanup';
    while (used.has(name)) name += '_';
    return name;
  })();

  /** Rewrites the uses of a test's context parameter; returns whether t.after was used. */
  function convertContextUses(fn, ctxName, kind) {
    let usesAfter = false;
    const ctxSymbol = symbolOf(fn.parameters[0].name);
    const visit = (n) => {
      if (ts.isIdentifier(n) && n.text === ctxName && isReference(n) && symbolOf(n) === ctxSymbol) {
        const pa = n.parent;
        if (!ts.isPropertyAccessExpression(pa) || pa.expression !== n) fail(n, `the test context "${ctxName}" is used as a value`);
        const member = pa.name.text;
        const call = ts.isCallExpression(pa.parent) && pa.parent.expression === pa ? pa.parent : undefined;
        if (kind !== 'test' && member !== 'name') fail(pa, `${ctxName}.${member} in a hook`);
        switch (member) {
          case 'after':
            if (!call) fail(pa, `${ctxName}.after used as a value`);
            if (call.arguments.length !== 1) fail(call, `${ctxName}.after with options`);
            edits.push({ start: pa.getStart(sf), end: pa.end, text: `${cleanupName}.push` });
            usesAfter = true;
            break;
          case 'diagnostic':
            if (!call) fail(pa, `${ctxName}.diagnostic used as a value`);
            edits.push({ start: pa.getStart(sf), end: pa.end, text: 'console.info' });
            break;
          case 'skip':
          case 'todo': {
            if (!call) fail(pa, `${ctxName}.${member} used as a value`);
            const { line } = sf.getLineAndCharacterOfPosition(call.getStart(sf));
            notes.push(`${sf.fileName}:${line + 1}: ${ctxName}.${member}() became console.warn: Jest has no run-time skip, the test will count as passed`);
            const label = member === 'skip' ? 'skipped at run time:' : 'todo:';
            edits.push({ start: pa.getStart(sf), end: call.arguments.length ? call.arguments[0].getStart(sf) : call.end - 1, text: `console.warn('${label}'${call.arguments.length ? ', ' : ''}` });
            break;
          }
          case 'name':
            if (call) fail(pa, `${ctxName}.name called`);
            needGlobals.add('expect');
            edits.push({ start: pa.getStart(sf), end: pa.end, text: 'expect.getState().currentTestName' });
            break;
          case 'mock': {
            const mp = pa.parent;
            if (!ts.isPropertyAccessExpression(mp) || mp.expression !== pa) fail(pa, `${ctxName}.mock used as a value`);
            const what = mp.name.text;
            const mcall = ts.isCallExpression(mp.parent) && mp.parent.expression === mp ? mp.parent : undefined;
            if (!mcall) fail(mp, `${ctxName}.mock.${what} is not supported`);
            needGlobals.add('jest');
            if (what === 'fn') {
              if (mcall.arguments.length > 1) fail(mcall, `${ctxName}.mock.fn with more than one argument`);
              edits.push({ start: mp.getStart(sf), end: mp.end, text: 'jest.fn' });
            } else if (what === 'method') {
              const a = mcall.arguments;
              if (a.length < 2 || a.length > 3) fail(mcall, `${ctxName}.mock.method with ${a.length} arguments`);
              const spy = `jest.spyOn(${a[0].getText(sf)}, ${a[1].getText(sf)})`;
              const withImpl = a[2] ? `${spy}.mockImplementation(${a[2].getText(sf)})` : spy;
              edits.push({ start: mcall.getStart(sf), end: mcall.end, text: `((s) => (${cleanupName}.push(() => s.mockRestore()), s))(${withImpl})` });
              usesAfter = true;
            } else fail(mp, `${ctxName}.mock.${what} has no automatic Jest equivalent`);
            return; // arguments copied verbatim above
          }
          default:
            fail(pa, `${ctxName}.${member} has no automatic Jest equivalent`);
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(fn.body);
    return usesAfter;
  }

  /** Edits for a test/hook function: drop its context parameter; wrap for t.after. */
  function convertCallback(fn, kind) {
    if (!fn || !(ts.isArrowFunction(fn) || ts.isFunctionExpression(fn))) return;
    if (fn.parameters.length === 0) return;
    if (fn.parameters.length > 1) fail(fn, 'callback-style test (done parameter): convert by hand');
    const p = fn.parameters[0];
    if (!ts.isIdentifier(p.name)) fail(p, 'destructured test context');
    removedParams.add(p);
    const ctx = p.name.text;
    const usesAfter = kind === 'describe' ? false : convertContextUses(fn, ctx, kind);
    if (kind === 'describe') {
      // Any use of the suite context is unsupported.
      const suiteSymbol = symbolOf(p.name);
      const visit = (n) => {
        if (ts.isIdentifier(n) && n.text === ctx && isReference(n) && symbolOf(n) === suiteSymbol) fail(n, 'suite context used');
        ts.forEachChild(n, visit);
      };
      visit(fn.body);
    }
    const isAsync = fn.modifiers?.some((m) => m.kind === ts.SyntaxKind.AsyncKeyword) ?? false;
    const ret = fn.type ? `: ${fn.type.getText(sf)}` : '';
    const makeAsync = usesAfter && !isAsync;
    const asyncKw = isAsync || makeAsync ? 'async ' : '';
    if (makeAsync && fn.type) fail(fn.type, 'return type on a sync test that needs cleanup');
    const headEnd = ts.isArrowFunction(fn) ? fn.equalsGreaterThanToken.end : fn.body.getStart(sf);
    const head = ts.isArrowFunction(fn)
      ? `${asyncKw}()${ret} =>`
      : `${asyncKw}function${fn.asteriskToken ? '*' : ''}${fn.name ? ' ' + fn.name.text : ''}()${ret} `;
    edits.push({ start: fn.getStart(sf), end: headEnd, text: head });
    if (usesAfter) {
      if (!ts.isBlock(fn.body)) {
        edits.push({
          start: fn.body.getStart(sf),
          end: fn.body.end,
          wrap: (inner) => `{\n  const ${cleanupName}: Array<() => unknown> = [];\n  try {\n    await (${inner});\n  } finally {\n    for (const fn of ${cleanupName}) await fn();\n  }\n}`,
        });
        return;
      }
      const base = lineIndentAt(src, fn.getStart(sf));
      const multiLineTemplate = (() => {
        let found = false;
        const visit = (n) => {
          if ((ts.isNoSubstitutionTemplateLiteral(n) || ts.isTemplateExpression(n)) && n.getText(sf).includes('\n')) found = true;
          ts.forEachChild(n, visit);
        };
        visit(fn.body);
        return found;
      })();
      edits.push({
        start: fn.body.getStart(sf),
        end: fn.body.end,
        wrap: (inner) => {
          let body = inner.slice(1, -1).replace(/^[ \t]*\n/, '').replace(/\n[ \t]*$/, '');
          if (!multiLineTemplate) body = body.split('\n').map((l) => (l.trim() ? `  ${l}` : l)).join('\n');
          const i1 = `${base}  `;
          return (
            `{\n${i1}const ${cleanupName}: Array<() => unknown> = [];\n${i1}try {\n${body}\n` +
            `${i1}} finally {\n${i1}  // the test's cleanups, in the order registered, also when it fails\n${i1}  for (const fn of ${cleanupName}) await fn();\n${i1}}\n${base}}`
          );
        },
      });
    }
  }

  function optionsOf(obj) {
    const out = {};
    for (const prop of obj.properties) {
      if (!ts.isPropertyAssignment(prop) && !ts.isShorthandPropertyAssignment(prop)) fail(prop, 'spread or method in test options');
      const key = prop.name.getText(sf);
      const value = ts.isShorthandPropertyAssignment(prop) ? prop.name : prop.initializer;
      out[key] = value;
    }
    for (const key of Object.keys(out)) {
      if (!['timeout', 'skip', 'only', 'todo', 'concurrency'].includes(key)) fail(obj, `test option "${key}" has no automatic Jest equivalent`);
    }
    return out;
  }

  const isFalse = (e) => e && e.kind === ts.SyntaxKind.FalseKeyword;
  const isTrueish = (e) => e && (e.kind === ts.SyntaxKind.TrueKeyword || ts.isStringLiteralLike(e));

  function appendTimeout(call, timeoutText) {
    const last = call.arguments[call.arguments.length - 1];
    edits.push({ start: last.end, end: call.end, text: `, ${timeoutText})` });
  }

  const visit = (n, timeoutFromDescribe) => {
    if (ts.isCallExpression(n)) {
      const info = calleeInfo(n.expression);
      if (info) {
        const b = bindingOf(info.base);
        if (b.kind === 'type') fail(n, 'type used as a function');
        const args = n.arguments;
        if (b.kind === 'hook') {
          if (info.modifier) fail(n, `${info.base.text}.${info.modifier}`);
          if (args.length === 0 || args.length > 2) fail(n, `${info.base.text} with ${args.length} arguments`);
          let timeout = timeoutFromDescribe;
          if (args[1]) {
            if (!ts.isObjectLiteralExpression(args[1])) fail(args[1], 'hook options that are not an object literal');
            const o = optionsOf(args[1]);
            for (const k of Object.keys(o)) if (k !== 'timeout') fail(args[1], `hook option ${k}`);
            // replace `, { … }` with `, timeout` (or drop it)
            edits.push({ start: args[0].end, end: n.end, text: o.timeout ? `, ${o.timeout.getText(sf)})` : ')' });
            timeout = undefined;
          } else if (timeout) appendTimeout(n, timeout);
          if (info.base.text !== b.renameTo) edits.push({ start: info.base.getStart(sf), end: info.base.end, text: b.renameTo });
          convertCallback(args[0], 'hook');
          ts.forEachChild(args[0], (c) => visit(c, timeoutFromDescribe));
          return;
        }
        // describe / it / test
        const isDescribe = b.jest === 'describe';
        let modifier = info.modifier;
        let fnArg;
        let timeoutText;
        let optionsArg;
        if (args.length === 0) fail(n, 'test without arguments');
        if (ts.isArrowFunction(args[0]) || ts.isFunctionExpression(args[0])) fail(n, 'test named by its function (no name argument)');
        if (args.length === 3) {
          optionsArg = args[1];
          fnArg = args[2];
        } else if (args.length === 2) {
          if (ts.isObjectLiteralExpression(args[1])) optionsArg = args[1];
          else fnArg = args[1];
        } else if (args.length === 1) {
          if (!modifier) modifier = 'todo'; // node:test: a test without a function is a todo
        } else fail(n, `${info.base.text} with ${args.length} arguments`);
        if (optionsArg && !ts.isObjectLiteralExpression(optionsArg)) fail(optionsArg, 'test options that are not an object literal');
        let skipReason;
        if (optionsArg) {
          const o = optionsOf(optionsArg);
          if (o.timeout) timeoutText = o.timeout.getText(sf);
          if (o.only && !isFalse(o.only)) modifier = 'only';
          if (o.todo && !isFalse(o.todo)) {
            if (!isTrueish(o.todo)) fail(o.todo, 'computed todo option');
            modifier = 'todo';
            if (ts.isStringLiteralLike(o.todo)) skipReason = o.todo.text;
          }
          if (o.skip && !isFalse(o.skip)) {
            if (isTrueish(o.skip)) {
              modifier = 'skip';
              if (ts.isStringLiteralLike(o.skip)) skipReason = o.skip.text;
            } else {
              // computed skip: (cond ? it.skip : it)
              if (modifier) fail(o.skip, 'computed skip together with only/todo');
              modifier = { cond: o.skip.getText(sf) };
            }
          }
          if (o.concurrency) {
            const { line } = sf.getLineAndCharacterOfPosition(optionsArg.getStart(sf));
            notes.push(`${sf.fileName}:${line + 1}: concurrency option dropped (Jest runs the tests of a file in order)`);
          }
          // drop `{ … }, ` (or `, { … }` when it is the last argument)
          if (fnArg) edits.push({ start: optionsArg.getStart(sf), end: fnArg.getStart(sf), text: '' });
          else edits.push({ start: args[0].end, end: optionsArg.end, text: '' });
        }
        if (modifier === 'todo' && fnArg) {
          modifier = 'skip';
          skipReason = `todo${skipReason ? ': ' + skipReason : ''}`;
        }
        if (isDescribe && modifier === 'todo') modifier = 'skip';
        const name = b.renameTo;
        let calleeText = typeof modifier === 'object' ? `(${modifier.cond} ? ${name}.skip : ${name})` : modifier ? `${name}.${modifier}` : name;
        if (calleeText !== n.expression.getText(sf)) edits.push({ start: n.expression.getStart(sf), end: n.expression.end, text: calleeText });
        if (skipReason) {
          const stmt = n.parent && ts.isExpressionStatement(n.parent) ? n.parent : n;
          edits.push({ start: stmt.getStart(sf), end: stmt.getStart(sf), text: `// ${skipReason.replace(/\n/g, ' ')}\n${lineIndentAt(src, stmt.getStart(sf))}` });
        }
        if (isDescribe) {
          if (fnArg) {
            convertCallback(fnArg, 'describe');
            const isAsync = fnArg.modifiers?.some((m) => m.kind === ts.SyntaxKind.AsyncKeyword);
            if (isAsync) fail(fnArg, 'async describe callback (Jest collects tests synchronously)');
            const inner = timeoutText ?? timeoutFromDescribe;
            ts.forEachChild(fnArg, (c) => visit(c, inner));
          }
          return;
        }
        if (modifier === 'todo') {
          // Jest's todo takes only the name
          if (args.length > 1) edits.push({ start: args[0].end, end: n.end, text: ')' });
          return;
        }
        if (fnArg) {
          convertCallback(fnArg, 'test');
          const t = timeoutText ?? timeoutFromDescribe;
          if (t) edits.push({ start: fnArg.end, end: n.end, text: `, ${t})` });
          ts.forEachChild(fnArg, (c) => visit(c, undefined));
        }
        return;
      }
    }
    // Other references to the imported names (passed as values, etc.)
    if (ts.isIdentifier(n) && isReference(n) && bindingOf(n)) {
      const b = bindingOf(n);
      if (b.kind === 'type') {
        if (!(ts.isTypeReferenceNode(n.parent) && removedParams.has(n.parent.parent))) fail(n, `${n.text} used outside the parameter of a converted test`);
        return;
      }
      if (ts.isShorthandPropertyAssignment(n.parent)) fail(n, `${n.text} in a shorthand property`);
      if (n.text !== b.renameTo) edits.push({ start: n.getStart(sf), end: n.end, text: b.renameTo });
      return;
    }
    ts.forEachChild(n, (c) => visit(c, timeoutFromDescribe));
  };
  for (const s of sf.statements) if (!imports.includes(s)) visit(s, undefined);

  // A type annotation of a removed parameter is gone with it; any other type use was refused above.
  for (const g of needGlobals) if (!jestImports.has(g)) jestImports.set(g, g);
  const specs = [...jestImports.entries()].map(([jest, local]) => (jest === local ? jest : `${jest} as ${local}`)).sort((a, b) => a.localeCompare(b));
  const quote = imports[0].moduleSpecifier.getText(sf)[0];
  imports.forEach((imp, i) => {
    const start = imp.getStart(sf);
    let end = imp.end;
    if (i > 0) {
      // remove the whole line
      while (src[end] === '\n' || src[end] === '\r') end++;
    }
    edits.push({ start, end, text: i === 0 ? `import { ${specs.join(', ')} } from ${quote}@jest/globals${quote};` : '' });
  });

  return { text: render(src, 0, src.length, edits), notes };
}

/* ------------------------------------------------------------------- CLI */

function collect(target, out) {
  const st = statSync(target);
  if (st.isDirectory()) {
    for (const e of readdirSync(target)) if (e !== 'node_modules' && !e.startsWith('.')) collect(path.join(target, e), out);
  } else if (/\.(m?ts|m?js)$/.test(target) && !target.endsWith('.d.ts')) out.push(target);
  return out;
}

function main(argv) {
  const args = [...argv];
  const flag = (f) => {
    const i = args.indexOf(f);
    if (i < 0) return false;
    args.splice(i, 1);
    return true;
  };
  const option = (f) => {
    const i = args.indexOf(f);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const list = flag('--list');
  const dry = flag('--dry-run');
  const outDir = option('--out-dir');
  if (flag('--help') || flag('-h') || (!list && args.length === 0)) {
    console.log('usage: node scripts/to-jest.mjs [--dry-run] [--out-dir DIR] FILE_OR_DIR...\n       node scripts/to-jest.mjs --list [FILE_OR_DIR...]');
    return 0;
  }
  const files = (args.length ? args : ['test']).flatMap((a) => collect(a, [])).sort();
  if (list) {
    for (const f of files) if (/from\s+['"]node:test['"]/.test(readFileSync(f, 'utf8'))) console.log(f);
    return 0;
  }
  let failed = 0;
  let converted = 0;
  for (const f of files) {
    const src = readFileSync(f, 'utf8');
    let result;
    try {
      result = convert(src, f);
    } catch (e) {
      if (e instanceof Unsupported) {
        console.error(`NOT CONVERTED ${e.message}`);
        failed++;
        continue;
      }
      throw e;
    }
    if (!result) continue;
    converted++;
    for (const note of result.notes) console.error(`NOTE ${note}`);
    if (dry) {
      console.log(`would convert ${f}`);
      continue;
    }
    const dest = outDir ? path.join(outDir, path.relative(process.cwd(), path.resolve(f))) : f;
    mkdirSync(path.dirname(dest), { recursive: true });
    writeFileSync(dest, result.text);
    console.log(`converted ${f}${dest !== f ? ` → ${dest}` : ''}`);
  }
  console.log(`${converted} converted, ${failed} left for a hand conversion`);
  return failed ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));
