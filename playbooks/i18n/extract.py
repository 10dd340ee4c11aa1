"""Extract the translatable messages (``msg(...)`` / ``nmsg(...)`` calls) from the source
and keep the catalogs in step: ``python -m playbooks.i18n`` rewrites ``messages.pot`` and
merges new ids into every locale's .po (new ones untranslated, to be filled in; ids no
longer in the source become obsolete)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from playbooks.i18n.catalog import DOMAIN, LOCALE_DIR

__all__ = ["KEYWORDS", "SOURCE_PACKAGES", "extract_catalog", "update_catalogs"]

ROOT = Path(__file__).resolve().parents[2]
SOURCE_PACKAGES = ("playbooks", "tasks", "flows", "deployments", "cli")
KEYWORDS = {"msg": None, "nmsg": (1, 2), "t": None}  # t: Translator.t, rendered at once
POT = LOCALE_DIR / f"{DOMAIN}.pot"


def extract_catalog(root: Path = ROOT) -> Catalog:
    """Every message id in the source, with where it is used."""
    cat = Catalog(project="ML Playbooks", domain=DOMAIN, fuzzy=False)
    for package in SOURCE_PACKAGES:
        found = extract_from_dir(root / package, method_map=[("**.py", "python")],
                                 keywords=KEYWORDS, comment_tags=("i18n:",),
                                 strip_comment_tags=True)
        for filename, lineno, message, comments, context in found:
            cat.add(message, None, [(f"{package}/{filename}", lineno)],
                    auto_comments=comments, context=context)
    return cat


def update_catalogs(root: Path = ROOT) -> list[Path]:
    """Rewrite messages.pot from the source and merge it into every .po; returns the files."""
    template = extract_catalog(root)
    with POT.open("wb") as fh:
        write_po(fh, template, width=96, sort_output=True, include_lineno=False)
    written = [POT]
    for po in sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        locale = po.parent.parent.name
        with po.open("rb") as fh:
            cat = read_po(fh, locale=locale, domain=DOMAIN)
        cat.update(template, no_fuzzy_matching=True)
        with po.open("wb") as fh:
            write_po(fh, cat, width=96, sort_output=True, ignore_obsolete=True,
                     include_lineno=False)
        written.append(po)
    return written
