"""The deadline arithmetic, one implementation: SLA policies (policy.py), business calendars
and statutory holidays (clock.py, statutory.py), and the state of a complaint's targets
(sla.py). The workflow runs the clocks with it; reporting's policy simulator replays past
complaints through the same code. Pure and deterministic: safe inside workflow code."""
