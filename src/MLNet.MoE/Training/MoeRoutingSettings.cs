namespace MLNet.MoE;

/// <summary>
/// How the Mixture-of-Experts layers route tokens while training: expert capacity, the routing-bias update after every
/// step and the weight of the balance loss.
/// </summary>
internal sealed record MoeRoutingSettings
{
    /// <summary>Expert capacity during training as a multiple of the mean load. Default 2.</summary>
    public double CapacityFactor { get; init; } = 2.0;

    /// <summary>γ of the routing-bias update. Default 0.001.</summary>
    public double BiasUpdateRate { get; init; } = 0.001;

    /// <summary>α of the balance loss. Default 0.</summary>
    public double BalanceLossWeight { get; init; }
}
