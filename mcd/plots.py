"""Figures for the book (seaborn). Each takes tidy data and returns the matplotlib figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

sns.set_theme(style="whitegrid", context="notebook")


def paper_vs_ours(df: pd.DataFrame, *, x: str, y: str = "accuracy", hue: str = "source", title: str = "",
                  sd: str | None = None, ylabel: str = "accuracy (%)"):
    """Grouped bars, paper beside ours; ``sd`` names a column of standard deviations drawn as error bars."""
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * df[x].nunique() + 2), 4))
    sns.barplot(data=df, x=x, y=y, hue=hue, ax=ax, errorbar=None)
    if sd is not None:
        for patch_group, (_, sub) in zip(ax.containers, df.groupby(hue, sort=False)):
            for bar, err in zip(patch_group, sub[sd]):
                if pd.notna(err):
                    ax.errorbar(bar.get_x() + bar.get_width() / 2, bar.get_height(), yerr=err, color="black",
                                capsize=3, lw=1)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=30)
    ax.legend(title=None, fontsize="small")
    fig.tight_layout()
    return fig


def answer_shares(shares: pd.DataFrame, title: str = ""):
    """One panel per question type: the share of each of its most frequent answers."""
    g = sns.catplot(data=shares, x="share", y="answer", col="type", col_wrap=3, kind="bar", sharey=False,
                    height=2.6, aspect=1.3, color="#4c72b0")
    g.set_titles("{col_name}")
    g.set_axis_labels("share of the type's questions (%)", "")
    g.figure.suptitle(title, y=1.02)
    return g.figure
