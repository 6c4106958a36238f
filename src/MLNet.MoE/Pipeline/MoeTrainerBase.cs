using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace MLNet.MoE;

/// <summary>
/// What every MLNet.MoE trainer is to ML.NET: an estimator over its options that checks the input and the options
/// before it trains, and starts its run through one <see cref="TrainingSession"/> (log channel, seed, device, precision,
/// kernels). A task's trainer supplies <see cref="Train"/> and <see cref="GetOutputSchema"/>.
/// </summary>
/// <typeparam name="TOptions">The trainer's options.</typeparam>
/// <typeparam name="TTransformer">The transformer it fits.</typeparam>
internal abstract class MoeTrainerBase<TOptions, TTransformer> : IEstimator<TTransformer>
    where TOptions : MoeTrainerOptions
    where TTransformer : class, ITransformer
{
    /// <summary>A trainer with <paramref name="options"/> in <paramref name="env"/>.</summary>
    protected MoeTrainerBase(IHostEnvironment env, TOptions options)
    {
        Environment = env ?? throw new ArgumentNullException(nameof(env));
        Options = options ?? throw new ArgumentNullException(nameof(options));
    }

    /// <summary>The ML.NET environment (the MLContext) the trainer was created in.</summary>
    protected IHostEnvironment Environment { get; }

    /// <summary>The options the trainer was created with.</summary>
    public TOptions Options { get; }

    /// <summary>Checks the options, trains on <paramref name="input"/> and returns the transformer.</summary>
    public TTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        Options.Validate();
        return Train(input);
    }

    /// <summary>The output schema: the input's columns and the ones the transformer adds.</summary>
    public abstract SchemaShape GetOutputSchema(SchemaShape inputSchema);

    /// <summary>Trains on <paramref name="input"/> (the options are valid).</summary>
    protected abstract TTransformer Train(IDataView input);

    /// <summary>Starts the run's session: channel, seed, device, precision and kernels, named after the trainer.</summary>
    protected TrainingSession StartSession() => TrainingSession.Start(Environment, Options, GetType().Name);
}
