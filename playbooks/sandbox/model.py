"""Training entrypoint for tabular binary classifiers (the sandbox's and any profile's).

Profiles name ``playbooks.sandbox.model:train`` as their ``training.entrypoint``; the retrain
remediation calls it as ``train(frame, numeric=..., categorical=..., target=..., seed=...)``.

The classifier is a regularised logistic regression on standardised numerics and one-hot
categoricals, i.e. a credit scorecard: it is what credit teams actually run, it trains on 20k
rows in well under a second, its probabilities are calibrated out of the box, and - being
linear - it has to be refitted when the population moves into a region where a different
linear approximation of the risk is right, which is exactly what the drift playbooks exercise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, precision_score, recall_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

__all__ = ["evaluate", "score", "train"]


def train(
    frame: pd.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    target: str,
    seed: int = 0,
) -> Pipeline:
    """Fit a preprocessing + logistic-regression pipeline predicting ``target`` (0/1).

    Rows without a label are dropped. Missing feature values are imputed (median / the
    category ``"missing"``) and unseen categories at prediction time are ignored, so the model
    degrades instead of failing on dirty production data.
    """
    features = [*numeric, *categorical]
    missing = [c for c in [*features, target] if c not in frame.columns]
    if missing:
        raise ValueError(f"training frame lacks columns {missing}; it has {list(frame.columns)}")
    labelled = frame.loc[frame[target].notna()]
    y = labelled[target].astype(int).to_numpy()
    if len(np.unique(y)) < 2:
        raise ValueError(
            f"training needs both classes of '{target}', got {len(labelled)} labelled rows with "
            f"values {sorted(set(y.tolist()))}; widen the training window"
        )
    pipeline = Pipeline(
        [
            ("features", _preprocessor(numeric, categorical)),
            ("classifier", LogisticRegression(C=1.0, max_iter=2000, random_state=seed)),
        ]
    )
    pipeline.fit(labelled[features], y)
    return pipeline


def score(model: Any, frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """Probability of the positive class for each row of ``frame``."""
    proba = model.predict_proba(frame[features])
    return np.asarray(proba[:, 1], dtype=float)


def evaluate(
    model: Any,
    frame: pd.DataFrame,
    *,
    features: list[str],
    target: str,
    threshold: float = 0.5,
) -> dict[str, float]:
    """Quality of ``model`` on labelled ``frame``; a score >= threshold is a positive decision.

    ``approval_rate`` is the share scored below the threshold (in credit: approved). ROC AUC is
    NaN when ``frame`` holds only one class.
    """
    labelled = frame.loc[frame[target].notna()]
    y = labelled[target].astype(int).to_numpy()
    p = score(model, labelled, features)
    decision = (p >= threshold).astype(int)
    both = len(np.unique(y)) == 2
    return {
        "n": float(len(y)),
        "positive_rate": float(y.mean()) if len(y) else float("nan"),
        "mean_score": float(p.mean()) if len(p) else float("nan"),
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "log_loss": float(log_loss(y, p, labels=[0, 1])) if len(y) else float("nan"),
        "brier": float(brier_score_loss(y, p)) if len(y) else float("nan"),
        "precision": float(precision_score(y, decision, zero_division=0.0)),
        "recall": float(recall_score(y, decision, zero_division=0.0)),
        "approval_rate": float(1.0 - decision.mean()) if len(y) else float("nan"),
    }


def _preprocessor(numeric: list[str], categorical: list[str]) -> ColumnTransformer:
    numeric_steps = Pipeline(
        [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
    )
    categorical_steps = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
            ("encode", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    return ColumnTransformer(
        [("numeric", numeric_steps, numeric), ("categorical", categorical_steps, categorical)],
        remainder="drop",
    )

