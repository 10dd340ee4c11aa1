"""The demo sandbox: a simulated credit-risk model with real MLflow, data and fault injectors.

``bootstrap_sandbox`` builds it under the state dir; ``inject_fault`` turns the tail of its
inference log into a drill scenario; ``advance_sandbox`` simulates more days of production
traffic and moves the state dir's engine clock with it. Nothing here imports Prefect.
"""

from playbooks.sandbox.advance import AdvancedDay, advance_sandbox, ongoing_faults
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
    "AdvancedDay",
    "CovariateDrift",
    "FaultParams",
    "FaultTable",
    "InjectedFault",
    "NoFault",
    "PopulationShift",
    "Sandbox",
    "SandboxError",
    "UnitChange",
    "advance_sandbox",
    "bootstrap_sandbox",
    "inject_fault",
    "load_sandbox",
    "make_fault",
    "ongoing_faults",
    "simulate_applications",
]
