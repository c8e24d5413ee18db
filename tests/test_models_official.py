"""Official checkpoint formats: opt.txt typing, safe .tar loading, checked state dicts, folder layout."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from hmu_demo.models.official import (
    MASK_KEYS,
    RES_KEYS,
    VQ_KEYS,
    CheckpointError,
    checkpoint_keys,
    load_state_dict_checked,
    official_layout,
    parse_opt,
    read_checkpoint,
)

HEADER = "------------ Options -------------\n"
FOOTER = "-------------- End ----------------\n"


def write_opt(folder: Path, options: dict[str, object]) -> Path:
    """Write opt.txt exactly as the official BaseOptions.parse does (sorted, '%s: %s')."""
    folder.mkdir(parents=True, exist_ok=True)
    body = "".join(f"{k}: {v}\n" for k, v in sorted(options.items()))
    path = folder / "opt.txt"
    path.write_text(HEADER + body + FOOTER, encoding="utf-8")
    return path


CALLS: list[str] = []


def _side_effect() -> str:
    CALLS.append("ran")
    return "ran"


class Payload:
    """Not plain data: unpickling it would call ``_side_effect``, i.e. run arbitrary code."""

    def __reduce__(self):
        return (_side_effect, ())


# ------------------------------------------------------------------------------------------ opt.txt


def test_parse_opt_types_follow_the_official_rules(tmp_path: Path) -> None:
    options = {
        "name": "t2m_nlayer8_nhead6_ld384_ff1024_cdp0.1_rvq6ns",
        "vq_name": "rvq_nq6_dc512_nc512_noshare_qdp0.2",
        "vq_norm": None,
        "milestones": [50000],
        "latent_dim": 384,
        "dropout": 0.2,
        "lr": 0.0002,
        "tiny_lr": 1e-05,
        "gpu_id": -1,
        "offset": "+3",
        "gain": -0.5,
        "share_weight": True,
        "is_continue": False,
        "checkpoints_dir": "./checkpoints",
        "empty": "",
    }
    opt = parse_opt(write_opt(tmp_path, options))
    assert opt["name"] == options["name"] and opt["vq_name"] == options["vq_name"]
    assert opt["vq_norm"] == "None" and opt["milestones"] == "[50000]"  # non-numeric values stay strings
    assert opt["latent_dim"] == 384 and type(opt["latent_dim"]) is int
    assert opt["gpu_id"] == -1 and opt["offset"] == 3
    assert opt["dropout"] == 0.2 and type(opt["dropout"]) is float and opt["lr"] == 0.0002
    assert opt["gain"] == -0.5
    assert opt["tiny_lr"] == "1e-05"  # the official is_float only knows digits.digits
    assert opt["share_weight"] is True and opt["is_continue"] is False
    assert opt["checkpoints_dir"] == "./checkpoints" and opt["empty"] == ""
    assert len(opt) == len(options)


def test_parse_opt_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "opt.txt"
    path.write_text(HEADER + "latent_dim: 384\nthis line has no separator\n" + FOOTER, encoding="utf-8")
    with pytest.raises(CheckpointError, match=r"opt\.txt, line 3") as err:
        parse_opt(path)
    assert str(path) in str(err.value) and "no separator" in str(err.value)
    with pytest.raises(CheckpointError, match="cannot read"):
        parse_opt(tmp_path / "absent.txt")


# ------------------------------------------------------------------------------------- checkpoints


def _training_checkpoint(path: Path, key: str = "t2m_transformer") -> nn.Linear:
    """A file like the official trainers' latest.tar: model + AdamW + MultiStepLR state + counters."""
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    optim = torch.optim.AdamW(model.parameters(), lr=2e-4)
    model(torch.randn(2, 4)).sum().backward()
    optim.step()
    sched = torch.optim.lr_scheduler.MultiStepLR(optim, milestones=[50_000], gamma=0.1)
    assert type(sched.state_dict()["milestones"]).__name__ == "Counter"
    torch.save(
        {key: model.state_dict(), "opt_t2m_transformer": optim.state_dict(), "scheduler": sched.state_dict(),
         "ep": 7, "total_it": 1234, "best_fid": np.float64(0.089)},
        path,
    )
    return model


def test_read_checkpoint_with_optimizer_and_scheduler_state(tmp_path: Path) -> None:
    path = tmp_path / "latest.tar"
    model = _training_checkpoint(path)
    state = read_checkpoint(path, MASK_KEYS)
    assert set(state) == {"weight", "bias"}
    torch.testing.assert_close(state["weight"], model.weight.detach())
    assert set(checkpoint_keys(path)) == {"t2m_transformer", "opt_t2m_transformer", "scheduler", "ep",
                                          "total_it", "best_fid"}
    # fallback key, as the official VQ loader does ('vq_model' or 'net')
    torch.save({"net": model.state_dict()}, tmp_path / "vq.tar")
    assert set(read_checkpoint(tmp_path / "vq.tar", VQ_KEYS)) == {"weight", "bias"}


