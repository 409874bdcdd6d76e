"""Public API: lazy top level, __all__ of every package, one registry for presets."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import equisym
from equisym.errors import EquisymError
from equisym.nn import registry


def test_import_equisym_is_light_and_lazy():
    code = (
        "import sys, equisym\n"
        "assert 'torch' not in sys.modules and 'lightning' not in sys.modules, sorted(sys.modules)\n"
        "for name in equisym.__all__: getattr(equisym, name)\n"
        "heavy = [m for m in ('lightning', 'pytorch_lightning') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print(equisym.__version__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == equisym.__version__


def test_top_level_names():
    assert {"CSGNN", "PET", "Symmetrized", "RotationAveraged", "load_model", "plane_group", "icosahedral_rotations",
            "random_rotation", "build_model", "__version__"} <= set(equisym.__all__)
    assert equisym.PET is importlib.import_module("equisym.nn").PET
    assert equisym.icosahedral_rotations().shape == (60, 3, 3)
    with pytest.raises(AttributeError):
        equisym.not_a_name  # noqa: B018


@pytest.mark.parametrize(
    "package",
    ["equisym.nn", "equisym.nn.symmetrize", "equisym.nn.registry", "equisym.geometry", "equisym.geometry.ecse_frames",
     "equisym.geometry.segments", "equisym.testing", "equisym.testing.conformance", "equisym.testing.model_specs",
     "equisym.integrations", "equisym.inference", "equisym.physics"],
)
def test_all_lists_resolvable_names(package):
    module = importlib.import_module(package)
    assert module.__all__, package
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, missing


def test_every_package_has_all_and_a_docstring():
    import ast
    from pathlib import Path

    root = Path(equisym.__file__).parent
    for init in sorted(root.rglob("__init__.py")):
        tree = ast.parse(init.read_text())
        names = {t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                 for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)}
        assert "__all__" in names, f"{init.relative_to(root)} has no __all__"
        assert ast.get_docstring(tree), f"{init.relative_to(root)} has no docstring"


def test_every_registered_model_is_exported_from_nn():
    nn = importlib.import_module("equisym.nn")
    for name in registry.model_names():
        cls = registry.MODELS[name].build
        assert cls.__name__ in nn.__all__ and getattr(nn, cls.__name__) is cls, name
        assert registry.entry_for_class(cls).name == name


def test_one_preset_mechanism():
    nn = importlib.import_module("equisym.nn")
    config = registry.model_config("pet", "tiny", species=[1, 8])
    assert config.d_model == 16 and config.species == [1, 8]
    assert nn.PET.from_preset("tiny", species=[1, 8]).config == config
    model, section = registry.build_model({"name": "pet", "preset": "tiny", "species": [1, 8]})
    assert section["d_model"] == 16 and "preset" not in section
    with pytest.raises(EquisymError, match="unknown preset model.preset = 'huge' for csgnn"):
        nn.CSGNN.from_preset("huge")
    with pytest.raises(EquisymError, match="d_modle"):
        registry.model_config("pet", "tiny", d_modle=3)
    for name in registry.model_names():  # every preset of every model builds a valid config
        for preset in registry.MODELS[name].presets:
            registry.model_config(name, preset)
