"""Who is told what, in which language, through the real Slack notifier over HTTP: a
stakeholder channel gets the three-line summary on status changes and on the cadence (never
the evidence); an engineering channel gets every step; both in the channel's language."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from playbooks.i18n import msg
from playbooks.ledger import Ledger
from playbooks.models.incident import Incident, IncidentStatus, utcnow
from playbooks.notify import Notification, SlackNotifier, SlackSettings
from playbooks.notify.reminders import send_reminders
from tests.integration.fake_slack import FakeSlack

pytestmark = pytest.mark.integration

PROFILE = ("name: credit-risk\ndescription: scores loan applications\n"
           "owners: {model: ml-team}\n"
           "data: {reference: {path: r.csv}, current: {path: c.csv}}\n"
           "features: {numeric: [x]}\ncommunication: {locale: de, user_impact: 'Antragsteller "
           "werden womöglich zu Unrecht abgelehnt', channels: [%s]}\n")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


def _setup(slack: FakeSlack, tmp_path: Path, channels: str) -> tuple[SlackNotifier, Incident,
                                                                      Ledger]:
    profile = tmp_path / "profile.yaml"
    profile.write_text(PROFILE % channels, encoding="utf-8")
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    n = SlackNotifier(SlackSettings(token=SecretStr(slack.token), api_url=slack.url), ledger)
    inc = ledger.open_incident(Incident(
        id="INC-20261202-aaaaaa", playbook="data-drift", playbook_version="1.0.0",
        playbook_hash="h", model="credit-risk", owner="ml-team", dedup_key="k",
        status=IncidentStatus.INVESTIGATING, profile_path=str(profile)))[0]
    return n, inc, ledger


def _arc(n: SlackNotifier, inc: Incident) -> None:
    n.send(Notification("opened", inc, msg("{title} suspected on {model}", title="Data drift",
                                           model=inc.model)))
    n.send(Notification("evidence", inc, msg("evidence collected"),
                        [msg("{feature}: PSI {psi}", feature="car_value", psi=1.512)]))
    waiting = inc.model_copy(update={"status": IncidentStatus.MONITORING})
    n.send(Notification("verification", waiting, msg("monitoring: 0/{count} live windows",
                                                     count=3),
                        data={"waiting_for": "live monitoring windows"}))


def test_stakeholder_channel_gets_three_lines_in_its_language(slack: FakeSlack,
                                                               tmp_path: Path) -> None:
    n, inc, ledger = _setup(slack, tmp_path,
                            "{channel: '#ml-incidents', audience: stakeholders}")
    _arc(n, inc)
    posts = slack.accepted("chat.postMessage")
    parent, opened = posts  # evidence and the monitoring step are engineering detail
    assert "Wir untersuchen ein Problem mit credit-risk." in parent.body["text"]
    assert "Verdacht auf Data drift bei credit-risk" in str(parent.body["blocks"])
    lines = opened.body["text"].splitlines()[1:]
    assert len(lines) == 3 and lines[2].startswith("Nächstes Update: ")
    assert "Auswirkung: scores loan applications" in lines[1]
    assert "zu Unrecht abgelehnt" in lines[1]
    assert "PSI" not in str([p.body for p in posts])

    later = utcnow() + timedelta(minutes=31)  # data-drift: status_every 30m
    assert len(send_reminders(ledger, n, later)) == 1
    cadence = slack.accepted("chat.postMessage")[-1]
    assert cadence.body["thread_ts"] == parent.response["ts"]
    # The ledger's incident (still investigating: only the notes said otherwise).
    assert "Wir untersuchen ein Problem mit credit-risk." in cadence.body["text"]
    assert cadence.body["text"].splitlines()[-1].startswith("Nächstes Update: ")
    assert "Wartet noch" not in cadence.body["text"]  # the summary, not the engineers' nudge


def test_engineering_channel_gets_every_step_in_the_profile_language(
        slack: FakeSlack, tmp_path: Path) -> None:
    n, inc, _ = _setup(slack, tmp_path, "{channel: '#ml-exec', audience: stakeholders}")
    _arc(n, inc)
    parent, opened, evidence, monitoring = slack.accepted("chat.postMessage")
    assert parent.body["channel"] == "#ml-incidents"  # not listed: engineering, locale de
    assert "Schweregrad" in str(parent.body["blocks"]) and "in Untersuchung" in str(
        parent.body["blocks"])
    assert "Belege gesammelt" in evidence.body["text"] and "car_value: PSI 1,51" in str(
        evidence.body["blocks"])
    assert "Überwachung: 0/3 Live-Fenster" in monitoring.body["text"]
    assert "Verantwortlich: ml-team" in str(opened.body["blocks"])
