"""The event simulator: scenarios of labelled faults on a grid model, event-time traffic with field realities,
publishing to Kafka, and the ground truth to score detections against.

    Simulator(model, scenario, seed, start_ns, duration_s, rates, realities).batches() → Batch(messages, …)
    publish(simulator, producer, settings, speed) → PublishCounts
    write_ground_truth(client, run_id, truths)
"""

from gridmon.simulate.publish import PublishCounts, publish
from gridmon.simulate.realities import Rates, Realities
from gridmon.simulate.scenario import (
    OUTAGE_KINDS,
    SCENARIOS,
    Fault,
    FaultKind,
    GroundTruth,
    Opening,
    RestorationStep,
    Scenario,
    plan_faults,
    scenario_named,
)
from gridmon.simulate.topology import Topology
from gridmon.simulate.traffic import Batch, Simulator
from gridmon.simulate.truth import TruthFile, read_truth_file, write_ground_truth, write_truth_file

__all__ = [
    "OUTAGE_KINDS",
    "SCENARIOS",
    "Batch",
    "Fault",
    "FaultKind",
    "GroundTruth",
    "Opening",
    "PublishCounts",
    "Rates",
    "Realities",
    "RestorationStep",
    "Scenario",
    "Simulator",
    "Topology",
    "TruthFile",
    "plan_faults",
    "publish",
    "read_truth_file",
    "scenario_named",
    "write_ground_truth",
    "write_truth_file",
]
