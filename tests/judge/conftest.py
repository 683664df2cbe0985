# Hidden suites used as data by these tests: run by the judge, never collected by this session.
collect_ignore_glob = ["suites/*", "fakes/*", "plugin_harness.py", "judge_harness.py"]