def test_read_checkpoint_missing_key_lists_present_keys(tmp_path: Path) -> None:
    path = tmp_path / "net_best_fid.tar"
    _training_checkpoint(path)
    with pytest.raises(CheckpointError, match="res_transformer") as err:
        read_checkpoint(path, RES_KEYS)
    assert str(path) in str(err.value) and "'t2m_transformer'" in str(err.value)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "absent.tar", RES_KEYS)
    (tmp_path / "garbage.tar").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.tar"):
        read_checkpoint(tmp_path / "garbage.tar", RES_KEYS)


def test_read_checkpoint_refuses_arbitrary_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.tar"
    torch.save({"t2m_transformer": nn.Linear(2, 2).state_dict(), "extra": Payload()}, path)
    with pytest.raises(CheckpointError, match="refusing") as err:
        read_checkpoint(path, MASK_KEYS)
    assert "_side_effect" in str(err.value) and str(path) in str(err.value)
    with pytest.raises(CheckpointError, match="refusing"):
        checkpoint_keys(path)
    assert CALLS == []  # nothing in the file was executed


def test_legacy_non_zip_checkpoint(tmp_path: Path) -> None:
    """Files from old torch versions may use the legacy format (no zip, cannot be memory-mapped)."""
    path = tmp_path / "finest.tar"
    torch.save({"estimator": nn.Linear(2, 2).state_dict(), "epoch": 3}, path, _use_new_zipfile_serialization=False)
    assert checkpoint_keys(path) == ["estimator", "epoch"]
    assert set(read_checkpoint(path, ("estimator",))) == {"weight", "bias"}


# ------------------------------------------------------------------------------------- state dicts


def test_load_state_dict_checked_loads_and_names_problems() -> None:
    src = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    dst = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    state = dict(src.state_dict())
    state["clip_model.positional_embedding"] = torch.zeros(77, 512)  # ignored, as MoMask does
    assert load_state_dict_checked(dst, state, "ckpt.tar") is dst
    torch.testing.assert_close(dst[2].weight, src[2].weight)

    wrong_shape = dict(src.state_dict(), **{"2.weight": torch.zeros(5, 3)})
    before = dst[0].weight.detach().clone()
    with pytest.raises(CheckpointError) as err:
        load_state_dict_checked(dst, wrong_shape, "/ckpts/model/latest.tar")
    msg = str(err.value)
    assert "/ckpts/model/latest.tar" in msg and "'2.weight'" in msg and "(5, 3)" in msg and "(2, 3)" in msg
    assert torch.equal(dst[0].weight, before)  # checked BEFORE loading: nothing half-loaded

    renamed = {("x." + k if k == "0.bias" else k): v for k, v in src.state_dict().items()}
    with pytest.raises(CheckpointError) as err:
        load_state_dict_checked(dst, renamed, "renamed.tar")
    msg = str(err.value)
    assert "missing key '0.bias'" in msg and "(3,)" in msg and "unexpected key 'x.0.bias'" in msg


# ------------------------------------------------------------------------------------ folder layout

VQ_NAME = "rvq_nq6_dc512_nc512_noshare_qdp0.2"
VQ_OPT = dict(name=VQ_NAME, nb_code=512, code_dim=512, num_quantizers=6, vq_norm=None,
              milestones=[150000, 250000], dataset_name="t2m", vq_name=VQ_NAME)
TRANS_OPT = dict(latent_dim=384, n_heads=6, n_layers=8, ff_size=1024, dropout=0.2, dataset_name="t2m",
                 vq_name="rvq_nq6_dc512_nc512_noshare_qdp0.2", milestones=[50000])


