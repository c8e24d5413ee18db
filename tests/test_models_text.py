"""Text encoders: the real bundled MiniLM, and the CLIP loading path on a tiny random CLIP."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from hmu_demo.models.text import (
    CLIP_HF_REPO,
    ClipTextEncoder,
    MiniLMEncoder,
    MissingWeightsError,
    TextEncoder,
    text_encoder,
)

WALK = "a person walks forward and waves with the right hand"
PARAPHRASE = "someone strolls ahead waving their right arm"
UNRELATED = "a man jumps up and down twice"
PROMPTS = ["a man walks.", "a person kicks twice!", "jump", "someone's waving"]


@pytest.fixture(scope="module")
def minilm() -> TextEncoder:
    return text_encoder("minilm", device="cpu")


def test_minilm_shape_norm_and_similarity(minilm: TextEncoder) -> None:
    assert isinstance(minilm, MiniLMEncoder) and minilm.name == "minilm" and minilm.dim == 384
    emb = minilm.encode([WALK, PARAPHRASE, UNRELATED])
    assert emb.shape == (3, 384) and emb.dtype == torch.float32 and emb.device.type == "cpu"
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(3), atol=1e-5, rtol=0)
    paraphrase, unrelated = float(emb[0] @ emb[1]), float(emb[0] @ emb[2])
    assert paraphrase > unrelated + 0.3
    assert paraphrase == pytest.approx(0.698, abs=0.03)  # MiniLM cosine of a paraphrase pair, measured once on this wheel
    assert unrelated == pytest.approx(0.221, abs=0.05)


def test_minilm_deterministic_and_batch_independent(minilm: TextEncoder) -> None:
    first = minilm.encode([WALK, UNRELATED])
    again = minilm.encode([WALK, UNRELATED])
    alone = minilm.encode([UNRELATED])
    assert torch.equal(first, again)
    torch.testing.assert_close(alone[0], first[1], atol=1e-5, rtol=0)
    assert minilm.encode([]).shape == (0, 384)
    assert text_encoder("MiniLM")._load() is minilm._load()  # one model per device, cached


def test_encode_rejects_a_bare_string(minilm: TextEncoder) -> None:
    with pytest.raises(TypeError, match="list of prompts"):
        minilm.encode(WALK)  # type: ignore[arg-type]


def test_unknown_encoder_name_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="clip, minilm"):
        text_encoder("t5")


# ---------------------------------------------------------------- CLIP on a tiny random model


TINY_MERGES = [("a", "n</w>"), ("w", "a")]


def _tiny_vocab() -> dict[str, int]:
    """Every character, every character+'</w>', two merged tokens and CLIP's two special tokens."""
    chars = "abcdefghijklmnopqrstuvwxyz.,!'"
    tokens = list(chars) + [c + "</w>" for c in chars] + [a + b for a, b in TINY_MERGES]
    return {t: i for i, t in enumerate(tokens + ["<|startoftext|>", "<|endoftext|>"])}


def _tiny_tokenizer():
    """A tiny CLIP BPE tokenizer (real BPE code, toy vocabulary)."""
    from transformers import CLIPTokenizer

    return CLIPTokenizer(vocab=_tiny_vocab(), merges=list(TINY_MERGES))


def _save_tokenizer(tokenizer, folder: Path) -> None:
    """tokenizer.json via transformers, plus vocab.json + merges.txt as Hugging Face CLIP repos have."""
    tokenizer.save_pretrained(folder)
    (folder / "vocab.json").write_text(json.dumps(_tiny_vocab()), encoding="utf-8")
    merges = "".join(f"{a} {b}\n" for a, b in TINY_MERGES)
    (folder / "merges.txt").write_text("#version: 0.2\n" + merges, encoding="utf-8")


def _text_config(tokenizer) -> dict:
    return dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=77,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory):
    """(folder, reference model, tokenizer): a random CLIPTextModelWithProjection saved in HF format."""
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    tokenizer = _tiny_tokenizer()
    torch.manual_seed(0)
    model = CLIPTextModelWithProjection(CLIPTextConfig(projection_dim=512, **_text_config(tokenizer))).eval()
    folder = tmp_path_factory.mktemp("clip_text")
    model.save_pretrained(folder)
    _save_tokenizer(tokenizer, folder)
    return folder, model, tokenizer


