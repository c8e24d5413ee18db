"""App start-up choices that need no server: the body it renders on, its output folder, Spaces."""

from __future__ import annotations

import numpy as np

from hmu_demo.ui.server import APP_RENDER, OUTPUT_ENV, app_render, output_folder, use_spaces_gpu


def test_app_renders_on_smpl_only_when_its_files_are_installed(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HMU_SMPL_DIR", str(tmp_path))
    assert app_render() == APP_RENDER and APP_RENDER.body == "default"
    np.savez(tmp_path / "SMPL_NEUTRAL.npz", v_template=np.zeros((3, 3)))
    smpl = app_render()
    assert smpl.body == "smpl" and (smpl.width, smpl.preset) == (APP_RENDER.width, APP_RENDER.preset)


def test_output_folder_from_the_environment_or_the_services_own(tmp_path, monkeypatch) -> None:
    from hmu_demo.ui.service import ServiceConfig, StudioService

    monkeypatch.setenv(OUTPUT_ENV, str(tmp_path / "served"))
    assert output_folder() == (tmp_path / "served").resolve() and (tmp_path / "served").is_dir()
    monkeypatch.delenv(OUTPUT_ENV)
    assert output_folder() is None
    service = StudioService(ServiceConfig(output_dir=output_folder()), safe_mode=False)
    own = service.output_dir
    assert own.is_dir() and service.output_dir == own
    service.close()
    assert not own.exists(), "the service's temporary output folder goes when the app stops"


def test_spaces_gpu_wrapping_only_with_the_package(monkeypatch) -> None:
    import sys
    import types

    class Handlers:
        def compare_result(self): return "c"
        def generate(self): return "g"
        def unlearn(self): return "u"
        def inspect(self): return "i"
        def code_motion(self): return "m"
        def redteam(self): return "r"

    monkeypatch.setitem(sys.modules, "spaces", None)  # import fails: not on Spaces
    assert use_spaces_gpu(Handlers()) is False
    wrapped = []
    fake = types.ModuleType("spaces")
    fake.GPU = lambda fn: wrapped.append(fn.__name__) or fn
    monkeypatch.setitem(sys.modules, "spaces", fake)
    handlers = Handlers()
    assert use_spaces_gpu(handlers) is True
    assert sorted(wrapped) == sorted(["compare_result", "generate", "unlearn", "inspect", "code_motion", "redteam"])
    assert handlers.generate() == "g"
