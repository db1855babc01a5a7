"""MCD: Mutual Correlation Distillation (Ye, Yu and Liu), paper Sec. III, Eq. 1-14.

    model = MCD(MCDConfig(), InputDims(...)); out = model(batch)   # out.logits, out.losses, out.extras

The classes are named after the paper's modules:

- ``BasicEncoders``           Sec. III-A: linear projections of audio / visual to D (patches avg-pooled over space),
                              the question (Bi-)LSTM.
- ``AssociationBlock``        Eq. 1-5: self-attention + bidirectional inter-attention (a global temporal query from
                              Dimension Compression gives a D x D weight matrix W^cross), BN / FFN residual sums.
- ``Aggregator``              Eq. 6-9: AV-queried textual attention, textual-queried AV attention, ReLU, avgpool,
                              Top-k/2 clip selection, clue storing g(h, f_q) = f_q + h * f_q. ONE instance, shared
                              by the audio and visual branches.
- ``TextObjects``             sentence, question-type and keyword tokens (and, for multiple choice, the answer
                              options) -> concat -> FC refinement.
- ``LocalElementFusion``      Eq. 10, then dropout and FC (D -> D).
- ``MutualCorrelationModule`` (MCM): the above, the learnable M_vq, M_aq, M_g and the 3D -> D refinement giving the
                              combinatorial question embedding f^_q.
- ``SemanticApproximation``   (SA): projection Theta, distillation Eq. 11, audio-visual contrast Eq. 12-13, weights of
                              Eq. 14.
- ``LateFusion``              Fig. 4(b): the decision-level fusion the paper argues against (off by default).
- ``MCD``                     the whole model; the prediction head is a linear layer on f^_q alone.

One self-contained file, like a Hugging Face modeling file: read top to bottom it follows Sec. III, which is why it
runs past the usual 600 lines rather than splitting the model across modules.

Every decision the paper leaves open is listed, with its reason, in ``book/notes/mcd_decisions.md``. The ablation
switches of Tables VI-X and Fig. 4 are fields of ``MCDConfig`` (defaults = the paper's full model); the dicts
``ATTENTION_VARIANTS``, ``LEF_VARIANTS``, ``LOSS_VARIANTS``, ``TEXT_VARIANTS`` and ``LATE_FUSION_VARIANTS`` map the
rows of those tables to config overrides, and ``CROSS_WEIGHT_VARIANTS`` the readings of W^cross (decision 9).

Auxiliary losses are computed in training mode only (``eval_losses=True`` computes them in eval mode as well).
The InfoNCE losses of Eq. 11 and 13 leave other questions about the same video (``batch['video']``) out of the
negatives, and under torch.distributed take their negatives from every rank's batch.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from mcd.models.base import InputDims, ModelOutput
from mcd.models.contrastive import info_nce
from mcd.models.fast import Dropout, attention, dropout
from mcd.models.layers import QuestionEncoder, temporal_mean

_CHOICES = {
    "text_encoder": ("lstm", "bilstm"),
    "no_attention_branch": ("ffn", "identity"),
    "cross_weights": ("projected", "outer", "diag"),
    "attention_module": ("linear", "mha"),
    "clue_reduce": ("sum", "mean"),
    "lef_mode": ("dot", "add"),
    "global_av": ("encoder", "blocks"),
    "late_fusion": ("none", "concat", "add"),
    "late_fusion_modalities": ("a", "v", "av"),
}


@dataclass
class MCDConfig:
    """MCD's options. Defaults = the paper's full model (Music-AVQA row of Tables III/VI-X)."""

    # sizes (Sec. IV-A: D = 512; the rest is open, see mcd_decisions.md)
    dim: int = 512
    heads: int = 4                 # attention heads of every attention in Eq. 1 / Eq. 6
    ffn_dim: int | None = None     # hidden width of the AB feed-forward layer (Eq. 4-5); None: = dim (decision 13)
    dropout: float = 0.1           # the dropout the paper names: after Eq. 10 and in the late fusion of Fig. 4(b)
    attn_dropout: float = 0.1      # attention probabilities and the FFN hidden layer
    attn_out_proj: bool = False    # an output projection after the heads (Eq. 1 has none)
    attention_module: str = "linear"  # linear: W^Q, W^K, W^V as nn.Linear | mha: held as nn.MultiheadAttention
                                      # holds them (bare parameters; the same function, counted as the paper's
                                      # thop 0.1.1 counts it: not at all, see Table VIII)
    # Table VI: text encoder and text objects
    text_encoder: str = "lstm"     # lstm | bilstm
    text_objects: bool = True      # off: no text objects, f~_t leaves Eq. 10 (Table VI "x" == Table IX "w/o f~_t")
    # Table VII: attention in the association blocks (see ATTENTION_VARIANTS)
    self_audio: bool = True        # phi_self on audio (Eq. 2, first term)
    self_visual: bool = True       # phi_self on visual (Eq. 3, first term)
    a_query: bool = True           # cross-attention with the AUDIO global query F_a on visual (Eq. 3, second term)
    v_query: bool = True           # cross-attention with the VISUAL global query F_v on audio (Eq. 2, second term)
    no_attention_branch: str = "ffn"  # a branch with no attention term: ffn (f + BN(FFN(f))) | identity
    cross_weights: str = "projected"  # how W^cross (D x D) is formed from the 1 x D cross-attention result r:
                                      # projected: diag(r) W_c (a learned D x D) | outer: softmax_j(q_i r_j) | diag(r)
    # Table VIII
    num_blocks: int = 2
    # aggregator (Eq. 6-9)
    topk_ratio: float = 0.5        # keep round-down(ratio * T) clips ("Top-k/2" of k = T frames)
    clue_reduce: str = "sum"       # sum (Eq. 7-8) | mean over the selected clues
    # Table IX: local element fusion (Eq. 10)
    lef_visual: bool = True        # F_v in Eq. 10
    lef_audio: bool = True         # F_a in Eq. 10
    lef_text: bool = True          # f~_t in Eq. 10
    lef_mode: str = "dot"          # dot: f~_t * (f~_t + F_v + F_a) | add: f~_t + F_v + F_a
    global_av: str = "encoder"     # F_v, F_a of Eq. 10 / 11 and Fig. 4: DC of the basic encoders' or the ABs' output
    # Table X and Eq. 11-14
    loss_distill_v: bool = True    # L_c^{q^v}
    loss_distill_a: bool = True    # L_c^{q^a}
    loss_contrast_av: bool = True  # L_c^{av}
    tau: float = 0.07              # InfoNCE temperature (Eq. 11 and 13)
    lambda_distill: float = 1.0    # Eq. 14 weights the two distillation losses by 1
    lambda_av: float = 0.1         # Eq. 14
    contrast_normalize: bool = True   # Eq. 13 ||m_v||^T ||m_a||: L2-normalised (cosine) dot product
    project_question: bool = False    # also pass f^_q through Theta (Eq. 11 applies Theta to F_j only)
    symmetric_nce: bool = False    # average both InfoNCE directions (Eq. 11/13 anchor on f^_q / m_v only)
    mask_same_video: bool = True   # Eq. 11/13: other questions about the same video (batch['video']) are no negatives
    eval_losses: bool = False      # compute the auxiliary losses in eval mode too
    # Fig. 4: decision-level (late) fusion, off in MCD
    late_fusion: str = "none"      # none | concat | add
    late_fusion_modalities: str = "av"  # a | v | av

    def __post_init__(self):
        for key, allowed in _CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"MCDConfig.{key} must be one of {allowed}, got {getattr(self, key)!r}")
        if self.dim <= 0 or self.heads <= 0 or self.dim % self.heads:
            raise ValueError(f"MCDConfig.dim ({self.dim}) must be a positive multiple of heads ({self.heads})")
        if self.ffn_dim is not None and self.ffn_dim <= 0:
            raise ValueError(f"MCDConfig.ffn_dim must be positive (or None: = dim), got {self.ffn_dim}")
        if self.num_blocks < 0:
            raise ValueError(f"MCDConfig.num_blocks must be >= 0, got {self.num_blocks}")
        if not 0.0 < self.topk_ratio <= 1.0:
            raise ValueError(f"MCDConfig.topk_ratio must be in (0, 1], got {self.topk_ratio}")
        if self.tau <= 0:
            raise ValueError(f"MCDConfig.tau must be positive, got {self.tau}")
        for key in ("dropout", "attn_dropout"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise ValueError(f"MCDConfig.{key} must be in [0, 1), got {getattr(self, key)}")
        if not (self.lef_visual or self.lef_audio or self.uses_text_objects):
            raise ValueError("Eq. 10 needs at least one input: lef_visual, lef_audio or (text_objects and lef_text)")

    @property
    def ffn_width(self) -> int:
        return self.dim if self.ffn_dim is None else self.ffn_dim

    @property
    def uses_text_objects(self) -> bool:
        """f~_t exists only when text objects are on, and is used only in Eq. 10."""
        return self.text_objects and self.lef_text


# Table VII rows -> switches. "A-query" = cross-attention whose global query is the AUDIO summary F_a (it attends
# over the visual sequence: Eq. 3's second term); "V-query" = the VISUAL summary F_v attending over audio (Eq. 2).
# "w/o attention" is "reasoning using only feature embedding" (Sec. IV-D-2): identity blocks. In the other rows a
# branch left without any attention term keeps Eq. 4/5's residual FFN (no_attention_branch="ffn").
def _att(sa: bool, sv: bool, aq: bool, vq: bool) -> dict:
    return {"self_audio": sa, "self_visual": sv, "a_query": aq, "v_query": vq}


ATTENTION_VARIANTS: dict[str, dict] = {
    "w/o attention": _att(False, False, False, False) | {"no_attention_branch": "identity"},
    "Self-attention A": _att(True, False, False, False),
    "Self-attention V": _att(False, True, False, False),
    "Self-attention A+V": _att(True, True, False, False),
    "Cross-attention A-query": _att(False, False, True, False),
    "Cross-attention V-query": _att(False, False, False, True),
    "Cross-attention both": _att(False, False, True, True),
    "Bidirectional A-query": _att(True, True, True, False),
    "Bidirectional V-query": _att(True, True, False, True),
    "Bidirectional both": _att(True, True, True, True),   # the full model
}

# Table IX rows (Eq. 10)
LEF_VARIANTS: dict[str, dict] = {
    "w/o F_v": {"lef_visual": False},
    "w/o F_a": {"lef_audio": False},
    "w/o f_t": {"text_objects": False},                    # the same network as Table VI "w/o T": shared runs
    "Only element-wise add": {"lef_mode": "add"},
    "w/ dot-product": {},                                  # the full model
}

# Table X rows (Eq. 14)
LOSS_VARIANTS: dict[str, dict] = {
    "MCD w/o L_c^qv": {"loss_distill_v": False},
    "MCD w/o L_c^qa": {"loss_distill_a": False},
    "MCD w/o L_c^av": {"loss_contrast_av": False},
    "MCD": {},
}

# Table VI rows
TEXT_VARIANTS: dict[str, dict] = {
    "LSTM w/o T": {"text_encoder": "lstm", "text_objects": False},
    "LSTM w/ T": {"text_encoder": "lstm", "text_objects": True},
    "Bi-LSTM w/o T": {"text_encoder": "bilstm", "text_objects": False},
    "Bi-LSTM w/ T": {"text_encoder": "bilstm", "text_objects": True},
}

# How W^cross (D x D) comes from the 1 x D cross-attention result r of Eq. 2-3 (decision 9; mcd.models.diagnostics
# measures how degenerate each reading is)
CROSS_WEIGHT_VARIANTS: dict[str, dict] = {
    "projected": {"cross_weights": "projected"},   # diag(r) W_c, a learned D x D per branch (the default)
    "outer": {"cross_weights": "outer"},           # softmax_j(q_i r_j): uniform at initialisation
    "diag": {"cross_weights": "diag"},             # diag(r): a channel gate
}

# Fig. 4 / Fig. 5: (a) no decision-level fusion, (b) concatenation or element-wise add with F_a, F_v or both
LATE_FUSION_VARIANTS: dict[str, dict] = {"none": {"late_fusion": "none"}} | {
    f"{mode} {mods}": {"late_fusion": mode, "late_fusion_modalities": mods}
    for mode in ("concat", "add") for mods in ("a", "v", "av")
}


# ----------------------------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------------------------

def _bn_seq(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm over the channel axis of a [B, T, D] sequence (statistics over batch and time).

    Run on the [B*T, D] view: the same statistics as BatchNorm1d on [B, D, T], without the transposed
    (non-contiguous) input that the CPU kernel copies, or walks slowly, in both passes."""
    return bn(x.reshape(-1, x.size(-1))).view(x.shape)


