"""A corpus of bad and hostile inputs through the public API (``gradio_client``) and the CLIs.

Each input either works (odd but valid: other scripts, emoji, a float seed) or is refused with a
clear one-line message: never a traceback, never an "internal error". After the whole corpus the
server still serves, and a result made before it is still there.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hmu_demo.config import EMBEDDED_DIR

pytestmark = pytest.mark.skipif(not (EMBEDDED_DIR / "bundle.json").is_file(), reason="embedded bundle missing")

V = "a man kicks the door"
S = 2.0
OK = None  # the input is odd but valid: the call must succeed

# (endpoint, arguments, expected message fragment or OK)
API_CORPUS: list[tuple[str, tuple, str | None]] = [
    # prompts
    ("/compare", ("", "momask", "lcr-gated", 0, S), "prompt is empty"),
    ("/compare", ("   \n\t  ", "momask", "lcr-gated", 0, S), "prompt is empty"),
    ("/compare", ("\x00\x01\x07\x1b[31m", "momask", "lcr-gated", 0, S), OK),  # control chars become spaces
    ("/compare", ("\x00\x01\x07", "momask", "lcr-gated", 0, S), "prompt is empty"),
    ("/compare", ("\u200b\u200d\u2060\ufeff", "momask", "lcr-gated", 0, S), "prompt is empty"),
    ("/compare", ("x" * 100_000, "momask", "lcr-gated", 0, S), "at most 300"),
    ("/compare", ("kick " * 61, "momask", "lcr-gated", 0, S), "at most 300"),
    ("/compare", ("a" + "\u0301" * 400, "momask", "lcr-gated", 0, S), "at most 300"),
    ("/compare", ("\u202eskcik nam a\u202c", "momask", "lcr-gated", 0, S), OK),  # right-to-left override
    ("/compare", ("شخص يركل الباب", "momask", "lcr-gated", 0, S), OK),
    ("/compare", ("一个人踢门", "momask", "lcr-gated", 0, S), OK),
    ("/compare", ("ein Mann tritt gegen die Tür", "momask", "lcr-gated", 0, S), OK),
    ("/compare", ("🥊👊🦵", "momask", "lcr-gated", 0, S), OK),
    ("/compare", ("<script>alert(1)</script> a man kicks", "momask", "lcr-gated", 0, S), OK),
    ("/compare", ("'; DROP TABLE motions; --", "momask", "lcr-gated", 0, S), OK),
    ("/compare", ("../../../../etc/passwd", "momask", "lcr-gated", 0, S), OK),
    ("/compare", (None, "momask", "lcr-gated", 0, S), "prompt must be text"),
    # lengths
    ("/compare", (V, "momask", "lcr-gated", 0, -1.0), "less than minimum"),
    ("/compare", (V, "momask", "lcr-gated", 0, 1e9), "greater than maximum"),
    ("/compare", (V, "momask", "lcr-gated", 0, 9.81), "greater than maximum"),
    ("/compare", (V, "momask", "lcr-gated", 0, 0.01), "from 0.2 to 9.8 seconds"),
    ("/compare", (V, "momask", "lcr-gated", 0, "NaN"), "slider"),
    ("/compare", (V, "momask", "lcr-gated", 0, "abc"), "slider"),
    ("/compare", (V, "momask", "lcr-gated", 0, [1, 2]), "slider"),
    # seeds
    ("/compare", (V, "momask", "lcr-gated", -1, S), "less than minimum"),
    ("/compare", (V, "momask", "lcr-gated", 1e30, S), "seed must be a whole number"),
    ("/compare", (V, "momask", "lcr-gated", 2 ** 63, S), "seed must be a whole number"),
    ("/compare", (V, "momask", "lcr-gated", "seven", S), "number"),
    ("/compare", (V, "momask", "lcr-gated", 3.5, S), OK),  # the seed box rounds
    # backbones and methods
    ("/compare", (V, "gpt", "lcr-gated", 0, S), "not in the list of choices"),
    ("/compare", (V, "", "lcr-gated", 0, S), "not in the list of choices"),
    ("/compare", (V, 5, "lcr-gated", 0, S), "not in the list of choices"),
    ("/compare", (V, None, "lcr-gated", 0, S), "unknown backbone"),
    ("/compare", (V, "momask", "erase-everything", 0, S), "not in the list of choices"),
    ("/compare", (V, "momask", "ORIGINAL", 0, S), "not in the list of choices"),
    ("/compare", (V, "momask", None, 0, S), "unknown method"),
    # hyperparameters
    ("/compare", (V, "momask", "lcr", 0, S, "violence", "{k: 3"), "not valid JSON"),
    ("/compare", (V, "momask", "lcr", 0, S, "violence", "[]"), "JSON object"),
    ("/compare", (V, "momask", "lcr", 0, S, "violence", "null"), "JSON object"),
    ("/compare", (V, "momask", "lcr", 0, S, "violence", '"k=3"'), "JSON object"),
    ("/compare", (V, "momask", "lcr", 0, S, "violence", '{"k": -5}'), "k must be"),
    ("/compare", (V, "momask", "lcr", 0, S, "violence", '{"k": 1e9}'), "k must be"),
    ("/compare", (V, "momask", "lcr", 0, S, "violence", '{"k": NaN}'), "k must be"),
    ("/compare", (V, "momask", "lcr", 0, S, "violence", '{"alpha": "x"}'), "alpha must be a number"),
    ("/compare", (V, "momask", "lcr", 0, S, "violence", '{"alpha": Infinity}'), "alpha"),
    ("/compare", (V, "momask", "lcr", 0, S, "violence", '{"unknown": 1}'), "has no hyperparameter"),
    ("/compare", (V, "momask", "uce", 0, S, "violence", '{"lam": -1}'), "lam must be"),
    ("/compare", (V, "momask", "uce", 0, S, "violence", '{"erase_motions": 10000000}'), "erase_motions"),
    ("/compare", (V, "momask", "rece", 0, S, "violence", '{"epochs": 1000000}'), "epochs"),
    ("/compare", (V, "momask", "lcr-gated", 0, S, "violence", '{"threshold": 2}'), "threshold"),
    ("/compare", (V, "momask", "lcr", 0, S, "violence", json.dumps({"k": [1] * 10_000})), "k must be"),
    # concepts (keywords that match nothing or everything)
    ("/compare", (V, "momask", "lcr-gated", 0, S, "zzzzqqq"), "no training motion"),
    ("/compare", (V, "momask", "lcr-gated", 0, S, ",,, ,"), "concept is empty"),
    ("/compare", (V, "momask", "lcr-gated", 0, S, "a, the, person, man, someone"), "nothing would be left"),
    ("/compare", (V, "momask", "uce", 0, S, "person"), "nothing would be left"),
    ("/unlearn", ("", "lcr-gated", "{}", "momask"), "concept is empty"),
    ("/unlearn", ("zzzzqqq", "lcr", "{}", "momask"), "no training motion"),
    ("/unlearn", ("a, the, person, man, someone", "lcr", "{}", "momask"), "nothing would be left"),
    ("/unlearn", ("x" * 100_000, "uce", "{}", "momask"), "concept"),
    ("/unlearn", ("jump, hop, leap", "lcr-gated", "{", "momask"), "not valid JSON"),
    ("/unlearn", ("jump, hop, leap", "lcr-gated", "{}", "gpt"), "not in the list of choices"),
    # codes
    ("/code_motion", (-1, "lcr-nearest", "violence", "{}"), "less than minimum"),
    ("/code_motion", (10 ** 6, "lcr-nearest", "violence", "{}"), "code must be"),
    ("/code_motion", ("x", "lcr-nearest", "violence", "{}"), "number"),
    ("/code_motion", (None, "lcr-nearest", "violence", "{}"), "code must be"),
    # single-model generation
    ("/generate", (V, "momask", "not-a-model", 0, S), "not in the list of choices"),
    ("/generate", ("", "bamm", "original", 0, S), "prompt is empty"),
    ("/inspect", ("", "momask", "lcr-gated", 0, S), "prompt is empty"),
]


@pytest.mark.slow
@pytest.mark.e2e
def test_bad_api_input_is_refused_clearly_and_nothing_is_lost(app, client) -> None:
    from gradio_client.exceptions import AppError

    before = client.predict(V, "momask", "lcr-gated", 0, S, api_name="/compare")
    made = [Path(p).read_bytes() for p in before[:3]]
    served_before = sorted(p for p in Path(app.log.parent / "outputs").rglob("*.mp4"))
    problems = []
    for endpoint, args, expected in API_CORPUS:
        try:
            client.predict(*args, api_name=endpoint)
            if expected is not None:
                problems.append(f"{endpoint}{args!r:.80}: accepted, expected {expected!r}")
        except AppError as err:
            message = str(err)
            if expected is None:
                problems.append(f"{endpoint}{args!r:.80}: refused ({message[:120]}), expected to work")
            elif expected.lower() not in message.lower() or "Traceback" in message or "internal error" in message:
                problems.append(f"{endpoint}{args!r:.80}: message {message[:160]!r}, expected {expected!r}")
    assert not problems, "\n".join(problems)
    after = client.predict(V, "momask", "lcr-gated", 0, S, api_name="/compare")
    assert after[3] == before[3] and after[4] == before[4], "same seed, same judges after the corpus"
    assert [Path(p).read_bytes() for p in before[:3]] == made, "earlier downloads are untouched"
    assert all(p.is_file() for p in served_before), "earlier results on the server are still there"
    assert app.proc.poll() is None


# (CLI module, argv, expected exit code, stderr fragment)
def _cli_corpus(tmp: Path) -> list[tuple[str, list[str], int, str]]:
    joints = tmp / "walk.npy"
    np.save(joints, np.zeros((8, 22, 3), np.float32))
    bad_shape, text, pickled = tmp / "bad_shape.npy", tmp / "text.npy", tmp / "pickled.npy"
    np.save(bad_shape, np.zeros((8, 21, 3)))
    text.write_text("not a numpy file")
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    out = str(tmp / "out")
    return [
        ("generate", ["", "--out", out], 2, "prompt"),
        ("generate", ["x" * 100_000, "--out", out], 2, "prompt"),
        ("generate", [V, "--out", out, "--seconds", "-1"], 2, "length"),
        ("generate", [V, "--out", out, "--seconds", "nan"], 2, "length"),
        ("generate", [V, "--out", out, "--seconds", "1e9"], 2, "length"),
        ("generate", [V, "--out", out, "--steps", "0"], 2, "steps"),
        ("generate", [V, "--out", out, "--steps", "100000"], 2, "steps"),
        ("generate", [V, "--out", out, "--batch-size", "0"], 2, "batch-size"),
        ("generate", [V, "--out", out, "--batch-size", "100000"], 2, "batch-size"),
        ("generate", [V, "--out", out, "--edit", str(tmp / "missing-edit")], 2, "edit"),
        ("generate", [V, "--out", out, "--bundle", str(tmp / "missing-bundle")], 2, "bundle"),
        ("unlearn", ["--method", "lcr", "--forget", "zzzzqqq", "--out", out], 2, "zzzzqqq"),
        ("unlearn", ["--method", "lcr", "--k", "-3", "--out", out], 2, "k must be"),
        ("unlearn", ["--method", "uce", "--lam", "nan", "--out", out], 2, "lam"),
        ("unlearn", ["--method", "lcr", "--hp", "alpha", "--out", out], 2, "NAME=VALUE"),
        ("unlearn", ["--method", "lcr", "--concept", "no-such-concept", "--out", out], 2, "concept"),
        ("unlearn", ["--method", "lcr-gated", "--threshold", "5", "--out", out], 2, "threshold"),
        ("render", [str(tmp / "missing.npy"), "--out", str(tmp / "x.mp4")], 2, "missing.npy"),
        ("render", [str(bad_shape), "--out", str(tmp / "x.mp4")], 2, "22"),
        ("render", [str(text), "--out", str(tmp / "x.mp4")], 2, "text.npy"),
        ("render", [str(pickled), "--out", str(tmp / "x.mp4")], 2, "pickled.npy"),
        ("render", [str(joints), "--out", str(tmp / "x.mp4"), "--size", "8"], 2, "size"),
        ("render", [str(joints), "--out", str(tmp / "x.mp4"), "--fps", "0"], 2, "fps"),
    ]


def _cli_main(name: str):
    if name == "generate":
        from hmu_demo.generate import main
    elif name == "unlearn":
        from hmu_demo.unlearn import main
    else:
        from hmu_demo.render.__main__ import main
    return main


def test_bad_cli_input_is_one_line_and_exit_2(tmp_path, capsys) -> None:
    corpus = _cli_corpus(tmp_path)
    assert len(API_CORPUS) + len(corpus) >= 60
    problems = []
    for name, argv, code, fragment in corpus:
        try:
            got = _cli_main(name)(argv)
        except SystemExit as exit_:  # argparse refuses before the tool runs
            got = exit_.code
        err = capsys.readouterr().err.strip()
        if got != code or fragment.lower() not in err.lower() or "Traceback" in err or len(err.splitlines()) > 3:
            problems.append(f"{name} {argv!r:.100}: exit {got}, stderr {err[-200:]!r}")
    assert not problems, "\n".join(problems)
