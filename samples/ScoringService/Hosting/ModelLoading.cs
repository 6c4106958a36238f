using MLNet.MoE.Samples.ScoringService.Backends;

namespace MLNet.MoE.Samples.ScoringService.Hosting;

/// <summary>Loads the configured model, turning any failure into an <see cref="InvalidSettingException"/> that names <c>Scoring:ModelPath</c>.</summary>
public static class ModelLoading
{
    /// <summary>The backend serving <see cref="ScoringServiceOptions.ModelPath"/>.</summary>
    public static IScoringBackend Load(ScoringServiceOptions options)
    {
        const string setting = ScoringServiceOptions.SectionName + ":" + nameof(ScoringServiceOptions.ModelPath);
        try
        {
            return ScoringBackendLoader.Load(options.ModelPath, options.MaxTokensPerForwardPass);
        }
        catch (NotSupportedException e)
        {
            throw new InvalidSettingException(setting, e.Message, e);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidSettingException(setting, $"{setting} '{options.ModelPath}' could not be loaded as a saved ML.NET model (model.zip): {e.Message}", e);
        }
    }
}
