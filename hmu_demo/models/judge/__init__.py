"""The judge: a per-frame action / violence classifier over joint positions (T, 22, 3) at 20 fps.

Input features (:mod:`.features`) are body-centric, hence invariant to where the motion happens and
which way it faces. They are normalised with statistics stored in the checkpoint and fed to a small
residual dilated 1D-conv network (:mod:`.net`) whose outputs are per frame: action logits (every
SynthMotion action plus "stand", the padding before/after short clips) and one violence logit.
:mod:`.scoring` loads a checkpoint and turns those outputs into clip verdicts; :mod:`.accuracy`
measures a judge against labelled clips (its trainer's validation and its evaluation CLI,
``python -m hmu_demo.eval.judge``).

Checkpoint: ``judge.safetensors`` (weights) + ``judge.json`` (architecture, normalisation stats,
class names, threshold, how it was trained), trained by ``python -m hmu_demo.train.judge``.
"""
