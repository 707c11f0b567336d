"""The package face: what other packages may import from ``models``, and that it is cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

import models


@pytest.mark.parametrize("name", models.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(models, name) is not None
    assert name in dir(models)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = models.nothing_here


def test_importing_the_package_imports_no_heavy_dependency() -> None:
    """The worker and `triage --help` import models; torch alone takes seconds to import."""
    code = (
        "import sys, models; "
        "print(sorted(m for m in ('torch', 'sklearn', 'pydantic', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_a_submodule_is_still_importable_from_the_package() -> None:
    from models import onnx

    assert onnx.ONNX_DIR == "onnx"
