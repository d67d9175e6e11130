"""IAF Explorer's benchmark suite: ``./scripts/bench.sh`` (or ``python -m bench.run``).

Every heavy figure is measured in a fresh Python process (``bench.workers``), so one run's
caches, imports and memory cannot flatter the next; the parent reads each child's peak resident
memory from the kernel (``os.wait4``). Nothing here is imported by the app or by the tests, and
no test asserts a time.
"""
