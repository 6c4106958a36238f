using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace MLNet.MoE;

/// <summary>The trainers of MLNet.MoE: <c>mlContext.MoE().Trainers</c>.</summary>
public sealed class MoeTrainers
{
    private readonly IHostEnvironment env;

    internal MoeTrainers(IHostEnvironment env) => this.env = env;

    /// <summary>A Mixture-of-Experts language-model trainer with the given options.</summary>
    public IEstimator<LanguageModelTransformer> LanguageModel(LanguageModelOptions options) => new LanguageModelTrainer(env, options ?? throw new ArgumentNullException(nameof(options)));

    /// <summary>A Mixture-of-Experts language-model trainer over <paramref name="tokenColumnName"/> with default options.</summary>
    public IEstimator<LanguageModelTransformer> LanguageModel(string tokenColumnName = "Tokens", string? promptColumnName = null, int maxSteps = 300, int contextLength = 128)
        => new LanguageModelTrainer(env, new LanguageModelOptions { TokenColumnName = tokenColumnName, PromptColumnName = promptColumnName, MaxSteps = maxSteps, ContextLength = contextLength });
}
