"""The skyqa code a function runs: the transitive closure of its imports, read from the
source files, so that a stage's cache key follows its code without a list kept by hand.

A function's imports are those in its own body and its module's runtime imports; a
module's are every import in it, those inside functions included, those under
``if TYPE_CHECKING:`` excluded (they never run). Importing ``skyqa.a.b`` also runs the
packages ``skyqa`` and ``skyqa.a``. Only skyqa's own modules are followed: the versions
of the packages it uses key an entry separately (`skyqa.cache.package_versions`).

The walk is static (`ast`): nothing is imported, and it reads any copy of the source, so
a test can change a module in a copy and see which stages' keys move.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import json
import os
import textwrap
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

PACKAGE = "skyqa"


def package_root() -> Path:
    """The folder of skyqa's source (the one this module was loaded from)."""
    return Path(__file__).resolve().parent


@functools.cache
def module_file(name: str, root: Path) -> Path | None:
    """The source file of skyqa module ``name`` under ``root`` (skyqa's folder), or None
    when ``name`` is not one of skyqa's modules."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = root.joinpath(*parts[1:])
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(nodes: Iterable[ast.AST], functions: bool) -> Iterator[ast.stmt]:
    """The import statements among ``nodes`` and inside them that run: not those under
    ``if TYPE_CHECKING:``, and those inside function bodies only if ``functions``."""
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _runtime_imports(node.orelse, functions)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not functions:
            continue
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    yield from _runtime_imports(
                        [child for child in children if isinstance(child, ast.AST)], functions
                    )


def _imported_names(node: ast.stmt, importer: str, root: Path) -> Iterator[str]:
    """The names one import statement in module ``importer`` names: the module, then
    (``from a import b``) each imported name as a possible submodule ``a.b``."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    assert isinstance(node, ast.ImportFrom)
    if node.level:  # relative: from the importer's package
        package = importer.split(".")
        is_package = (module_file(importer, root) or Path()).name == "__init__.py"
        package = package[: len(package) - node.level + is_package]
        base = ".".join([*package, *([node.module] if node.module else [])])
    else:
        base = node.module or ""
    yield base
    for alias in node.names:
        yield f"{base}.{alias.name}"  # a submodule, if there is one


def _with_packages(name: str) -> Iterator[str]:
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        yield ".".join(parts[:end])


def imports_of(statements: Iterable[ast.stmt], importer: str, root: Path) -> set[str]:
    """The skyqa modules that import ``statements`` of module ``importer`` name: for
    ``from a import b``, the module ``a.b`` if there is one, else ``a``."""
    found: set[str] = set()
    for node in statements:
        names = list(_imported_names(node, importer, root))
        submodules = [name for name in names[1:] if module_file(name, root)]
        if isinstance(node, ast.Import) or not submodules:
            found.update(name for name in names if module_file(name, root))
        else:
            found.update(submodules)
            if len(submodules) < len(names) - 1:  # names from the module itself, too
                found.update(name for name in names[:1] if module_file(name, root))
    return found


@functools.cache
def module_imports(name: str, root: Path) -> frozenset[str]:
    """The skyqa modules module ``name`` imports at run time, function bodies included
    (as written: not the packages that importing them runs too)."""
    path = module_file(name, root)
    if path is None:
        return frozenset()
    tree = ast.parse(path.read_bytes(), filename=str(path))
    return frozenset(imports_of(_runtime_imports(tree.body, functions=True), name, root)) - {name}


