using System.Security.Cryptography;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE.Samples.ScoringService.Backends;

/// <summary>Loads a saved model.zip and wraps the model it finds in the matching <see cref="IScoringBackend"/>.</summary>
public static class ScoringBackendLoader
{
    /// <summary>
    /// Loads <paramref name="modelPath"/> with <c>MLContext.Model.Load</c> and serves the language model found in it (at the
    /// end of a chain or alone): a TorchSharp-backed <see cref="LanguageModelTransformer"/>, an ONNX-backed
    /// <see cref="OnnxLanguageModelTransformer"/>, or else a <see cref="MoeTextClassificationTransformer"/>. A model holding no transformer the service knows is refused with its
    /// transformers' names. To serve another kind of model, add its backend here.
    /// </summary>
    public static IScoringBackend Load(string modelPath, int maxTokensPerPass)
    {
        string modelId = Fingerprint(modelPath);
        var ml = new MLContext(seed: 1);
        // Every transformer's entry in the zip names the assembly of its loader (MLNet.MoE, MLNet.MoE.Onnx), which ML.NET
        // loads and registers itself: ONNX-backed zips load without a ComponentCatalog registration.
        ITransformer loaded = ml.Model.Load(modelPath, out _);
        var all = Flatten(loaded).ToList();
        var languageModel = all.OfType<LanguageModelTransformerBase>().LastOrDefault();
        if (languageModel != null)
        {
            foreach (var transformer in all.Where(t => !ReferenceEquals(t, languageModel))) (transformer as IDisposable)?.Dispose();
            return new LanguageModelBackend(languageModel, modelId, maxTokensPerPass);
        }
        var classifier = all.OfType<MoeTextClassificationTransformer>().LastOrDefault();
        if (classifier != null)
        {
            foreach (var transformer in all.Where(t => !ReferenceEquals(t, classifier))) (transformer as IDisposable)?.Dispose();
            return new TextClassifierBackend(classifier, modelId);
        }
        foreach (var transformer in all) (transformer as IDisposable)?.Dispose();
        throw new NotSupportedException(
            $"The model '{modelPath}' holds no transformer the scoring service can serve (found: {string.Join(", ", all.Select(t => t.GetType().Name))}). " +
            $"Supported: {nameof(LanguageModelTransformer)}, {nameof(OnnxLanguageModelTransformer)}, {nameof(MoeTextClassificationTransformer)}.");
    }

    private static IEnumerable<ITransformer> Flatten(ITransformer transformer)
    {
        if (transformer is IEnumerable<ITransformer> chain)
        {
            foreach (var inner in chain)
            {
                foreach (var t in Flatten(inner)) yield return t;
            }
        }
        else
        {
            yield return transformer;
        }
    }

    /// <summary>SHA-256 of the file (the first 16 bytes, hex), so cached results never outlive the model that computed them.</summary>
    private static string Fingerprint(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream), 0, 16).ToLowerInvariant();
    }
}
