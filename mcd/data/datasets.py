"""Splits as tensors: every question's tokens, type and label, and each feature set once per video.

A batch is gathered by indexing these tensors (no per-sample Python, no DataLoader workers), so an epoch costs
one permutation and a few ``index_select`` calls. The question type travels with every sample.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch

from mcd.data.annotations import (ANSWER_SET, MAX_OPTION_LEN, MAX_QUESTION_LEN, TAXONOMIES, Record, Vocab, load_records,
                                  parse_record)
from mcd.data.features import load_feature_set
from mcd.data.layout import split_files
from mcd.errors import DataError
from mcd.models.base import InputDims

FEATURE_KINDS = {"audio": ("audio_feats", 2), "visual": ("visual_feats", 2), "patches": ("patch_feats", 3)}


@dataclass
class Split:
    name: str
    files: list[Path]
    records: list[Record]
    question: torch.Tensor       # long [N, L]
    keyword_mask: torch.Tensor   # bool [N, L]
    qtype: torch.Tensor          # long [N]
    label: torch.Tensor          # long [N]
    video_index: torch.Tensor    # long [N] -> row of each feature tensor
    video_ids: list[str]
    features: dict[str, torch.Tensor] = field(default_factory=dict)  # kind -> [V, T, ...]
    options: torch.Tensor | None = None  # long [N, K, Lo] (multiple choice)

    def __len__(self) -> int:
        return len(self.records)

    def batch(self, idx: torch.Tensor, device=None) -> dict:
        """Gather the questions ``idx`` and their videos' features into a model batch (see models/base.py)."""
        vid = self.video_index[idx]
        out = {
            "question": self.question[idx], "keyword_mask": self.keyword_mask[idx],
            "qtype": self.qtype[idx], "label": self.label[idx], "video": vid,
        }
        for kind, feats in self.features.items():
            out[kind] = feats[vid]
        if self.options is not None:
            out["options"] = self.options[idx]
        if device is not None:
            out = {k: v.to(device, non_blocking=True) for k, v in out.items()}
        return out


def read_split_records(data_cfg, split: str, *, collect: list | None = None) -> tuple[list[Path], list[Record]]:
    files, records, _ = read_with_origin(data_cfg, split, collect)
    return files, records


def record_loader(data_cfg):
    """The annotation reader of ``data_cfg.format``: Music-AVQA's ``load_records`` (its answers checked against the
    data set's answer set, unless ``data.allow_new_answers``) or AVQA's (answers are option indices)."""
    if getattr(data_cfg, "format", "music_avqa") == "avqa":
        from mcd.data.avqa import load_avqa_records
        return load_avqa_records
    answers = None if getattr(data_cfg, "allow_new_answers", False) else ANSWER_SET
    return partial(load_records, parse=partial(parse_record, answers=answers))


def read_with_origin(data_cfg, split, collect=None):
    """Records of a split and, for each, (file, index in that file), so that errors can name the record. With
    ``collect`` a list, every problem (a bad record, an unreadable file) is appended to it and the rest is read."""
    files = split_files(data_cfg, split)
    load = record_loader(data_cfg)
    records: list[Record] = []
    origin: list[tuple[Path, int]] = []
    for f in files:
        kept: list[int] = []
        try:
            records += load(f, collect=collect, indices=kept)
        except DataError as e:  # the file as a whole: with ``collect``, said and skipped; the others are read
            if collect is None:
                raise
            collect.append(e)
        origin += [(f, i) for i in kept]
    return files, records, origin


def build_vocab(data_cfg) -> Vocab:
    """Vocabularies from the train split, in order of first appearance (saved with each run)."""
    _, records = read_split_records(data_cfg, "train")
    return Vocab.build(records)


def encode_options(options: tuple[str, ...], vocab: Vocab, length: int = MAX_OPTION_LEN) -> list[list[int]]:
    return [([vocab.word_index.get(w, 1) for w in o.split()] + [0] * length)[:length] for o in options]


def load_split(data_cfg, split: str, vocab: Vocab, *, progress: bool = True) -> Split:
    """Read a split's annotations and its features (once), checking every record against the vocabulary."""
    files, records, origin = read_with_origin(data_cfg, split)
    if not records:
        raise DataError(files[0] if files else None, None, f"split {split!r} has no records")
    video_ids = sorted({r.video_id for r in records})
    features = load_features(data_cfg, video_ids, progress=progress)
    return make_split(split, files, records, origin, vocab, video_ids, features, data_cfg.multiple_choice)


