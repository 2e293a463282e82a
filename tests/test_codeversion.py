"""The code digest of a CLI group follows its imports, and changes with any module it runs."""

from __future__ import annotations

from semspace import codeversion


def test_closure_follows_lazy_imports() -> None:
    closure = codeversion.module_closure("semspace.cli.imagespace")
    # cli/imagespace.py imports these inside its command functions.
    assert "semspace.experiments.setdist" in closure
    assert "semspace.experiments.mds" in closure
    assert "semspace.cli.vwsd" not in closure


def test_digest_changes_with_a_module_the_group_runs(tmp_path, monkeypatch) -> None:
    package = tmp_path / "semspace"
    (package / "cli").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "cli" / "__init__.py").write_text("")
    (package / "cli" / "a.py").write_text("def f():\n    from semspace import lib\n")
    (package / "cli" / "b.py").write_text("x = 1\n")
    (package / "lib.py").write_text("y = 1\n")
    monkeypatch.setattr(codeversion, "PACKAGE_DIR", package)
    codeversion.module_closure.cache_clear()
    before_a, before_b = codeversion.code_digest("a"), codeversion.code_digest("b")
    (package / "lib.py").write_text("y = 2\n")
    codeversion.module_closure.cache_clear()
    assert codeversion.code_digest("a") != before_a
    assert codeversion.code_digest("b") == before_b
    codeversion.module_closure.cache_clear()