class _CrossMix(torch.autograd.Function):
    """f x W^cross with W^cross[j, i] = softmax_j(q_i r_j) (decision 9): ``f @ softmax(q^T r, -1)^T``.

    The forward is exactly the autograd graph it replaces (the same ops). The backward never forms a D x D
    gradient: with P = G^T f (the gradient of W) and c_i = sum_t G_ti out_ti = sum_j W_ij P_ij, the softmax
    backward W * (P - c) contracted with r (for q) or q (for r) reduces to products of [T, D] sequences with W:

        grad f = G W,   grad q_i = sum_t G_ti ((f * r) W^T)_ti - c_i (r W^T)_i,
        grad r_j = sum_t f_tj ((G * q) W)_tj - ((q * c) W)_j.

    Two batched matmuls against the saved W replace the D x D gradient, its transposed copy and the softmax
    backward, which dominate the old backward (memory-bound passes over a [B, D, D] tensor). Not twice
    differentiable.

    Under CUDA autocast the forward's ops run in the dtypes autocast gives them (the matmuls in bf16, the softmax
    in float32), as the graph it replaces would, and ``custom_bwd`` runs the backward under the same autocast
    state, so the bf16 gradient meets the float32 ``w`` in an autocast matmul instead of a dtype error
    (``tests/test_cuda_autocast.py`` emulates this on CPU).
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda")
    def forward(ctx, f: torch.Tensor, q: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(q.transpose(1, 2) @ r, dim=-1)         # [B, D(i), D(j)], logits q_i r_j
        out = f @ w.transpose(1, 2)                              # f x W^cross   [B, T, D]
        ctx.save_for_backward(f, q, r, w, out)
        return out

    @staticmethod
    @once_differentiable
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, g: torch.Tensor):
        f, q, r, w, out = ctx.saved_tensors
        t = f.size(1)
        c = (g * out).sum(1, keepdim=True)                       # [B, 1, D(i)]
        a = torch.cat([g, g * q, q * c], dim=1) @ w              # [B, 2T+1, D(j)]
        b = torch.cat([f * r, r], dim=1) @ w.transpose(1, 2)     # [B, T+1, D(i)]
        grad_f = a[:, :t]
        grad_q = (g * b[:, :t]).sum(1, keepdim=True) - c * b[:, t:]
        grad_r = (f * a[:, t:2 * t]).sum(1, keepdim=True) - a[:, 2 * t:]
        return grad_f, grad_q, grad_r


class _MHAProjection(nn.Linear):
    """W^Q, W^K or W^V held as ``nn.MultiheadAttention`` holds them: the same parameters and the same function as
    ``nn.Linear`` (it is one), but not of the exact type that thop 0.1.1 hooks, so thop counts it as it counts
    ``nn.MultiheadAttention``: not at all (``attention_module: mha``; the Table VIII paper-convention rows)."""


class MultiHeadAttention(nn.Module):
    """Eq. 1: Softmax(Q K^T / sqrt(d)) V with Q = W^Q q, K = W^K k, V = W^V v, W in R^{D x D}, split into heads.

    ``out_proj`` adds the usual output projection after the heads (Eq. 1 has none; off by default).

    A single query (Lq = 1: the global queries of Eq. 2-3 and Eq. 6) is computed with the products reassociated:
    q K^T = (q W^K) k^T and a V = (a v) W^V^T per head, so the keys and values of the whole sequence are never
    projected (B*D*D instead of B*L*D*D multiply-adds), in training and in evaluation. The same function, to float
    rounding (``tests/test_mcd_model.py`` checks it); the dropout masks are drawn on the same [B, h, 1, Lk] tensor.
    Inside ``textbook_attention`` it computes Eq. 1 as written (keys and values projected), which is what the
    Table VIII counts count (``mcd.profile``: thop sees a Linear only when it runs).

    Dropout masks come from ``mcd.models.fast.dropout`` (on CPU: 16 random bits per element instead of a
    ``bernoulli_`` draw), and unmasked attention over a whole sequence from ``fast.attention`` (on CPU: plain bmm
    and softmax instead of SDPA's general math backend); ``tests/test_speed_equivalence.py`` checks both.
    """

    textbook = False   # True (set by ``textbook_attention``): Eq. 1 as written, never reassociated

    def __init__(self, dim: int, heads: int, dropout: float, out_proj: bool = False, module: str = "linear"):
        super().__init__()
        self.heads, self.head_dim, self.dropout = heads, dim // heads, dropout
        proj = nn.Linear if module == "linear" else _MHAProjection
        self.q = proj(dim, dim, bias=False)
        self.k = proj(dim, dim, bias=False)
        self.v = proj(dim, dim, bias=False)
        self.out = nn.Linear(dim, dim) if out_proj else None

    def _reassociated(self, queries: int) -> bool:
        return queries == 1 and not self.textbook

    def _split(self, x: torch.Tensor) -> torch.Tensor:          # [B, L, D] -> [B, h, L, d]
        return x.unflatten(-1, (self.heads, self.head_dim)).transpose(1, 2)

    @staticmethod
    def _merge(x: torch.Tensor) -> torch.Tensor:                # [B, h, L, d] -> [B, L, D]
        return x.transpose(1, 2).flatten(-2)

    def _project_out(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.out is None else self.out(x)

    def forward(self, query, key, value, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The attention result [B, Lq, D]; ``key_mask`` [B, Lk] is True at keys that may be attended."""
        if self._reassociated(query.size(1)):
            # one query (Eq. 2-3, Eq. 6): reassociated, keys and values never projected (see above)
            _, att = self.global_weights(query, key, key_mask)
            return self._project_out(self.pool_values(att, value))
        q, k, v = self._split(self.q(query)), self._split(self.k(key)), self._split(self.v(value))
        if key_mask is None:
            out = attention(q, k, v, self.dropout, self.training)             # Softmax(Q K^T / sqrt(d)) V
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask[:, None, None, :],
                                                 dropout_p=self.dropout if self.training else 0.0)
        return self._project_out(self._merge(out))

    def global_weights(self, query, key, key_mask: torch.Tensor | None = None):
        """Projected query [B, Lq, D] and attention weights [B, h, Lq, Lk] (after dropout).

        One query: reassociated (see the class docstring)."""
        qd = self.q(query)
        if self._reassociated(query.size(1)):
            h, d = self.heads, self.head_dim
            wk = self.k.weight.view(h, d, -1)                                    # W^K per head [h, d, D_in]
            u = (qd.view(-1, h, d).transpose(0, 1) @ wk).transpose(0, 1)        # q_h W^K_h   [B, h, D_in]
            s = (u @ key.transpose(1, 2)).unsqueeze(2)                           # [B, h, 1, Lk]
        else:
            s = self._split(qd) @ self._split(self.k(key)).transpose(-1, -2)
        s = s / math.sqrt(self.head_dim)
        if key_mask is not None:
            s = s.masked_fill(~key_mask[:, None, None, :], float("-inf"))
        return qd, dropout(torch.softmax(s, dim=-1), self.dropout, self.training)

    def pool_values(self, att: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """The heads of att @ V merged, [B, Lq, D] (no output projection). One query: (att @ value) W^V^T per
        head."""
        if self._reassociated(att.size(2)):
            h, d = self.heads, self.head_dim
            pooled = att.squeeze(2) @ value                                      # a v   [B, h, D_in]
            wv = self.v.weight.view(h, d, -1)                                    # W^V per head [h, d, D_in]
            out = pooled.transpose(0, 1) @ wv.transpose(1, 2)                    # [h, B, d]
            return out.transpose(0, 1).reshape(att.size(0), 1, h * d)
        return self._merge(att @ self._split(self.v(value)))


@contextmanager
def textbook_attention(model: nn.Module):
    """While inside, every ``MultiHeadAttention`` of ``model`` computes Eq. 1 as written, projecting the keys and
    values of the whole sequence even for one query: the form whose cost the paper's Table VIII counts."""
    before = [(m, m.textbook) for m in model.modules() if isinstance(m, MultiHeadAttention)]
    for m, _ in before:
        m.textbook = True
    try:
        yield model
    finally:
        for m, was in before:
            m.textbook = was


class BasicEncoders(nn.Module):
    """Sec. III-A: f_a, f_v = linear projections to D per second (patches avg-pooled over space first);
    f_q = the (Bi-)LSTM sentence vector, with the per-token outputs kept for the text attention and keywords."""

    def __init__(self, cfg: MCDConfig, dims: InputDims):
        super().__init__()
        self.use_patches = dims.patch_dim is not None
        self.audio = nn.Linear(dims.audio_dim, cfg.dim)
        self.visual = nn.Linear(dims.patch_dim if self.use_patches else dims.visual_dim, cfg.dim)
        self.question = QuestionEncoder(dims.vocab_size, cfg.dim, bidirectional=cfg.text_encoder == "bilstm")

    def forward(self, batch: dict):
        v = batch["patches"].mean(2) if self.use_patches else batch["visual"]   # avgpool over H x W
        tokens = batch["question"]
        f_q, f_tok = self.question(tokens)
        return self.audio(batch["audio"]), self.visual(v), f_q, f_tok, tokens != 0

    def encode_options(self, options: torch.Tensor) -> torch.Tensor:
        """Multiple choice: [B, K, Lo] option tokens -> [B, K, D], the mean word embedding of the real tokens."""
        real = (options != 0).unsqueeze(-1).to(self.question.embed.weight.dtype)
        return (self.question.embed(options) * real).sum(2) / real.sum(2).clamp(min=1.0)


class _ABBranch(nn.Module):
    """One modality's half of an association block: Eq. 2 (audio) or Eq. 3 (visual), then Eq. 4 or Eq. 5."""

    def __init__(self, cfg: MCDConfig, use_self: bool, use_cross: bool):
        super().__init__()
        d = cfg.dim
        self.cross_weights = cfg.cross_weights
        # projected: the learned D x D of W^cross = diag(r) W_c (decision 9)
        self.cross_proj = nn.Linear(d, d, bias=False) if use_cross and cfg.cross_weights == "projected" else None
        self.self_attn = MultiHeadAttention(d, cfg.heads, cfg.attn_dropout, cfg.attn_out_proj, cfg.attention_module) if use_self else None
        self.cross_attn = MultiHeadAttention(d, cfg.heads, cfg.attn_dropout, cfg.attn_out_proj, cfg.attention_module) if use_cross else None
        has_attn = use_self or use_cross
        self.bn_att = nn.BatchNorm1d(d) if has_attn else None
        if has_attn or cfg.no_attention_branch == "ffn":
            self.ffn = nn.Sequential(nn.Linear(d, cfg.ffn_width), nn.ReLU(), Dropout(cfg.attn_dropout),
                                     nn.Linear(cfg.ffn_width, d))
            self.bn_ffn = nn.BatchNorm1d(d)
        else:
            self.ffn = self.bn_ffn = None

    def cross_attention(self, g: torch.Tensor, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """phi_cross(G, f, f) of Eq. 1 with the other modality's global query G [B, 1, D]: the projected query
        q = G W^Q and the attention result r, both [B, 1, D]."""
        q, att = self.cross_attn.global_weights(g, f)
        return q, self.cross_attn._project_out(self.cross_attn.pool_values(att, f))

    def cross_feature(self, g: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """f_cross = f x W^cross, W^cross from phi_cross(G, f, f) with the other modality's global query G [B, 1, D]."""
        q, r = self.cross_attention(g, f)                        # Eq. 1 with the global query
        if self.cross_weights == "projected":
            return self.cross_proj(f * r)                        # f x W^cross, W^cross = diag(r) W_c^T
        if self.cross_weights == "diag":
            return f * r                                         # W^cross = diag(r)
        # W^cross[j, i] = softmax_j(q_i r_j): column i mixes the input channels j by their affinity with query i;
        # f x W^cross = f @ softmax(q^T r, -1)^T, with a backward that never forms a D x D gradient (_CrossMix)
        return _CrossMix.apply(f, q, r)                          # [B, T, D]

    def forward(self, f: torch.Tensor, g: torch.Tensor):
        """f: this modality [B, T, D]; g: the other modality's global temporal query F [B, 1, D]."""
        cross = self.cross_feature(g, f) if self.cross_attn is not None else None
        terms = []
        if self.self_attn is not None:
            terms.append(self.self_attn(f, f, f))                # phi_self(f, f, f)
        if cross is not None:
            terms.append(cross)                                  # f x phi_cross(F_other, f, f)
        if terms:
            f_x2y = terms[0] if len(terms) == 1 else terms[0] + terms[1]      # Eq. 2 / Eq. 3
            y = f + _bn_seq(self.bn_att, f_x2y)
            out = y + _bn_seq(self.bn_ffn, self.ffn(y))          # Eq. 4 / Eq. 5: f + BN(x) + BN(FFN(f + BN(x)))
        elif self.ffn is not None:
            out = f + _bn_seq(self.bn_ffn, self.ffn(f))          # no attention term: the residual FFN only
        else:
            out = f                                              # no attention term, identity
        return out, cross


class AssociationBlock(nn.Module):
    """Eq. 1-5: self-attention plus bidirectional inter-attention with a global temporal query (DC), residual sums
    with BatchNorm and FFN. Returns the advanced embeddings f^_a, f^_v and the cross-features f_a-cross, f_v-cross
    (None when that cross-attention is switched off) for the contrast of Eq. 12-13."""

    def __init__(self, cfg: MCDConfig):
        super().__init__()
        self.audio = _ABBranch(cfg, cfg.self_audio, cfg.v_query)    # Eq. 2, 4
        self.visual = _ABBranch(cfg, cfg.self_visual, cfg.a_query)  # Eq. 3, 5

    def forward(self, f_a: torch.Tensor, f_v: torch.Tensor):
        F_a = temporal_mean(f_a).unsqueeze(1)                        # DC: [B, T, D] -> [B, 1, D]
        F_v = temporal_mean(f_v).unsqueeze(1)
        hat_a, cross_a = self.audio(f_a, F_v)                        # Eq. 2 + Eq. 4
        hat_v, cross_v = self.visual(f_v, F_a)                       # Eq. 3 + Eq. 5
        return hat_a, hat_v, cross_a, cross_v


class Aggregator(nn.Module):
    """Eq. 6-9, one module shared by the visual and the audio branch (call it on both stacked along the batch).

    zeta_{j-q}: the global AV summary F_j queries the question tokens; f-_q = f_q + that            (Eq. 6, line 1)
    zeta_{q-j}: f-_q queries the k frames; the description of frame i is its share of the attention output,
                h_{j-i} = ReLU(k * a_i * V_i) (k * a_i = 1 for uniform attention)                  (Eq. 6, line 2)
    avgpool over channels scores each frame; the Top-k/2 frames are the clues h-_j; each is stored into the
    question as g(h, f_q) = f_q + h * f_q and the clues are summed                                   (Eq. 7-9)
    """

    def __init__(self, cfg: MCDConfig):
        super().__init__()
        self.topk_ratio, self.reduce = cfg.topk_ratio, cfg.clue_reduce
        self.av_query_text = MultiHeadAttention(cfg.dim, cfg.heads, cfg.attn_dropout, cfg.attn_out_proj,
                                                cfg.attention_module)
        self.text_query_av = MultiHeadAttention(cfg.dim, cfg.heads, cfg.attn_dropout, cfg.attn_out_proj,
                                                cfg.attention_module)

    def num_clues(self, frames: int) -> int:
        return max(1, int(frames * self.topk_ratio))

    def _descriptions(self, a: torch.Tensor, f: torch.Tensor, k: int | None = None) -> torch.Tensor:
        """h_{j-i} = ReLU(k * a_i * V_i) of the frames given (Eq. 6, line 2): a [B, n, h] their attention weights,
        f [B, n, D] their features, k the number of frames attended (default n)."""
        tq = self.text_query_av
        v = tq.v(f).unflatten(-1, (tq.heads, tq.head_dim))                             # V   [B, n, h, d]
        share = (a.unsqueeze(-1) * v).flatten(-2)                                      # a_i * V_i   [B, n, D]
        return torch.relu((k or f.size(1)) * tq._project_out(share))

    def forward(self, f: torch.Tensor, f_q: torch.Tensor, f_tok: torch.Tensor, tok_mask: torch.Tensor):
        """f [B, k, D] (AB output), f_q [B, D], f_tok [B, L, D], tok_mask [B, L] -> f^_jq [B, D], clue index [B, k/2]."""
        k = f.size(1)
        tok_mask = tok_mask | ~tok_mask.any(1, keepdim=True)                           # an all-pad question: no NaN
        F_j = temporal_mean(f).unsqueeze(1)                                            # DC
        f_bar = f_q + self.av_query_text(F_j, f_tok, f_tok, key_mask=tok_mask).squeeze(1)   # Eq. 6, line 1
        _, att = self.text_query_av.global_weights(f_bar.unsqueeze(1), f)            # att [B, h, 1, k]
        a = att.squeeze(2).transpose(1, 2)                                             # a_i per head [B, k, h]
        # The scores only choose the clues (Top-k is not differentiable), so with autograd on they are computed
        # without a graph and h is formed again, with its graph, for the k/2 clues alone: half the backward.
        with torch.no_grad():
            h = self._descriptions(a, f)                                               # Eq. 6, line 2
            score = h.mean(-1)                                                         # avgpool -> [B, k]
            idx = score.topk(self.num_clues(k), dim=1).indices.sort(dim=1).values      # Top-k/2 clips
        pick = idx.unsqueeze(-1)
        if torch.is_grad_enabled():
            h_sel = self._descriptions(a.gather(1, pick.expand(-1, -1, a.size(-1))),
                                       f.gather(1, pick.expand(-1, -1, f.size(-1))), k)   # h-_j [B, k/2, D]
        else:
            h_sel = h.gather(1, pick.expand(-1, -1, h.size(-1)))
        q = f_q.unsqueeze(1)
        clues = q + h_sel * q                                                          # Eq. 9: g(h, f_q)
        f_hat = clues.sum(1) if self.reduce == "sum" else clues.mean(1)                # Eq. 7 / Eq. 8
        return f_hat, idx


class TextObjects(nn.Module):
    """Sentence, question-type and keyword tokens (+ the answer options for multiple choice) -> concat -> FC -> D.

    Keywords = the question tokens filled in from ``templ_values`` (``batch['keyword_mask']``), their LSTM outputs
    mean-pooled; a learned vector stands in when a question has none.
    """

    def __init__(self, dim: int, num_qtypes: int, with_options: bool):
        super().__init__()
        self.qtype = nn.Embedding(num_qtypes, dim)
        self.no_keyword = nn.Parameter(torch.empty(dim).normal_(0.0, 0.1))
        self.refine = nn.Linear((4 if with_options else 3) * dim, dim)   # multi-features refinement

    def forward(self, f_q, f_tok, keyword_mask, qtype, options: torch.Tensor | None = None) -> torch.Tensor:
        m = keyword_mask.unsqueeze(-1).to(f_tok.dtype)
        n = m.sum(1)
        kw = torch.where(n > 0, (f_tok * m).sum(1) / n.clamp(min=1.0), self.no_keyword.to(f_tok.dtype))
        parts = [f_q, self.qtype(qtype), kw]
        if options is not None:
            parts.append(options.mean(1))                                 # the K candidate answers' tokens
        return self.refine(torch.cat(parts, dim=-1))                      # f~_t


class LocalElementFusion(nn.Module):
    """Eq. 10, f~_g = f~_t * (f~_t + F_v + F_a) (or its terms per the Table IX switches), then dropout and FC."""

    def __init__(self, cfg: MCDConfig):
        super().__init__()
        self.use_t, self.use_v, self.use_a = cfg.uses_text_objects, cfg.lef_visual, cfg.lef_audio
        self.dot = cfg.lef_mode == "dot"
        self.drop = Dropout(cfg.dropout)
        self.fc = nn.Linear(cfg.dim, cfg.dim)

    def forward(self, f_t: torch.Tensor | None, F_v: torch.Tensor, F_a: torch.Tensor) -> torch.Tensor:
        terms = ([f_t] if self.use_t else []) + ([F_v] if self.use_v else []) + ([F_a] if self.use_a else [])
        s = terms[0]
        for t in terms[1:]:
            s = s + t                                                    # f~_t + F_v + F_a
        g = f_t * s if (self.dot and self.use_t) else s                   # Eq. 10
        return self.fc(self.drop(g))


@dataclass
class MCMOutput:
    fq_hat: torch.Tensor                      # combinatorial question embedding [B, D]
    F_a: torch.Tensor                         # global audio / visual embeddings used by Eq. 10, Eq. 11 and Fig. 4
    F_v: torch.Tensor
    cross_a: list[torch.Tensor] = field(default_factory=list)   # f_a-cross of each block (Eq. 12)
    cross_v: list[torch.Tensor] = field(default_factory=list)
    clues_a: torch.Tensor | None = None       # selected seconds [B, k/2]
    clues_v: torch.Tensor | None = None


class MutualCorrelationModule(nn.Module):
    """MCM (Sec. III-B, Fig. 3): N association blocks, the shared aggregator, text objects, LEF, and the fusion
    concat(f~_g M_g, f^_vq M_vq, f^_aq M_aq) -> FC (3D -> D) = f^_q."""

    def __init__(self, cfg: MCDConfig, dims: InputDims):
        super().__init__()
        d = cfg.dim
        self.global_av = cfg.global_av
        self.blocks = nn.ModuleList(AssociationBlock(cfg) for _ in range(cfg.num_blocks))
        self.aggregator = Aggregator(cfg)
        self.text_objects = (TextObjects(d, dims.num_qtypes, dims.num_options is not None)
                             if cfg.uses_text_objects else None)
        self.lef = LocalElementFusion(cfg)
        self.M_vq = nn.Parameter(nn.init.xavier_uniform_(torch.empty(d, d)))
        self.M_aq = nn.Parameter(nn.init.xavier_uniform_(torch.empty(d, d)))
        self.M_g = nn.Parameter(nn.init.xavier_uniform_(torch.empty(d, d)))
        self.refine = nn.Linear(3 * d, d)                                  # multi-feature refinement

    def forward(self, f_a, f_v, f_q, f_tok, tok_mask, keyword_mask, qtype, options=None) -> MCMOutput:
        B = f_a.size(0)
        low_a, low_v = f_a, f_v
        cross_a, cross_v = [], []
        for block in self.blocks:                                          # N association blocks (Eq. 1-5)
            f_a, f_v, ca, cv = block(f_a, f_v)
            if ca is not None:
                cross_a.append(ca)
            if cv is not None:
                cross_v.append(cv)
        # one aggregator, shared: visual and audio stacked along the batch (Eq. 6-9)
        agg, idx = self.aggregator(torch.cat([f_v, f_a]), f_q.repeat(2, 1), f_tok.repeat(2, 1, 1),
                                   tok_mask.repeat(2, 1))
        f_vq, f_aq = agg[:B], agg[B:]                                      # Eq. 7, Eq. 8
        src_a, src_v = (low_a, low_v) if self.global_av == "encoder" else (f_a, f_v)
        F_a, F_v = temporal_mean(src_a), temporal_mean(src_v)              # DC
        f_t = (self.text_objects(f_q, f_tok, keyword_mask, qtype, options)
               if self.text_objects is not None else None)
        f_g = self.lef(f_t, F_v, F_a)                                      # Eq. 10 + dropout + FC
        fq_hat = self.refine(torch.cat([f_g @ self.M_g, f_vq @ self.M_vq, f_aq @ self.M_aq], dim=-1))
        return MCMOutput(fq_hat, F_a, F_v, cross_a, cross_v, clues_a=idx[B:], clues_v=idx[:B])


class SemanticApproximation(nn.Module):
    """SA (Sec. III-C): distillation (Eq. 11) between f^_q and Theta(F_v), Theta(F_a), and the audio-visual contrast
    (Eq. 12-13) on the cross-features; returns the losses already weighted as in Eq. 14."""

    def __init__(self, cfg: MCDConfig):
        super().__init__()
        self.cfg = cfg
        need_theta = cfg.loss_distill_v or cfg.loss_distill_a
        self.theta = nn.Linear(cfg.dim, cfg.dim) if need_theta else None   # shared latent-space projection

    def forward(self, fq_hat, F_v, F_a, cross_v: list, cross_a: list,
                video: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``video`` [B]: same-video pairs are no negatives (None: every other sample is one). In training, under
        torch.distributed, the negatives come from every rank (see ``info_nce``)."""
        cfg, losses = self.cfg, {}
        nce = dict(symmetric=cfg.symmetric_nce, video=video, gather=self.training)
        if self.theta is not None:
            anchor = self.theta(fq_hat) if cfg.project_question else fq_hat
            for key, on, F_j in (("distill_v", cfg.loss_distill_v, F_v), ("distill_a", cfg.loss_distill_a, F_a)):
                if on:                                                       # Eq. 11 (cosine / tau)
                    losses[key] = cfg.lambda_distill * info_nce(anchor, self.theta(F_j), cfg.tau, True, **nce)
        if cfg.loss_contrast_av and cross_v and cross_a:
            m_v, m_a = audio_visual_means(cross_v, cross_a)                  # Eq. 12
            losses["contrast_av"] = cfg.lambda_av * info_nce(m_v, m_a, cfg.tau, cfg.contrast_normalize,
                                                             **nce)          # Eq. 13, weighted (Eq. 14)
        return losses


def audio_visual_means(cross_v: list, cross_a: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 12: m_j = the sum over the N blocks of the time-mean of f_j-cross, [B, D] each."""
    return (torch.stack([temporal_mean(c) for c in cross_v]).sum(0),
            torch.stack([temporal_mean(c) for c in cross_a]).sum(0))


class LateFusion(nn.Module):
    """Fig. 4(b): concatenate or add the global audio and/or visual embeddings to f^_q, then FC and dropout."""

    def __init__(self, cfg: MCDConfig):
        super().__init__()
        self.mode, self.mods = cfg.late_fusion, cfg.late_fusion_modalities
        n_in = (1 + len(self.mods)) * cfg.dim if self.mode == "concat" else cfg.dim
        self.fc = nn.Linear(n_in, cfg.dim)
        self.drop = Dropout(cfg.dropout)

    def forward(self, fq_hat, F_a, F_v) -> torch.Tensor:
        parts = [fq_hat] + ([F_a] if "a" in self.mods else []) + ([F_v] if "v" in self.mods else [])
        z = torch.cat(parts, dim=-1) if self.mode == "concat" else sum(parts[1:], parts[0])
        return self.drop(self.fc(z))


class MCD(nn.Module):
    """The full model: basic encoders -> MCM -> f^_q -> linear head (no decision-level AV fusion by default).

    Multiple choice (``dims.num_options`` set): the options' tokens join the text objects and each option is scored
    by the dot product of its embedding with a linear map of f^_q, so logits are [B, K].
    """

    def __init__(self, cfg: MCDConfig, dims: InputDims):
        super().__init__()
        self.cfg, self.multiple_choice = cfg, dims.num_options is not None
        self.encoders = BasicEncoders(cfg, dims)
        self.mcm = MutualCorrelationModule(cfg, dims)
        self.sa = (SemanticApproximation(cfg)
                   if cfg.loss_distill_v or cfg.loss_distill_a or cfg.loss_contrast_av else None)
        self.late_fusion = LateFusion(cfg) if cfg.late_fusion != "none" else None
        self.head = nn.Linear(cfg.dim, cfg.dim if self.multiple_choice else dims.num_answers)

    def forward(self, batch: dict) -> ModelOutput:
        f_a, f_v, f_q, f_tok, tok_mask = self.encoders(batch)
        options = self.encoders.encode_options(batch["options"]) if self.multiple_choice else None
        m = self.mcm(f_a, f_v, f_q, f_tok, tok_mask, batch["keyword_mask"], batch["qtype"], options)
        z = m.fq_hat if self.late_fusion is None else self.late_fusion(m.fq_hat, m.F_a, m.F_v)
        if self.multiple_choice:                                           # score each option against f^_q
            logits = (self.head(z).unsqueeze(1) * options).sum(-1) / math.sqrt(z.size(-1))
        else:
            logits = self.head(z)                                          # the prediction head on f^_q alone
        losses = {}
        if self.sa is not None and (self.training or self.cfg.eval_losses):
            video = None
            if self.cfg.mask_same_video:
                if "video" not in batch:
                    raise ValueError("MCD: mask_same_video needs batch['video'] (long [B], each sample's video; "
                                     "Split.batch gives it), or set model.mcd.mask_same_video=false")
                video = batch["video"]
            losses = self.sa(m.fq_hat, m.F_v, m.F_a, m.cross_v, m.cross_a, video)
        return ModelOutput(logits, losses, {"clues_v": m.clues_v, "clues_a": m.clues_a})
