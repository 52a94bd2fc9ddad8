"""A head trained on frozen features: an MLP in PyTorch on the feature sets the kernel head reads (the
fold's embeddings, the tabular columns, the extractors; after a selection, the fold's chosen sets), the
third column of the RAPIDS write-up's comparison (cuML SVR, scikit-learn SVR, a PyTorch MLP head).

It gets the training a user would give it: inputs standardised on the fold's training rows, AdamW,
the task's loss (the same objective as the fine-tuned head: BCE on the scaled target for Pawpularity,
cross-entropy for multiclass), minibatches shuffled from the seed, and early stopping on the fold's
validation rows by the task's metric (the best epoch's weights are kept, as the fine-tuned head keeps
its best checkpoint; like it, the epoch is chosen on the rows it is scored on). It runs on the GPU where
there is one. The fitted head is plain tensors (its weights, standardisation and objective), loaded
with weights_only=True, and the Kaggle notebook predicts through this module.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..io import atomic_path
from ..task import Task
from .objective import Objective, mlp_head


@dataclass(frozen=True)
class FrozenMLPConfig:
    """The `frozen_mlp` block of the config (its defaults live in the schema)."""

    hidden: int
    dropout: float
    lr: float
    weight_decay: float
    epochs: int
    patience: int
    batch_size: int


class FrozenMLP(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float, n_outputs: int):
        super().__init__()
        self.net = mlp_head(dim, hidden, dropout, n_outputs)
        self.n_outputs = n_outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out.squeeze(-1) if self.n_outputs == 1 else out


@dataclass
class FittedMLP:
    """A trained frozen-feature head: predicts from raw (unstandardised) features."""

    model: FrozenMLP
    objective: Objective
    mean: np.ndarray
    scale: np.ndarray
    meta: dict

    @property
    def feature_sets(self) -> list[str]:
        return list(self.meta.get("feature_sets", ["embedding"]))

    @torch.no_grad()
    def predict(self, x, device: str | torch.device = "cpu", batch: int = 4096) -> np.ndarray:
        """Predictions (float64): values, or probabilities; computed on `device`."""
        x = np.asarray(x.get() if hasattr(x, "get") else x, np.float64)
        xs = ((x - self.mean) / self.scale).astype(np.float32)
        model = self.model.to(device).eval()
        out = [
            self.objective.predict(model(torch.from_numpy(xs[i : i + batch]).to(device))).cpu().numpy()
            for i in range(0, len(xs), batch)
        ]
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def save(self, path: str | Path) -> None:
        arch = {"dim": self.model.net[0].in_features, "hidden": self.model.net[0].out_features,
                "dropout": self.model.net[2].p, "n_outputs": self.model.n_outputs}  # fmt: skip
        state = {
            "model": self.model.state_dict(),
            "arch": arch,
            "objective": self.objective.to_dict(),
            "meta": self.meta,
        }
        state |= {"mean": torch.from_numpy(self.mean), "scale": torch.from_numpy(self.scale)}
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    @classmethod
    def load(cls, path: str | Path) -> FittedMLP:
        state = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain values: no code runs
        model = FrozenMLP(**state["arch"])
        model.load_state_dict(state["model"])
        return cls(model, Objective.from_dict(state["objective"]), state["mean"].numpy(), state["scale"].numpy(),
                   state["meta"])  # fmt: skip


def fit_frozen_mlp(
    x_fit, y_fit, x_val, y_val, task: Task, cfg: FrozenMLPConfig, seed: int, device: str = "cpu"
) -> tuple[FittedMLP, dict]:
    """Train on (x_fit, y_fit), stopping early on (x_val, y_val) by the task's metric; (the fitted head with
    the best epoch's weights, its history). Targets are values or class indices."""
    t0 = time.perf_counter()
    x_fit, x_val = (np.asarray(a.get() if hasattr(a, "get") else a, np.float64) for a in (x_fit, x_val))
    mean, scale = x_fit.mean(axis=0), x_fit.std(axis=0)
    scale = np.where(scale < 10 * np.finfo(np.float64).eps, 1.0, scale)
    objective = Objective.from_dict(task.objective(y_fit))
    dev = torch.device(device)
    torch.manual_seed(seed)
    model = FrozenMLP(x_fit.shape[1], cfg.hidden, cfg.dropout, objective.n_outputs).to(dev)
    targets = objective.targets(y_fit)
    with torch.no_grad():
        model.net[-1].bias.copy_(torch.tensor(objective.initial_bias(targets), dtype=torch.float32))
    xs = torch.from_numpy(((x_fit - mean) / scale).astype(np.float32)).to(dev)
    ys = torch.from_numpy(targets).to(dev)
    fitted = FittedMLP(model, objective, mean, scale, {})
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    criterion, scorer = objective.criterion(), task.scorer
    gen = torch.Generator().manual_seed(seed)
    best, best_state, best_epoch, waited, history = scorer.worst, None, 0, 0, []
    for epoch in range(cfg.epochs):
        model.train()
        order = torch.randperm(len(xs), generator=gen).to(dev)
        total = torch.zeros((), device=dev)  # summed on the device: one host sync an epoch
        for start in range(0, len(xs), cfg.batch_size):
            rows = order[start : start + cfg.batch_size]
            loss = criterion(model(xs[rows]).float(), ys[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(rows)
        score = task.score(y_val, fitted.predict(x_val, dev))
        history.append({"epoch": epoch + 1, "train_loss": total.item() / len(xs), f"val_{task.metric_name}": score})
        if scorer.better(score, best):
            best, best_epoch, waited = score, epoch + 1, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited >= cfg.patience:
                break
    model.load_state_dict(best_state)
    fitted.model = model.cpu()
    summary = {"best_epoch": best_epoch, "epochs_run": len(history), "val_score": best,
               "fit_s": time.perf_counter() - t0, "device": str(dev)}  # fmt: skip
    return fitted, {**summary, "history": history}


def fit_fold(job, cfg: FrozenMLPConfig, features: dict, seed: int, device: str) -> dict:
    """The frozen-feature MLP of one fold: fitted on the other folds' rows, stopped early on the fold's,
    its predictions for the fold's rows and the test set, and the fitted head. `job` is a heads.stage.SVRJob:
    it reads the feature files the svr rule reads (its `tuning` is not used)."""
    from ..features import combine
    from ..frames import host_lib
    from ..io import read_csv, write_csv, write_json
    from ..logs import log
    from .stage import fold_feature_sets, oof_frame

    task = Task.load(job.task)
    folds = read_csv(job.folds_csv)
    sets, _ = fold_feature_sets(job, folds, features, host_lib())
    x, x_test = combine(sets)
    val = folds["fold"].to_numpy() == job.fold
    y = task.encode(folds)
    fitted, info = fit_frozen_mlp(x[~val], y[~val], x[val], y[val], task, cfg, seed * 1000 + job.fold, device)
    fitted.meta["feature_sets"] = list(sets)
    fitted.save(job.out_model)
    oof = task.put(oof_frame(folds, val, task), "pred", fitted.predict(x[val], device))
    test_ids = np.load(job.inputs.embeddings)["test_ids"]
    test = task.put(pd.DataFrame({"Id": test_ids}), "pred", fitted.predict(x_test, device))
    write_csv(oof, job.out_oof)
    write_csv(test, job.out_test)
    score = task.score(y[val], task.get(oof, "pred"))
    summary = {"fold": job.fold, "score": score, "features": list(sets), **{k: v for k, v in info.items()}}
    write_json(summary, job.out_summary)
    log.info(
        "fold %d: frozen-feature MLP on %s (%d features, %s): best epoch %d of %d, fit %.1f s; OOF %s %.4f",
        job.fold, "+".join(sets), x.shape[1], device, info["best_epoch"], info["epochs_run"], info["fit_s"],
        task.scorer.label, score,
    )  # fmt: skip
    return summary
