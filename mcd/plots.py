"""Figures for the book (seaborn). Each takes tidy data and returns the matplotlib figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.container import BarContainer
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


def paper_vs_ours_panels(df: pd.DataFrame, *, x: str, panel: str, y: str = "accuracy", hue: str = "source",
                         sd: str | None = None, title: str = "", ylabel: str = "accuracy (%)", col_wrap: int = 2):
    """:func:`paper_vs_ours` with one panel per value of ``panel`` (e.g. per score column), ``col_wrap`` panels a
    row, one legend below; ``sd`` names a column of standard deviations drawn as error bars."""
    panels = list(dict.fromkeys(df[panel]))
    ncols = min(len(panels), col_wrap)
    nrows = -(-len(panels) // ncols)
    width = max(4.0, 0.8 * df[x].nunique() + 1.5)
    total = max(8.0, width * ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(total, 3.8 * nrows), squeeze=False)
    flat = list(axes.flat)
    hue_order = list(dict.fromkeys(df[hue]))
    for ax, name in zip(flat, panels):
        sub = df[df[panel] == name]
        sns.barplot(data=sub, x=x, y=y, hue=hue, ax=ax, errorbar=None, hue_order=hue_order)
        if sd is not None:
            order = [t.get_text() for t in ax.get_xticklabels()]
            containers = [c for c in ax.containers if isinstance(c, BarContainer)]
            if len(containers) != len(hue_order):   # seaborn 0.13 makes one per level, empty for absent ones
                containers = [c for c in containers if len(c)]
                levels = [h for h in hue_order if (sub[hue] == h).any()]
            else:
                levels = hue_order
            for level, container in zip(levels, containers):
                errs = sub[sub[hue] == level].set_index(x)[sd]
                for bar in container:
                    cx = bar.get_x() + bar.get_width() / 2
                    err = errs.get(order[int(round(cx))]) if 0 <= round(cx) < len(order) else None
                    if err is not None and pd.notna(err):
                        ax.errorbar(cx, bar.get_height(), yerr=err, color="black", capsize=3, lw=1)
        ax.set_title(str(name))
        ax.set_xlabel("")
        ax.set_ylabel(ylabel if ax in axes[:, 0] else "")
        ax.tick_params(axis="x", rotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    for ax in flat[len(panels):]:
        ax.set_visible(False)
    handles = {}
    for ax in flat[:len(panels)]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    one_row = sum(len(k) + 6 for k in handles) < 11 * total       # about 11 characters of small text an inch
    lines = 1 if one_row else len(handles)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, (0.03 + 0.06 * lines) / nrows, 1, 1))
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles) if one_row else 1,
               fontsize="small", frameon=False)
    return fig


def grouped_bars(df: pd.DataFrame, *, x: str, hue: str, col: str | None = None, y: str = "accuracy",
                 title: str = "", ylabel: str = "accuracy (%)", order=None, hue_order=None, col_order=None,
                 height: float = 3.6, aspect: float = 1.6, col_wrap: int | None = 1):
    """Bars of ``y`` by ``x`` and ``hue``, one panel per ``col`` value (one panel per row by default, so that the
    figure keeps the page column's width). ``df`` holds one row per observation (a seed of ours, or the paper's
    single number): the bar is their mean and the black line ±1 sd over them, drawn only where there are several."""
    g = sns.catplot(data=df, x=x, y=y, hue=hue, col=col, kind="bar", errorbar="sd", order=order,
                    hue_order=hue_order, col_order=col_order, height=height, aspect=aspect, sharey=True,
                    col_wrap=col_wrap if col is not None else None,
                    err_kws={"color": "black", "linewidth": 1}, capsize=0.15)
    g.set_axis_labels("", ylabel)
    if col is not None:
        g.set_titles("{col_name}")
    for ax in g.axes.flat:
        ax.tick_params(axis="x", rotation=35)
    if g.legend is not None:
        g.legend.set_title(None)
    g.figure.suptitle(title, y=1.03)
    return g.figure


def learning_curves(df: pd.DataFrame, *, col: str = "variant", hue: str = "split", col_order=None,
                    col_wrap: int | None = 4, title: str = "", ylabel: str = "accuracy (%)"):
    """Per-epoch accuracy, one panel per ``col`` value: the mean line over seeds and a ±1 sd band (as the curves
    of the paper's Fig. 5: val and test after every epoch). ``df``: epoch, accuracy, ``hue``, ``col``, seed."""
    from matplotlib.ticker import MaxNLocator

    g = sns.relplot(data=df, x="epoch", y="accuracy", hue=hue, col=col, col_order=col_order, col_wrap=col_wrap,
                    kind="line", errorbar="sd", marker="o", markersize=3, height=2.8, aspect=1.2,
                    facet_kws={"sharey": True, "sharex": True})
    g.set_axis_labels("epoch", ylabel)
    g.set_titles("{col_name}")
    for ax in g.axes.flat:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if g.legend is not None:
        g.legend.set_title(None)
    g.figure.suptitle(title, y=1.03)
    return g.figure
