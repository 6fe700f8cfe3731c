"""Static check: no unsafe loading or execution in the package sources.

Fails (exit 1) on, after resolving import aliases (``import pickle as p``, ``from pickle import
loads``, ``__import__("pickle")``, ``importlib.import_module("pickle")``, ``getattr(pickle,
"loads")``):

* ``torch.load`` without ``weights_only=True``;
* pickle-style loaders, called or merely referenced (``pickle``/``_pickle``/``cloudpickle``/``dill``
  ``load(s)`` and ``Unpickler``, ``joblib.load``, ``pandas.read_pickle``, ``marshal.load(s)``,
  ``shelve.open``) and ``numpy.load(..., allow_pickle=<anything but False>)``;
* ``yaml.load``/``load_all`` unless ``Loader=`` is a safe loader, ``yaml.unsafe_load*``,
  ``yaml.full_load*``;
* ``eval``/``exec``;
* ``shell=True`` in any call, ``os.system``, ``os.popen``, ``subprocess.getoutput``,
  ``subprocess.getstatusoutput``.

It works on the syntax tree, so strings and comments that mention these names do not count.
Exceptions live in :data:`ALLOWED`, each with the reason; there is no inline opt-out.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PICKLE_LIKE = {
    f"{mod}.{fn}"
    for mod in ("pickle", "_pickle", "cPickle", "cloudpickle", "dill")
    for fn in ("load", "loads", "Unpickler")
} | {
    "joblib.load",
    "pandas.read_pickle",
    "marshal.load",
    "marshal.loads",
    "shelve.open",
    "torch.serialization.pickle_load",
}
YAML_UNSAFE = {"yaml.unsafe_load", "yaml.unsafe_load_all", "yaml.full_load", "yaml.full_load_all"}
YAML_NEEDS_LOADER = {"yaml.load", "yaml.load_all"}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}
SHELL_CALLS = {"os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"}
EXEC_CALLS = {"eval", "exec", "builtins.eval", "builtins.exec"}

# (path fragment, qualified name) -> why it is acceptable there.
ALLOWED: dict[tuple[str, str], str] = {
    ("tunesmith/runners/", "cloudpickle.loads"): (
        "the coordinator ships its own objective (closures from scripts and notebooks) by value "
        "to the worker processes it spawned, over a pipe between our own processes; nothing a "
        "user hands in as a file is ever unpickled"
    ),
}


class _Aliases(ast.NodeVisitor):
    """What each local name stands for: ``p`` -> ``pickle``, ``loads`` -> ``pickle.loads``."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.names[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.names[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and not node.level:
            for alias in node.names:
                self.names[alias.asname or alias.name] = f"{node.module}.{alias.name}"


def _const_str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _qualify(node: ast.AST, aliases: dict[str, str]) -> str:
    """The dotted name an expression refers to, with import aliases resolved ('' if unknown)."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id, node.id)
    if isinstance(node, ast.Attribute):
        base = _qualify(node.value, aliases)
        return f"{base}.{node.attr}" if base else ""
    if isinstance(node, ast.Call) and node.args:
        func = _qualify(node.func, aliases)
        first = _const_str(node.args[0])
        if func in ("__import__", "importlib.import_module", "builtins.__import__") and first:
            return first
        if func == "getattr" and len(node.args) >= 2:
            attr = _const_str(node.args[1])
            base = _qualify(node.args[0], aliases)
            return f"{base}.{attr}" if base and attr else ""
    return ""


def _call_problem(node: ast.Call, name: str, aliases: dict[str, str]) -> str | None:
    kw = {k.arg: k.value for k in node.keywords if k.arg}
    if name == "torch.load":
        wo = kw.get("weights_only")
        if not (isinstance(wo, ast.Constant) and wo.value is True):
            return "torch.load without weights_only=True"
    if name in ("numpy.load", "np.load"):
        ap = kw.get("allow_pickle")
        if ap is not None and not (isinstance(ap, ast.Constant) and ap.value is False):
            return "numpy.load with allow_pickle (pickle runs code)"
    if name in YAML_NEEDS_LOADER:
        loader = kw.get("Loader") or (node.args[1] if len(node.args) > 1 else None)
        loader_name = _qualify(loader, aliases).rsplit(".", 1)[-1] if loader is not None else ""
        if loader_name not in SAFE_YAML_LOADERS:
            return f"{name} without a safe Loader (use yaml.safe_load)"
    if name in YAML_UNSAFE:
        return f"{name} (use the safe loader)"
    if name in EXEC_CALLS:
        return f"{name}()"
    if name in SHELL_CALLS:
        return f"{name} runs a shell"
    shell = kw.get("shell")
    if shell is not None and not (isinstance(shell, ast.Constant) and not shell.value):
        return "shell=True (or a shell= that may be true)"
    return None


def findings(source: str, filename: str = "<src>") -> list[str]:
    """Return one line per unsafe call or reference in ``source``."""
    tree = ast.parse(source, filename)
    collector = _Aliases()
    collector.visit(tree)
    aliases = collector.names
    posix = filename.replace("\\", "/")
    found: set[tuple[int, str]] = set()

    def report(node: ast.AST, name: str, problem: str) -> None:
        for (fragment, allowed_name), _why in ALLOWED.items():
            if fragment in posix and name == allowed_name:
                return
        found.add((getattr(node, "lineno", 0), problem))

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _qualify(node.func, aliases)
            problem = _call_problem(node, name, aliases)
            if problem:
                report(node, name, problem)
        if isinstance(node, (ast.Attribute, ast.Name, ast.Call)):
            name = _qualify(node, aliases)
            if name in PICKLE_LIKE:
                report(node, name, f"{name} (pickle runs code)")
    return [f"{filename}:{line}: {problem}" for line, problem in sorted(found)]


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [Path("src")]
    problems: list[str] = []
    for root in roots:
        paths = [root] if root.is_file() else sorted(root.rglob("*.py"))
        for path in paths:
            problems += findings(path.read_text(encoding="utf-8"), str(path))
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
