using System.Diagnostics;
using Microsoft.Extensions.Options;
using MLNet.MoE.Samples.ScoringService.Backends;
using MLNet.MoE.Samples.ScoringService.Diagnostics;

namespace MLNet.MoE.Samples.ScoringService.Batching;

/// <summary>
/// Dynamic micro-batching: texts from concurrent requests wait in one bounded queue, and a single worker thread takes
/// up to <see cref="ScoringServiceOptions.MaxBatchSize"/> of them, as soon as that many are waiting, the oldest has
/// waited <see cref="ScoringServiceOptions.MaxBatchWaitMilliseconds"/>, or (when set) no text has arrived for
/// <see cref="ScoringServiceOptions.BatchArrivalGapMilliseconds"/>, and scores them in one backend call. Each caller
/// awaits its own texts' results. A full queue refuses new work (<see cref="ServiceBusyException"/>); a cancelled caller's
/// texts leave the queue at once. On shutdown the batcher refuses new work and finishes everything already queued.
/// The queue is a linked list under a lock rather than a Channel because cancelled entries must be removed from the middle.
/// </summary>
public sealed class ScoreBatcher : IHostedService, IDisposable
{
    private readonly IScoringBackend backend;
    private readonly ServiceMetrics metrics;
    private readonly ILogger<ScoreBatcher> logger;
    private readonly int maxBatchSize;
    private readonly TimeSpan maxWait;
    private readonly TimeSpan arrivalGap;
    private readonly int capacity;
    private long lastArrival;
    private readonly object gate = new();
    private readonly LinkedList<WorkItem> queue = new();
    private readonly SemaphoreSlim arrived = new(0, 1);
    private bool accepting = true;
    private readonly IHostApplicationLifetime lifetime;
    private Task? worker;

    /// <summary>Creates the batcher over the service's backend.</summary>
    public ScoreBatcher(IScoringBackend backend, ServiceMetrics metrics, IOptions<ScoringServiceOptions> options, IHostApplicationLifetime lifetime, ILogger<ScoreBatcher> logger)
    {
        this.lifetime = lifetime;
        this.backend = backend;
        this.metrics = metrics;
        this.logger = logger;
        maxBatchSize = options.Value.MaxBatchSize;
        maxWait = TimeSpan.FromMilliseconds(options.Value.MaxBatchWaitMilliseconds);
        arrivalGap = TimeSpan.FromMilliseconds(options.Value.BatchArrivalGapMilliseconds);
        capacity = options.Value.QueueCapacity;
    }

    /// <summary>Texts waiting now.</summary>
    public int QueueLength
    {
        get
        {
            lock (gate) return queue.Count;
        }
    }

    /// <summary>True while the worker runs and new work is accepted.</summary>
    public bool IsRunning
    {
        get
        {
            lock (gate) return accepting && worker is { IsCompleted: false };
        }
    }

    /// <summary>
    /// Queues <paramref name="texts"/> (all or none) and returns one task per text. Throws <see cref="ServiceBusyException"/>
    /// when they do not fit in the queue or the service is stopping. When <paramref name="cancellation"/> fires, the texts
    /// still waiting are removed and their tasks cancelled.
    /// </summary>
    public IReadOnlyList<Task<ScoreResult>> Enqueue(IReadOnlyList<PreparedText> texts, CancellationToken cancellation)
    {
        var items = texts.Select(t => new WorkItem(t, Stopwatch.GetTimestamp())).ToList();
        lock (gate)
        {
            if (!accepting) throw new ServiceBusyException("The service is shutting down.", "shutting_down");
            if (queue.Count + items.Count > capacity)
                throw new ServiceBusyException($"The scoring queue is full ({queue.Count} of {capacity} texts waiting).", "queue_full");
            foreach (var item in items) item.Node = queue.AddLast(item);
            lastArrival = Stopwatch.GetTimestamp();
        }
        if (cancellation.CanBeCanceled)
        {
            foreach (var item in items) item.Registration = cancellation.Register(() => Cancel(item, cancellation));
        }
        Signal();
        return items.Select(i => i.Completion.Task).ToList();
    }

    /// <summary>Starts the worker thread. When the application starts stopping (before the server waits for its open requests), queued texts stop waiting for their batch to fill and new ones are refused.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStopping.Register(StopAccepting);
        metrics.ObserveQueue(() => QueueLength);
        worker = Task.Factory.StartNew(Run, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        return Task.CompletedTask;
    }

