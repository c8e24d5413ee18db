"""BAMM base-layer transformer (exitudio/BAMM): bidirectional autoregressive decoding of RVQ layer-0 codes.

Same modules and key names as MoMask's ``MaskTransformer`` (``opt.trans == 'official'``) but with the
vocabulary end_id = num_tokens (512), pad_id 513, mask_id 514 (``token_emb`` (515, 512)), a head over
num_tokens + 1 classes (codes + END), PE on every position (text token included) and a "hybrid"
attention mask instead of a key-padding mask. The sequence is ``[text, id_0 .. id_T]`` with
T = ``max_motion_tokens`` (49) motion slots plus one slot for END; output k predicts motion token k.

Determinism of :meth:`BAMMTransformer.generate`: the same seed, weights and batch give the same output.
The horizon is fixed (T slots whatever the lengths), so with one generator per sample each sample's
result does not depend on the rest of the batch, up to floating-point rounding of the batched network.
Each pass is decoded incrementally with a key/value cache (one new position per step; ``cache=False`` runs
the reference that feeds the whole sequence at every step): the same ids, up to rare float-rounding flips.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmu_demo.models.layers import OutputProcess, TokenTransformer, TransformerConfig, eval_mode, init_weights
from hmu_demo.models.official import BAMM_KEYS, MASK_WEIGHTS
from hmu_demo.models.sampling import (GeneratorLike, forbid_codes, gumbel_sample, lengths_to_mask, rand_uniform,
                                      uniform_noise)

__all__ = ["BAMMTransformer", "hybrid_attention_mask"]


def hybrid_attention_mask(given: Tensor) -> Tensor:
    """Allowed-attention matrix (B, S, S), True where query i may attend to key j.

    ``given`` (B, S) marks the given tokens G (the text token at position 0 is always given).
    Start causal (j <= i); rows of given queries are cleared; every given column is allowed for every
    row. Non-given queries see their causal past plus all given tokens; given queries see only G.
    """
    given = given.clone()
    given[:, 0] = True
    s = given.shape[1]
    causal = torch.ones(s, s, dtype=torch.bool, device=given.device).tril()
    allowed = causal.unsqueeze(0) & ~given.unsqueeze(2)
    return allowed | given.unsqueeze(1)


class BAMMTransformer(TokenTransformer):
    """Bidirectional autoregressive motion model over RVQ base-layer codes.

    Official checkpoints: the BAMM run folder's ``model/latest.tar``, entry ``t2m_transformer``
    (BAMM's trainer is a fork of MoMask's).
    """

    CHECKPOINT_KEYS = BAMM_KEYS
    WEIGHTS_FILES = MASK_WEIGHTS

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__(cfg)
        self.end_id = cfg.num_tokens
        self.pad_id = cfg.num_tokens + 1
        self.mask_id = cfg.num_tokens + 2
        self.num_heads = cfg.n_heads
        self.max_motion_tokens = cfg.max_motion_tokens
        self.cond_emb = nn.Linear(cfg.clip_dim, cfg.latent_dim)
        self.output_process = OutputProcess(cfg.num_tokens + 1, cfg.latent_dim)
        self.token_emb = nn.Embedding(cfg.num_tokens + 3, cfg.code_dim)
        self.apply(init_weights)

    # ------------------------------------------------------------------ network
    def trans_forward(self, ids: Tensor, cond: Tensor, given: Tensor | None = None) -> Tensor:
        """Logits (B, num_tokens + 1, L + 1) over ``[text, ids]``; ids (B, L), given (B, L) bool or None."""
        b, n = ids.shape
        c = self.cond_emb(cond).unsqueeze(0)
        x = self.input_process(self.token_emb(ids))
        xseq = self.position_enc(torch.cat([c, x], dim=0))  # PE on all positions, text included
        g = torch.zeros(b, n + 1, dtype=torch.bool, device=ids.device)
        if given is not None:
            g[:, 1:] = given
        allowed = hybrid_attention_mask(g)
        attn_mask = ~torch.repeat_interleave(allowed, self.num_heads, dim=0)  # True = blocked
        out = self.seqTransEncoder(xseq, mask=attn_mask)
        return self.output_process(out)

    def forward_with_cond_scale(self, ids: Tensor, cond: Tensor, given: Tensor | None,
                                cond_scale: float) -> Tensor:
        """CFG logits; conditional and null (zero-text) copies run as one batch."""
        b = ids.shape[0]
        g2 = None if given is None else torch.cat([given, given])
        both = self.trans_forward(torch.cat([ids, ids]), torch.cat([cond, torch.zeros_like(cond)]), g2)
        logits, aux = both[:b], both[b:]
        return aux + (logits - aux) * cond_scale

    # ------------------------------------------------------------------ training
    def forward(self, ids: Tensor, cond: Tensor, lengths_tokens: Tensor | Sequence[int],
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Training loss; returns (loss, next-token accuracy up to END).

        ids (B, N) codes; END is written at each length (an extra slot is appended), pads after it.
        With probability 0.5 a rate r ~ U(0, 0.5) is drawn and each token up to END is given with
        probability r (hybrid mask), else pure causal; a rate p ~ U(0, 0.5) (per batch) replaces
        pre-END inputs by random codes. CE over positions up to END, mean per sample then over batch.
        """
        bs, n = ids.shape
        device = ids.device
        cond, lens = self.prepare(cond, lengths_tokens, generator, bs)
        if int(lens.max()) > n:
            raise ValueError(f"a length ({int(lens.max())}) exceeds the ids width {n}")
        full = torch.cat([ids.long(), torch.full((bs, 1), self.end_id, dtype=torch.long, device=device)], dim=1)
        before_end = lengths_to_mask(lens, n + 1)
        upto_end = lengths_to_mask(lens + 1, n + 1)
        full = torch.where(before_end, full, self.pad_id)
        full = full.scatter(1, lens.unsqueeze(1), self.end_id)

        occur, rate = rand_uniform((2,), generator, device).tolist()
        r = rate * 0.5 if occur < 0.5 else 0.0
        given = (rand_uniform((bs, n + 1), generator, device) < r) & upto_end

        p = float(rand_uniform((1,), generator, device)) * 0.5
        replace = (rand_uniform((bs, n + 1), generator, device) < p) & before_end
        rand_id = (rand_uniform((bs, n + 1), generator, device) * self.num_tokens).long().clamp(max=self.num_tokens - 1)
        x_ids = torch.where(replace, rand_id, full)

        logits = self.trans_forward(x_ids, cond, given)[..., :-1]  # (B, V, n + 1)
        ce = F.cross_entropy(logits, torch.where(upto_end, full, 0), reduction="none")  # (B, n + 1)
        weights = upto_end.float() / (upto_end.sum(dim=1, keepdim=True).float() * bs)
        loss = (ce * weights).sum()
        with torch.no_grad():
            acc = (logits.argmax(dim=1) == full)[upto_end].float().mean()
        return loss, acc

    # ---------------------------------------------------------------- generation
    def _sample_pass(self, ids: Tensor, cond: Tensor, given: Tensor | None, cond_scale: float,
                     allow_end: bool, generator: GeneratorLike, lens: Tensor | None = None,
                     forbidden: Tensor | None = None, cache: bool = True) -> Tensor:
        """One cascaded pass: :meth:`_sample_pass_cached` (key/value cache) or, with ``cache=False``, the
        reference :meth:`_sample_pass_uncached` (the whole sequence through the network at every step)."""
        if cache:
            return self._sample_pass_cached(ids, cond, given, cond_scale, allow_end, generator, lens, forbidden)
        return self._sample_pass_uncached(ids, cond, given, cond_scale, allow_end, generator, lens, forbidden)

    def _sample_pass_uncached(self, ids: Tensor, cond: Tensor, given: Tensor | None, cond_scale: float,
                              allow_end: bool, generator: GeneratorLike, lens: Tensor | None = None,
                              forbidden: Tensor | None = None) -> Tensor:
        """One cascaded pass: autoregressive steps, each one batched CFG forward, softmax sampling
        without top-k or temperature; the END logit is dropped unless ``allow_end``.

        Step k samples slot k from output k and writes it into ``ids`` whether the slot is given or not
        (as the official ``gen_one``): in pass 2 a given slot's token is replaced by its sample for the
        later steps (``generate`` restores the given tokens afterwards).

        With known lengths ``lens`` the pass stops after the longest one, and a sample draws noise
        only for its own slots: what lies past a sample's length is discarded, and slot k's output
        never depends on later slots that are not given, so the result is the same as running all
        T steps, its random stream depends on its own length only (not on the batch), and a short
        motion costs a fraction of the T forwards.
        """
        ids = ids.clone()
        bs = ids.shape[0]
        steps = self.max_motion_tokens if lens is None else int(lens.max())
        for k in range(steps):
            logits = self.forward_with_cond_scale(ids, cond, given, cond_scale)[..., k]  # (B, V)
            if not allow_end:
                logits = logits[:, : self.num_tokens]
            logits = forbid_codes(logits, forbidden)
            active = [1] * bs if lens is None else (lens > k).long().tolist()
            noise = uniform_noise(bs, active, 1, logits.shape[-1], generator, ids.device)[:, 0]
            ids[:, k] = gumbel_sample(logits, noise)
        return ids

    def _encode_cached(self, x: Tensor, kv: list[tuple[Tensor, Tensor]], start: int, keys: int,
                       allowed: Tensor | None) -> Tensor:
        """Run positions ``start .. start + W - 1`` through the encoder layers with a key/value cache.

        ``x`` (N, W, D) batch-first layer-0 inputs (embedding + PE) of those positions; ``kv`` holds one
        (K, V) pair (N, heads, P, head_dim) per layer: the new positions' keys/values are written into it,
        then each new query attends to cached positions ``0 .. keys - 1`` where ``allowed`` (N, 1, W, keys)
        bool is True (all of them when None). Same weights and arithmetic as ``seqTransEncoder`` in eval
        mode (``nn.TransformerEncoderLayer``: fused ``in_proj``, ``out_proj``, ``linear1/2``, ``norm1/2``,
        its activation; dropout off). Returns the last layer's output (N, W, D).
        """
        n, w, d = x.shape
        heads = self.num_heads
        stop = start + w
        for layer, (kc, vc) in zip(self.seqTransEncoder.layers, kv):
            attn = layer.self_attn
            y = layer.norm1(x) if layer.norm_first else x
            q, k, v = F.linear(y, attn.in_proj_weight, attn.in_proj_bias).view(n, w, 3, heads, d // heads) \
                .permute(2, 0, 3, 1, 4)
            kc[:, :, start:stop] = k
            vc[:, :, start:stop] = v
            a = F.scaled_dot_product_attention(q, kc[:, :, :keys], vc[:, :, :keys], attn_mask=allowed)
            a = attn.out_proj(a.transpose(1, 2).reshape(n, w, d))
            if layer.norm_first:
                x = x + a
                x = x + layer.linear2(layer.activation(layer.linear1(layer.norm2(x))))
            else:
                x = layer.norm1(x + a)
                x = layer.norm2(x + layer.linear2(layer.activation(layer.linear1(x))))
        if self.seqTransEncoder.norm is not None:
            x = self.seqTransEncoder.norm(x)
        return x

    def _sample_pass_cached(self, ids: Tensor, cond: Tensor, given: Tensor | None, cond_scale: float,
                            allow_end: bool, generator: GeneratorLike, lens: Tensor | None = None,
                            forbidden: Tensor | None = None, prune: bool = True) -> Tensor:
        """:meth:`_sample_pass_uncached` with incremental decoding: same sampling, noise and ids.

        Step k needs output k only. Pass 1 (``given=None``, causal): output k sees positions 0..k, all
        final, so each step runs the one new position k (text token at step 0, else the token sampled
        at step k - 1) through the layers against cached keys/values. Pass 2 (hybrid mask): a non-given
        query sees its causal past plus the given set G, a given query sees G only, so the same holds
        as long as the tokens at G do not change; but step k - 1 overwrites slot k - 1 (position k) also
        when it is given (see :meth:`_sample_pass_uncached`), which changes every position's state (all
        see G). Such a step recomputes every position (positions 0 .. P - 1, P past the last given one
        and the last query), refilling the cache; other steps are incremental. Step 0 of pass 2 is such
        a full step.

        ``prune`` (default): outputs that ``generate`` discards are not made exact. Step k matters to
        sample b only while a slot j >= k that is neither given nor past b's length is still to come
        (its output sees every earlier step's token). A change of G at a step that matters to no sample
        needs no recomputation, and once no sample needs a step the network is skipped (noise is still
        drawn exactly as before, so the random streams are unchanged; the slot keeps its input token).
        With remask "first" every given slot comes after the re-masked ones, so pass 2 is one full step
        then incremental steps up to the last re-masked slot. ``prune=False`` makes every output exact
        (a full step whenever some sample's G changed), for tests.
        """
        ids = ids.clone()
        bs, width = ids.shape
        device = ids.device
        steps = self.max_motion_tokens if lens is None else int(lens.max())
        steps = min(steps, width)
        n = 2 * bs
        d = self.cfg.latent_dim
        heads = self.num_heads
        pe = self.position_enc.pe[:, 0]
        c2 = self.cond_emb(torch.cat([cond, torch.zeros_like(cond)]))  # (N, D): cond then null text

        if given is None:
            size = steps  # queries 0 .. steps - 1, causal
            allowed2 = None
        else:
            g = torch.zeros(bs, width + 1, dtype=torch.bool, device=device)
            g[:, 1:] = given
            last_given = int(g.any(dim=0).nonzero().max())
            size = max(steps, last_given + 1)
            allowed = hybrid_attention_mask(g[:, :size])
            allowed2 = torch.cat([allowed, allowed]).unsqueeze(1)  # (N, 1, P, P)
            # full[k]: step k must recompute every position (G changed at step k - 1, or step 0)
            changed = g[:, :steps].clone()
            changed[:, 0] = False
            if prune:
                keep = torch.ones_like(given) if lens is None else lengths_to_mask(lens, width)
                wanted = keep & ~given  # slots whose sample generate keeps
                needed = wanted.flip(1).cummax(dim=1).values.flip(1)[:, :steps]  # some wanted slot j >= k
                changed &= needed
                last_needed = int(needed.any(dim=0).nonzero().max()) if bool(needed.any()) else -1
            else:
                last_needed = steps - 1
            full = changed.any(dim=0).tolist()
            full[0] = True
        if width + 1 > pe.shape[0]:  # as trans_forward, which always builds all width + 1 positions
            raise ValueError(f"sequence of {width + 1} positions exceeds the PE table ({pe.shape[0]})")
        kv = [(torch.zeros(n, heads, size, d // heads, dtype=c2.dtype, device=device),
               torch.zeros(n, heads, size, d // heads, dtype=c2.dtype, device=device))
              for _ in self.seqTransEncoder.layers]

        def inputs(start: int, stop: int) -> Tensor:
            """Layer-0 inputs (N, stop - start, D) of positions start .. stop - 1 from the current ids."""
            parts = [c2.unsqueeze(1)] if start == 0 else []
            lo = max(start, 1)
            if stop > lo:
                x = self.input_process.poseEmbedding(self.token_emb(ids[:, lo - 1: stop - 1]))
                parts.append(torch.cat([x, x]))
            return torch.cat(parts, dim=1) + pe[start:stop]

        vocab = self.num_tokens + 1 if allow_end else self.num_tokens
        for k in range(steps):
            active = [1] * bs if lens is None else (lens > k).long().tolist()
            if given is not None and k > last_needed:  # nothing left that generate keeps
                uniform_noise(bs, active, 1, vocab, generator, device)
                continue
            if given is None:
                h = self._encode_cached(inputs(k, k + 1), kv, k, k + 1, None)
            elif full[k]:
                h = self._encode_cached(inputs(0, size), kv, 0, size, allowed2)[:, k: k + 1]
            else:
                h = self._encode_cached(inputs(k, k + 1), kv, k, size, allowed2[:, :, k: k + 1])
            both = self.output_process(h.transpose(0, 1))[..., 0]  # (N, num_tokens + 1)
            logits, aux = both[:bs], both[bs:]
            logits = aux + (logits - aux) * cond_scale
            if not allow_end:
                logits = logits[:, : self.num_tokens]
            logits = forbid_codes(logits, forbidden)
            noise = uniform_noise(bs, active, 1, logits.shape[-1], generator, device)[:, 0]
            ids[:, k] = gumbel_sample(logits, noise)
        return ids

    @torch.no_grad()
    @eval_mode
    def inpaint(self, ids: Tensor, editable: Tensor, cond: Tensor, lengths_tokens: Tensor | Sequence[int],
                cond_scale: float = 3.0, generator: GeneratorLike = None, forbidden: Tensor | None = None,
                cache: bool = True) -> Tensor:
        """Re-sample only the ``editable`` (B, N) positions of ``ids`` (B, N): BAMM's refinement pass with
        every other token (and END after each length) given, the hybrid mask letting each re-sampled slot
        see the given context on both sides. Returns ids (B, N), -1 past each length."""
        cond, lens = self.prepare(cond, lengths_tokens, generator)
        bs, n = ids.shape
        t = self.max_motion_tokens
        if int(lens.max()) > min(n, t):
            raise ValueError(f"lengths must be <= {min(n, t)} tokens, got {lens.tolist()}")
        keep = lengths_to_mask(lens, t + 1)
        full = torch.full((bs, t + 1), self.pad_id, dtype=torch.long, device=ids.device)
        full[:, :n] = ids.long().clamp(min=0)
        full = torch.where(keep, full, self.pad_id).scatter(1, lens.unsqueeze(1), self.end_id)
        editable = F.pad(editable.to(keep.device), (0, t + 1 - n)) & keep
        given = (~editable & keep) | (full == self.end_id)
        refined = self._sample_pass(full, cond, given, cond_scale, False, generator, lens, forbidden, cache)
        out = torch.where(given, full, refined)
        return torch.where(keep, out, -1)[:, :n]

    @torch.no_grad()
    @eval_mode
    def generate(self, cond: Tensor, lengths_tokens: Tensor | Sequence[int] | None = None,
                 cond_scale: float = 4.0, refine_cond_scale: float = 3.0, remask: str = "first",
                 generator: GeneratorLike = None, forbidden: Tensor | None = None,
                 cache: bool = True) -> tuple[Tensor, Tensor]:
        """Cascaded decoding -> (ids (B, max length) with -1 after each length, lengths (B,)).

        ``forbidden`` (B, n) bool: code ids a sample may never take in either pass (LCR-gated).
        Pass 1 (causal) samples T tokens at ``cond_scale``; with ``lengths_tokens=None`` END may be
        sampled and the length is the index of the first id >= END (END first -> token 0 := 0,
        length 1); otherwise the END logit is removed and the given lengths (1..T) are used.
        Pass 2 re-masks some tokens, keeps the rest plus END as given tokens and resamples T steps with
        the hybrid mask at ``refine_cond_scale`` (official: 3) without END; given tokens are restored.
        ``remask="first"`` re-masks round(0.5 len) tokens chosen by a stable argsort over equal scores,
        i.e. the first ones (as the official ``generate``); ``remask="even"`` re-masks the even slots 0, 2, 4, ... and
        keeps the odd ones (the variant in exitudio/BAMM commit afa608b).
        ``cache`` (default True): decode each pass incrementally with a key/value cache
        (:meth:`_sample_pass_cached`); False runs the whole sequence through the network at every step
        (:meth:`_sample_pass_uncached`, the reference). Same ids for a seed, up to rare flips of a sample
        where two candidates' scores differ by float rounding only.
        """
        if remask not in ("first", "even"):
            raise ValueError(f"remask must be 'first' or 'even', got {remask!r}")
        device = self.token_emb.weight.device
        cond, lens = self.prepare(cond, lengths_tokens, generator)
        bs = cond.shape[0]
        t = self.max_motion_tokens
        predict_length = lens is None
        if lens is not None and int(lens.max()) > t:
            raise ValueError(f"BAMM lengths must be <= {t} tokens, got {lens.tolist()}")

        ids = torch.full((bs, t + 1), self.pad_id, dtype=torch.long, device=device)
        ids = self._sample_pass(ids, cond, None, cond_scale, predict_length, generator, lens, forbidden, cache)
        if lens is None:
            end_first = ids[:, 0] >= self.end_id
            ids[end_first, 0] = 0
            ids[end_first, 1] = self.end_id
            lens = (ids >= self.end_id).int().argmax(dim=1)  # slot T is always pad
            lens = lens.clamp(1, t)
        keep = lengths_to_mask(lens, t + 1)
        ids = torch.where(keep, ids, self.pad_id).scatter(1, lens.unsqueeze(1), self.end_id)

        padding = ~keep
        if remask == "first":
            scores = torch.where(padding, 1e5, 0.0)
            num_masked = torch.round(0.5 * lens.float()).clamp(min=1)
            ranks = scores.argsort(dim=1, stable=True).argsort(dim=1, stable=True)
            is_mask = ranks < num_masked.unsqueeze(1)
        else:
            is_mask = torch.ones_like(keep)
            is_mask[:, 1::2] = False
        given = (~is_mask & keep) | (ids == self.end_id)
        refined = self._sample_pass(ids, cond, given, refine_cond_scale, False, generator, lens, forbidden,
                                    cache)
        refined = torch.where(given, ids, refined)
        out = torch.where(keep, refined, -1)[:, :t]
        return out[:, : int(lens.max())], lens

