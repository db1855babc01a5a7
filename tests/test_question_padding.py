"""The question encoders ignore padding: the same questions padded to 6 and to 14 tokens give the same sentence and
token embeddings (LSTM and Bi-LSTM), and the same outputs through every model's question path (MCD, AVST, PSTP-Net,
the question-only LSTM and the Table II MLP)."""
from __future__ import annotations

import pytest
import torch

from mcd.models.avst import AVST, AVSTConfig
from mcd.models.base import InputDims
from mcd.models.baselines import MLPConfig, ModalityMLP, QOnlyConfig, QOnlyLSTM
from mcd.models.layers import QuestionEncoder
from mcd.models.mcd import MCD, MCDConfig
from mcd.models.pstp import PSTPConfig, PSTPNet

B, D, SHORT, LONG = 6, 16, 6, 14
LENGTHS = torch.tensor([6, 3, 5, 1, 4, 2])
DIMS = InputDims(audio_dim=12, visual_dim=20, patch_dim=8, num_patches=4, seconds=10, vocab_size=30, num_answers=7,
                 question_len=LONG)


def questions(length: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and keyword mask of the same B questions (at most SHORT real tokens), padded to ``length``."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(1, DIMS.vocab_size, (B, SHORT), generator=g)
    tokens[torch.arange(SHORT)[None, :] >= LENGTHS[:, None]] = 0
    keywords = torch.zeros(B, SHORT, dtype=torch.bool)
    keywords[:, 0] = True
    pad = length - SHORT
    return (torch.cat([tokens, torch.zeros(B, pad, dtype=torch.long)], 1),
            torch.cat([keywords, torch.zeros(B, pad, dtype=torch.bool)], 1))


@pytest.mark.parametrize("bidirectional", [False, True], ids=["lstm", "bilstm"])
def test_padding_length_never_changes_the_question_embeddings(bidirectional):
    torch.manual_seed(0)
    enc = QuestionEncoder(DIMS.vocab_size, D, bidirectional)
    (short, _), (long, _) = questions(SHORT), questions(LONG)
    s_short, t_short = enc(short)
    s_long, t_long = enc(long)
    torch.testing.assert_close(s_long, s_short)
    torch.testing.assert_close(t_long[:, :SHORT], t_short)
    assert t_long.shape == (B, LONG, D) and t_short.shape == (B, SHORT, D)
    real = long != 0
    assert (t_long[~real] == 0).all(), "per-token outputs at padding must be exactly 0"


@pytest.mark.parametrize("bidirectional", [False, True], ids=["lstm", "bilstm"])
def test_packed_encoder_equals_each_question_read_alone(bidirectional):
    """The reference: every question run through the LSTM by itself, without any padding."""
    torch.manual_seed(0)
    enc = QuestionEncoder(DIMS.vocab_size, D, bidirectional)
    tokens, _ = questions(LONG)
    sentence, per_token = enc(tokens)
    for i, n in enumerate(LENGTHS.tolist()):
        out, (h, _) = enc.lstm(enc.embed(tokens[i:i + 1, :n]))
        torch.testing.assert_close(sentence[i], enc.merge(torch.cat(list(h), -1))[0])
        torch.testing.assert_close(per_token[i, :n], enc.merge(out)[0])


def _batch(length: int) -> dict:
    g = torch.Generator().manual_seed(1)
    tokens, keywords = questions(length)
    return {"audio": torch.randn(B, DIMS.seconds, DIMS.audio_dim, generator=g),
            "visual": torch.randn(B, DIMS.seconds, DIMS.visual_dim, generator=g),
            "patches": torch.randn(B, DIMS.seconds, DIMS.num_patches, DIMS.patch_dim, generator=g),
            "question": tokens, "keyword_mask": keywords, "qtype": torch.arange(B) % DIMS.num_qtypes,
            "video": torch.arange(B)}


MODELS = {
    "mcd-lstm": lambda: MCD(MCDConfig(dim=D, heads=4), DIMS),
    "mcd-bilstm": lambda: MCD(MCDConfig(dim=D, heads=4, text_encoder="bilstm"), DIMS),
    "avst": lambda: AVST(AVSTConfig(dim=D, heads=4, match_hidden=[8]), DIMS),
    "pstp": lambda: PSTPNet(PSTPConfig(dim=D, heads=4, top_m=2, reason_heads=2), DIMS),
    "qonly-lstm": lambda: QOnlyLSTM(QOnlyConfig(dim=D), DIMS),
    "qonly-bilstm": lambda: QOnlyLSTM(QOnlyConfig(dim=D, bidirectional=True), DIMS),
    "mlp-qav": lambda: ModalityMLP(MLPConfig(dim=D, hidden=D), DIMS),
}


@pytest.mark.parametrize("name", MODELS)
def test_padding_length_never_changes_a_models_answer(name):
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    with torch.no_grad():
        short, long = model(_batch(SHORT)), model(_batch(LONG))
    torch.testing.assert_close(long.logits, short.logits)
    for key, value in short.extras.items():
        torch.testing.assert_close(long.extras[key], value, msg=key)