    /// <summary>Refuses new work and waits for the queued work to finish (or for <paramref name="cancellationToken"/>, after which what is left fails).</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        StopAccepting();
        if (worker == null) return;
        try
        {
            await worker.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            List<WorkItem> left;
            lock (gate)
            {
                left = queue.ToList();
                queue.Clear();
            }
            foreach (var item in left) item.Completion.TrySetException(new ServiceBusyException("The service stopped before the text was scored.", "shutting_down"));
        }
    }

    /// <summary>Frees the signal.</summary>
    public void Dispose() => arrived.Dispose();

    private async Task Run()
    {
        while (true)
        {
            var batch = await NextBatch().ConfigureAwait(false);
            if (batch == null) return;
            if (batch.Count == 0) continue;
            long now = Stopwatch.GetTimestamp();
            foreach (var item in batch) metrics.QueueWait(Stopwatch.GetElapsedTime(item.EnqueuedAt, now));
            try
            {
                var clock = Stopwatch.StartNew();
                var results = backend.ScoreBatch(batch.Select(b => b.Text).ToList());
                metrics.Batch(batch.Count, batch.Sum(b => (long)b.Text.Tokens.Count), clock.Elapsed);
                for (int i = 0; i < batch.Count; i++) batch[i].Complete(results[i]);
            }
            catch (Exception e)
            {
                logger.LogError(e, "Scoring a batch of {Count} texts failed.", batch.Count);
                foreach (var item in batch) item.Fail(e);
            }
        }
    }

    /// <summary>Waits for work, then for the batch to fill, the oldest text's wait to run out or arrivals to pause; null once stopped and drained.</summary>
    private async Task<List<WorkItem>?> NextBatch()
    {
        while (true)
        {
            TimeSpan wait;
            lock (gate)
            {
                if (queue.Count == 0)
                {
                    if (!accepting) return null;
                    wait = Timeout.InfiniteTimeSpan;
                }
                else
                {
                    var remaining = maxWait - Stopwatch.GetElapsedTime(queue.First!.Value.EnqueuedAt);
                    if (arrivalGap > TimeSpan.Zero)
                    {
                        var quiet = arrivalGap - Stopwatch.GetElapsedTime(lastArrival);
                        if (quiet < remaining) remaining = quiet;
                    }
                    if (queue.Count >= maxBatchSize || remaining <= TimeSpan.Zero || !accepting) return Take();
                    wait = remaining;
                }
            }
            await arrived.WaitAsync(wait).ConfigureAwait(false);
        }
    }

    private void StopAccepting()
    {
        lock (gate) accepting = false;
        Signal();
    }

    /// <summary>Wakes the worker; one pending signal is enough, so a second is dropped.</summary>
    private void Signal()
    {
        try
        {
            arrived.Release();
        }
        catch (SemaphoreFullException)
        {
        }
    }

    private List<WorkItem> Take()
    {
        var batch = new List<WorkItem>(Math.Min(maxBatchSize, queue.Count));
        while (batch.Count < maxBatchSize && queue.First is { } node)
        {
            queue.RemoveFirst();
            node.Value.Node = null;
            batch.Add(node.Value);
        }
        return batch;
    }

    private void Cancel(WorkItem item, CancellationToken cancellation)
    {
        bool removed = false;
        lock (gate)
        {
            if (item.Node != null)
            {
                queue.Remove(item.Node);
                item.Node = null;
                removed = true;
            }
        }
        if (removed)
        {
            metrics.Cancelled(1);
            item.Completion.TrySetCanceled(cancellation);
        }
    }

    private sealed class WorkItem
    {
        public WorkItem(PreparedText text, long enqueuedAt)
        {
            Text = text;
            EnqueuedAt = enqueuedAt;
        }

        public PreparedText Text { get; }

        public long EnqueuedAt { get; }

        public LinkedListNode<WorkItem>? Node { get; set; }

        public CancellationTokenRegistration Registration { get; set; }

        public TaskCompletionSource<ScoreResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Complete(ScoreResult result)
        {
            Registration.Dispose();
            Completion.TrySetResult(result);
        }

        public void Fail(Exception error)
        {
            Registration.Dispose();
            Completion.TrySetException(error);
        }
    }
}
