"""The team's own test suite under both versions (`--project`): its requirements held at each
side's MLflow (`requirements`), the suite run in each side's environment against that side's
server (`suite`), and the outcomes compared test by test (`compare`)."""
