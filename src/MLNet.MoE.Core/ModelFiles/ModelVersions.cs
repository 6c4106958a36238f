using Microsoft.ML;

namespace MLNet.MoE;

/// <summary>
/// The version headers MLNet.MoE transformers write into a model zip. The loader's assembly (the one declaring the
/// transformer's <c>LoadableClass</c>, which ML.NET loads and registers when it reads the zip) is recorded by its short
/// name, so that a model saved with one package version loads with a later one.
/// </summary>
internal static class ModelVersions
{
    /// <summary>
    /// A version header for the transformer <paramref name="loader"/>; <paramref name="modelSignature"/> has exactly 8
    /// characters. <paramref name="readsBackTo"/> is the oldest version the loader still reads (default:
    /// <paramref name="version"/> only).
    /// </summary>
    public static VersionInfo Create(Type loader, string modelSignature, uint version, string loaderSignature, uint? readsBackTo = null)
    {
        if (modelSignature.Length != 8) throw new ArgumentException("A model signature has 8 characters.", nameof(modelSignature));
        return new VersionInfo(modelSignature, version, version, readsBackTo ?? version, loader.Assembly.GetName().Name!, loaderSignature, null);
    }
}
