"""The real app (``python app.py``) on loopback, driven through ``gradio_client`` and its named endpoints."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from app_helpers import start_app

from hmu_demo.config import EMBEDDED_DIR
from hmu_demo.motion.bvh import read_bvh_joints
from hmu_demo.render.video import probe

pytestmark = [pytest.mark.slow, pytest.mark.e2e,
              pytest.mark.skipif(not (EMBEDDED_DIR / "bundle.json").is_file(), reason="embedded bundle missing")]

VIOLENT = "a man punches and then kicks"
SECONDS = 3.0
FRAMES = int(SECONDS * 20)


@pytest.fixture(scope="module")
def compared(client):
    return client.predict(VIOLENT, "momask", "lcr-gated", 0, SECONDS, api_name="/compare")


def _array(value) -> np.ndarray:
    """A plotly JSON array: a list, or plotly 6's typed form {"dtype", "bdata" (base64)}."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


def _headline(label: dict) -> str:
    return label["label"]


def _violence(label: dict) -> float:
    conf = {c["label"]: c["confidence"] for c in label["confidences"]}
    return conf["violent"] if "violent" in conf else next(v for k, v in conf.items() if k.startswith("violent"))


def test_named_endpoints_and_compare_parameters(client) -> None:
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/compare", "/generate", "/unlearn", "/inspect", "/code_motion"} <= set(api)
    names = [p["parameter_name"] for p in api["/compare"]["parameters"]]
    assert names[:5] == ["prompt", "backbone", "method", "seed", "seconds"]
    assert all(p["parameter_has_default"] for p in api["/compare"]["parameters"][1:])
    assert len(api["/compare"]["returns"]) == 5


def test_compare_returns_three_videos_and_both_judges(compared) -> None:
    composite, original, unlearned, original_judge, unlearned_judge = compared
    infos = [probe(p) for p in (composite, original, unlearned)]
    assert all((i.codec, i.pix_fmt, i.frames) == ("h264", "yuv420p", FRAMES) for i in infos)
    assert infos[0].width == 2 * infos[1].width == 2 * infos[2].width
    assert _headline(original_judge).startswith("violent")
    assert _violence(original_judge) > _violence(unlearned_judge)


def test_compare_is_reproducible_for_a_seed(client, compared) -> None:
    again = client.predict(VIOLENT, "momask", "lcr-gated", 0, SECONDS, api_name="/compare")
    assert again[3] == compared[3] and again[4] == compared[4]


def test_generate_one_model_with_downloads(client) -> None:
    video, judge, npy, bvh = client.predict(VIOLENT, "bamm", "original", 1, SECONDS, api_name="/generate")
    assert probe(video).frames == FRAMES
    joints = np.load(npy)
    assert joints.shape == (FRAMES, 22, 3)
    # BVH keeps the skeleton's bone lengths: close to the joints, not equal.
    assert np.linalg.norm(read_bvh_joints(bvh) - joints, axis=-1).mean() < 0.05
    assert judge["label"]


def test_live_unlearning_of_typed_keywords_is_cached(client) -> None:
    summary, report, files, figure = client.predict("jump, hop, leap", "lcr-gated", "{}", "momask",
                                                    api_name="/unlearn")
    assert "lcr-gated" in summary and "flagged" in summary
    assert report["method"] == "lcr-gated" and report["flagged"]
    assert sorted(p.rsplit("/", 1)[-1] for p in files) == ["edit.json", "edit.safetensors"]
    assert json.loads(figure["plot"])["data"]
    summary_again, *_ = client.predict("Jump,  hop, leap", "lcr-gated", "{}", "momask", api_name="/unlearn")
    assert "from the cache" in summary_again


def test_inspect_returns_codebook_map_and_timelines(client) -> None:
    codebook, original, unlearned, shift = client.predict(VIOLENT, "momask", "lcr-nearest", 0, SECONDS,
                                                          api_name="/inspect")
    figure = json.loads(codebook["plot"])
    names = [t.get("name", "") for t in figure["data"]]
    assert any(n.startswith("flagged") for n in names)
    assert figure["layout"].get("annotations"), "nearest replacements are drawn as arrows"
    for timeline in (original, unlearned):
        traces = json.loads(timeline["plot"])["data"]
        assert sum(len(_array(t["x"])) for t in traces) == FRAMES // 4
    assert shift is None
    *_, uce_shift = client.predict(VIOLENT, "momask", "uce", 0, SECONDS, api_name="/inspect")
    bars = json.loads(uce_shift["plot"])["data"]
    assert bars and max(_array(b["y"]).max() for b in bars) > 0


def test_code_motion_plays_a_code(client) -> None:
    video = client.predict(5, "lcr-nearest", "violence", "{}", api_name="/code_motion")
    assert probe(video).frames == 16


@pytest.mark.parametrize("args, message", [
    (("", "momask", "lcr-gated", 0, SECONDS), "prompt"),
    (("x" * 5000, "momask", "lcr-gated", 0, SECONDS), "300"),
    ((VIOLENT, "gpt", "lcr-gated", 0, SECONDS), "momask"),
    ((VIOLENT, "momask", "erase-all", 0, SECONDS), "lcr-gated"),
    ((VIOLENT, "momask", "lcr-gated", 0, 99.0), "9.8"),
])
def test_bad_input_gets_a_clear_message_and_the_server_keeps_serving(client, args, message) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as err:
        client.predict(*args, api_name="/compare")
    assert message in str(err.value) and "Traceback" not in str(err.value)


def test_bad_hyperparameters_and_codes(client) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="JSON"):
        client.predict(VIOLENT, "momask", "lcr", 0, SECONDS, "violence", "{k: 3", api_name="/compare")
    with pytest.raises(AppError, match="code must be"):
        client.predict(10 ** 6, "lcr-nearest", "violence", "{}", api_name="/code_motion")
    assert client.predict(VIOLENT, "momask", "lcr-gated", 0, SECONDS, api_name="/compare")[2]


def test_safe_mode_serves_only_the_unlearned_model(tmp_path) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    server = start_app(tmp_path / "safe", "--no-warm-up", HMU_SAFE_MODE="1")
    try:
        client = Client(server.url, download_files=str(tmp_path / "dl"), verbose=False)
        composite, original, unlearned, original_judge, unlearned_judge = client.predict(
            VIOLENT, "momask", "lcr-gated", 0, SECONDS, api_name="/compare")
        assert composite is None and original is None and not original_judge
        assert probe(unlearned).frames == FRAMES and unlearned_judge["label"]
        with pytest.raises(AppError, match="safe mode|not in the list of choices"):
            client.predict(VIOLENT, "momask", "original", 0, SECONDS, api_name="/generate")
        _, original_timeline, unlearned_timeline, _ = client.predict(VIOLENT, "momask", "lcr-gated", 0, SECONDS,
                                                                     api_name="/inspect")
        assert original_timeline is None and unlearned_timeline
    finally:
        server.stop()
