"""Message catalogs and locale formatting: every catalog has every message id the source
uses, with the same placeholders; an incident's console and Slack text in German."""

from __future__ import annotations

import io
import re
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from playbooks.i18n import (
    LOCALE_DIR,
    Num,
    Pct,
    available_locales,
    msg,
    nmsg,
    resolve_locale,
    translator,
)
from playbooks.i18n.extract import extract_catalog
from playbooks.models.incident import (
    HypothesisResult,
    Incident,
    IncidentStatus,
    RootCause,
    Severity,
    Verdict,
)
from playbooks.models.profile import ProfileCommunication
from playbooks.notify import ConsoleNotifier, Notification
from playbooks.notify.audiences import render_stakeholder_update
from playbooks.notify.templates import render_parent, render_reply

DETECTED = datetime(2026, 12, 2, 5, 46, tzinfo=UTC)
LOCALES = [loc for loc in available_locales() if loc != "en"]


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def _catalog(locale: str) -> Catalog:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=locale)


@pytest.fixture(scope="module")
def source_ids() -> dict[str, str | tuple[str, ...] | list[str]]:
    """Every message id in the source (msg / nmsg / Translator.t calls): the singular, and
    the id as Babel keys it (a (singular, plural) pair for nmsg)."""
    return {m.id if isinstance(m.id, str) else m.id[0]: m.id for m in extract_catalog() if m.id}


def test_at_least_two_complete_locales_ship() -> None:
    assert {"de", "es"} <= set(LOCALES)


def test_messages_pot_is_current(source_ids: dict[str, str | tuple[str, ...] | list[str]]) -> None:
    with (LOCALE_DIR / "messages.pot").open("rb") as fh:
        pot = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}
    assert pot == set(source_ids), (
        "messages.pot is out of date: run `python -m playbooks.i18n` and translate the new "
        f"ids; only in the source: {sorted(set(source_ids) - pot)}; only in the .pot: "
        f"{sorted(pot - set(source_ids))}")


@pytest.mark.parametrize("locale", LOCALES)
def test_every_catalog_translates_every_message_id(
        locale: str, source_ids: dict[str, str | tuple[str, ...] | list[str]]) -> None:
    cat = _catalog(locale)
    missing = []
    for key, mid in source_ids.items():
        entry = cat.get(mid)
        strings = (entry.string if isinstance(entry.string, tuple) else (entry.string,)
                   ) if entry is not None else ()
        if entry is None or entry.fuzzy or not all(strings):
            missing.append(key)
    assert not missing, f"{locale}: untranslated or fuzzy: {missing}"


def _placeholder_problems(cat: Catalog) -> list[tuple[object, str]]:
    """(msgid, msgstr) pairs whose ``{placeholders}`` differ ({n} may be left out)."""
    wrong: list[tuple[object, str]] = []
    for entry in cat:
        if not entry.id or not entry.string:
            continue
        ids = (entry.id,) if isinstance(entry.id, str) else tuple(entry.id)
        strings = (entry.string,) if isinstance(entry.string, str) else tuple(entry.string)
        wanted: set[str] = set().union(*map(_placeholders, ids)) - {"n"}
        wrong += [(entry.id, s) for s in strings if _placeholders(s) - {"n"} != wanted]
    return wrong


@pytest.mark.parametrize("locale", LOCALES)
def test_placeholders_match_between_msgid_and_msgstr(locale: str) -> None:
    wrong = _placeholder_problems(_catalog(locale))
    assert not wrong, f"{locale}: placeholders differ: {wrong}"


def test_the_placeholder_check_catches_a_renamed_placeholder() -> None:
    po = io.BytesIO(b'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
                    b'msgid "window {index}"\nmsgstr "Fenster {nummer}"\n\n'
                    b'msgid "ok {a}"\nmsgstr "gut {a}"\n')
    assert _placeholder_problems(read_po(po)) == [("window {index}", "Fenster {nummer}")]


def test_a_broken_translation_renders_in_english_not_a_crash() -> None:
    from playbooks.i18n.translate import _fill

    assert _fill("Fenster {nummer}", {"index": 2}, translator("de"), None,
                 "window {index}") == "window 2"


def test_missing_translation_falls_back_to_english_per_message() -> None:
    de = translator("de")
    assert de(msg("evidence collected")) == "Belege gesammelt"
    assert de(msg("no such message {x}", x=1)) == "no such message 1"
    assert translator("fr")(msg("evidence collected")) == "evidence collected"  # no catalog
    assert str(resolve_locale("xx-invalid", "de_AT.UTF-8")) == "de_AT"
    assert translator("de_AT")(msg("hypotheses tested")) == "Hypothesen geprüft"


def test_numbers_dates_and_durations_follow_the_locale() -> None:
    de, es, en = translator("de"), translator("es"), translator("en")
    assert (en.num(0.3123), de.num(0.3123), es.num(1234.5, 1)) == ("0.31", "0,31", "1.234,5")
    assert de.num(12345.5, 1) == "12.345,5" and en.num(12345.5, 1) == "12,345.5"
    assert (en.pct(0.031), de.pct(0.031)) == ("3.1%", "3,1\u00a0%")
    assert de.day(DETECTED) == "2. Dez. 2026" and es.day(DETECTED) == "2 dic 2026"
    assert de.when(DETECTED) == "2. Dez. 2026, 05:46 UTC"
    assert en.when(DETECTED) == "Dec 2, 2026, 05:46 UTC"
    assert de.duration(timedelta(hours=2, minutes=5)) == "2 Stunden und 5 Minuten"
    assert es.duration(3 * 86400 + 3600) == "3 días y 1 hora"
    assert de.duration(None) == "k. A."
    m = msg("{a} · {b} · {c}", a=Num(0.8123, 4), b=Pct(0.25), c=DETECTED)
    assert str(m) == "0.8123 · 25.0% · Dec 2, 2026, 05:46 UTC"
    assert de(m) == "0,8123 · 25,0\u00a0% · 2. Dez. 2026, 05:46 UTC"


