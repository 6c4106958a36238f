using Microsoft.ML;

namespace MLNet.MoE;

/// <summary>
/// What every scenario's <c>QuickTrainingOption</c> in a <c>.mbconfig</c> holds: the reduced run that CI trains reads
/// only the first <see cref="MaxRows"/> rows. <see cref="TextClassificationQuickTrainingOption"/> and
/// <see cref="LanguageModelQuickTrainingOption"/> add how much less it trains.
/// </summary>
public abstract record ModelBuilderQuickTrainingOption
{
    /// <summary>The first rows of the data that the reduced run reads (0: all).</summary>
    public required int MaxRows { get; init; }

    /// <summary>The first <see cref="MaxRows"/> rows of <paramref name="data"/>, or all of them when <see cref="MaxRows"/> is 0.</summary>
    public IDataView TakeRows(MLContext mlContext, IDataView data)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(data);
        return MaxRows > 0 ? mlContext.Data.TakeRows(data, MaxRows) : data;
    }
}
