using Microsoft.ML;

namespace MLNet.MoE;

/// <summary>
/// The settings every text-classifier transformer saves first in its model-zip entry, whatever its backend: the column
/// names, the maximum length and the class count.
/// </summary>
/// <param name="TextColumnName">The text column read.</param>
/// <param name="SecondTextColumnName">The second text column read, or null.</param>
/// <param name="PredictedLabelColumnName">The predicted-label column added.</param>
/// <param name="ScoreColumnName">The class-probability column added.</param>
/// <param name="MaxLength">Tokens per row at most.</param>
/// <param name="ClassCount">Number of classes.</param>
/// <param name="NgramBuckets">Buckets of the wide branch's hashed n-grams (<see cref="TextClassificationNgrams"/>); 0 when the
/// classifier has none. Not part of what <see cref="Write"/> writes: a backend that has the branch saves it itself.</param>
internal sealed record TextClassificationSettings(string TextColumnName, string? SecondTextColumnName, string PredictedLabelColumnName,
    string ScoreColumnName, int MaxLength, int ClassCount, int NgramBuckets = 0)
{
    /// <summary>Writes the settings after the version info.</summary>
    public void Write(ModelSaveContext ctx)
    {
        ctx.SaveNonEmptyString(TextColumnName);
        ctx.SaveStringOrNull(SecondTextColumnName);
        ctx.SaveNonEmptyString(PredictedLabelColumnName);
        ctx.SaveNonEmptyString(ScoreColumnName);
        ctx.Writer.Write(MaxLength);
        ctx.Writer.Write(ClassCount);
    }

    /// <summary>Reads settings written by <see cref="Write"/>; a maximum length below 4 or fewer than two classes are refused as a corrupt file.</summary>
    public static TextClassificationSettings Read(ModelLoadContext ctx)
    {
        string textColumn = ctx.LoadNonEmptyString();
        string? secondColumn = ctx.LoadStringOrNull();
        string predictedColumn = ctx.LoadNonEmptyString();
        string scoreColumn = ctx.LoadNonEmptyString();
        int maxLength = ctx.Reader.ReadInt32();
        int classCount = ctx.Reader.ReadInt32();
        if (maxLength < 4 || classCount < 2)
            throw new InvalidDataException($"The text classifier's saved settings are invalid (maximum length {maxLength}, {classCount} classes): the model file is corrupt.");
        return new TextClassificationSettings(textColumn, secondColumn, predictedColumn, scoreColumn, maxLength, classCount);
    }
}
