"""The study: the book's chapters as runs, tables and comparisons, and ``mcd study``, which trains what the
chapters read, executes them and builds the book.

    profiles.py     named profiles (data, width, epochs, seeds), where each seed's data draw lies, data labels
    experiments.py  one way to build every model's config (MCD and the baselines, the peers, ablation rows)
    chapters.py     the runs each chapter reads, declared once; ``study_plan`` collects them all
    results.py      finished runs: kept results, training where missing, the parallel plan, ``verify``
    tables.py       seed tables, paper beside ours, tidy frames, curves
    verdicts.py     the one rule that says whether a claim holds, and the paper's claims C1-C8
    comparisons.py  MCD against the floor, same-seed differences, fit, W^cross diagnostics, data checks
    pipeline.py     ``mcd study``: train, execute the chapters, build the book

Notebooks stay thin: ``groups = chapters.table7_attention(profile, seeds=..., overrides=...)``, then
``results = run_groups(groups)``, then a table and a figure from ``tables`` / ``comparisons``, and the verdicts
from ``verdicts``.
"""
from mcd.study import chapters, verdicts
from mcd.study.comparisons import (accuracy_by_split, add_extra_visual_sets, cross_weight_measurements,
                                   ensure_extra_visual_sets, paired_differences, same_video_pairs_per_batch,
                                   versus_floor)
from mcd.study.experiments import (PEER_LR, PEERS, experiment, field_overrides, model_configs, peer_experiment,
                                   peer_recipe, real_qonly_config, variant_configs)
from mcd.study.pipeline import NOTEBOOKS, run_study, verify_study
from mcd.study.profiles import (REPO, STUDY_PROFILES, StudyProfile, current_profile, data_label, data_root,
                                results_dir, uses_synth)
from mcd.study.results import finished_run, model_runs, run_groups, run_variants, runs, train_plan, verify
from mcd.study.tables import (SeedTable, curve_summary, curves, mean_sd, paper_rows_as_variants, paper_vs_ours_long,
                              scores_long, scores_of, side_by_side, variant_table)

__all__ = [
    "chapters", "verdicts", "accuracy_by_split", "add_extra_visual_sets", "cross_weight_measurements", "ensure_extra_visual_sets",
    "paired_differences", "same_video_pairs_per_batch", "versus_floor", "PEER_LR", "PEERS", "experiment",
    "field_overrides", "model_configs", "peer_experiment", "peer_recipe", "real_qonly_config", "variant_configs", "NOTEBOOKS", "run_study",
    "verify_study", "REPO", "STUDY_PROFILES", "StudyProfile", "current_profile", "data_label", "data_root",
    "results_dir", "uses_synth", "finished_run", "model_runs", "run_groups", "run_variants", "runs", "train_plan",
    "verify", "SeedTable", "curve_summary", "curves", "mean_sd",
    "paper_rows_as_variants", "paper_vs_ours_long", "scores_long", "scores_of", "side_by_side", "variant_table",
]
