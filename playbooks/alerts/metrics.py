"""The receiver's counters and latency histogram, rendered in the Prometheus text format.

Small on purpose (no client library): counters keyed by a fixed, low-cardinality label set
(endpoint and status code, never anything a sender chooses), one histogram, and gauges the
caller reads at scrape time (the dispatch queue). Thread-safe: the receiver's handlers and
its thread pool both count.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping

__all__ = ["LATENCY_BUCKETS", "Gauge", "ReceiverMetrics"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
Labels = tuple[tuple[str, str], ...]
Gauge = tuple[str, str, Mapping[str, str], float]  # name, help, labels, value


def _fmt_labels(labels: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return f"{{{inner}}}" if inner else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class ReceiverMetrics:
    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self._lock = threading.Lock()
        self.buckets = buckets
        self._counters: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._help: dict[str, str] = {}
        self._hist: dict[Labels, list[float]] = {}  # per-bucket counts + [sum, count]

    def inc(self, name: str, help_text: str, by: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._help.setdefault(name, help_text)
            series = self._counters[name]
            series[key] = series.get(key, 0.0) + by

    def value(self, name: str, **labels: str) -> float:
        """A counter's current value (0 when never counted); for tests and /healthz."""
        with self._lock:
            return self._counters.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """Sum over every series of ``name`` whose labels include ``labels``."""
        want = set(labels.items())
        with self._lock:
            return sum(v for k, v in self._counters.get(name, {}).items() if want <= set(k))

    def series(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        """Every series of counter ``name``: sorted label pairs → value."""
        with self._lock:
            return dict(self._counters.get(name, {}))

    def observe(self, seconds: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            row = self._hist.setdefault(key, [0.0] * (len(self.buckets) + 3))  # +Inf, sum, n
            row[bisect.bisect_left(self.buckets, seconds)] += 1
            row[-2] += seconds
            row[-1] += 1

    def render(self, gauges: Iterable[Gauge] = ()) -> str:
        lines: list[str] = []
        with self._lock:
            for name in sorted(self._counters):
                lines += [f"# HELP {name} {self._help[name]}", f"# TYPE {name} counter"]
                for key, v in sorted(self._counters[name].items()):
                    lines.append(f"{name}{_fmt_labels(key)} {_num(v)}")
            hist = "mlpb_receiver_request_duration_seconds"
            lines += [f"# HELP {hist} Time from request start to the last byte of the answer.",
                      f"# TYPE {hist} histogram"]
            for key, row in sorted(self._hist.items()):
                cumulative = 0.0
                for bound, n in zip((*self.buckets, float("inf")), row[:-2], strict=True):
                    cumulative += n
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    lines.append(f"{hist}_bucket{_fmt_labels((*key, ('le', le)))} "
                                 f"{_num(cumulative)}")
                lines.append(f"{hist}_sum{_fmt_labels(key)} {row[-2]!r}")
                lines.append(f"{hist}_count{_fmt_labels(key)} {_num(row[-1])}")
        seen: set[str] = set()
        for name, help_text, labels, value in gauges:
            if name not in seen:
                seen.add(name)
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            lines.append(f"{name}{_fmt_labels(sorted(labels.items()))} {_num(value)}")
        return "\n".join(lines) + "\n"
