"""The official T2M evaluator loader: tiny files written in the official formats, then loaded back."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from hmu_demo.data.captions import Caption
from hmu_demo.models.evaluators.base import EvaluatorError
from hmu_demo.models.evaluators.nets import MotionEncoderBiGRUCo, MovementConvEncoder, TextEncoderBiGRUCo
from hmu_demo.models.evaluators.t2m_official import (
    CHECKPOINT_PARTS, GLOVE_PARTS, META_PARTS, OfficialT2MEvaluator, build_nets,
)
from hmu_demo.models.evaluators.word_vectorizer import POS_CLASSES, WordVectorizer

FEAT = 263
WORD = 10  # tiny GloVe dimension
WORDS = ["sos", "eos", "unk", "a", "person", "kick", "left", "and", "walk", "forward", "the", "slowly"]

GRU_KEYS = [f"gru.{kind}_{part}_l0{rev}" for rev in ("", "_reverse") for kind in ("weight", "bias")
            for part in ("ih", "hh")]
HEAD_KEYS = [f"output_net.{i}.{p}" for i in (0, 1, 3) for p in ("weight", "bias")]
OFFICIAL_KEYS = {
    "movement_encoder": {"main.0.weight", "main.0.bias", "main.3.weight", "main.3.bias", "out_net.weight",
                         "out_net.bias"},
    "motion_encoder": {"input_emb.weight", "input_emb.bias", *GRU_KEYS, *HEAD_KEYS, "hidden"},
    "text_encoder": {"pos_emb.weight", "pos_emb.bias", "input_emb.weight", "input_emb.bias", *GRU_KEYS,
                     *HEAD_KEYS, "hidden"},
}


def tiny_nets(seed: int = 0) -> tuple[MovementConvEncoder, MotionEncoderBiGRUCo, TextEncoderBiGRUCo]:
    torch.manual_seed(seed)
    return (MovementConvEncoder(FEAT - 4, 16, 8), MotionEncoderBiGRUCo(8, 12, 6),
            TextEncoderBiGRUCo(WORD, len(POS_CLASSES), 12, 6))


def adam_state(net: torch.nn.Module) -> dict:
    """A real optimizer state dict, as the official trainer stores next to the weights."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    sum(p.sum() for p in net.parameters()).backward()
    opt.step()
    return opt.state_dict()


def write_glove(folder: Path, words: list[str] = WORDS, rows: int | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    np.save(folder / "our_vab_data.npy", rng.normal(size=(rows or len(words), WORD)).astype(np.float32))
    (folder / "our_vab_words.pkl").write_bytes(pickle.dumps(list(words)))
    (folder / "our_vab_idx.pkl").write_bytes(pickle.dumps({w: i for i, w in enumerate(words)}))


def write_official(root: Path, nets=None, mean_dim: int = FEAT) -> Path:
    """A folder laid out like the official repositories, with tiny nets."""
    movement, motion, text = nets or tiny_nets()
    ckpt = root.joinpath(*CHECKPOINT_PARTS)
    ckpt.parent.mkdir(parents=True)
    torch.save({"text_encoder": text.state_dict(), "motion_encoder": motion.state_dict(),
                "movement_encoder": movement.state_dict(), "opt_text_encoder": adam_state(text),
                "opt_motion_encoder": adam_state(motion), "epoch": 7, "iter": 1234}, ckpt)
    for net in (movement, motion, text):
        net.zero_grad()
    meta = root.joinpath(*META_PARTS)
    meta.mkdir(parents=True)
    rng = np.random.default_rng(2)
    np.save(meta / "mean.npy", rng.normal(size=mean_dim))
    np.save(meta / "std.npy", rng.uniform(0.5, 2.0, size=mean_dim))
    write_glove(root.joinpath(*GLOVE_PARTS))
    return root


@pytest.fixture
def official(tmp_path) -> tuple[Path, tuple]:
    nets = tiny_nets()
    return write_official(tmp_path / "official", nets), nets


@pytest.fixture
def evaluator(official) -> OfficialT2MEvaluator:
    return OfficialT2MEvaluator.load(official[0])


def motions(lengths, seed: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, FEAT)) for n in lengths]