def test_plural_forms_follow_n() -> None:
    assert str(nmsg("{n} window", "{n} windows", 1)) == "1 window"
    assert str(nmsg("{n} window", "{n} windows", 3)) == "3 windows"


def _incident() -> Incident:
    return Incident(
        id="INC-7", playbook="data-drift", playbook_version="1.2.0", playbook_hash="h",
        model="credit-risk", dedup_key="k", status=IncidentStatus.RESOLVED,
        severity=Severity.SEV2, owner="ml-team", detected_at=DETECTED,
        resolved_at=DETECTED + timedelta(days=3, hours=2),
        root_cause=RootCause(hypothesis_id="population-shift", confidence=0.3123,
                             summary="car_value drifted"),
        hypotheses=[HypothesisResult(id="population-shift", check="c",
                                     verdict=Verdict.SUPPORTED, confidence=0.3123,
                                     summary="car_value drifted")])


def _texts(payload: dict[str, object]) -> str:
    return repr(payload)


def test_console_and_slack_for_an_incident_in_german() -> None:
    inc = _incident()
    title = msg("incident {status}", status=msg("resolved"))
    note = Notification("resolved", inc, title,
                        [msg("root cause: {hypothesis} — {summary}",
                             hypothesis="population-shift", summary="car_value drifted")])
    out = io.StringIO()
    ConsoleNotifier(out, locale="de").send(note)
    console = out.getvalue()
    assert "Vorfall gelöst" in console and "Ursache: population-shift" in console
    assert "incident resolved" not in console

    de = translator("de")
    parent = _texts(render_parent(inc, title=title, links={}, tr=de).to_payload())
    assert "Schweregrad" in parent and "Verantwortlich" in parent and "gelöst" in parent
    assert "(Konfidenz 0,31)" in parent and "erkannt 2. Dez. 2026, 05:46 UTC" in parent
    reply = _texts(render_reply(note, tr=de).to_payload())
    assert "Vorfall gelöst" in reply and "MTTR 3 Tage und 2 Stunden" in reply
    hyp = _texts(render_reply(Notification("hypotheses", inc, msg("hypotheses tested")),
                              tr=de).to_payload())
    assert "Hypothesen geprüft" in hyp and "gestützt (0,31)" in hyp
    english = _texts(render_reply(note).to_payload())
    assert "incident resolved" in english and "MTTR 3 days and 2 hours" in english


def test_console_follows_mlpb_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPB_LOCALE", "es")
    out = io.StringIO()
    ConsoleNotifier(out).send(Notification("evidence", _incident(), msg("evidence collected")))
    assert "evidencias recopiladas" in out.getvalue() and "resuelto" in out.getvalue()


def test_stakeholders_get_three_lines_and_no_evidence() -> None:
    inc = _incident().model_copy(update={"status": IncidentStatus.MONITORING,
                                         "resolved_at": None})
    comm = ProfileCommunication(impact="loan decisions may be wrong",
                                user_impact="applicants may be declined wrongly")
    nxt = DETECTED + timedelta(minutes=30)
    msg_en = render_stakeholder_update(inc, comm=comm, next_update=nxt)
    lines = msg_en.text.splitlines()[1:]
    assert len(lines) == 3
    assert "fix for credit-risk is in place" in lines[0] and "major impact" in lines[0]
    assert "loan decisions may be wrong" in lines[1] and "declined wrongly" in lines[1]
    assert lines[2] == "Next update: Dec 2, 2026, 06:16 UTC."
    assert "population-shift" not in repr(msg_en.to_payload())  # no evidence, no hypotheses
    de = render_stakeholder_update(inc, comm=comm, next_update=nxt, tr=translator("de"))
    assert "Nächstes Update: 2. Dez. 2026, 06:16 UTC." in de.text
    done = render_stakeholder_update(_incident(), comm=comm, next_update=None)
    assert "Users see normal service." in done.text and "no further updates" in done.text


def test_profile_channels_choose_audience_and_locale() -> None:
    comm = ProfileCommunication.model_validate(
        {"locale": "es", "channels": [{"channel": "#ml-exec", "audience": "stakeholders",
                                       "locale": "de"}]})
    assert comm.for_channel("ml-exec").audience == "stakeholders"
    assert comm.for_channel("#ml-exec").locale == "de"
    assert comm.for_channel("#ml-incidents").audience == "engineering"
    with pytest.raises(ValueError, match="unknown locale 'klingon'"):
        ProfileCommunication(locale="klingon")


def test_no_translatable_call_hides_in_an_f_string() -> None:
    """Babel cannot see calls inside f-strings: such a message would never be translated."""
    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(r"""f["'][^"'\n]*\{[^}]*\b(?:msg|nmsg|t)\(""")
    hits = [f"{p.relative_to(root)}:{n}" for pkg in ("playbooks", "cli", "tasks", "flows")
            for p in (root / pkg).rglob("*.py")
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if pattern.search(line)]
    assert not hits, hits
