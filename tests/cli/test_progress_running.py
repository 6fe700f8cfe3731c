"""The live display shows each running trial's epoch, fed by the coordinator's report events."""

from tunesmith.cli.progress import running_line
from tunesmith.experiment import tune


def test_running_line_lists_trials_and_epochs():
    assert running_line({}) == ""
    assert running_line({4: 1, 3: 2}) == " | running: #3 epoch 2, #4 epoch 1"
    many = running_line({i: 0 for i in range(8)})
    assert many.endswith("(+2)") and "#5 epoch 0" in many and "#6" not in many


def test_coordinator_emits_one_report_event_per_intermediate_value():
    events = []

    def objective(params, reporter):
        for step in range(3):
            reporter.report(step, params["x"] + step)
        return params["x"]

    tune(
        objective,
        {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        sampler="random",
        n_trials=2,
        runner="inprocess",
        seed=0,
        on_event=events.append,
    )
    reported = [(e.trial, e.step) for e in events if e.kind == "trial_reported"]
    assert reported == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    values = [e.values[0] for e in events if e.kind == "trial_reported" and e.trial == 0]
    assert values[1] - values[0] == 1.0
