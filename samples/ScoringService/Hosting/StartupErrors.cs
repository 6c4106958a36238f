using Microsoft.Extensions.Options;

namespace MLNet.MoE.Samples.ScoringService.Hosting;

/// <summary>Describes why the service could not start, in one line that names the setting, without a stack trace.</summary>
public static class StartupErrors
{
    /// <summary>The description of <paramref name="error"/>.</summary>
    public static string Describe(Exception error) => error switch
    {
        OptionsValidationException validation => string.Join(" ", validation.Failures.Select(f => Qualify(f))),
        InvalidSettingException setting => setting.Message,
        AggregateException aggregate when aggregate.InnerExceptions.Count > 0 => string.Join(" ", aggregate.InnerExceptions.Select(Describe)),
        // The configuration binder's "Failed to convert configuration value at 'Scoring:X' to type 'System.Int32'." names the setting.
        _ when error.InnerException is { } inner && error is InvalidOperationException => $"{error.Message} {inner.Message}",
        _ => error.Message,
    };

    /// <summary>DataAnnotations messages name the property ("The field MaxBatchSize must be ..."); add the section.</summary>
    private static string Qualify(string failure) => failure.Replace("The field ", $"The setting {ScoringServiceOptions.SectionName}:", StringComparison.Ordinal);
}