def load_features(data_cfg, video_ids: list[str], *, progress: bool = True) -> dict[str, torch.Tensor]:
    """Every configured feature set for ``video_ids``, as [V, T, ...] tensors (memory-mapped when large)."""
    features = {}
    for kind, (attr, ndim) in FEATURE_KINDS.items():
        name = getattr(data_cfg, attr)
        if name is not None:
            arr = load_feature_set(data_cfg.root, name, video_ids, ndim=ndim, seconds=data_cfg.seconds,
                                   stride=data_cfg.stride, cache_dir=data_cfg.cache_dir, progress=progress)
            features[kind] = torch.from_numpy(arr)
    return features


def make_split(name, files, records, origin, vocab: Vocab, video_ids, features, multiple_choice: bool = False,
               *, labelled: bool = True) -> Split:
    """Encode records as tensors. ``labelled=False`` (questions asked by a user) skips the answer check."""
    taxonomies = {r.taxonomy for r in records}
    if len(taxonomies) > 1:
        raise DataError(files[0] if files else None, None,
                        f"split {name!r} mixes question-type taxonomies {sorted(taxonomies)}")
    question, kmask, labels = [], [], []
    for i, r in enumerate(records):
        if multiple_choice and not r.options:
            raise DataError(*origin[i], "data.multiple_choice is set but the record has no options (the AVQA "
                                        "release of Yang et al. is read with data.format=avqa)",
                            question_id=r.question_id)
        if multiple_choice and len(r.options) != len(records[0].options):
            raise DataError(*origin[i], f"the record has {len(r.options)} options where the split's first record "
                                        f"has {len(records[0].options)}", question_id=r.question_id)
        question.append(vocab.encode_question(r.tokens))
        m = [False] * MAX_QUESTION_LEN
        for p in r.keyword_pos:
            m[p] = True
        kmask.append(m)
        if not labelled:
            labels.append(-1)
        elif multiple_choice:
            if r.answer not in r.options:
                raise DataError(*origin[i], f"answer {r.answer!r} is not one of the options {list(r.options)}",
                                question_id=r.question_id)
            labels.append(r.options.index(r.answer))
        else:
            # An answer of the data set that train never held has no class: no model trained on this train split
            # can give it, so it is scored as wrong (label -1; ``mcd data check`` warns). Answers outside the data
            # set's answer set never get here: the schema refuses them.
            labels.append(vocab.answer_index.get(r.answer, -1))
    row = {v: i for i, v in enumerate(video_ids)}
    options = None
    if multiple_choice:
        options = torch.tensor([encode_options(r.options, vocab) for r in records], dtype=torch.long)
    return Split(
        name=name, files=files, records=records,
        question=torch.tensor(question, dtype=torch.long), keyword_mask=torch.tensor(kmask, dtype=torch.bool),
        qtype=torch.tensor([r.qtype for r in records], dtype=torch.long), label=torch.tensor(labels),
        video_index=torch.tensor([row[r.video_id] for r in records], dtype=torch.long), video_ids=video_ids,
        features=features, options=options,
    )


def input_dims(split: Split, vocab: Vocab) -> InputDims:
    f = split.features
    return InputDims(
        audio_dim=f["audio"].shape[-1] if "audio" in f else 128,
        visual_dim=f["visual"].shape[-1] if "visual" in f else 512,
        patch_dim=f["patches"].shape[-1] if "patches" in f else None,
        num_patches=f["patches"].shape[2] if "patches" in f else None,
        seconds=next(iter(f.values())).shape[1] if f else 1,
        vocab_size=len(vocab.words),
        num_answers=len(vocab.answers),
        num_options=split.options.shape[1] if split.options is not None else None,
        num_qtypes=len(TAXONOMIES[split.records[0].taxonomy]) if split.records else len(TAXONOMIES["music_avqa"]),
    )


def batches(n: int, batch_size: int, *, shuffle: bool, seed: int = 0, rank: int = 0, world: int = 1):
    """Index batches for one epoch. With ``world`` > 1 every rank gets an equal share of one permutation (the
    permutation is padded by wrapping, as DistributedSampler does), so ranks take the same number of steps."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)) if shuffle else torch.arange(n)
    if world > 1:
        per_rank = -(-n // world)
        order = torch.cat([order, order[: per_rank * world - n]])[rank::world]
    for i in range(0, len(order), batch_size):
        yield order[i:i + batch_size]
