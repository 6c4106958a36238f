using System.Security.Cryptography;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// The LoRA adapters entry of a model zip: rank, α, dropout, target names, (format 2) the names of the fully trained
/// modules (<see cref="LoraAdapters.ModulesToSave"/>), the SHA-256 of the base weights
/// (<see cref="LoraAdapters.WeightsDigest"/>) and the factors and trained copies as a weights block
/// (<see cref="ModelWeightsFormat"/>). Adapters without fully trained modules are written in format 1, byte for byte
/// as before format 2 existed; both formats are read.
/// </summary>
internal static class LoraAdaptersFormat
{
    private const int Magic = 0x41524F4C; // "LORA"
    private const int AdaptersOnlyVersion = 1;
    private const int FormatVersion = 2;
    private const int MaxNames = 1024;

    /// <summary>Writes <paramref name="adapters"/>.</summary>
    public static void Write(BinaryWriter writer, LoraAdapters adapters)
    {
        bool saves = adapters.ModulesToSave.Count > 0;
        writer.Write(Magic);
        writer.Write(saves ? FormatVersion : AdaptersOnlyVersion);
        writer.Write(adapters.Rank);
        writer.Write(adapters.Alpha);
        writer.Write(adapters.Dropout);
        writer.Write(adapters.TargetModules.Count);
        foreach (string target in adapters.TargetModules) writer.Write(target);
        if (saves)
        {
            writer.Write(adapters.ModulesToSave.Count);
            foreach (string module in adapters.ModulesToSave) writer.Write(module);
        }
        writer.Write(adapters.BaseDigest);
        ModelWeightsFormat.Write(writer, adapters.FactorState());
    }

    /// <summary>Reads adapters for <paramref name="baseModel"/>, refusing those made for another base (digest mismatch).</summary>
    /// <exception cref="InvalidDataException">The entry is damaged, or its adapters belong to other base weights; the message names <paramref name="entry"/>.</exception>
    public static LoraAdapters Read(BinaryReader reader, MoeCausalLM baseModel, string entry)
    {
        try
        {
            if (reader.ReadInt32() != Magic) throw new InvalidDataException($"Model entry '{entry}' is not a LoRA adapters block.");
            int version = reader.ReadInt32();
            if (version is not (AdaptersOnlyVersion or FormatVersion))
                throw new InvalidDataException($"Model entry '{entry}' has adapters format {version}; this library reads formats {AdaptersOnlyVersion} and {FormatVersion}.");
            int rank = reader.ReadInt32();
            double alpha = reader.ReadDouble();
            double dropout = reader.ReadDouble();
            int count = reader.ReadInt32();
            if (count < 1 || count > MaxNames) throw new InvalidDataException($"Model entry '{entry}' is damaged: {count} target modules are announced.");
            var targets = new List<string>(count);
            for (int i = 0; i < count; i++) targets.Add(reader.ReadString());
            var modulesToSave = new List<string>();
            if (version == FormatVersion)
            {
                int saved = reader.ReadInt32();
                if (saved < 1 || saved > MaxNames) throw new InvalidDataException($"Model entry '{entry}' is damaged: {saved} fully trained modules are announced.");
                for (int i = 0; i < saved; i++) modulesToSave.Add(reader.ReadString());
            }
            byte[] digest = reader.ReadBytes(32);
            if (digest.Length != 32) throw new EndOfStreamException();
            if (!CryptographicOperations.FixedTimeEquals(digest, LoraAdapters.WeightsDigest(baseModel)))
                throw new InvalidDataException($"Model entry '{entry}' holds adapters made for other base weights (their SHA-256 differs from this base's): the adapters and the base do not belong together.");
            var adapters = LoraAdapters.FromFactors(baseModel, rank, alpha, dropout, targets, modulesToSave, new Dictionary<string, Tensor>(), entry, allowMissing: true);
            try
            {
                ModelWeightsFormat.Read(reader, adapters.FactorState(), entry);
                return adapters;
            }
            catch
            {
                adapters.Dispose();
                throw;
            }
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"Model entry '{entry}' is truncated.", e);
        }
    }
}
