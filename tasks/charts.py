"""The post-mortem's charts where people look: a Prefect artifact (images inline, so the UI
shows them without file access) and the incident's Slack thread."""

from __future__ import annotations

import base64
import logging

from prefect.artifacts import create_markdown_artifact

from playbooks.engine.runtime import Runtime
from playbooks.errors import MlpbError
from playbooks.models.incident import Incident
from playbooks.notify import SlackSettings
from playbooks.notify.uploads import UploadReport, incident_chart_files, share_charts
from tasks.prefect_context import secret_block_token

__all__ = ["publish_charts"]

log = logging.getLogger(__name__)


def publish_charts(rt: Runtime, inc: Incident) -> UploadReport | None:
    """Never raises: charts are a view of what the post-mortem already holds."""
    try:
        return _publish(rt, inc)
    except Exception as exc:  # the incident is closed either way
        log.warning("charts of %s not published: %s: %s", inc.id, type(exc).__name__, exc)
        return None


def _publish(rt: Runtime, inc: Incident) -> UploadReport | None:
    files = incident_chart_files(inc)
    if not files:
        return None
    images = [f"### {p.stem.replace('-', ' ')}\n\n![{p.stem}](data:image/png;base64,"
              f"{base64.b64encode(p.read_bytes()).decode('ascii')})" for p in files]
    create_markdown_artifact(markdown="\n\n".join(images), key=f"charts-{inc.id.lower()}",
                             description=f"Charts of {inc.id} (also beside the post-mortem)")
    try:
        settings = SlackSettings.from_env(token_loader=secret_block_token)
    except MlpbError as exc:
        log.warning("charts not shared in Slack: %s", exc)
        return None
    report = share_charts(rt.ledger, inc, settings=settings)
    if report.error:
        log.warning("charts not shared in Slack: %s", report.error)
    return report
