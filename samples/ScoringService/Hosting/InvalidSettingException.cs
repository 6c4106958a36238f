namespace MLNet.MoE.Samples.ScoringService.Hosting;

/// <summary>A setting that stops the service from starting, with a message that names it.</summary>
public sealed class InvalidSettingException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="setting">The setting's configuration key, for example <c>Scoring:ModelPath</c>.</param>
    /// <param name="message">What is wrong, naming the setting.</param>
    /// <param name="inner">The failure behind it.</param>
    public InvalidSettingException(string setting, string message, Exception? inner = null) : base(message, inner) => Setting = setting;

    /// <summary>The setting's configuration key.</summary>
    public string Setting { get; }
}
