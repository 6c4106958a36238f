namespace MLNet.MoE.Samples.ScoringService.Backends;

/// <summary>A request the service will not run, with a message for the client (answered 400).</summary>
public sealed class RequestRejectedException : Exception
{
    /// <summary>Creates the exception with the message the client reads.</summary>
    public RequestRejectedException(string message) : base(message)
    {
    }
}
