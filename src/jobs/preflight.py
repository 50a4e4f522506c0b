# Checks a job's input on the client before anything is allocated or launched, so that a typo
# costs no instance. Prints one JSON object: {"ok": true} or {"code": ..., "message": ..., "line": ...}.
import ast, json, sys

kind, path, function, args, kwargs = sys.argv[1:6]


def reject(code, message, line=None):
    print(json.dumps({"code": code, "message": message, "line": line}))
    sys.exit(0)


try:
    with open(path, "rb") as f:
        tree = ast.parse(f.read(), path)
except SyntaxError as e:
    reject("syntax-error", "Syntax error in %s, line %s: %s" % (sys.argv[6], e.lineno, e.msg), e.lineno)

if kind == "function":
    bound = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound.add("*" if alias.name == "*" else (alias.asname or alias.name.split(".")[0]))
        else:
            # Assignments, loops, with/try blocks: any name they may bind counts.
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    bound.add(sub.id)
                elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    bound.add(sub.name)
    if function not in bound and "*" not in bound and "__getattr__" not in bound:
        defs = sorted(n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
        hint = " (it defines: %s)" % ", ".join(defs) if defs else ""
        reject("not-found", "%s has no function %s%s" % (sys.argv[6], function, hint))
    values = []
    for text, what, kinds in ((args, "Arguments", (list, tuple)), (kwargs, "Keyword arguments", (dict,))):
        try:
            value = json.loads(text)
        except ValueError:
            try:
                value = ast.literal_eval(text)
            except Exception as e:
                reject("bad-arguments", "%s are neither a Python literal nor JSON: %s (%s)" % (what, text, e))
        if not isinstance(value, kinds):
            reject("bad-arguments", "Arguments must be a list, e.g. [2, 3]" if kinds != (dict,) else "Keyword arguments must be a dict")
        values.append(value)
    verdict = {"ok": True, "positional": len(values[0]), "keywords": [str(k) for k in values[1]]}
    # The signature, when the function is a plain def, so the client can check the call's arity.
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == function]
    if defs and not defs[-1].decorator_list:
        a = defs[-1].args
        positional = a.posonlyargs + a.args
        first_default = len(positional) - len(a.defaults)
        verdict["signature"] = {
            "positional": [{"name": p.arg, "optional": i >= first_default} for i, p in enumerate(positional)],
            "positionalOnly": len(a.posonlyargs),
            "varargs": a.vararg is not None,
            "keywordOnly": [{"name": p.arg, "optional": d is not None} for p, d in zip(a.kwonlyargs, a.kw_defaults)],
            "varkw": a.kwarg is not None,
        }
    print(json.dumps(verdict))
    sys.exit(0)

print(json.dumps({"ok": True}))
