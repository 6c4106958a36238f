using Microsoft.ML;

namespace MLNet.MoE;

/// <summary>
/// Loads an ML.NET model zip with the errors a caller can act on: a missing file as <see cref="FileNotFoundException"/>,
/// a file that is no model zip as <see cref="InvalidDataException"/> naming it, and a loader's own exception (ML.NET
/// wraps those in reflection's <see cref="System.Reflection.TargetInvocationException"/>) unwrapped. What
/// <c>mlContext.MoE().LoadModel</c> does.
/// </summary>
internal static class ModelZipLoader
{
    /// <summary>Loads the model zip at <paramref name="path"/> with <paramref name="mlContext"/>.</summary>
    public static ITransformer Load(MLContext mlContext, string path, out DataViewSchema inputSchema)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"The model file '{path}' does not exist.", path);
        try
        {
            return mlContext.Model.Load(path, out inputSchema);
        }
        catch (System.Reflection.TargetInvocationException wrapped) when (wrapped.InnerException != null)
        {
            Exception inner = wrapped.InnerException;
            while (inner is System.Reflection.TargetInvocationException { InnerException: { } deeper }) inner = deeper;
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(inner).Throw();
            throw;
        }
        catch (Exception e) when (e is InvalidDataException or FormatException && !e.Message.Contains(path, StringComparison.Ordinal))
        {
            // ML.NET answers a file that is not a zip with FormatException("Failed to open a zip archive").
            throw new InvalidDataException($"'{path}' is not a readable model zip: {e.Message}", e);
        }
    }
}
