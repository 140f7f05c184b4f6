"""The public surface: __all__, docstrings on every public name, stubs in sync."""

import ast
import inspect
from pathlib import Path

import keyswap

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
