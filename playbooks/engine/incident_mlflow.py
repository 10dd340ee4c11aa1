"""What a closed incident leaves in MLflow, whoever closes it (a playbook run, the
controller after live monitoring, an approved change carried out): the model versions it
changed point at its post-mortem, and one MLflow run per incident in the ``mlpb-incidents``
experiment keeps its evidence package as artifacts (the evidence JSON, the window samples,
the charts, the post-mortem), tagged with the incident, playbook and model, so an audit can
start from the registry. Best effort: an MLflow outage is a warning and the close stands."""

from __future__ import annotations

import logging
from pathlib import Path

from playbooks.archive.samples import sample_dir
from playbooks.engine.runtime import Runtime
from playbooks.errors import MlpbError
from playbooks.models.incident import Incident
from playbooks.models.profile import ModelProfile
from playbooks.modelstore import ModelStore, ModelStoreError, link_postmortem
from playbooks.report.context import chart_dir

__all__ = ["INCIDENT_EXPERIMENT", "incident_artifacts", "incident_run_tags",
           "log_incident_evidence", "record_close_in_mlflow", "record_close_of"]

log = logging.getLogger(__name__)

INCIDENT_EXPERIMENT = "mlpb-incidents"


def incident_artifacts(home: Path, inc: Incident) -> dict[str, list[Path]]:
    """Artifact folder -> the incident's files that exist (missing ones are left out)."""
    samples = sample_dir(home, inc.id)
    out = {"evidence": [p for p in [home / "evidence" / f"{inc.id}.json"] if p.is_file()],
           "evidence/samples": sorted(p for p in samples.glob("*") if p.is_file())
           if samples.is_dir() else []}
    if inc.postmortem_path:
        pm, charts = Path(inc.postmortem_path), chart_dir(Path(inc.postmortem_path), inc.id)
        out["postmortem"] = [pm] if pm.is_file() else []
        out["charts"] = sorted(charts.glob("*.png")) if charts.is_dir() else []
    return {folder: files for folder, files in out.items() if files}


def incident_run_tags(inc: Incident) -> dict[str, str]:
    rc = inc.root_cause
    return {"mlpb.playbook": inc.playbook, "mlpb.playbook_version": inc.playbook_version,
            "mlpb.model": inc.model, "mlpb.status": inc.status.value,
            "mlpb.severity": str(inc.severity.value), "mlpb.drill": str(inc.drill).lower(),
            "mlpb.dry_run": str(inc.dry_run).lower(),
            "mlpb.root_cause": rc.hypothesis_id if rc else "",
            **({"mlpb.postmortem": inc.postmortem_path} if inc.postmortem_path else {})}


def log_incident_evidence(store: ModelStore, home: Path, inc: Incident) -> str:
    """The incident's run id after logging its evidence package (raises ModelStoreError)."""
    return store.log_incident_run(INCIDENT_EXPERIMENT, inc.id, tags=incident_run_tags(inc),
                                  artifacts=incident_artifacts(home, inc))


def record_close_in_mlflow(rt: Runtime, profile: ModelProfile, inc: Incident) -> str | None:
    """Link the post-mortem from the versions the incident changed (not for dry runs: they
    change none) and log the evidence run; returns the run id, None without a model store
    or when MLflow failed (logged)."""
    model, store = profile.model, rt.model_store(profile)
    if model is None or store is None:
        return None
    if inc.postmortem_path and not inc.dry_run:
        try:
            link_postmortem(store, model.registry_name, inc.id, inc.postmortem_path)
        except ModelStoreError as exc:  # the write-up exists either way
            log.warning("could not tag %s's versions with the post-mortem: %s", inc.id, exc)
    try:
        return log_incident_evidence(store, rt.settings.home, inc)
    except (ModelStoreError, OSError) as exc:  # kept under the state dir either way
        log.warning("evidence of %s not logged to MLflow: %s", inc.id, exc)
        return None


def record_close_of(rt: Runtime, inc: Incident) -> str | None:
    """``record_close_in_mlflow`` with the profile the incident ran with (a person closing
    by hand has only the incident); None, logged, when that profile cannot be read."""
    if not inc.profile_path:
        return None
    from playbooks.loader import load_profile

    try:
        profile = load_profile(Path(inc.profile_path))
    except (MlpbError, OSError) as exc:
        log.warning("%s not recorded in MLflow: its profile %s: %s", inc.id, inc.profile_path,
                    exc)
        return None
    return record_close_in_mlflow(rt, profile, inc)
