namespace MLNet.MoE.Samples.ScoringService.Batching;

/// <summary>The service cannot take the work now (queue full, all generation slots busy, or shutting down): answered 503 with <c>Retry-After</c>.</summary>
public sealed class ServiceBusyException : Exception
{
    /// <summary>Creates the exception with the message the client reads.</summary>
    public ServiceBusyException(string message) : base(message)
    {
    }
}
