namespace MLNet.MoE.Samples.ScoringService.Batching;

/// <summary>The service cannot take the work now (queue full, all generation slots busy, or shutting down): answered 503 with <c>Retry-After</c>.</summary>
public sealed class ServiceBusyException : Exception
{
    /// <summary>Creates the exception with the message the client reads and the reason counted in metrics.</summary>
    /// <param name="message">What the client reads.</param>
    /// <param name="reason">A short tag for the <c>scoring.rejections</c> counter: <c>queue_full</c>, <c>generations_busy</c> or <c>shutting_down</c>.</param>
    public ServiceBusyException(string message, string reason) : base(message) => Reason = reason;

    /// <summary>The reason counted in metrics.</summary>
    public string Reason { get; }
}
