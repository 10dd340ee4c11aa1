"""PNG charts of an incident and of the incident history (matplotlib, no display needed).

Figures are built with ``matplotlib.figure.Figure`` directly, never pyplot: no global
figure state, no backend to select, safe in Prefect's worker threads."""

from playbooks.charts.base import Chart, png_bytes
from playbooks.charts.drift import distribution_chart, drift_statistic_chart, score_chart
from playbooks.charts.incident import incident_charts
from playbooks.charts.monitoring import windows_chart
from playbooks.charts.serving import serving_chart
from playbooks.charts.trends import bar_chart, trend_chart

__all__ = ["Chart", "bar_chart", "distribution_chart", "drift_statistic_chart",
           "incident_charts", "png_bytes", "score_chart", "serving_chart", "trend_chart",
           "windows_chart"]
