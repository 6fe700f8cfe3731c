"""Static check: no unsafe loading or execution in the package sources.

Fails (exit 1) on ``torch.load`` without ``weights_only=True``, ``pickle.load(s)``, ``yaml.load`` /
``yaml.unsafe_load``, ``eval``/``exec`` and ``shell=True``. Works on the syntax tree, so strings and
comments that mention these names do not count.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def findings(source: str, filename: str = "<src>") -> list[str]:
    """Return one line per unsafe call in ``source``."""
    out = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        where = f"{filename}:{node.lineno}"
        if name.endswith("torch.load") or name == "torch.load":
            wo = kw.get("weights_only")
            if not (isinstance(wo, ast.Constant) and wo.value is True):
                out.append(f"{where}: torch.load without weights_only=True")
        elif name in {"pickle.load", "pickle.loads", "cPickle.load", "cPickle.loads",
                      "cloudpickle.load", "cloudpickle.loads", "dill.load", "dill.loads"}:
            out.append(f"{where}: {name} (pickle runs code)")
        elif name in {"yaml.load", "yaml.unsafe_load", "yaml.full_load", "yaml.load_all",
                      "yaml.unsafe_load_all"}:
            out.append(f"{where}: {name} (use the safe loader)")
        elif name in {"eval", "exec", "builtins.eval", "builtins.exec"}:
            out.append(f"{where}: {name}()")
        shell = kw.get("shell")
        if isinstance(shell, ast.Constant) and shell.value is True:
            out.append(f"{where}: shell=True")
    return out


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [Path("src")]
    problems: list[str] = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            problems += findings(path.read_text(encoding="utf-8"), str(path))
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
