"""The worker writes the bytecode cache of its workflow modules: the sandbox imports them again for
every workflow run, and with no cache (PYTHONDONTWRITEBYTECODE) each import would compile the source."""

import errno
import importlib
import importlib.machinery
import py_compile
import sys

import pytest

from services.workflow.worker import cache_bytecode


@pytest.fixture
def workflow_module(tmp_path, monkeypatch):
    source = tmp_path / "some_workflows.py"
    source.write_text("class SomeWorkflow:\n    pass\n")
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # as PYTHONDONTWRITEBYTECODE=1 does
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("some_workflows")
    sys.modules.pop("some_workflows", None)


def loads_without_compiling(module) -> bool:
    """What the sandbox's import does: True when the source need not be compiled again."""
    loader = importlib.machinery.SourceFileLoader(module.__name__, module.__file__)

    def compile_again(*_):
        raise AssertionError("compiled from source")

    loader.source_to_code = compile_again
    try:
        loader.get_code(module.__name__)
        return True
    except AssertionError:
        return False


def test_the_workflow_module_is_compiled_once_at_start(workflow_module):
    assert not loads_without_compiling(workflow_module)  # no cache was written on import
    cache_bytecode([workflow_module.SomeWorkflow])
    assert loads_without_compiling(workflow_module)


def test_a_read_only_install_still_starts(workflow_module, monkeypatch):
    def read_only(*_, **__):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(py_compile, "compile", read_only)
    cache_bytecode([workflow_module.SomeWorkflow])  # no error: the worker starts without the cache
    assert not loads_without_compiling(workflow_module)
