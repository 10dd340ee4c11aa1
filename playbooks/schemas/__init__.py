"""JSON Schema for specs and profiles (editors and CI can validate YAML with them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from playbooks.errors import UnknownNameError
from playbooks.models.profile import ModelProfile
from playbooks.models.spec import PlaybookSpec
from playbooks.policy import Policy

__all__ = ["SCHEMA_DIR", "export_schemas", "schema_for"]

SCHEMA_DIR = Path(__file__).parent
_MODELS: dict[str, type[BaseModel]] = {"spec": PlaybookSpec, "profile": ModelProfile,
                                        "policy": Policy}


def schema_for(kind: str) -> dict[str, Any]:
    if kind not in _MODELS:
        raise UnknownNameError(f"unknown schema '{kind}'",
                               hint="use 'spec', 'profile' or 'policy'")
    schema: dict[str, Any] = _MODELS[kind].model_json_schema(mode="validation")
    schema["properties"].pop("base_dir", None)
    return schema


def export_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind in _MODELS:
        p = directory / f"{kind}.schema.json"
        p.write_text(
            json.dumps(schema_for(kind), indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        paths.append(p)
    return paths
