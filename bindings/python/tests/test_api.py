"""The public surface: __all__, docstrings on every public name, stubs in sync."""

import ast
import inspect
from pathlib import Path

import keyswap
from conftest import FixedAnswer

STUB = Path(keyswap.__file__).with_name("_keyswap.pyi")


def public_names():
    return [n for n in keyswap.__all__ if n != "__version__"]


def test_all_is_complete_and_importable():
    for name in keyswap.__all__:
        assert hasattr(keyswap, name), name
    native = {n for n in dir(keyswap._keyswap) if not n.startswith("_")}
    assert native <= set(keyswap.__all__), native - set(keyswap.__all__)


def test_every_public_name_has_a_docstring():
    missing = []
    for name in public_names():
        obj = getattr(keyswap, name)
        if not (obj.__doc__ or "").strip():
            missing.append(name)
        if not inspect.isclass(obj) or issubclass(obj, BaseException):
            continue
        for attr, member in vars(obj).items():
            if attr.startswith("_"):
                continue
            if not (getattr(member, "__doc__", None) or "").strip():
                missing.append(f"{name}.{attr}")
    assert missing == []


def test_stub_declares_every_public_name():
    tree = ast.parse(STUB.read_text())
    declared = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    declared |= {t.id for n in tree.body if isinstance(n, ast.AnnAssign) for t in [n.target]}
    assert set(keyswap.__all__) - declared == set()


def _stub_init_defaults(cls_name: str) -> dict:
    """The defaults the stub declares for ``cls_name.__init__``'s parameters."""
    tree = ast.parse(STUB.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls_name)
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    args = init.args
    named = args.args[-len(args.defaults):] if args.defaults else []
    pairs = list(zip(named, args.defaults)) + list(zip(args.kwonlyargs, args.kw_defaults))
    return {a.arg: ast.literal_eval(d) for a, d in pairs
            if d is not None and isinstance(d, ast.Constant)}


def test_stub_defaults_match_the_runtime_signatures():
    """The defaults an IDE shows (the stub) are the ones the constructors apply."""
    for cls in (keyswap.Client, keyswap.AsyncClient):
        real = {name: p.default for name, p in inspect.signature(cls).parameters.items()
                if p.default is not inspect.Parameter.empty}
        declared = _stub_init_defaults(cls.__name__)
        shared = set(real) & set(declared)
        assert {"propagation_hold", "probe_interval", "sync_clock"} <= shared, shared
        assert {n: declared[n] for n in shared} == {n: real[n] for n in shared}, cls


def _stub_methods():
    """(class name, method name, parameter names) of every method the stub declares."""
    tree = ast.parse(STUB.read_text())
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
            if any(isinstance(d, ast.Name) and d.id == "property" for d in fn.decorator_list):
                continue
            a = fn.args
            names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
            names += [f"*{a.vararg.arg}"] if a.vararg else []
            names += [f"**{a.kwarg.arg}"] if a.kwarg else []
            yield cls.name, fn.name, [n for n in names if n not in ("self", "cls")]


def _runtime_params(func) -> list:
    kinds = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}
    params = inspect.signature(func).parameters.values()
    return [kinds.get(p.kind, "") + p.name for p in params if p.name not in ("self", "cls")]


def test_stub_methods_take_the_runtime_parameters():
    """Every method the stub declares exists, with the parameters the extension takes (what an
    IDE offers is what runs)."""
    checked, wrong = 0, []
    for cls_name, name, declared in _stub_methods():
        cls = getattr(keyswap, cls_name, None)
        if cls is None or (name.startswith("__") and name != "__init__"):
            continue
        func = cls if name == "__init__" else getattr(cls, name, None)
        if func is None:
            wrong.append(f"{cls_name}.{name}: not in the extension")
            continue
        try:
            real = _runtime_params(func)
        except (TypeError, ValueError):
            continue  # no signature to compare (a builtin without one)
        checked += 1
        if sorted(real) != sorted(declared):
            wrong.append(f"{cls_name}.{name}: stub {declared}, extension {real}")
    assert wrong == []
    assert checked > 50, checked


def test_a_403_is_a_credential_rejection_only_when_configured():
    """The core decides what a rejection is: 401 by default, 403 only with retry_on_status."""
    forbidden = FixedAnswer(403)
    url = forbidden.url
    try:
        for statuses, rejected in [(None, False), ([401, 403], True)]:
            with keyswap.Client(source=keyswap.FixedSource("k1"), base_url=url,
                                retry_on_status=statuses, await_rotation=0) as c:
                r = c.get("/x")
                assert r.status_code == 403
                try:
                    r.raise_for_status()
                except keyswap.CredentialRejectedError:
                    assert rejected, "403 counted as a rejection without retry_on_status"
                except keyswap.HTTPStatusError:
                    assert not rejected, "403 not counted as a rejection with retry_on_status"
                assert c.stats()["auth_failures"] == (1 if rejected else 0)
    finally:
        forbidden.close()
