
namespace MLNet.MoE;

/// <summary>Binary form of <see cref="GenerationOptions"/> inside a model zip.</summary>
internal static class GenerationOptionsFormat
{
    public static void Write(BinaryWriter writer, GenerationOptions options)
    {
        writer.Write(options.MaxNewTokens);
        writer.Write(options.Temperature);
        writer.Write(options.TopK);
        writer.Write(options.TopP);
        writer.Write(options.Seed);
        writer.Write(options.StopAtEndOfText);
        writer.Write(options.StopSequences.Count);
        foreach (string s in options.StopSequences) writer.Write(s);
    }

    public static GenerationOptions Read(BinaryReader reader)
    {
        try
        {
            var options = new GenerationOptions
            {
                MaxNewTokens = reader.ReadInt32(),
                Temperature = reader.ReadDouble(),
                TopK = reader.ReadInt32(),
                TopP = reader.ReadDouble(),
                Seed = reader.ReadInt32(),
                StopAtEndOfText = reader.ReadBoolean(),
            };
            int count = reader.ReadInt32();
            if (count < 0 || count > 1024) throw new InvalidDataException($"The saved generation options are corrupt ({count} stop sequences).");
            var stops = new string[count];
            for (int i = 0; i < count; i++) stops[i] = reader.ReadString();
            options = options with { StopSequences = stops };
            options.Validate();
            return options;
        }
        catch (Exception e) when (e is EndOfStreamException or ArgumentOutOfRangeException)
        {
            throw new InvalidDataException("The saved generation options are truncated or corrupt.", e);
        }
    }
}
