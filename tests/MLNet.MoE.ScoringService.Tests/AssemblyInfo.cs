// The services of different tests share the process's meters: one test at a time keeps each test's metrics its own.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