def module_closure(names: Iterable[str], root: Path) -> tuple[str, ...]:
    """``names`` and every skyqa module they import, directly or not, with the packages
    holding each (importing ``skyqa.a.b`` runs ``skyqa/a/__init__.py``), sorted."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        for name in _with_packages(todo.pop()):
            if name not in seen and module_file(name, root):
                seen.add(name)
                todo.extend(module_imports(name, root) - seen)
    return tuple(sorted(seen))


def _unwrapped(function: Callable) -> Callable:
    while isinstance(function, functools.partial):
        function = function.func
    return inspect.unwrap(function)


def function_closure(function: Callable, root: Path | None = None) -> tuple[str, ...]:
    """The skyqa modules ``function`` runs (`closure_of`); for a function outside skyqa
    (a stage of the user's own), those its module and its body import.

    ``root``: the skyqa source folder to read (default: `package_root`)."""
    root = root or package_root()
    function = _unwrapped(function)
    if module_file(function.__module__, root) is not None:
        return closure_of(function.__module__, function.__qualname__, root)
    module = ast.parse(inspect.getsource(inspect.getmodule(function)))  # type: ignore[arg-type]
    body = ast.parse(textwrap.dedent(inspect.getsource(function))).body
    return module_closure(_function_imports(module, body, function.__module__, root), root)


def _function_imports(tree: ast.Module, body: list[ast.stmt], module: str, root: Path) -> set:
    """The skyqa modules a function's module imports outside functions, and its body."""
    found = imports_of(_runtime_imports(tree.body, functions=False), module, root)
    return found | imports_of(_runtime_imports(body, functions=True), module, root)


@functools.cache
def closure_of(module: str, qualname: str, root: Path) -> tuple[str, ...]:
    """The skyqa modules function ``qualname`` of skyqa module ``module`` runs: its
    module, that module's runtime imports outside functions, the imports in the
    function's body, and all they import (`module_closure`).

    Not the imports in the module's other functions: a build module's functions each
    import what they run, so that each stage's key holds only its own code."""
    tree = ast.parse(module_file(module, root).read_bytes())  # type: ignore[union-attr]
    found = _function_imports(tree, _function_body(tree, qualname), module, root)
    packages = set(_with_packages(module)) - {module}
    return tuple(sorted({module, *module_closure(found | packages, root)}))


def _function_body(tree: ast.Module, qualname: str) -> list[ast.stmt]:
    """The statements of the function ``qualname`` (``f``, ``Class.f``, ``f.<locals>.g``)."""
    nodes: list[ast.stmt] = tree.body
    for part in (p for p in qualname.split(".") if p != "<locals>"):
        found = [
            node
            for node in nodes
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and node.name == part
        ]
        if not found:
            raise ValueError(f"no function {qualname!r} in its module's source")
        nodes = found[0].body
    return nodes


def _digest(modules: Iterable[str], root: Path) -> hashlib._Hash:
    digest = hashlib.sha256()
    for name in sorted(set(modules)):
        digest.update(name.encode() + b"\0")
        digest.update(module_file(name, root).read_bytes())  # type: ignore[union-attr]
    return digest


def module_digest(*names: str, root: Path | None = None) -> str:
    """SHA-256 of the source of skyqa modules ``names`` and every skyqa module they
    import (`module_closure`)."""
    root = root or package_root()
    return _digest(module_closure(names, root), root).hexdigest()


def code_digest(*functions: Callable, root: Path | None = None) -> str:
    """SHA-256 of the source of every skyqa module the ``functions`` run
    (`function_closure`), each with its name, and of any function's own module outside
    skyqa: a change in any of them changes the digest, a change elsewhere does not."""
    root = root or package_root()
    digest = _digest((name for f in functions for name in function_closure(f, root)), root)
    for function in functions:
        owner = _unwrapped(function).__module__
        if module_file(owner, root) is None:
            digest.update(inspect.getsource(inspect.getmodule(_unwrapped(function))).encode())  # type: ignore[arg-type]
    return digest.hexdigest()


def source_fingerprint(root: Path | None = None) -> str:
    """SHA-256 of every source file of skyqa (its path and its bytes): equal exactly when
    no module changed, so every `code_digest` of skyqa's own functions is unchanged too."""
    root = root or package_root()
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class RememberedDigests:
    """`code_digest` of skyqa's own functions, remembered in a JSON file between runs
    while skyqa's source is the same byte for byte (`source_fingerprint`): a run that
    finds its results cached reads skyqa's files once instead of parsing the closures.
    A function outside skyqa (a stage of the user's own) is digested each time.
    """

    def __init__(self, path: Path, root: Path | None = None) -> None:
        self.path = path
        self.root = root or package_root()
        self._fingerprint: str | None = None
        self._known: dict[str, str] | None = None
        self._unsaved = False

    def digest(self, *functions: Callable) -> str:
        """`code_digest` of ``functions``, from the file when it holds it."""
        owners = [_unwrapped(function) for function in functions]
        if any(module_file(f.__module__, self.root) is None for f in owners):
            return code_digest(*functions, root=self.root)
        name = " ".join(f"{f.__module__}:{f.__qualname__}" for f in owners)
        return self._remembered(name, lambda: code_digest(*functions, root=self.root))

    def modules(self, *names: str) -> str:
        """`module_digest` of skyqa modules ``names``, from the file when it holds it."""
        name = "modules " + " ".join(names)
        return self._remembered(name, lambda: module_digest(*names, root=self.root))

    def _remembered(self, name: str, compute: Callable[[], str]) -> str:
        known = self._load()
        if name not in known:
            known[name] = compute()
            self._unsaved = True
        return known[name]

    def _load(self) -> dict[str, str]:
        if self._known is None:
            self._fingerprint = source_fingerprint(self.root)
            try:
                stored = json.loads(self.path.read_text())
            except (OSError, ValueError):
                stored = {}
            same = isinstance(stored, dict) and stored.get("source") == self._fingerprint
            self._known = dict(stored.get("digests", {})) if same else {}
        return self._known

    def save(self) -> None:
        """Write the digests computed since the last save (the caller saves once it has
        written something to the cache: a run that fails leaves nothing behind)."""
        if not self._unsaved or self._known is None:
            return
        self._unsaved = False
        record = {"source": self._fingerprint, "digests": self._known}
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(record, indent=1, sort_keys=True))
            partial.replace(self.path)
        except OSError:  # a read-only cache: the digests are computed again next time
            partial.unlink(missing_ok=True)