def caption(tokens: str) -> Caption:
    return Caption(tokens.replace("/", "_"), tuple(tokens.split()))


def one_line_error(call, *match: str) -> str:
    with pytest.raises(EvaluatorError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    for part in match:
        assert part in message, message
    return message


# ------------------------------------------------------------------------------------- loading


def test_nets_use_the_official_key_names():
    for key, net in zip(("movement_encoder", "motion_encoder", "text_encoder"), tiny_nets()):
        assert set(net.state_dict()) == OFFICIAL_KEYS[key]


def test_load_restores_the_saved_weights_and_sizes(official):
    root, nets = official
    ev = OfficialT2MEvaluator.load(root)
    assert ev.name == "t2m-official" and ev.dim == 6 and ev.epoch == 7
    for saved, loaded in zip(nets, (ev.movement_encoder, ev.motion_encoder, ev.text_encoder)):
        assert not loaded.training
        for (k, a), (k2, b) in zip(saved.state_dict().items(), loaded.state_dict().items()):
            assert k == k2 and torch.equal(a, b)
    text = ev.describe()
    assert "Guo et al. 2022" in text and str(root.joinpath(*CHECKPOINT_PARTS)) in text and "\n" not in text


def test_explicit_paths_replace_the_layout(official, tmp_path):
    root, _ = official
    ev = OfficialT2MEvaluator.load(checkpoint=root.joinpath(*CHECKPOINT_PARTS),
                                   meta=root.joinpath(*META_PARTS).parent, glove=root / "glove")
    assert ev.dim == 6
    one_line_error(lambda: OfficialT2MEvaluator.load(checkpoint=root.joinpath(*CHECKPOINT_PARTS)), "glove=")
    other = tmp_path / "glove2"
    write_glove(other, WORDS + ["jump"])
    assert len(OfficialT2MEvaluator.load(root, glove=other).vectorizer) == len(WORDS) + 1


# ---------------------------------------------------------------------------------- embeddings


def test_motion_embeddings_shape_and_batch_independence(evaluator):
    data = motions([40, 230, 23, 4, 101, 196, 199, 9])
    full = evaluator.embed_motions(data)
    assert full.shape == (8, 6) and full.dtype == np.float64
    alone = np.concatenate([evaluator.embed_motions([m]) for m in data])
    evaluator.batch_size = 3
    reversed_ = evaluator.embed_motions(data[::-1])[::-1]
    np.testing.assert_allclose(alone, full, atol=1e-5)
    np.testing.assert_allclose(reversed_, full, atol=1e-5)
    assert evaluator.embed_motions([]).shape == (0, 6)


def test_motion_embedding_by_hand(evaluator):
    (motion,) = motions([50])  # cropped to 48 frames, zero-padded to 196, 12 movement codes
    norm = ((motion[:48] - evaluator.mean) / evaluator.std)[:, :-4]
    padded = torch.zeros(1, 196, FEAT - 4)
    padded[0, :48] = torch.from_numpy(norm).float()
    with torch.no_grad():
        codes = evaluator.movement_encoder(padded)
        expected = evaluator.motion_encoder(codes[:, :12], torch.tensor([12])).double().numpy()
    np.testing.assert_allclose(evaluator.embed_motions([motion]), expected, atol=1e-6)
    np.testing.assert_allclose(evaluator.embed_motions([motion[:48]]), expected, atol=1e-6)


def test_bad_motions_raise_value_error(evaluator):
    for bad in (np.zeros((3, FEAT)), np.zeros((10, 100)), np.full((10, FEAT), np.nan)):
        with pytest.raises(ValueError):
            evaluator.embed_motions([bad])


def test_text_embedding_by_hand_and_batch_independence(evaluator):
    caps = [caption("a/DET person/NOUN kick/VERB left/ADJ"), caption("walk/VERB forward/ADV slowly/ADV"),
            caption(" ".join(["the/DET"] * 30)), caption("zzz/NOUN and/CCONJ")]
    embs = evaluator.embed_texts(caps)
    assert embs.shape == (4, 6) and embs.dtype == np.float64
    words, pos, length = evaluator.vectorizer.encode(caps[0].tokens)
    with torch.no_grad():
        expected = evaluator.text_encoder(torch.from_numpy(words)[None], torch.from_numpy(pos)[None],
                                          torch.tensor([length])).double().numpy()
    np.testing.assert_allclose(embs[:1], expected, atol=1e-6)
    evaluator.batch_size = 3
    np.testing.assert_allclose(evaluator.embed_texts(caps[::-1])[::-1], embs, atol=1e-5)
    one_line_error(lambda: evaluator.embed_texts([Caption("a person kicks")]), "word/POS tokens")


# ---------------------------------------------------------------------------------- vectorizer


def test_vectorizer_pos_vip_and_unknown_rules(official):
    vec = WordVectorizer.load(official[0] / "glove")
    unk = vec.vectors[WORDS.index("unk")]
    cases = {"kick/VERB": "Act_VIP", "left/ADJ": "Loc_VIP", "walk/NOUN": "Act_VIP", "slowly/ADV": "Desc_VIP",
             "person/NOUN": "NOUN", "a/DET": "DET", "and/CCONJ": "OTHER", "zzz/NOUN": "OTHER", "the/XYZ": "OTHER"}
    for token, expected in cases.items():
        vector, onehot = vec.lookup(token)
        assert vec.pos_class(token) == expected, token
        assert onehot.sum() == 1 and onehot[POS_CLASSES.index(expected)] == 1, token
        word = token.split("/")[0]
        np.testing.assert_array_equal(vector, unk if word == "zzz" else vec.vectors[WORDS.index(word)])


def test_sentence_padding_and_truncation(official):
    vec = WordVectorizer.load(official[0] / "glove")
    words, pos, length = vec.encode(["person/NOUN", "kick/VERB", "left/ADJ"])
    assert words.shape == (22, WORD) and pos.shape == (22, 15) and length == 5
    rows = ["sos", "person", "kick", "left", "eos"] + ["unk"] * 17
    np.testing.assert_array_equal(words, vec.vectors[[WORDS.index(w) for w in rows]])
    assert [POS_CLASSES[i] for i in pos.argmax(1)] == ["OTHER", "NOUN", "Act_VIP", "Loc_VIP"] + ["OTHER"] * 18
    long = [f"{w}/NOUN" for w in WORDS[3:]] * 3  # 27 tokens -> first 20 kept
    words, pos, length = vec.encode(long)
    assert length == 22 and words.shape == (22, WORD)
    np.testing.assert_array_equal(words[20], vec.vectors[WORDS.index(long[19].split("/")[0])])
    np.testing.assert_array_equal(words[21], vec.vectors[WORDS.index("eos")])


# ----------------------------------------------------------------------------------- bad files


class Exploit:
    """Unpickling this would run a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_missing_and_malformed_checkpoints(official):
    root, nets = official
    ckpt = root.joinpath(*CHECKPOINT_PARTS)
    state = {k: n.state_dict() for k, n in zip(("movement_encoder", "motion_encoder", "text_encoder"), nets)}

    def load():
        return OfficialT2MEvaluator.load(root)

    ckpt.rename(ckpt.with_suffix(".bak"))
    one_line_error(load, str(ckpt), "does not exist")
    ckpt.with_suffix(".bak").rename(ckpt)

    ckpt.write_bytes(ckpt.read_bytes()[:5000])
    one_line_error(load, str(ckpt), "cannot read")

    torch.save([1, 2, 3], ckpt)
    one_line_error(load, "not a dict")

    torch.save({"motion_encoder": state["motion_encoder"], "movement_encoder": state["movement_encoder"]}, ckpt)
    one_line_error(load, "lacks the entries text_encoder")

    renamed = dict(state["text_encoder"])
    renamed["gru.weight_ih"] = renamed.pop("gru.weight_ih_l0")
    torch.save({**state, "text_encoder": renamed}, ckpt)
    one_line_error(load, str(ckpt), "'text_encoder'", "missing 'gru.weight_ih_l0'", "unexpected 'gru.weight_ih'")

    wider = MotionEncoderBiGRUCo(9, 12, 6).state_dict()  # takes 9-d codes, the movement encoder gives 8
    torch.save({**state, "motion_encoder": wider}, ckpt)
    one_line_error(load, "9-d inputs")


def test_mean_std_shape_must_match_the_movement_encoder(tmp_path):
    root = write_official(tmp_path / "o", mean_dim=FEAT - 1)
    one_line_error(lambda: OfficialT2MEvaluator.load(root), "mean/std", f"({FEAT},)")


def test_bad_glove_files(official, tmp_path):
    root, _ = official
    write_glove(tmp_path / "rows", rows=len(WORDS) + 1)
    one_line_error(lambda: OfficialT2MEvaluator.load(root, glove=tmp_path / "rows"), "vector rows")
    write_glove(tmp_path / "nosos", [w for w in WORDS if w != "sos"])
    one_line_error(lambda: OfficialT2MEvaluator.load(root, glove=tmp_path / "nosos"), "sos")
    (tmp_path / "nosos" / "our_vab_idx.pkl").unlink()
    one_line_error(lambda: WordVectorizer.load(tmp_path / "nosos"), "our_vab_idx.pkl", "missing")


def test_malicious_pickles_are_refused(official, tmp_path):
    root, _ = official
    marker = tmp_path / "pwned"
    (root / "glove" / "our_vab_words.pkl").write_bytes(pickle.dumps(Exploit(marker)))
    one_line_error(lambda: WordVectorizer.load(root / "glove"), "refusing", "our_vab_words.pkl")
    torch.save({"text_encoder": Exploit(marker)}, root.joinpath(*CHECKPOINT_PARTS))
    one_line_error(lambda: OfficialT2MEvaluator.load(root), "refusing")
    assert not marker.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(official):
    one_line_error(lambda: OfficialT2MEvaluator.load(official[0], device="cuda"), "CUDA is not available")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(official):
    data, caps = motions([40, 120]), [caption("a/DET person/NOUN kick/VERB")]
    cpu = OfficialT2MEvaluator.load(official[0])
    gpu = OfficialT2MEvaluator.load(official[0], device="cuda")
    np.testing.assert_allclose(gpu.embed_motions(data), cpu.embed_motions(data), atol=1e-4)
    np.testing.assert_allclose(gpu.embed_texts(caps), cpu.embed_texts(caps), atol=1e-4)


# ------------------------------------------------------------------------------ official sizes


def test_official_sizes_are_inferred_from_full_size_state_dicts():
    movement, motion, text = MovementConvEncoder(), MotionEncoderBiGRUCo(), TextEncoderBiGRUCo()
    states = {"movement_encoder": movement.state_dict(), "motion_encoder": motion.state_dict(),
              "text_encoder": text.state_dict()}
    assert [len(states[k]) for k in ("text_encoder", "motion_encoder", "movement_encoder")] == [19, 17, 6]
    for key, values in (("text_encoder", 4.10e6), ("motion_encoder", 15.75e6), ("movement_encoder", 1.84e6)):
        assert set(states[key]) == OFFICIAL_KEYS[key]
        assert sum(t.numel() for t in states[key].values()) == pytest.approx(values, rel=0.01)
    assert states["motion_encoder"]["gru.weight_ih_l0"].shape == (3072, 1024)
    assert states["text_encoder"]["gru.weight_ih_l0"].shape == (1536, 512)
    assert states["movement_encoder"]["main.0.weight"].shape == (512, 259, 4)
    built = build_nets(states, "full-size")
    assert built[0].main[0].in_channels == 259 and built[1].gru.hidden_size == 1024
    assert built[2].pos_emb.in_features == 15 and built[2].output_net[-1].out_features == 512
    assert torch.equal(built[1].hidden, motion.hidden)
