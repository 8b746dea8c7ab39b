"""Results: the schema (CaseResult, Run, pytest-benchmark JSON in and out), the run journal, and what reads results:
compare, the history and its gate, export, shard merging, the optimizer study. No torch.
"""
