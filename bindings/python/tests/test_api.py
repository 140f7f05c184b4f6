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


README = Path(__file__).resolve().parents[1] / "README.md"


def test_env_source_thread_safety_is_documented():
    """EnvSource's docstring, the stub and the README warn about os.environ from threads and
    name the safe ways (set before, refresh from the same thread; a file; CustomSource)."""
    stub = ast.parse(STUB.read_text())
    stub_doc = next(ast.get_docstring(n) for n in stub.body
                    if isinstance(n, ast.ClassDef) and n.name == "EnvSource")
    readme = README.read_text()
    for where, text in [("docstring", keyswap.EnvSource.__doc__), ("stub", stub_doc),
                        ("README", readme)]:
        for needle in ["os.environ", "setenv", "getenv", "thread-safe", "glibc",
                       "refresh()", "same thread", "FileSource", "CustomSource"]:
            assert needle in text, f"{where} lacks {needle!r}"


def test_docs_follow_the_core_rejection_rule():
    """No doc still says 401 and 403 are always credential rejections."""
    stub = STUB.read_text()
    texts = {
        "stub": stub,
        "README": README.read_text(),
        "Response": keyswap.Response.__doc__,
        "raise_for_status": keyswap.Response.raise_for_status.__doc__,
        "CredentialRejectedError": keyswap.CredentialRejectedError.__doc__,
    }
    for where, text in texts.items():
        text = text.replace("retry_on_status=[401, 403]", "")  # the README's advice for 403 APIs
        assert "401, 403" not in text and "401/403" not in text, where
    assert "retry_on_status" in keyswap.CredentialRejectedError.__doc__


def test_stub_documents_the_etiquette_options():
    stub = STUB.read_text()
    assert stub.count("propagation_hold: float = 30.0") == 2
    assert stub.count("probe_interval: float = 0.2") == 2
    assert "probes" in stub and "background_failures" in stub
    readme = README.read_text()
    for needle in ["propagation_hold", "probe_interval", "`probes`", "`background_failures`"]:
        assert needle in readme, needle
