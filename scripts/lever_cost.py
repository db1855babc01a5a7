"""What each speed-up of the training step gives: ms per training step of a model with every optimisation, with
each one replaced by the straightforward code, and with all of them replaced. A measurement command, not a test.

    python scripts/lever_cost.py                     # MCD, PSTP-Net, AVST, MLP on the default profile's data
    python scripts/lever_cost.py --models mcd --steps 20 --rounds 5
    python scripts/lever_cost.py --models mcd --profile 15   # also torch.profiler's top operations per step,
                                                             # with and without the optimisations

The straightforward forms are those ``tests/test_speed_equivalence.py`` checks the optimised ones against
(imported from it): ``F.dropout``, ``F.scaled_dot_product_attention``, ``nn.MultiheadAttention`` called as a
module, the packed LSTM and the for-each Adam. One process, one thread, the same real batches (the default
profile's train split, seed 1's draw: ``--root``) for every variant; the variants take turns for ``--rounds``
rounds and each reports its fastest round, so that all of them see the same load. ``ratio``: the variant's step
time over the fully optimised one's.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(HERE), str(HERE / "tests")]

MODELS = ("mcd", "pstp", "avst", "mlp", "qonly")
ALL = set(MODELS)
LEVERS = {   # lever -> (module attributes it replaces, the straightforward stand-in's name, the models using it)
    "dropout masks": (["mcd.models.fast.dropout", "mcd.models.mcd.dropout"], "dropout", ALL),
    "attention": (["mcd.models.mcd.attention"], "attention", {"mcd"}),
    "MHA query (reassociated)": (["mcd.models.layers.mha_query"], "mha_query", {"pstp", "avst"}),
    "MHA self": (["mcd.models.pstp.mha_self"], "mha_self", {"pstp"}),
    "padded LSTM": (["mcd.models.layers.QuestionEncoder.forward"], "packed_lstm", ALL),
    "fused Adam": (["mcd.train.adam"], "foreach_adam", ALL),
}


def stand_ins() -> dict:
    import torch
    from test_speed_equivalence import Straightforward, packed_question_encoder

    def foreach_adam(params, lr, betas=(0.9, 0.999), weight_decay=0.0):
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay, foreach=True)

    return {"dropout": Straightforward.dropout, "attention": Straightforward.attention,
            "mha_query": Straightforward.mha_query, "mha_self": Straightforward.mha_self,
            "packed_lstm": lambda enc, tokens: packed_question_encoder(enc, tokens), "foreach_adam": foreach_adam}


def _resolve(path: str):
    import importlib
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for name in parts[i:-1]:
            obj = getattr(obj, name)
        return obj, parts[-1]
    raise ValueError(path)


class Replaced:
    """Within the block, the levers named are replaced by their straightforward forms."""

    def __init__(self, levers, forms):
        self.targets = [(path, forms[LEVERS[lever][1]]) for lever in levers for path in LEVERS[lever][0]]

    def __enter__(self):
        self.saved = []
        for path, new in self.targets:
            owner, name = _resolve(path)
            self.saved.append((owner, name, getattr(owner, name)))
            setattr(owner, name, new)

    def __exit__(self, *exc):
        for owner, name, old in reversed(self.saved):
            setattr(owner, name, old)


def top_operations(fn, steps: int, n: int):
    """torch.profiler over ``fn`` (``steps`` training steps): the ``n`` operations with the most self CPU time, per
    step, with their share of the total."""
    import pandas as pd
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    rows = [{"operation": e.key, "ms/step": e.self_cpu_time_total / steps / 1000, "calls/step": e.count / steps,
             "share %": 100 * e.self_cpu_time_total / total} for e in events]
    return pd.DataFrame(rows).sort_values("ms/step", ascending=False).head(n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["mcd", "pstp", "avst", "mlp"], choices=MODELS)
    ap.add_argument("--steps", type=int, default=10, help="training steps per variant and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--root", default=str(HERE / "data" / "synthavqa2.0-default-s1"))
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="also print the N operations with the most self CPU time per step (torch.profiler, "
                         "--steps steps) with all optimisations and with none")
    args = ap.parse_args()

    import pandas as pd
    import torch

    import mcd.train
    from mcd.data.datasets import batches, build_vocab, input_dims, load_split
    from mcd.models.registry import build_model
    from mcd.profile import training_loss
    from mcd.study import model_configs

    torch.set_num_threads(1)
    forms = stand_ins()
    rows = []
    for model_name in args.models:
        cfg = model_configs("default", model_name, seeds=[1])[0]
        cfg.data.root = args.root
        vocab = build_vocab(cfg.data)
        split = load_split(cfg.data, "train", vocab, progress=False)
        torch.manual_seed(1)
        initial = build_model(cfg.model, input_dims(split, vocab))
        order = list(batches(len(split), cfg.train.batch_size, shuffle=True, seed=1))
        used = [lever for lever, (_, _, models) in LEVERS.items() if model_name in models]
        variants = {"all optimisations": []} | {f"without {lever}": [lever] for lever in used} \
            | {"none (straightforward)": used}
        state = {}
        for name, levers in variants.items():
            with Replaced(levers, forms):
                model = copy.deepcopy(initial).train()
                state[name] = (model, mcd.train.adam(model.parameters(), lr=cfg.train.lr))

        def run(name: str, steps: int) -> float:
            model, opt = state[name]
            t0 = time.perf_counter()
            with Replaced(variants[name], forms):
                for i in range(steps):
                    b = split.batch(order[i % len(order)])
                    loss = training_loss(model(b), b)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    loss.item()
            return (time.perf_counter() - t0) / steps

        best = {name: float("inf") for name in variants}
        for name in variants:
            run(name, 2)                                                  # warm-up
        for _ in range(args.rounds):
            for name in variants:
                best[name] = min(best[name], run(name, args.steps))
        for name in variants:
            rows.append({"model": model_name, "variant": name, "ms/step": 1000 * best[name],
                         "ratio": best[name] / best["all optimisations"]})
        if args.profile:
            for name in ("none (straightforward)", "all optimisations"):
                print(f"\n{model_name}, {name}: top operations by self CPU time per training step")
                print(top_operations(lambda: run(name, args.steps), args.steps, args.profile).to_string(
                    index=False, float_format=lambda x: f"{x:.2f}"))
    table = pd.DataFrame(rows)
    print(f"training steps on real batches, 1 thread, fastest of {args.rounds} rounds of {args.steps} steps; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))


if __name__ == "__main__":
    main()