def _tiny_tar(path: Path, key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({key: nn.Linear(2, 2).state_dict(), "ep": 1}, path)


def write_official_tree(root: Path, bamm: bool = False) -> Path:
    """checkpoints/t2m/ as prepare/download_models.sh leaves it, with tiny files and odd folder names."""
    t2m = root / "t2m"
    vq = t2m / "rvq_nq6_dc512_nc512_noshare_qdp0.2"
    write_opt(vq, VQ_OPT)
    _tiny_tar(vq / "model" / "net_best_fid.tar", "vq_model")
    (vq / "meta").mkdir()
    np.save(vq / "meta" / "mean.npy", np.zeros(263, np.float32))
    np.save(vq / "meta" / "std.npy", np.ones(263, np.float32))
    # names say nothing: the layout must come from opt.txt and checkpoint keys
    write_opt(t2m / "model_a", dict(TRANS_OPT, name="model_a", cond_drop_prob=0.2, share_weight=True))
    _tiny_tar(t2m / "model_a" / "model" / "net_best_fid.tar", "res_transformer")
    write_opt(t2m / "model_b", dict(TRANS_OPT, name="model_b", cond_drop_prob=0.1, share_weight=False))
    _tiny_tar(t2m / "model_b" / "model" / "latest.tar", "t2m_transformer")
    _tiny_tar(t2m / "length_estimator" / "model" / "finest.tar", "estimator")
    write_opt(t2m / "Comp_v6_KLD005", dict(dim_word=300, dataset_name="t2m"))  # evaluator: ignored
    if bamm:
        run = t2m / "2024-02-14-14-27-29_8_GPT_officialTrans_2iterPrdictEnd"
        write_opt(run, dict(TRANS_OPT, name=run.name, trans="official"))
        _tiny_tar(run / "model" / "latest.tar", "t2m_transformer")
    return t2m


def test_official_layout_discovers_folders(tmp_path: Path) -> None:
    t2m = write_official_tree(tmp_path / "checkpoints", bamm=True)
    vq = t2m / "rvq_nq6_dc512_nc512_noshare_qdp0.2"
    for given in (t2m, tmp_path / "checkpoints"):  # checkpoints/t2m or its parent
        layout = official_layout(given)
        assert layout["vq"] == vq and layout["vq_weights"] == vq / "model" / "net_best_fid.tar"
        assert layout["vq_mean"] == vq / "meta" / "mean.npy" and layout["vq_std"] == vq / "meta" / "std.npy"
        assert layout["mask"] == t2m / "model_b" and layout["mask_weights"].name == "latest.tar"
        assert layout["res"] == t2m / "model_a" and layout["res_weights"].name == "net_best_fid.tar"
        assert layout["length_weights"] == t2m / "length_estimator" / "model" / "finest.tar"
        assert layout["bamm"].name.startswith("2024-02-14") and layout["bamm_weights"].name == "latest.tar"
        assert all(p.exists() for p in layout.values())


def test_official_layout_fallbacks_and_hmu_symlinks(tmp_path: Path) -> None:
    t2m = write_official_tree(tmp_path)
    os.replace(t2m / "model_b" / "model" / "latest.tar", t2m / "model_b" / "model" / "net_best_fid.tar")
    os.symlink(t2m / "rvq_nq6_dc512_nc512_noshare_qdp0.2", t2m / "rvq")  # HMU's prepare.sh
    write_opt(t2m / "model_b", dict(TRANS_OPT, name="model_b", vq_name="rvq"))
    layout = official_layout(t2m)
    assert "bamm" not in layout
    assert layout["mask_weights"] == t2m / "model_b" / "model" / "net_best_fid.tar"
    assert layout["vq"].resolve() == (t2m / "rvq_nq6_dc512_nc512_noshare_qdp0.2").resolve()


def test_official_layout_lists_missing_parts(tmp_path: Path) -> None:
    t2m = write_official_tree(tmp_path)
    (t2m / "rvq_nq6_dc512_nc512_noshare_qdp0.2" / "meta" / "std.npy").unlink()
    (t2m / "length_estimator" / "model" / "finest.tar").unlink()
    os.remove(t2m / "model_a" / "opt.txt")  # residual folder unrecognisable
    with pytest.raises(CheckpointError) as err:
        official_layout(t2m)
    msg = str(err.value)
    assert "meta/std.npy" in msg and "length_estimator/model/finest.tar" in msg
    assert "residual transformer" in msg and "masked" not in msg
    assert "README.md" in msg and "download_models.sh" in msg

    with pytest.raises(CheckpointError, match="does not exist"):
        official_layout(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError) as err:
        official_layout(empty)
    msg = str(err.value)
    assert "masked transformer" in msg and "residual transformer" in msg and "VQ folder" in msg


def test_official_layout_wrong_vq_name_is_reported(tmp_path: Path) -> None:
    t2m = write_official_tree(tmp_path)
    write_opt(t2m / "model_b", dict(TRANS_OPT, name="model_b", vq_name="rvq_other"))
    with pytest.raises(CheckpointError) as err:
        official_layout(t2m)
    assert "rvq_other" in str(err.value) and "model_b" in str(err.value)


def test_official_layout_tells_bamm_from_momask_by_vocabulary(tmp_path: Path) -> None:
    """A BAMM opt.txt without 'trans' is still recognised: BAMM's token_emb has 515 rows (MoMask 514)."""
    t2m = write_official_tree(tmp_path)
    torch.save({"t2m_transformer": {"token_emb.weight": torch.zeros(514, 4)}}, t2m / "model_b" / "model" / "latest.tar")
    run = t2m / "bamm_run"
    write_opt(run, dict(TRANS_OPT, name="bamm_run"))
    (run / "model").mkdir()
    torch.save({"t2m_transformer": {"token_emb.weight": torch.zeros(515, 4)}, "ep": 3}, run / "model" / "latest.tar")
    layout = official_layout(t2m)
    assert layout["mask"] == t2m / "model_b" and layout["bamm"] == run

    (t2m / "model_a" / "model" / "net_best_fid.tar").unlink()
    torch.save({"something_else": {}}, t2m / "model_a" / "model" / "net_best_fid.tar")
    with pytest.raises(CheckpointError, match="something_else"):
        official_layout(t2m)
