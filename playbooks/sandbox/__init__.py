"""The demo sandbox: a simulated credit-risk model with real MLflow, data and fault injectors.

``bootstrap_sandbox`` builds it under the state dir; ``inject_fault`` turns the tail of its
inference log into a drill scenario. Nothing here imports Prefect.
"""

from playbooks.sandbox.bootstrap import (
    Sandbox,
    SandboxError,
    bootstrap_sandbox,
    load_sandbox,
)
from playbooks.sandbox.faults import (
    FAULTS,
    CovariateDrift,
    FaultParams,
    FaultTable,
    InjectedFault,
    NoFault,
    UnitChange,
    inject_fault,
    make_fault,
)
from playbooks.sandbox.simulator import PopulationShift, simulate_applications

__all__ = [
    "FAULTS",
    "CovariateDrift",
    "FaultParams",
    "FaultTable",
    "InjectedFault",
    "NoFault",
    "PopulationShift",
    "Sandbox",
    "SandboxError",
    "UnitChange",
    "bootstrap_sandbox",
    "inject_fault",
    "load_sandbox",
    "make_fault",
    "simulate_applications",
]