def _reference(model, tokenizer, texts: list[str]) -> torch.Tensor:
    """transformers' own text_embeds, padded to the full 77-token context as OpenAI CLIP does."""
    batch = tokenizer(texts, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
    with torch.no_grad():
        return model(**batch).text_embeds


def test_clip_matches_transformers(tiny_clip) -> None:
    folder, model, tokenizer = tiny_clip
    enc = text_encoder("clip", device="cpu", weights=folder)
    assert isinstance(enc, ClipTextEncoder) and enc.name == "clip" and enc.dim == 512
    emb = enc.encode(PROMPTS)
    assert emb.shape == (len(PROMPTS), 512) and emb.dtype == torch.float32
    torch.testing.assert_close(emb, _reference(model, tokenizer, PROMPTS), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(emb.norm(dim=1), torch.ones(len(PROMPTS)))  # not normalised, as MoMask
    torch.testing.assert_close(enc.encode(PROMPTS[1:2])[0], emb[1], atol=1e-5, rtol=1e-5)
    assert enc.encode([]).shape == (0, 512)
    assert ClipTextEncoder(torch.device("cpu"), weights=folder)._model is enc._model  # loaded once per device


def test_clip_from_vocab_and_merges_only(tiny_clip, tmp_path: Path) -> None:
    """Older Hugging Face CLIP folders have no tokenizer.json; vocab.json + merges.txt must suffice."""
    folder, model, tokenizer = tiny_clip
    copy = tmp_path / "clip_no_tokenizer_json"
    shutil.copytree(folder, copy)
    (copy / "tokenizer.json").unlink()
    assert (copy / "vocab.json").is_file() and (copy / "merges.txt").is_file()
    assert tokenizer.convert_ids_to_tokens(tokenizer("man")["input_ids"]) == [
        "<|startoftext|>", "m", "an</w>", "<|endoftext|>"]  # the merges are really used
    emb = ClipTextEncoder(weights=copy).encode(PROMPTS)
    torch.testing.assert_close(emb, _reference(model, tokenizer, PROMPTS), atol=1e-5, rtol=1e-5)


def test_clip_from_full_clipmodel_folder_and_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """openai/clip-vit-base-patch32 is a full CLIPModel; it is found in the HF cache, offline."""
    import huggingface_hub.constants
    from transformers import CLIPConfig, CLIPModel

    tokenizer = _tiny_tokenizer()
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                  image_size=32, patch_size=16)
    # the real openai/clip-vit-base-patch32 config keeps legacy ids (bos 0, eos 2, pad 1): transformers
    # then pools at argmax(input_ids), which is the end-of-text token, as OpenAI's encode_text does
    text = dict(_text_config(tokenizer), bos_token_id=0, eos_token_id=2, pad_token_id=1)
    torch.manual_seed(1)
    full = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=512))
    full.eval()
    cache = tmp_path / "hub"
    repo = cache / ("models--" + CLIP_HF_REPO.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / commit
    full.save_pretrained(snapshot)
    _save_tokenizer(tokenizer, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))

    enc = ClipTextEncoder(weights=None)
    assert enc.folder.resolve() == snapshot.resolve()
    batch = tokenizer(PROMPTS, padding="max_length", max_length=77, return_tensors="pt")
    with torch.no_grad():  # OpenAI encode_text: ln_final(x)[eot] @ text_projection, written out by hand
        hidden = full.text_model(**batch).last_hidden_state
        eot = (batch["input_ids"] == tokenizer.eos_token_id).int().argmax(dim=1)
        expected = full.text_projection(hidden[torch.arange(len(PROMPTS)), eot])
    torch.testing.assert_close(enc.encode(PROMPTS), expected, atol=1e-5, rtol=1e-5)

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty_hub"))
    with pytest.raises(MissingWeightsError, match="Hugging Face cache"):
        ClipTextEncoder(weights=None)


def test_clip_missing_folder_and_files_are_named(tiny_clip, tmp_path: Path) -> None:
    absent = tmp_path / "no_such_clip"
    with pytest.raises(MissingWeightsError, match="no_such_clip") as err:
        text_encoder("clip", weights=absent)
    assert "does not exist" in str(err.value) and "Nothing is downloaded" in str(err.value)

    folder, _, _ = tiny_clip
    partial = tmp_path / "partial_clip"
    shutil.copytree(folder, partial)
    (partial / "model.safetensors").unlink()
    with pytest.raises(MissingWeightsError, match="partial_clip") as err:
        ClipTextEncoder(weights=partial)
    assert "model.safetensors" in str(err.value) and "config.json" not in str(err.value).split("Missing:")[1]


def test_clip_unusable_tokenizer_is_refused(tiny_clip, tmp_path: Path) -> None:
    """A vocabulary that cannot spell English would make every prompt the same; refuse it."""
    folder, _, _ = tiny_clip
    broken = tmp_path / "clip_bad_vocab"
    shutil.copytree(folder, broken)
    (broken / "tokenizer.json").unlink()
    (broken / "vocab.json").write_text(json.dumps({"<|startoftext|>": 0, "<|endoftext|>": 1}), encoding="utf-8")
    with pytest.raises(MissingWeightsError, match="clip_bad_vocab"):  # merges name unknown tokens
        ClipTextEncoder(weights=broken)
    (broken / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    with pytest.raises(MissingWeightsError, match="does not tokenise"):  # loads, but spells nothing
        ClipTextEncoder(weights=broken)
